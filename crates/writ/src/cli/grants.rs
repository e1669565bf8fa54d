//! `writ grant`, `writ provisioning` and `writ reconcile`.

use clap::Subcommand;
use writ::client::GrantQuery;

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum GrantCmd {
    /// List grants.
    List {
        #[arg(long)]
        beneficiary: Option<String>,
        #[arg(long)]
        status: Option<String>,
        /// How many to show at most (the CLI follows the pages).
        #[arg(long, default_value_t = 50, conflicts_with = "all")]
        limit: usize,
        /// Every match, however many pages that takes.
        #[arg(long)]
        all: bool,
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
pub(super) enum ProvisioningCmd {
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
    /// Send a job back to the worker: a dead-lettered or held one, or one waiting for
    /// its next attempt, which then runs now.
    Retry {
        grant: String,
        /// `provision` or `deprovision`.
        #[arg(long, default_value = "provision")]
        action: String,
    },
    /// Close a removal the worker could not make, after removing the access in the
    /// target by other means; the ledger records who and why.
    Resolve {
        grant: String,
        /// What was done in the target, and by whom.
        #[arg(long)]
        reason: String,
    },
}

pub(super) async fn run(cli: &Cli, cmd: &GrantCmd) -> anyhow::Result<()> {
    let json = cli.json;
    let client = cli.client()?;
    match cmd {
        GrantCmd::List {
            beneficiary,
            status,
            limit,
            all,
        } => {
            let q = GrantQuery {
                beneficiary: beneficiary.clone(),
                status: status.clone(),
                ..GrantQuery::default()
            };
            let list = client.grants_upto(&q, (!all).then_some(*limit)).await?;
            output::print(json, &list, || output::grants(&list.grants))?;
            output::more_exist(&list);
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
    Ok(())
}

pub(super) async fn provisioning(cli: &Cli, cmd: &ProvisioningCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
        ProvisioningCmd::Resolve { grant, reason } => {
            let g = client
                .resolve_provisioning(grant, "deprovision", reason)
                .await?;
            output::print(json, &g, || output::grant(&g))?;
        }
    }
    Ok(())
}

pub(super) async fn reconcile(
    cli: &Cli,
    system: Option<&str>,
    explain: bool,
) -> anyhow::Result<()> {
    let json = cli.json;
    let reports = cli.client()?.reconcile(system).await?;
    output::print(json, &reports, || {
        output::reconcile(&reports.reports, explain)
    })?;
    let unexplained: usize = reports.reports.iter().map(|r| r.unexplained).sum();
    let missing: usize = reports.reports.iter().map(|r| r.missing).sum();
    if unexplained + missing > 0 {
        // Findings are not an error of the command, but scripts want to know.
        std::process::exit(3);
    }
    Ok(())
}
