//! The `writ` binary itself: the demo a new user starts, the CLI they type, a crash,
//! a restart, and the offline rebuild check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod support;

use support::{Demo, WRIT, ok};

#[test]
fn demo_cli_crash_restart_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let demo = Demo::start(&data);

    let created = ok(&demo.writ(
        &data,
        &[
            "--as",
            "alice",
            "--json",
            "request",
            "create",
            "--entitlement",
            "pg-prod/read-only",
            "--duration",
            "8h",
            "--ticket",
            "INC-4411",
            "--justification",
            "investigate billing export failures",
        ],
    ));
    let request: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["beneficiary"], "alice", "defaults to the caller");

    let shown = ok(&demo.writ(&data, &["--as", "alice", "request", "show", &id]));
    assert!(
        shown.contains("eligible:  priya — manager of `alice`"),
        "{shown}"
    );
    assert!(
        shown.contains("eligible:  carol — owner of system `pg-prod`"),
        "{shown}"
    );
    let queue = ok(&demo.writ(&data, &["--as", "priya", "request", "list", "--to-decide"]));
    assert!(queue.contains(&id), "{queue}");
    ok(&demo.writ(
        &data,
        &[
            "--as",
            "priya",
            "request",
            "approve",
            &id,
            "--comment",
            "ok for today",
        ],
    ));

    // A refusal is one clear line on stderr and a non-zero exit.
    let refused = demo.writ(&data, &["--as", "alice", "request", "approve", &id]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HTTP 403") && stderr.contains("self-approval"),
        "{stderr}"
    );
    let bad = demo.writ(
        &data,
        &[
            "--as",
            "alice",
            "request",
            "create",
            "--entitlement",
            "pg-prod/read-only",
            "--duration",
            "forever",
            "--justification",
            "something long enough",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`forever` is not a duration"));
    let no_token = demo.writ(&data, &["request", "list"]);
    assert!(!no_token.status.success());
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("no credentials"));

    // Crash right after an acknowledged decision: it must survive.
    demo.kill();
    let demo = Demo::start(&data);
    let shown = ok(&demo.writ(&data, &["--as", "alice", "request", "show", &id]));
    assert!(shown.contains("approved by priya"), "{shown}");
    let done = ok(&demo.writ(
        &data,
        &["--as", "carol", "--json", "request", "approve", &id],
    ));
    let done: serde_json::Value = serde_json::from_str(&done).unwrap();
    assert_eq!(done["status"], "approved");
    let grants = ok(&demo.writ(&data, &["--as", "alice", "grant", "list"]));
    assert!(
        grants.contains("pg-prod/read-only") && grants.contains("active"),
        "{grants}"
    );
    let log = ok(&demo.writ(&data, &["--as", "olivia", "audit", "log", "--all"]));
    for kind in [
        "request_submitted",
        "step_decided",
        "request_approved",
        "grant_created",
    ] {
        assert!(log.contains(kind), "{kind} missing from\n{log}");
    }
    let whoami = ok(&demo.writ(&data, &["--as", "olivia", "whoami"]));
    assert!(whoami.contains("auditor"), "{whoami}");

    // The data dir is locked while the server runs.
    let locked = Command::new(WRIT)
        .args(["admin", "rebuild", "--check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!locked.status.success());
    assert!(String::from_utf8_lossy(&locked.stderr).contains("in use"));

    demo.kill();
    let check = Command::new(WRIT)
        .args(["admin", "rebuild", "--check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let out = ok(&check);
    assert!(out.starts_with("OK: replaying"), "{out}");
    // Two SIGKILLs later, the tree, the checkpoints and the tables still agree.
    let verified = ok(&support::offline(&data, &["audit", "verify"]));
    assert!(verified.starts_with("OK: "), "{verified}");
    assert!(
        verified.contains("signed checkpoint(s) verified"),
        "{verified}"
    );
    let rebuilt = Command::new(WRIT)
        .args(["admin", "rebuild", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(ok(&rebuilt).contains("Rebuilt every projection"));
}

#[test]
fn admin_init_bootstraps_a_fresh_server_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("prod");
    let out = Command::new(WRIT)
        .args([
            "admin",
            "init",
            "--name",
            "root-admin",
            "--email",
            "root@example.com",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = ok(&out);
    let token = text.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("writ_"), "{text}");
    let again = Command::new(WRIT)
        .args([
            "admin",
            "init",
            "--name",
            "other",
            "--email",
            "o@example.com",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has admin `root-admin`"));

    let mut server = Command::new(WRIT)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("WRIT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(server.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let url = first
        .strip_prefix("Writ is listening on ")
        .unwrap()
        .to_owned();
    let me = Command::new(WRIT)
        .args(["--server", &url, "whoami"])
        .env("WRIT_TOKEN", &token)
        .output()
        .unwrap();
    assert!(ok(&me).contains("root-admin"));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A malformed connector configuration stops `writ serve` before it opens anything,
/// with one line naming the system and the field.
#[test]
fn a_malformed_connector_configuration_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    for (config, field) in [
        // No account mapping.
        (
            "[systems.corp-ldap]\nconnector = \"ldap\"\nurl = \"ldap://127.0.0.1:1\"\nbind_dn = \"cn=writ\"\nbind_password = { env = \"WRIT_TEST_UNSET\" }\n",
            "`account_dn`",
        ),
        // The secret's variable is not set.
        (
            "[systems.corp-ldap]\nconnector = \"ldap\"\nurl = \"ldap://127.0.0.1:1\"\nbind_dn = \"cn=writ\"\nbind_password = { env = \"WRIT_TEST_SURELY_UNSET\" }\naccount_dn = \"uid={account},dc=x\"\n",
            "`bind_password`",
        ),
        // A secret inline in the file is refused.
        (
            "[systems.crm]\nconnector = \"scim\"\nbase_url = \"https://idp.example.com/scim/v2\"\ntoken = \"abc\"\n",
            "`token`",
        ),
    ] {
        let path = dir.path().join("writ.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(WRIT)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("WRIT_TEST_SURELY_UNSET")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{config}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let system = config.split(['.', ']']).nth(1).unwrap();
        assert!(
            stderr.contains(&format!("`{system}`")) && stderr.contains(field),
            "{config}\n{stderr}"
        );
        assert!(
            !stderr.contains("abc"),
            "the inline secret is not repeated: {stderr}"
        );
    }
    assert!(!data.join("writ.db").exists(), "nothing was opened");
}
