//! `writ delegation`.

use clap::Subcommand;

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum DelegationCmd {
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
        /// Whose authority (admins only, never to themself; default yourself).
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

pub(super) async fn run(cli: &Cli, cmd: &DelegationCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
    Ok(())
}
