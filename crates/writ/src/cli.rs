//! The command line: arguments, and what each command does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use writ::bench;
use writ::client::{Client, GrantQuery, RequestQuery};
use writ_core::{
    Actor, Command, EmploymentType, Human, Identity, IdentityKind, IdentityStatus, Name, Role,
};
use writ_server::datadir::DataDir;
use writ_server::wire::{CancelBody, ConstraintsBody, DecisionBody, NewRequest, NewToken};
use writ_store::sqlite::{
    ProjectionCheck, SqliteStore, check_projections, erase_identity, rebuild,
};
use writ_store::{Envelope, RandomIds, Store, SystemClock};

use crate::review::ReviewCmd;
use crate::{output, review, serve};

#[derive(Debug, Parser)]
#[command(
    name = "writ",
    version,
    about = "Access governance: every grant is a governed, expiring, provable decision"
)]
pub struct Cli {
    /// Writ server to talk to.
    #[arg(
        long,
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8700",
        global = true
    )]
    server: String,
    /// API token (bearer).
    #[arg(long, env = "WRIT_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Act as a demo persona: read its token from <data-dir>/demo-tokens.json.
    #[arg(long = "as", value_name = "PERSONA", global = true)]
    as_persona: Option<String>,
    /// Data directory (database, keys, demo tokens).
    #[arg(
        long,
        env = "WRIT_DATA_DIR",
        default_value = "./writ-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// TOML configuration (approval chains, scheduler).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the server on the data directory.
    Serve(ServeArgs),
    /// Run the server with the demo organisation (seeded on first start).
    Demo(ServeArgs),
    /// Show who the token belongs to.
    Whoami,
    /// Access requests.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Grants.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// The provisioning outbox: jobs queued, done and dead-lettered; retries.
    #[command(subcommand)]
    Provisioning(ProvisioningCmd),
    /// Emergency access to an entitlement that allows it, granted at once to you, with
    /// a reason and an incident reference; security is notified and reviews it.
    BreakGlass {
        #[arg(long)]
        entitlement: String,
        /// Why (at least the tier's minimum justification).
        #[arg(long)]
        reason: String,
        /// The incident or ticket (`INC-4411`).
        #[arg(long)]
        incident: String,
        /// At most the entitlement's break-glass cap (default 4h).
        #[arg(long, default_value = "1h")]
        duration: String,
    },
    /// Post-incident reviews of break-glass access (security).
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Your notification records (reminders, escalations, break-glass alerts).
    Notifications {
        /// Everyone's (admins and auditors).
        #[arg(long)]
        all: bool,
    },
    /// Delegations of your approval authority: create, list, revoke.
    #[command(subcommand)]
    Delegation(DelegationCmd),
    /// Access-review campaigns: launch, your items, decisions, the auditor's report.
    #[command(subcommand)]
    Review(ReviewCmd),
    /// Compare what each target system holds with the live grants; record findings.
    Reconcile {
        /// One system (all configured systems when absent).
        system: Option<String>,
        /// List every membership with the grant and approval that explain it.
        #[arg(long)]
        explain: bool,
    },
    /// Identities.
    #[command(subcommand)]
    Identity(ListCmd),
    /// Target systems.
    #[command(subcommand)]
    System(ListCmd),
    /// Entitlements.
    #[command(subcommand)]
    Entitlement(ListCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// The audit log, and offline verification of a data directory.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The verifiable ledger: signed checkpoints, leaves, inclusion and consistency proofs.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Evidence bundles: `writ evidence <request|grant> -o FILE`, `writ evidence verify FILE --key K`.
    Evidence(EvidenceArgs),
    /// The approval policy: what is in force, checking a Cedar directory, reloading,
    /// and why each identity may decide each step of a request.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Offline administration of a data directory (server stopped).
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Benchmarks (results go to BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Debug, Subcommand)]
enum IncidentCmd {
    /// Reviews by state: open (default), overdue or all.
    List {
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// Close a review with its finding: legitimate, misuse or drill.
    Close {
        request: String,
        #[arg(long)]
        finding: String,
        #[arg(long)]
        notes: String,
    },
}

#[derive(Debug, Subcommand)]
enum DelegationCmd {
    /// Let someone decide in your place for a window.
    Create {
        /// The delegate.
        #[arg(long)]
        to: String,
        /// End of the window (RFC 3339), or use --for.
        #[arg(long, conflicts_with = "for_")]
        until: Option<String>,
        /// Length of the window (`7d`, `PT12H`).
        #[arg(long = "for")]
        for_: Option<String>,
        /// Start (RFC 3339); default now.
        #[arg(long)]
        from: Option<String>,
        /// Only requests for this system (repeatable).
        #[arg(long = "system")]
        systems: Vec<String>,
        /// Only requests of this risk tier (repeatable).
        #[arg(long = "tier")]
        tiers: Vec<String>,
        #[arg(long)]
        reason: String,
        /// Whose authority (admins only; default yourself).
        #[arg(long)]
        delegator: Option<String>,
    },
    /// Delegations you gave or received (admins and auditors: all).
    List {
        #[arg(long)]
        active: bool,
    },
    /// End a delegation now.
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCmd {
    /// The version in force and its Cedar policies.
    Show,
    /// Validate a directory of Cedar policies strictly against Writ's schema
    /// (offline; exits 1 and names every problem when it is invalid).
    Check { dir: PathBuf },
    /// Make the server read its policy directory again (admin). An invalid set is
    /// refused and the policy in force stays.
    Reload,
    /// For each step of a request: who may decide it and which policy makes them so.
    Explain { request: String },
    /// Print the Cedar schema policies are written against.
    Schema,
    /// Write the shipped policy set into DIR (created if absent; existing files are
    /// never overwritten) to start a policy directory from.
    Init { dir: PathBuf },
}

// Parsed once per run: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum RequestCmd {
    /// Ask for an entitlement for yourself, a direct report, or an NHI you own.
    Create {
        /// Beneficiary (identity name); defaults to yourself.
        #[arg(long = "for")]
        beneficiary: Option<String>,
        /// `<system>/<entitlement>`.
        #[arg(long)]
        entitlement: String,
        #[arg(long)]
        justification: String,
        /// `PT8H`, `P7D`, `8h`, `7d`.
        #[arg(long)]
        duration: String,
        /// ITSM ticket such as `INC-4411`.
        #[arg(long)]
        ticket: Option<String>,
        /// standard or renewal.
        #[arg(long, default_value = "standard")]
        kind: String,
        /// API scope the issued credential may carry (repeatable; NHIs).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Environment the credential is for (NHIs).
        #[arg(long)]
        environment: Option<String>,
        /// Source network the credential may be used from (repeatable; NHIs).
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Retry safely: the same key returns the first result.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Show the steps and eligible approvers without submitting anything.
        #[arg(long)]
        dry_run: bool,
        /// Why a separation-of-duties exception is needed (when the request completes
        /// a toxic combination whose rule allows one).
        #[arg(long)]
        sod_exception: Option<String>,
    },
    /// Show a request, its steps, and who may decide each open step and why.
    Show { id: String },
    /// List requests.
    List {
        #[arg(long)]
        status: Option<String>,
        /// Only requests you made or benefit from.
        #[arg(long)]
        mine: bool,
        /// Only requests waiting for your decision.
        #[arg(long)]
        to_decide: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Approve one step.
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        step: Option<u32>,
    },
    /// Deny one step (ends the request).
    Deny {
        id: String,
        #[arg(long)]
        comment: String,
        #[arg(long)]
        step: Option<u32>,
    },
    /// Cancel your own pending request.
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum GrantCmd {
    /// List grants.
    List {
        #[arg(long)]
        beneficiary: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one grant.
    Show { id: String },
    /// Set a new credential for an NHI's grant (first issue or rotation) and print the
    /// secret once; only the NHI's owner may.
    Credential { id: String },
    /// Revoke an active grant.
    Revoke {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProvisioningCmd {
    /// List jobs, newest first.
    Jobs {
        /// `queued`, `done` or `dead`.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        grant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// NHI credentials past their rotation deadline, without expiry, and NHIs whose
    /// owner left.
    Credentials,
    /// Send a dead-lettered job back to the worker.
    Retry {
        grant: String,
        /// `provision` or `deprovision`.
        #[arg(long, default_value = "provision")]
        action: String,
    },
}

#[derive(Debug, Subcommand)]
enum ListCmd {
    /// List them.
    List,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Issue a token for an identity (admin); the secret is printed once.
    Create {
        #[arg(long)]
        identity: String,
        #[arg(long)]
        label: String,
        /// Lifetime such as `90d`; none means until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Print ledger events in order.
    Log {
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow pages to the end.
        #[arg(long)]
        all: bool,
    },
    /// Verify the data directory offline: every leaf hash, the Merkle tree, every signed
    /// checkpoint, and every projection row replayed from the ledger. Exits non-zero on
    /// any divergence.
    Verify {
        /// The verifier key to trust (`name+id+base64`, or a file holding it). Default:
        /// the data directory's own signing key, which proves less.
        #[arg(long)]
        key: Option<String>,
        /// A signed checkpoint saved earlier: also prove the log extends it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// Print the latest signed checkpoint (or, with --sign, one signed now).
    Checkpoint {
        #[arg(long)]
        sign: bool,
    },
    /// Print the verifier key for checkpoints.
    Key,
    /// Show one leaf: its exact bytes (base64), leaf hash and decoded event.
    Entry { index: u64 },
    /// RFC 9162 inclusion proof of a leaf (default size: the latest checkpoint's).
    Prove {
        #[arg(long)]
        index: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// RFC 9162 consistency proof between two tree sizes.
    Consistency {
        #[arg(long)]
        old: u64,
        #[arg(long)]
        new: Option<u64>,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct EvidenceArgs {
    #[command(subcommand)]
    verify: Option<EvidenceCmd>,
    /// A request (`req_…`) or grant (`grt_…`) id.
    #[arg(required = true)]
    id: Option<String>,
    /// Where to write the bundle.
    #[arg(short = 'o', long, required = true)]
    output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum EvidenceCmd {
    /// Check a bundle with no database and say who requested, who approved under which
    /// authority, and when access started and ended.
    Verify {
        file: PathBuf,
        /// The verifier key to trust (`name+id+base64`, or a file holding it).
        #[arg(long)]
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Create the first admin of a new data directory and print their token once.
    Init {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Erase every personal value about an identity (names, email, justifications,
    /// comments, reasons) without touching the ledger's leaves; the tree and every
    /// checkpoint stay valid.
    Erase { identity: String },
    /// Rebuild every projection table from the ledger (or, with --check, compare only).
    Rebuild {
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Durable events per second through the store (group commit, tree hashes, a
    /// checkpoint a second), next to raw SQLite; then `audit verify` over the result
    /// next to plain SHA-256.
    Store {
        #[arg(long, default_value_t = 5000)]
        lifecycles: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Inclusion-proof latency (p50/p99) in a synthetic on-disk tree of --size leaves.
    Proofs {
        #[arg(long, default_value_t = 1_000_000)]
        size: u64,
        #[arg(long, default_value_t = 10_000)]
        samples: usize,
    },
    /// Full lifecycles per second over HTTP (request, two approvals, grant), p50/p99.
    Http {
        #[arg(long, default_value_t = 1000)]
        lifecycles: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// The cost of Cedar approval authority in an organisation of --people: judging
    /// one approver, and asking everyone who may decide a request's steps.
    Policy {
        #[arg(long, default_value_t = 1000)]
        people: usize,
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
}

impl Cli {
    fn client(&self) -> anyhow::Result<Client> {
        let token = match (&self.as_persona, &self.token) {
            (Some(p), _) => {
                let path = writ_server::demo::tokens_path(&self.data_dir);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "--as needs the demo token file `{}` (run `writ demo` first)",
                        path.display()
                    )
                })?;
                let map: BTreeMap<String, String> = serde_json::from_str(&text)
                    .with_context(|| format!("`{}` is not a demo token file", path.display()))?;
                Some(
                    map.get(p)
                        .cloned()
                        .ok_or_else(|| anyhow!("no demo persona `{p}` in `{}`", path.display()))?,
                )
            }
            (None, t) => t.clone(),
        };
        if token.is_none() {
            bail!(
                "no credentials: pass --token, set WRIT_TOKEN, or use --as <persona> with the demo"
            );
        }
        Ok(Client::new(&self.server, token)?)
    }

    /// A client for public endpoints (the checkpoint, the verifier key): credentials
    /// are used when given, not required.
    fn public_client(&self) -> anyhow::Result<Client> {
        match self.client() {
            Ok(c) => Ok(c),
            Err(_) if self.as_persona.is_none() => Ok(Client::new(&self.server, None)?),
            Err(e) => Err(e),
        }
    }

    async fn me(&self, client: &Client) -> anyhow::Result<String> {
        Ok(client.me().await?.identity.name)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match &cli.command {
        Cmd::Serve(a) => serve::run(&cli.data_dir, a.listen, a.config.as_deref(), false).await?,
        Cmd::Demo(a) => serve::run(&cli.data_dir, a.listen, a.config.as_deref(), true).await?,
        Cmd::Whoami => {
            let me = cli.client()?.me().await?;
            output::print(json, &me, || output::identity(&me.identity))?;
        }
        Cmd::Request(cmd) => {
            let client = cli.client()?;
            match cmd {
                RequestCmd::Create {
                    beneficiary,
                    entitlement,
                    justification,
                    duration,
                    ticket,
                    kind,
                    scopes,
                    environment,
                    sources,
                    idempotency_key,
                    dry_run,
                    sod_exception,
                } => {
                    let beneficiary = match beneficiary {
                        Some(b) => b.clone(),
                        None => cli.me(&client).await?,
                    };
                    let constraints = (!scopes.is_empty()
                        || environment.is_some()
                        || !sources.is_empty())
                    .then(|| ConstraintsBody {
                        api_scopes: scopes.clone(),
                        environment: environment.clone(),
                        source_ranges: sources.clone(),
                    });
                    let body = NewRequest {
                        beneficiary,
                        entitlement: entitlement.clone(),
                        justification: justification.clone(),
                        duration: duration.clone(),
                        ticket: ticket.clone(),
                        kind: Some(kind.clone()),
                        constraints,
                        sod_exception: sod_exception.clone(),
                    };
                    let r = if *dry_run {
                        client.dry_run_request(&body).await?
                    } else {
                        client
                            .create_request(&body, idempotency_key.as_deref())
                            .await?
                    };
                    output::print(json, &r, || output::request(&r))?;
                }
                RequestCmd::Show { id } => {
                    let r = client.request(id).await?;
                    output::print(json, &r, || output::request(&r))?;
                }
                RequestCmd::List {
                    status,
                    mine,
                    to_decide,
                    limit,
                } => {
                    let list = client
                        .requests(&RequestQuery {
                            status: status.clone(),
                            mine: mine.then_some(true),
                            to_decide: to_decide.then_some(true),
                            limit: Some(*limit),
                        })
                        .await?;
                    output::print(json, &list, || output::requests(&list.requests))?;
                }
                RequestCmd::Approve { id, comment, step } => {
                    let body = DecisionBody {
                        comment: comment.clone(),
                        step: *step,
                    };
                    let r = client.approve(id, &body, None).await?;
                    output::print(json, &r, || output::request(&r))?;
                }
                RequestCmd::Deny { id, comment, step } => {
                    let body = DecisionBody {
                        comment: Some(comment.clone()),
                        step: *step,
                    };
                    let r = client.deny(id, &body, None).await?;
                    output::print(json, &r, || output::request(&r))?;
                }
                RequestCmd::Cancel { id, reason } => {
                    let r = client
                        .cancel(
                            id,
                            &CancelBody {
                                reason: reason.clone(),
                            },
                        )
                        .await?;
                    output::print(json, &r, || output::request(&r))?;
                }
            }
        }
        Cmd::Grant(cmd) => {
            let client = cli.client()?;
            match cmd {
                GrantCmd::List {
                    beneficiary,
                    status,
                    limit,
                } => {
                    let list = client
                        .grants(&GrantQuery {
                            beneficiary: beneficiary.clone(),
                            status: status.clone(),
                            limit: Some(*limit),
                        })
                        .await?;
                    output::print(json, &list, || output::grants(&list.grants))?;
                }
                GrantCmd::Show { id } => {
                    let g = client.grant(id).await?;
                    output::print(json, &g, || output::grant(&g))?;
                }
                GrantCmd::Credential { id } => {
                    let c = client.issue_credential(id).await?;
                    output::print(json, &c, || output::issued_credential(&c))?;
                }
                GrantCmd::Revoke { id, reason } => {
                    let g = client.revoke_grant(id, reason).await?;
                    output::print(json, &g, || output::grant(&g))?;
                }
            }
        }
        Cmd::Provisioning(cmd) => {
            let client = cli.client()?;
            match cmd {
                ProvisioningCmd::Jobs {
                    state,
                    grant,
                    limit,
                } => {
                    let list = client
                        .jobs(state.as_deref(), grant.as_deref(), *limit)
                        .await?;
                    output::print(json, &list, || output::jobs(&list.jobs))?;
                }
                ProvisioningCmd::Credentials => {
                    let r = client.credential_report().await?;
                    output::print(json, &r, || output::credential_report(&r))?;
                }
                ProvisioningCmd::Retry { grant, action } => {
                    let g = client.retry_provisioning(grant, action).await?;
                    output::print(json, &g, || output::grant(&g))?;
                }
            }
        }
        Cmd::Review(cmd) => review::run(&cli.client()?, cmd, json).await?,
        Cmd::Reconcile { system, explain } => {
            let reports = cli.client()?.reconcile(system.as_deref()).await?;
            output::print(json, &reports, || {
                output::reconcile(&reports.reports, *explain)
            })?;
            let unexplained: usize = reports.reports.iter().map(|r| r.unexplained).sum();
            let missing: usize = reports.reports.iter().map(|r| r.missing).sum();
            if unexplained + missing > 0 {
                // Findings are not an error of the command, but scripts want to know.
                std::process::exit(3);
            }
        }
        Cmd::Identity(ListCmd::List) => {
            let list = cli.client()?.identities().await?;
            output::print(json, &list, || output::identities(&list.identities))?;
        }
        Cmd::System(ListCmd::List) => {
            let list = cli.client()?.systems().await?;
            output::print(json, &list, || output::systems(&list.systems))?;
        }
        Cmd::Entitlement(ListCmd::List) => {
            let list = cli.client()?.entitlements().await?;
            output::print(json, &list, || output::entitlements(&list.entitlements))?;
        }
        Cmd::Token(cmd) => {
            let client = cli.client()?;
            match cmd {
                TokenCmd::Create {
                    identity,
                    label,
                    expires_in,
                } => {
                    let t = client
                        .issue_token(&NewToken {
                            identity: identity.clone(),
                            label: label.clone(),
                            expires_in: expires_in.clone(),
                        })
                        .await?;
                    output::print(json, &t, || {
                        format!(
                            "Issued {} for {}. Its secret is shown this once:\n{}\n",
                            t.token.id, t.token.identity, t.secret
                        )
                    })?;
                }
                TokenCmd::List => {
                    let list = client.tokens().await?;
                    output::print(json, &list, || output::tokens(&list.tokens))?;
                }
                TokenCmd::Revoke { id } => {
                    let t = client.revoke_token(id).await?;
                    output::print(json, &t, || format!("Revoked {} ({})\n", t.id, t.identity))?;
                }
            }
        }
        Cmd::Audit(AuditCmd::Log { after, limit, all }) => {
            let client = cli.client()?;
            let mut after = *after;
            let mut events = Vec::new();
            loop {
                let page = client.audit_events(after, *limit).await?;
                let next = page.next_after;
                events.extend(page.events);
                match next {
                    Some(n) if *all => after = n,
                    _ => break,
                }
            }
            output::print(json, &events, || output::audit(&events))?;
        }
        Cmd::Audit(AuditCmd::Verify { key, checkpoint }) => {
            return crate::audit::verify(
                &cli.data_dir,
                key.as_deref(),
                checkpoint.as_deref(),
                json,
            );
        }
        Cmd::Ledger(cmd) => {
            let client = match cmd {
                LedgerCmd::Key | LedgerCmd::Checkpoint { sign: false } => cli.public_client()?,
                _ => cli.client()?,
            };
            match cmd {
                LedgerCmd::Checkpoint { sign } => print!("{}", client.checkpoint(*sign).await?),
                LedgerCmd::Key => println!("{}", client.ledger_key().await?),
                LedgerCmd::Entry { index } => {
                    let e = client.ledger_entry(*index).await?;
                    output::print(json, &e, || output::ledger_entry(&e))?;
                }
                LedgerCmd::Prove { index, size } => {
                    let p = client.inclusion_proof(*index, *size).await?;
                    output::print(json, &p, || {
                        output::proof(
                            &p.proof,
                            &format!(
                                "inclusion of leaf {} in the tree of {} entries",
                                p.index, p.size
                            ),
                        )
                    })?;
                }
                LedgerCmd::Consistency { old, new } => {
                    let p = client.consistency_proof(*old, *new).await?;
                    output::print(json, &p, || {
                        output::proof(
                            &p.proof,
                            &format!(
                                "the tree of {} entries extends the tree of {}",
                                p.new, p.old
                            ),
                        )
                    })?;
                }
            }
        }
        Cmd::Evidence(args) => match (&args.verify, &args.id, &args.output) {
            (Some(EvidenceCmd::Verify { file, key }), _, _) => {
                return crate::audit::verify_evidence(file, key, json);
            }
            (None, Some(id), Some(out)) => {
                crate::audit::export_evidence(&cli.client()?, id, out).await?;
            }
            _ => bail!(
                "usage: writ evidence <request|grant id> -o FILE, or writ evidence verify FILE --key KEY"
            ),
        },
        Cmd::Policy(cmd) => return policy(&cli, cmd).await,
        Cmd::BreakGlass {
            entitlement,
            reason,
            incident,
            duration,
        } => {
            let client = cli.client()?;
            let body = NewRequest {
                beneficiary: cli.me(&client).await?,
                entitlement: entitlement.clone(),
                justification: reason.clone(),
                duration: duration.clone(),
                ticket: Some(incident.clone()),
                kind: Some("break_glass".into()),
                constraints: None,
                sod_exception: None,
            };
            let r = client.create_request(&body, None).await?;
            output::print(json, &r, || output::request(&r))?;
        }
        Cmd::Incident(cmd) => {
            let client = cli.client()?;
            match cmd {
                IncidentCmd::List { state } => {
                    let l = client.incident_reviews(state).await?;
                    output::print(json, &l, || output::incidents(&l))?;
                }
                IncidentCmd::Close {
                    request,
                    finding,
                    notes,
                } => {
                    let body = writ_server::wire::CloseIncidentBody {
                        finding: finding.clone(),
                        notes: notes.clone(),
                    };
                    let v = client.close_incident_review(request, &body).await?;
                    output::print(json, &v, || {
                        format!(
                            "post-incident review of {request}: {}\n",
                            v.finding.as_deref().unwrap_or(&v.state)
                        )
                    })?;
                }
            }
        }
        Cmd::Notifications { all } => {
            let l = cli.client()?.notifications(*all).await?;
            output::print(json, &l, || output::notifications(&l))?;
        }
        Cmd::Delegation(cmd) => {
            let client = cli.client()?;
            match cmd {
                DelegationCmd::Create {
                    to,
                    until,
                    for_,
                    from,
                    systems,
                    tiers,
                    reason,
                    delegator,
                } => {
                    let body = writ_server::wire::NewDelegation {
                        delegator: delegator.clone(),
                        delegate: to.clone(),
                        from: from.clone(),
                        until: until.clone(),
                        for_: for_.clone(),
                        systems: systems.clone(),
                        tiers: tiers.clone(),
                        reason: reason.clone(),
                    };
                    let d = client.delegate(&body).await?;
                    output::print(json, &d, || output::delegations(std::slice::from_ref(&d)))?;
                }
                DelegationCmd::List { active } => {
                    let l = client.delegations(*active).await?;
                    output::print(json, &l, || output::delegations(&l.delegations))?;
                }
                DelegationCmd::Revoke { id, reason } => {
                    let body = writ_server::wire::RevokeDelegationBody {
                        reason: reason.clone(),
                    };
                    let d = client.revoke_delegation(id, &body).await?;
                    output::print(json, &d, || output::delegations(std::slice::from_ref(&d)))?;
                }
            }
        }
        Cmd::Admin(cmd) => return admin(&cli, cmd).await,
        Cmd::Bench(cmd) => match cmd {
            BenchCmd::Store {
                lifecycles,
                concurrency,
            } => {
                let report = bench::store(*lifecycles, *concurrency).await?;
                output::print(json, &report, || report.to_string())?;
            }
            BenchCmd::Proofs { size, samples } => {
                let report = bench::proofs(*size, *samples)?;
                output::print(json, &report, || report.to_string())?;
            }
            BenchCmd::Policy { people, samples } => {
                let report = bench::policy(*people, *samples)?;
                output::print(json, &report, || report.to_string())?;
            }
            BenchCmd::Http {
                lifecycles,
                concurrency,
            } => {
                let report = bench::http(*lifecycles, *concurrency).await?;
                output::print(json, &report, || report.to_string())?;
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

async fn admin(cli: &Cli, cmd: &AdminCmd) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(&cli.data_dir)?;
    match cmd {
        AdminCmd::Rebuild { check: true } => match check_projections(&dir.database())? {
            ProjectionCheck::Match { events, rows } => {
                println!(
                    "OK: replaying {events} ledger events reproduces all {rows} projection rows"
                );
                Ok(ExitCode::SUCCESS)
            }
            ProjectionCheck::Diverges {
                table,
                live,
                replayed,
            } => {
                println!("DIVERGES in table `{table}`");
                println!("  live:     {}", live.as_deref().unwrap_or("(no row)"));
                println!("  replayed: {}", replayed.as_deref().unwrap_or("(no row)"));
                Ok(ExitCode::FAILURE)
            }
        },
        AdminCmd::Rebuild { check: false } => {
            let report = rebuild(&dir.database())?;
            println!(
                "Rebuilt every projection from {} ledger events",
                report.events
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminCmd::Erase { identity } => {
            let who = Name::parse(identity).map_err(|e| anyhow!(e))?;
            let r = erase_identity(&dir.database(), &who, &SystemClock)?;
            match r.recorded_as {
                Some(seq) => println!(
                    "Erased {} personal value(s) about `{who}` from {} ledger entries; recorded as entry {seq}. \
                     No leaf changed: the tree and every signed checkpoint still verify.",
                    r.fields, r.entries
                ),
                None => println!("Nothing left to erase about `{who}`."),
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCmd::Init {
            name,
            email,
            display_name,
        } => {
            let store =
                SqliteStore::open(&dir.database(), Arc::new(SystemClock), Box::new(RandomIds))?;
            let org = store.org().await?;
            if let Some(existing) = org.identities.values().find(|i| i.has_role(Role::Admin)) {
                bail!(
                    "data directory already has admin `{}`; manage identities through the API",
                    existing.name
                );
            }
            let name = Name::parse(name).map_err(|e| anyhow!(e))?;
            let identity = Identity {
                name: name.clone(),
                display_name: display_name.clone().unwrap_or_else(|| name.to_string()),
                status: IdentityStatus::Active,
                groups: Default::default(),
                roles: [Role::Admin].into_iter().collect(),
                kind: IdentityKind::Human(Human {
                    email: email.clone(),
                    manager: None,
                    department: None,
                    employment_type: EmploymentType::Employee,
                }),
            };
            let actor = Actor::system("bootstrap");
            store
                .execute(Envelope::new(
                    actor.clone(),
                    Command::UpsertIdentity { identity },
                ))
                .await?;
            let secret =
                writ_server::auth::new_token().map_err(|e| anyhow!("no OS randomness: {e}"))?;
            store
                .execute(Envelope::new(
                    actor,
                    Command::IssueToken {
                        identity: name.clone(),
                        label: "bootstrap".into(),
                        hash: writ_server::auth::token_hash(dir.pepper(), secret.expose()),
                        expires_at: None,
                    },
                ))
                .await?;
            store.shutdown();
            println!("Created admin `{name}`. Their API token is shown this once:");
            println!("{}", secret.expose());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn policy(cli: &Cli, cmd: &PolicyCmd) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match cmd {
        PolicyCmd::Show => {
            let p = cli.client()?.policy().await?;
            output::print(json, &p, || output::policy(&p))?;
        }
        PolicyCmd::Check { dir } => match writ_server::policy::check_dir(dir) {
            Ok((source, authority)) => {
                let ids: Vec<String> = authority.policies().map(|p| p.id.clone()).collect();
                let report = serde_json::json!({
                    "valid": true,
                    "files": source.files.keys().collect::<Vec<_>>(),
                    "policies": ids,
                    "digest": source.digest(),
                });
                output::print(json, &report, || {
                    format!(
                        "{}: valid — {} file(s), {} policies: {}\n",
                        dir.display(),
                        source.files.len(),
                        ids.len(),
                        ids.join(", ")
                    )
                })?;
            }
            Err(problems) => {
                let report = serde_json::json!({ "valid": false, "problems": problems });
                output::print(json, &report, || {
                    let mut s = format!("{}: invalid\n", dir.display());
                    for p in &problems {
                        s.push_str(&format!("  {p}\n"));
                    }
                    s
                })?;
                return Ok(ExitCode::from(1));
            }
        },
        PolicyCmd::Reload => {
            let r = cli.client()?.reload_policy().await?;
            output::print(json, &r, || {
                if r.changed {
                    format!("policy {} is in force (was {})\n", r.version, r.previous)
                } else {
                    format!("policy {} unchanged\n", r.version)
                }
            })?;
        }
        PolicyCmd::Explain { request } => {
            let e = cli.client()?.explain(request).await?;
            output::print(json, &e, || output::explain(&e))?;
        }
        PolicyCmd::Schema => print!("{}", writ_core::authority::SCHEMA),
        PolicyCmd::Init { dir } => {
            std::fs::create_dir_all(dir)?;
            let shipped = writ_core::authority::SHIPPED;
            if let Some((name, _)) = shipped.iter().find(|(n, _)| dir.join(n).exists()) {
                anyhow::bail!("{} exists; nothing was written", dir.join(name).display());
            }
            for (name, text) in shipped {
                std::fs::write(dir.join(name), text)?;
                println!("wrote {}", dir.join(name).display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
