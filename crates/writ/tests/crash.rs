//! Crashes during provisioning: the real `writ` binary, a real `slapd`, and a named
//! failure point that aborts the process (no unwinding, no flush) at each step of a
//! job — before the connector call, after it (the directory changed, the ledger does
//! not know yet), and inside the store just before the confirmation commits. After a
//! restart on the same data directory nothing is lost and the directory ends exactly
//! as decided: added once, then removed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../writ-connect/tests/peers/scim.rs"]
mod scim_peer;
#[path = "../../writ-connect/tests/peers/slapd.rs"]
mod slapd;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Demo, ok};

const GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=com";
const ALICE: &str = "uid=alice,ou=people,dc=example,dc=com";

fn config(dir: &Path, ldap: &slapd::Slapd) -> std::path::PathBuf {
    let secret = dir.join("ldap-password");
    std::fs::write(&secret, &ldap.admin_password).unwrap();
    let path = dir.join("writ.toml");
    std::fs::write(
        &path,
        format!(
            r#"[provisioning]
poll_interval_ms = 20
backoff_base_ms = 50
backoff_max_ms = 200

[systems.corp-ldap]
connector = "ldap"
url = "{}"
bind_dn = "{}"
bind_password = {{ file = "{}" }}
account_dn = "uid={{account}},ou=people,dc=example,dc=com"
"#,
            ldap.url,
            ldap.admin_dn,
            secret.display()
        ),
    )
    .unwrap();
    path
}

/// The one grant alice holds for the VPN group, as the auditor sees it.
fn grant(demo: &Demo, data: &Path) -> serde_json::Value {
    let out = ok(&demo.writ(
        data,
        &[
            "--as",
            "olivia",
            "--json",
            "grant",
            "list",
            "--beneficiary",
            "alice",
        ],
    ));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vpn: Vec<&serde_json::Value> = list["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["entitlement"] == "corp-ldap/vpn-users")
        .collect();
    assert_eq!(vpn.len(), 1, "{list:#}");
    vpn[0].clone()
}

fn wait_status(demo: &Demo, data: &Path, status: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let g = grant(demo, data);
        if g["status"] == status {
            return g;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never {status}: {g:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `action` on a server armed with `failpoint`, which must then abort by itself.
fn crash_during(data: &Path, cfg: &Path, failpoint: &str, action: impl FnOnce(&Demo)) {
    let mut demo = Demo::start_configured(data, cfg, &[("WRIT_FAILPOINTS", failpoint)]);
    action(&demo);
    let status = demo.wait_exit(20);
    assert!(
        !status.success(),
        "{failpoint}: the server should have aborted: {status}"
    );
}

fn survive(failpoint: &str, target_changed_before_crash: bool) {
    let ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", GROUP);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let cfg = config(dir.path(), &ldap);

    // Approve: the worker takes the job and the process dies at the failure point.
    crash_during(&data, &cfg, failpoint, |demo| {
        let created = ok(&demo.writ(
            &data,
            &[
                "--as",
                "alice",
                "--json",
                "request",
                "create",
                "--entitlement",
                "corp-ldap/vpn-users",
                "--duration",
                "1d",
                "--justification",
                "working from home during the office move",
            ],
        ));
        let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        // The approval commits before the job runs; its answer may be lost in the crash.
        let _ = demo.writ(&data, &["--as", "priya", "request", "approve", &id]);
    });
    let expected: Vec<String> = if target_changed_before_crash {
        vec![ALICE.to_owned()]
    } else {
        vec![GROUP.to_owned()]
    };
    assert_eq!(
        ldap.members(GROUP),
        expected,
        "{failpoint}: the directory at the crash"
    );

    let demo = Demo::start_configured(&data, &cfg, &[]);
    let g = wait_status(&demo, &data, "active");
    assert_eq!(
        ldap.members(GROUP),
        [ALICE],
        "{failpoint}: added exactly once"
    );
    let id = g["id"].as_str().unwrap().to_owned();
    drop(demo);

    // Revoke: the removal job crashes the same way.
    crash_during(&data, &cfg, failpoint, |demo| {
        let _ = demo.writ(
            &data,
            &[
                "--as",
                "priya",
                "grant",
                "revoke",
                &id,
                "--reason",
                "office reopened",
            ],
        );
    });
    let expected: Vec<String> = if target_changed_before_crash {
        vec![GROUP.to_owned()]
    } else {
        vec![ALICE.to_owned()]
    };
    assert_eq!(
        ldap.members(GROUP),
        expected,
        "{failpoint}: the directory at the second crash"
    );

    let demo = Demo::start_configured(&data, &cfg, &[]);
    wait_status(&demo, &data, "revoked");
    assert_eq!(ldap.members(GROUP), [GROUP], "{failpoint}: removed");
    let jobs = ok(&demo.writ(&data, &["--as", "ada", "--json", "provisioning", "jobs"]));
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    let states: Vec<(&str, &str)> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["action"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("deprovision", "done"), ("provision", "done")],
        "{jobs:#}"
    );
    drop(demo);

    // The ledger, its tree and the projections agree after both crashes.
    let verified = ok(&support::offline(&data, &["audit", "verify"]));
    assert!(verified.contains("OK"), "{verified}");
}

#[test]
fn a_crash_before_the_connector_call_loses_no_job() {
    survive("provision.before_connector", false);
}

#[test]
fn a_crash_after_the_target_changed_is_repaired_by_an_idempotent_repeat() {
    survive("provision.after_connector", true);
}

#[test]
fn a_crash_before_the_confirmation_commits_is_repaired_by_an_idempotent_repeat() {
    survive("store.commit.confirm_provisioning", true);
}

/// Connector secrets (an LDAP bind password, a SCIM bearer token) never reach the
/// server's log, even at debug level, through a grant, its removal and a failure.
#[test]
fn connector_secrets_never_reach_the_log() {
    let ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", GROUP);
    let scim = scim_peer::Scim2Server::start();
    scim.create_user("alice");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let cfg = config(dir.path(), &ldap);
    let token = dir.path().join("scim-token");
    std::fs::write(&token, &scim.token).unwrap();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[systems.crm]\nconnector = \"scim\"\nbase_url = \"{}\"\ntoken = {{ file = \"{}\" }}\n",
        scim.base_url,
        token.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let demo = Demo::start_logged(&data, &cfg, "debug", std::process::Stdio::from(log));
    for entitlement in ["corp-ldap/vpn-users", "crm/viewer"] {
        let created = ok(&demo.writ(
            &data,
            &[
                "--as",
                "alice",
                "--json",
                "request",
                "create",
                "--entitlement",
                entitlement,
                "--duration",
                "1d",
                "--justification",
                "working from home during the office move",
            ],
        ));
        let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ok(&demo.writ(&data, &["--as", "priya", "request", "approve", &id]));
    }
    // The LDAP grant lands; the SCIM one fails (its group is not there) and is dead-lettered.
    wait_status(&demo, &data, "active");
    let started = Instant::now();
    loop {
        let dead = ok(&demo.writ(
            &data,
            &[
                "--as",
                "ada",
                "--json",
                "provisioning",
                "jobs",
                "--state",
                "dead",
            ],
        ));
        if dead.contains("crm/viewer") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{dead}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(demo);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("target confirmed"),
        "the log is the server's: {logged}"
    );
    assert!(logged.contains("dead-lettered"), "{logged}");
    assert!(
        !logged.contains(&ldap.admin_password),
        "the LDAP bind password reached the log"
    );
    assert!(
        !logged.contains(&scim.token),
        "the SCIM token reached the log"
    );
}
