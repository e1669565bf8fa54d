//! `writ policy`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::output;

use super::Cli;

#[derive(Debug, Subcommand)]
pub(super) enum PolicyCmd {
    /// The version in force and its Cedar policies.
    Show,
    /// Validate a directory of Cedar policies strictly against Writ's schema
    /// (offline; exits 1 and names every problem when it is invalid).
    Check { dir: PathBuf },
    /// Make the server read its policy directory again (admin). An invalid set is
    /// refused and the policy in force stays.
    Reload,
    /// For each step of a request: who may decide it and which policy makes them so.
    Explain { request: String },
    /// Print the Cedar schema policies are written against.
    Schema,
    /// Write the shipped policy set into DIR (created if absent; existing files are
    /// never overwritten) to start a policy directory from.
    Init { dir: PathBuf },
}

pub(super) async fn run(cli: &Cli, cmd: &PolicyCmd) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match cmd {
        PolicyCmd::Show => {
            let p = cli.client()?.policy().await?;
            output::print(json, &p, || output::policy(&p))?;
        }
        PolicyCmd::Check { dir } => match writ_server::policy::check_dir(dir) {
            Ok((source, authority)) => {
                let ids: Vec<String> = authority.policies().map(|p| p.id.clone()).collect();
                let report = serde_json::json!({
                    "valid": true,
                    "files": source.files.keys().collect::<Vec<_>>(),
                    "policies": ids,
                    "digest": source.digest(),
                });
                output::print(json, &report, || {
                    format!(
                        "{}: valid — {} file(s), {} policies: {}\n",
                        dir.display(),
                        source.files.len(),
                        ids.len(),
                        ids.join(", ")
                    )
                })?;
            }
            Err(problems) => {
                let report = serde_json::json!({ "valid": false, "problems": problems });
                output::print(json, &report, || {
                    let mut s = format!("{}: invalid\n", dir.display());
                    for p in &problems {
                        s.push_str(&format!("  {p}\n"));
                    }
                    s
                })?;
                return Ok(ExitCode::from(1));
            }
        },
        PolicyCmd::Reload => {
            let r = cli.client()?.reload_policy().await?;
            output::print(json, &r, || {
                if r.changed {
                    format!("policy {} is in force (was {})\n", r.version, r.previous)
                } else {
                    format!("policy {} unchanged\n", r.version)
                }
            })?;
        }
        PolicyCmd::Explain { request } => {
            let e = cli.client()?.explain(request).await?;
            output::print(json, &e, || output::explain(&e))?;
        }
        PolicyCmd::Schema => print!("{}", writ_core::authority::SCHEMA),
        PolicyCmd::Init { dir } => {
            std::fs::create_dir_all(dir)?;
            let shipped = writ_core::authority::SHIPPED;
            if let Some((name, _)) = shipped.iter().find(|(n, _)| dir.join(n).exists()) {
                anyhow::bail!("{} exists; nothing was written", dir.join(name).display());
            }
            for (name, text) in shipped {
                std::fs::write(dir.join(name), text)?;
                println!("wrote {}", dir.join(name).display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
