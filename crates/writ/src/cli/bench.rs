//! `writ bench`.

use clap::Subcommand;
use writ::bench as benches;

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum BenchCmd {
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

pub(super) async fn run(cli: &Cli, cmd: &BenchCmd) -> anyhow::Result<()> {
    let json = cli.json;
    match cmd {
        BenchCmd::Store {
            lifecycles,
            concurrency,
        } => {
            let report = benches::store(*lifecycles, *concurrency).await?;
            output::print(json, &report, || report.to_string())?;
        }
        BenchCmd::Proofs { size, samples } => {
            let report = benches::proofs(*size, *samples)?;
            output::print(json, &report, || report.to_string())?;
        }
        BenchCmd::Policy { people, samples } => {
            let report = benches::policy(*people, *samples)?;
            output::print(json, &report, || report.to_string())?;
        }
        BenchCmd::Http {
            lifecycles,
            concurrency,
        } => {
            let report = benches::http(*lifecycles, *concurrency).await?;
            output::print(json, &report, || report.to_string())?;
        }
    }
    Ok(())
}
