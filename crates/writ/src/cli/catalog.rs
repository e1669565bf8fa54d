//! `writ identity|system|entitlement list` and `writ token`.

use clap::Subcommand;
use writ_server::wire::NewToken;

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum ListCmd {
    /// List them.
    List,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokenCmd {
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

pub(super) async fn identities(cli: &Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let list = cli.client()?.identities().await?;
    output::print(json, &list, || output::identities(&list.identities))?;
    Ok(())
}

pub(super) async fn systems(cli: &Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let list = cli.client()?.systems().await?;
    output::print(json, &list, || output::systems(&list.systems))?;
    Ok(())
}

pub(super) async fn entitlements(cli: &Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let list = cli.client()?.entitlements().await?;
    output::print(json, &list, || output::entitlements(&list.entitlements))?;
    Ok(())
}

pub(super) async fn tokens(cli: &Cli, cmd: &TokenCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
    Ok(())
}
