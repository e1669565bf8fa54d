//! The command line: arguments, and what each command does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use writ::client::Client;

use crate::{output, serve};

mod admin;
mod bench;
mod catalog;
mod delegation;
mod grants;
mod ledger;
mod policy;
mod requests;
mod review;

use admin::AdminCmd;
use bench::BenchCmd;
use catalog::{ListCmd, TokenCmd};
use delegation::DelegationCmd;
use grants::{GrantCmd, ProvisioningCmd};
use ledger::{AuditCmd, EvidenceArgs, LedgerCmd};
use policy::PolicyCmd;
use requests::{IncidentCmd, RequestCmd};
use review::ReviewCmd;

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
        Cmd::Request(cmd) => requests::run(&cli, cmd).await?,
        Cmd::BreakGlass {
            entitlement,
            reason,
            incident,
            duration,
        } => requests::break_glass(&cli, entitlement, reason, incident, duration).await?,
        Cmd::Incident(cmd) => requests::incidents(&cli, cmd).await?,
        Cmd::Notifications { all } => requests::notifications(&cli, *all).await?,
        Cmd::Delegation(cmd) => delegation::run(&cli, cmd).await?,
        Cmd::Grant(cmd) => grants::run(&cli, cmd).await?,
        Cmd::Provisioning(cmd) => grants::provisioning(&cli, cmd).await?,
        Cmd::Reconcile { system, explain } => {
            grants::reconcile(&cli, system.as_deref(), *explain).await?
        }
        Cmd::Review(cmd) => review::run(&cli.client()?, cmd, json).await?,
        Cmd::Identity(ListCmd::List) => catalog::identities(&cli).await?,
        Cmd::System(ListCmd::List) => catalog::systems(&cli).await?,
        Cmd::Entitlement(ListCmd::List) => catalog::entitlements(&cli).await?,
        Cmd::Token(cmd) => catalog::tokens(&cli, cmd).await?,
        Cmd::Audit(cmd) => return ledger::audit(&cli, cmd).await,
        Cmd::Ledger(cmd) => ledger::ledger(&cli, cmd).await?,
        Cmd::Evidence(args) => return ledger::evidence(&cli, args).await,
        Cmd::Policy(cmd) => return policy::run(&cli, cmd).await,
        Cmd::Admin(cmd) => return admin::run(&cli, cmd).await,
        Cmd::Bench(cmd) => bench::run(&cli, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}
