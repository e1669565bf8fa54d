//! `writ request`, `writ break-glass`, `writ incident` and `writ notifications`.

use clap::Subcommand;
use writ::client::RequestQuery;
use writ_server::wire::{CancelBody, ConstraintsBody, DecisionBody, NewRequest};

use crate::output;

use super::Cli;

// Parsed once per run: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(super) enum RequestCmd {
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
        /// How many to show at most (the CLI follows the pages).
        #[arg(long, default_value_t = 50, conflicts_with = "all")]
        limit: usize,
        /// Every match, however many pages that takes.
        #[arg(long)]
        all: bool,
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
pub(super) enum IncidentCmd {
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

pub(super) async fn run(cli: &Cli, cmd: &RequestCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
            let constraints = (!scopes.is_empty() || environment.is_some() || !sources.is_empty())
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
            all,
        } => {
            let q = RequestQuery {
                status: status.clone(),
                mine: mine.then_some(true),
                to_decide: to_decide.then_some(true),
                ..RequestQuery::default()
            };
            let list = client.requests_upto(&q, (!all).then_some(*limit)).await?;
            output::print(json, &list, || output::requests(&list.requests))?;
            output::more_exist(&list);
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
    Ok(())
}

pub(super) async fn break_glass(
    cli: &Cli,
    entitlement: &str,
    reason: &str,
    incident: &str,
    duration: &str,
) -> anyhow::Result<()> {
    let json = cli.json;
    let client = cli.client()?;
    let body = NewRequest {
        beneficiary: cli.me(&client).await?,
        entitlement: entitlement.to_owned(),
        justification: reason.to_owned(),
        duration: duration.to_owned(),
        ticket: Some(incident.to_owned()),
        kind: Some("break_glass".into()),
        constraints: None,
        sod_exception: None,
    };
    let r = client.create_request(&body, None).await?;
    output::print(json, &r, || output::request(&r))?;
    Ok(())
}

pub(super) async fn incidents(cli: &Cli, cmd: &IncidentCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
    Ok(())
}

pub(super) async fn notifications(cli: &Cli, all: bool) -> anyhow::Result<()> {
    let json = cli.json;
    let l = cli.client()?.notifications(all).await?;
    output::print(json, &l, || output::notifications(&l))?;
    Ok(())
}
