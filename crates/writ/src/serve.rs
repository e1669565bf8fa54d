//! `writ serve` and `writ demo`: the server in this process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use writ_server::{Application, Config, Settings, demo};
use writ_store::SystemClock;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WRIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

pub async fn run(
    data_dir: &Path,
    listen: SocketAddr,
    config: Option<&Path>,
    demo_org: bool,
) -> anyhow::Result<()> {
    init_tracing();
    let config = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let app = Application::build(Settings {
        data_dir: data_dir.to_owned(),
        listen,
        config,
        clock: Arc::new(SystemClock),
        scheduler: true,
    })
    .await?;
    let url = format!("http://{}", app.address());
    let mut out = std::io::stdout().lock();
    // The first line is stable: scripts and tests read the address from it.
    writeln!(out, "Writ is listening on {url}")?;
    if demo_org {
        let seeded = demo::seed(app.state(), app.data_dir())
            .await
            .context("cannot set up the demo organisation")?;
        let tokens = demo::tokens_path(app.data_dir());
        writeln!(
            out,
            "{} demo organisation in {} (tokens for every persona: {})",
            if seeded {
                "Seeded the"
            } else {
                "Kept the existing"
            },
            app.data_dir().display(),
            tokens.display()
        )?;
        writeln!(out)?;
        writeln!(out, "Act as any persona from another shell:")?;
        writeln!(
            out,
            "  export WRIT_SERVER={url} WRIT_DATA_DIR={}",
            app.data_dir().display()
        )?;
        writeln!(
            out,
            "  writ --as alice request create --for alice --entitlement pg-prod/read-only --duration 8h \\"
        )?;
        writeln!(
            out,
            "       --justification \"investigate billing export failures\""
        )?;
        writeln!(out, "  writ --as priya request list --to-decide")?;
        writeln!(
            out,
            "  writ --as priya request approve <request-id> --comment \"ok for today\""
        )?;
        writeln!(out, "  writ --as carol request approve <request-id>")?;
        writeln!(out, "  writ --as alice grant list")?;
        writeln!(out, "  writ --as olivia audit log")?;
        writeln!(out)?;
        writeln!(out, "Personas:")?;
        for p in demo::personas() {
            writeln!(out, "  {:<8} {}", p.name, p.about)?;
        }
        writeln!(
            out,
            "Non-human identities: svc-billing (owner carol), crm-sync-key (owner frank), ci-deploy (owner bob)"
        )?;
        writeln!(
            out,
            "Press Ctrl-C to stop; restarting on the same data directory keeps everything."
        )?;
    }
    out.flush()?;
    drop(out);
    tracing::info!(%url, "serving");
    app.run(shutdown_signal()).await?;
    Ok(())
}
