//! `writ admin`: offline administration of a data directory.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use writ_core::{
    Actor, Command, EmploymentType, Human, Identity, IdentityKind, IdentityStatus, Name, Role,
};
use writ_server::datadir::DataDir;
use writ_store::sqlite::{
    ProjectionCheck, SqliteStore, check_projections, erase_identity, rebuild,
};
use writ_store::{Envelope, RandomIds, Store, SystemClock};

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum AdminCmd {
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

pub(super) async fn run(cli: &Cli, cmd: &AdminCmd) -> anyhow::Result<ExitCode> {
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
