//! The auditor's commands: offline verification of a data directory, and evidence
//! bundles (export through the API, verification with no database at all).

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use writ::client::Client;
use writ_ledger::evidence::{Bundle, verify as verify_bundle};
use writ_ledger::hash_to_base64;
use writ_server::datadir::{default_key_path, read_ledger_key};
use writ_store::sqlite::{Phase, VerifyOptions, verify as verify_data_dir};

/// A verifier key given on the command line, or the path of a file holding one.
fn key_arg(arg: &str) -> anyhow::Result<String> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read verifier key file `{arg}`"))?;
        return Ok(text.trim().to_owned());
    }
    if arg.matches('+').count() < 2 {
        bail!("`{arg}` is neither a verifier key (`name+id+base64`) nor a readable file");
    }
    Ok(arg.trim().to_owned())
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} entries ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

pub fn verify(
    data_dir: &Path,
    key: Option<&str>,
    checkpoint: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let database = data_dir.join("writ.db");
    let verifier_key = match key {
        Some(k) => key_arg(k)?,
        None => {
            let path = default_key_path(data_dir);
            let own = read_ledger_key(&path).with_context(|| {
                "no --key given and the data directory has no readable ledger key".to_string()
            })?;
            if !json {
                eprintln!(
                    "note: checking checkpoints with the data directory's own key; pass --key with \
                     a key obtained independently to rule out a replaced key"
                );
            }
            own.verifier_key()
        }
    };
    let saved_checkpoint = checkpoint
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read checkpoint `{}`", p.display()))
        })
        .transpose()?;
    let options = VerifyOptions {
        verifier_key,
        saved_checkpoint,
    };
    let bar = progress_bar();
    let verdict = verify_data_dir(&database, &options, &mut |phase, done, total| {
        bar.set_length(total);
        bar.set_message(match phase {
            Phase::Tree => "tree",
            Phase::Replay => "replay",
        });
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    match verdict {
        Ok(r) => {
            let secs = r.tree_time.as_secs_f64().max(1e-9);
            if json {
                let v = serde_json::json!({
                    "ok": true,
                    "size": r.size,
                    "root": hash_to_base64(&r.root),
                    "checkpoints": r.checkpoints,
                    "extends": r.extends,
                    "projection_rows": r.projection_rows,
                    "erased_events": r.erased_events,
                    "tree_seconds": r.tree_time.as_secs_f64(),
                    "replay_seconds": r.replay_time.as_secs_f64(),
                    "leaves_per_second": r.size as f64 / secs,
                    "megabytes_per_second": r.leaf_bytes as f64 / secs / 1e6,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("OK: {} entries, root {}", r.size, hash_to_base64(&r.root));
                println!(
                    "  every leaf hash and stored tree hash recomputed ({:.0} leaves/s, {:.1} MB/s)",
                    r.size as f64 / secs,
                    r.leaf_bytes as f64 / secs / 1e6
                );
                println!(
                    "  {} signed checkpoint(s) verified against the recomputed tree",
                    r.checkpoints
                );
                if let Some(size) = r.extends {
                    println!("  the log extends the saved checkpoint of {size} entries");
                }
                println!(
                    "  replaying the ledger reproduces all {} projection rows ({:.1} s)",
                    r.projection_rows,
                    r.replay_time.as_secs_f64()
                );
                if r.erased_events > 0 {
                    println!(
                        "  {} entries have erased personal data; their leaves still verify",
                        r.erased_events
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(d) => {
            if json {
                let v = serde_json::json!({
                    "ok": false,
                    "index": d.index,
                    "table": d.table,
                    "live": d.live,
                    "replayed": d.replayed,
                    "message": d.message,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                match d.index {
                    Some(i) => println!("DIVERGENCE at index {i} (seq {}): {}", i + 1, d.message),
                    None => println!("DIVERGENCE: {}", d.message),
                }
                if let Some(table) = &d.table {
                    println!("  table:    {table}");
                    println!("  live:     {}", d.live.as_deref().unwrap_or("(no row)"));
                    println!(
                        "  replayed: {}",
                        d.replayed.as_deref().unwrap_or("(no row)")
                    );
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Fetches a bundle, checks it against the server's own key before writing it, and
/// writes it.
pub async fn export_evidence(client: &Client, id: &str, out: &Path) -> anyhow::Result<()> {
    let value = client.evidence(id).await?;
    let bundle: Bundle = serde_json::from_value(value.clone())
        .map_err(|e| anyhow!("the server sent a malformed bundle: {e}"))?;
    let key = client.ledger_key().await?;
    let story = verify_bundle(&bundle, &key)
        .map_err(|e| anyhow!("the server's bundle does not verify: {e}"))?;
    let text = serde_json::to_string_pretty(&value)? + "\n";
    std::fs::write(out, text).with_context(|| format!("cannot write `{}`", out.display()))?;
    println!(
        "Wrote evidence for {} to {}: {} ledger entries, proven against a checkpoint of {} entries",
        bundle.subject,
        out.display(),
        bundle.entries.len(),
        story.checkpoint_size
    );
    println!(
        "Verify it with: writ evidence verify {} --key '{key}'",
        out.display()
    );
    Ok(())
}

pub fn verify_evidence(file: &Path, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let key = key_arg(key)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let bundle: Bundle = serde_json::from_str(&text)
        .map_err(|e| anyhow!("`{}` is not a Writ evidence bundle: {e}", file.display()))?;
    match verify_bundle(&bundle, &key) {
        Ok(story) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&story)?);
            } else {
                print!("{story}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("NOT VERIFIED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
