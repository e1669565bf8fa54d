//! Running the `writ` binary: the demo server on a free port, and CLI calls to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const WRIT: &str = env!("CARGO_BIN_EXE_writ");

pub struct Demo {
    pub child: Child,
    pub url: String,
}

impl Demo {
    /// Starts `writ demo` on a free port and reads the address from its first line.
    pub fn start(data_dir: &Path) -> Demo {
        Demo::start_with(data_dir, "warn", Stdio::inherit())
    }

    /// Like [`Demo::start`], logging at `level` to `stderr`.
    pub fn start_with(data_dir: &Path, level: &str, stderr: Stdio) -> Demo {
        Demo::launch(data_dir, level, stderr, None, &[])
    }

    /// Starts `writ demo` with a configuration file and environment variables (e.g.
    /// `WRIT_FAILPOINTS`).
    pub fn start_configured(data_dir: &Path, config: &Path, env: &[(&str, &str)]) -> Demo {
        Demo::launch(data_dir, "warn", Stdio::inherit(), Some(config), env)
    }

    /// [`Demo::start_configured`], logging at `level` to `stderr`.
    pub fn start_logged(data_dir: &Path, config: &Path, level: &str, stderr: Stdio) -> Demo {
        Demo::launch(data_dir, level, stderr, Some(config), &[])
    }

    fn launch(
        data_dir: &Path,
        level: &str,
        stderr: Stdio,
        config: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Demo {
        let mut cmd = Command::new(WRIT);
        cmd.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("WRIT_LOG", level)
            .env_remove("WRIT_FAILPOINTS")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let url = first
            .strip_prefix("Writ is listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Read the rest of the banner so the demo is seeded before we go on.
        let mut banner = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        assert!(banner.contains("alice"), "{banner}");
        assert!(banner.contains("demo-tokens.json"), "{banner}");
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Demo { child, url }
    }

    pub fn writ(&self, data_dir: &Path, args: &[&str]) -> Output {
        Command::new(WRIT)
            .args(["--server", &self.url, "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("WRIT_TOKEN")
            .output()
            .unwrap()
    }

    /// Waits (up to `secs`) for the process to end by itself; returns its status.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed().as_secs() < secs,
                "the server did not stop within {secs} s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Simulates a crash: SIGKILL, no graceful shutdown.
    pub fn kill(self) {
        drop(self);
    }
}

/// A failed test must not leave a server running (it would hold the test's pipes).
impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs the binary on a data directory with no server (offline commands).
pub fn offline(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(WRIT)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("WRIT_TOKEN")
        .output()
        .unwrap()
}
