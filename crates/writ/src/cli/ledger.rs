//! `writ audit`, `writ ledger` and `writ evidence`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCmd {
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
pub(super) enum LedgerCmd {
    /// Print the latest signed checkpoint (or, with --sign, one signed now: admins).
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
pub(super) struct EvidenceArgs {
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
pub(super) enum EvidenceCmd {
    /// Check a bundle with no database and say who requested, who approved under which
    /// authority, and when access started and ended.
    Verify {
        file: PathBuf,
        /// The verifier key to trust (`name+id+base64`, or a file holding it).
        #[arg(long)]
        key: String,
    },
}

pub(super) async fn audit(cli: &Cli, cmd: &AuditCmd) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match cmd {
        AuditCmd::Log { after, limit, all } => {
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
        AuditCmd::Verify { key, checkpoint } => {
            return crate::audit::verify(
                &cli.data_dir,
                key.as_deref(),
                checkpoint.as_deref(),
                json,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn ledger(cli: &Cli, cmd: &LedgerCmd) -> anyhow::Result<()> {
    let json = cli.json;
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
    Ok(())
}

pub(super) async fn evidence(cli: &Cli, args: &EvidenceArgs) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match (&args.verify, &args.id, &args.output) {
        (Some(EvidenceCmd::Verify { file, key }), _, _) => {
            return crate::audit::verify_evidence(file, key, json);
        }
        (None, Some(id), Some(out)) => {
            crate::audit::export_evidence(&cli.client()?, id, out).await?;
        }
        _ => bail!(
            "usage: writ evidence <request|grant id> -o FILE, or writ evidence verify FILE --key KEY"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
