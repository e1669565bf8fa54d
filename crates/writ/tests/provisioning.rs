//! Approvals drive provisioning, end to end: the real server with real connectors
//! against real targets — Debian's `slapd` and the machine's PostgreSQL, started or
//! prepared by each test. Nothing here is mocked and nothing skips: a missing peer
//! fails the test with the command that installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../writ-connect/tests/peers/postgres.rs"]
mod pg_peer;
#[path = "../../writ-connect/tests/peers/scim.rs"]
mod scim_peer;
#[path = "../../writ-connect/tests/peers/slapd.rs"]
mod slapd;
#[path = "../../writ-connect/tests/peers/webhook_receiver.rs"]
mod webhook_receiver;

use std::time::{Duration, Instant};

use common::TestApp;
use writ::Client;
use writ_core::{Clock, DurationSpec};
use writ_server::Config;
use writ_server::wire::{EntitlementBody, GrantView};

const VPN_GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=com";

fn member(account: &str) -> String {
    format!("uid={account},ou=people,dc=example,dc=com")
}

/// A server whose `corp-ldap` system is provisioned into `ldap` (bind password read
/// from a file, as an operator would configure it), retrying quickly.
fn ldap_config(ldap: &slapd::Slapd, dir: &std::path::Path, extra: &str) -> Config {
    let secret = dir.join("ldap-password");
    std::fs::write(&secret, format!("{}\n", ldap.admin_password)).unwrap();
    let text = format!(
        r#"
[provisioning]
concurrency = 4
max_attempts = 3
backoff_base_ms = 100
backoff_max_ms = 400
poll_interval_ms = 20

[systems.corp-ldap]
connector = "ldap"
url = "{url}"
bind_dn = "{bind}"
bind_password = {{ file = "{secret}" }}
account_dn = "uid={{account}},ou=people,dc=example,dc=com"
timeout_ms = 2000
{extra}
"#,
        url = ldap.url,
        bind = ldap.admin_dn,
        secret = secret.display(),
    );
    Config::parse(&text, "test.toml").unwrap()
}

/// Polls the grant (as the auditor) until `done` holds; fails after 15 s with the
/// last view.
async fn wait_for(app: &TestApp, grant: &str, done: impl Fn(&GrantView) -> bool) -> GrantView {
    let auditor = app.as_("olivia");
    let started = Instant::now();
    loop {
        let g = auditor.grant(grant).await.unwrap();
        if done(&g) {
            return g;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "grant never got there: {g:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A slapd with the demo's VPN group (holding only its placeholder) and a server
/// provisioning `corp-ldap` into it; `extra` goes into the system's table.
async fn directory_app(extra: &str) -> (slapd::Slapd, tempfile::TempDir, TestApp) {
    let ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", VPN_GROUP);
    let secrets = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(ldap_config(&ldap, secrets.path(), extra), false).await;
    (ldap, secrets, app)
}

/// A server whose directory is down from the start, with enough attempts that the
/// outage cannot exhaust them; `restart` brings the directory back.
async fn directory_down_app() -> (slapd::Slapd, tempfile::TempDir, TestApp) {
    let mut ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", VPN_GROUP);
    let secrets = tempfile::tempdir().unwrap();
    let mut config = ldap_config(&ldap, secrets.path(), "");
    config.provisioning.max_attempts = 50;
    let app = TestApp::spawn_with(config, false).await;
    ldap.stop();
    (ldap, secrets, app)
}

/// alice's VPN access, approved by priya and confirmed by the directory.
async fn active_vpn(app: &TestApp, duration: &str) -> String {
    let (_, grant) = app.vpn_grant("alice", duration).await;
    wait_for(app, &grant, |g| g.status == "active").await;
    grant
}

/// The members of PostgreSQL role `target`, read from the catalogue.
async fn role_members(admin: &tokio_postgres::Client, target: &str) -> Vec<String> {
    let rows = admin
        .query(
            "SELECT m.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid \
             JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = $1",
            &[&target],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn metrics(app: &TestApp) -> String {
    let res = app
        .anonymous()
        .raw(reqwest::Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    String::from_utf8(res.body).unwrap()
}

async fn event_kinds(client: &Client) -> Vec<String> {
    let page = client.audit_events(0, 1000).await.unwrap();
    page.events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_grant_appears_in_the_directory_and_a_revocation_removes_it() {
    let (ldap, _secrets, app) = directory_app("").await;

    let (_, grant) = app.vpn_grant("alice", "1d").await;
    let g = wait_for(&app, &grant, |g| g.status == "active").await;
    assert!(
        g.provisioned_by_connector && g.provisioned_at.is_some(),
        "{g:#?}"
    );
    assert_eq!(
        ldap.members(VPN_GROUP),
        [member("alice")],
        "in the real directory"
    );
    assert_eq!(g.jobs.len(), 1);
    assert_eq!(
        (g.jobs[0].action.as_str(), g.jobs[0].state.as_str()),
        ("provision", "done")
    );

    // The receipt is in the ledger, with the target's own identifiers.
    let auditor = app.as_("olivia");
    let page = auditor.audit_events(0, 1000).await.unwrap();
    let receipt = page
        .events
        .iter()
        .find(|e| e.kind == "grant_provisioned")
        .expect("a grant_provisioned entry");
    assert_eq!(receipt.actor, "system:provisioner");
    let text = receipt.event.to_string();
    assert!(
        text.contains(&member("alice")) && text.contains(VPN_GROUP) && text.contains("\"added\""),
        "{text}"
    );

    // Revoked: `revoking` until the directory confirms, then `revoked` and gone.
    let revoked = app
        .as_("priya")
        .revoke_grant(&grant, "left the project")
        .await
        .unwrap();
    assert!(
        revoked.status == "revoking" || revoked.status == "revoked",
        "{revoked:#?}"
    );
    let g = wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(g.deprovisioned_at.is_some());
    // Only the placeholder that keeps a `groupOfNames` valid is left.
    assert_eq!(
        ldap.members(VPN_GROUP),
        [VPN_GROUP],
        "removed from the real directory"
    );
    let kinds = event_kinds(&auditor).await;
    let tail: Vec<&str> = kinds
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["grant_provisioned", "grant_revoked", "grant_deprovisioned"]
    );

    // The evidence bundle tells what the target confirmed.
    let bundle = app.as_("olivia").evidence(&grant).await.unwrap();
    let key = app.anonymous().ledger_key().await.unwrap();
    let bundle: writ_ledger::evidence::Bundle = serde_json::from_value(bundle).unwrap();
    let story = writ_ledger::evidence::verify(&bundle, &key)
        .unwrap()
        .to_string();
    assert!(
        story.contains("the target confirmed the access (ldap): added"),
        "{story}"
    );
    assert!(
        story.contains("the target confirmed the removal (ldap): removed"),
        "{story}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_removes_the_access_from_the_directory_not_only_from_the_database() {
    let (ldap, _secrets, app) = directory_app("").await;
    let grant = active_vpn(&app, "2h").await;
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);

    app.clock.advance(DurationSpec::hours(2));
    let expired = writ_server::scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let g = wait_for(&app, &grant, |g| g.status == "expired").await;
    assert_eq!(g.end_reason.as_deref(), Some("expired"));
    assert_eq!(ldap.members(VPN_GROUP), [VPN_GROUP]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_is_down_for_a_while_is_retried_and_everything_converges() {
    let (mut ldap, _secrets, app) = directory_down_app().await;

    let (_, grant) = app.vpn_grant("alice", "1d").await;
    // Pending, with the last error and a next attempt, visible on the grant.
    let g = wait_for(&app, &grant, |g| {
        g.jobs.first().is_some_and(|j| j.attempts >= 1)
    })
    .await;
    assert_eq!(g.status, "pending");
    let job = &g.jobs[0];
    assert_eq!(job.state, "queued");
    assert!(job.next_attempt_at.is_some());
    assert!(
        job.last_error.as_deref().is_some_and(|e| !e.is_empty()),
        "{job:#?}"
    );
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("writ_provisioning_jobs{state=\"queued\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("writ_provisioning_attempts_total{system=\"corp-ldap\",outcome=\"retry\"}"),
        "{metrics}"
    );

    // Retries wait for their time (the injected clock), then the directory is back.
    ldap.restart();
    app.clock.advance(DurationSpec::hours(1));
    let g = wait_for(&app, &grant, |g| g.status == "active").await;
    assert_eq!(g.jobs[0].state, "done");
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);
    app.stop().await;
}

/// The count of the worker's attempts with `outcome`, read off `/metrics`.
fn attempts(metrics: &str, outcome: &str) -> u64 {
    let key =
        format!("writ_provisioning_attempts_total{{system=\"corp-ldap\",outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A grant revoked while its addition is still being retried (the directory is down)
/// ends revoked once the directory is back: the addition never runs, the removal
/// does, every job closes, and the worker waits with backoff meanwhile instead of
/// asking about the superseded addition thousands of times a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_revoked_while_its_addition_is_retried_ends_without_the_member_and_every_job_closes()
 {
    let (mut ldap, _secrets, app) = directory_down_app().await;

    let (_, grant) = app.vpn_grant("alice", "1d").await;
    wait_for(&app, &grant, |g| {
        g.jobs.first().is_some_and(|j| j.attempts >= 1)
    })
    .await;
    app.as_("priya")
        .revoke_grant(&grant, "plans changed")
        .await
        .unwrap();
    let g = wait_for(&app, &grant, |g| g.status == "revoking").await;
    let states: Vec<(&str, &str)> = g
        .jobs
        .iter()
        .map(|j| (j.action.as_str(), j.state.as_str()))
        .collect();
    assert!(
        states.contains(&("provision", "superseded"))
            && states.contains(&("deprovision", "queued")),
        "{g:#?}"
    );
    // A second with the directory still down: the removal waits its turn like any
    // failed attempt; nothing spins.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let m = metrics(&app).await;
    assert!(
        attempts(&m, "refused") + attempts(&m, "retry") < 20,
        "the worker spins: {m}"
    );

    ldap.restart();
    app.clock.advance(DurationSpec::hours(1));
    let g = wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(
        !ldap.members(VPN_GROUP).contains(&member("alice")),
        "{:?}",
        ldap.members(VPN_GROUP)
    );
    let mut states: Vec<(String, String)> = g
        .jobs
        .iter()
        .map(|j| (j.action.clone(), j.state.clone()))
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            ("deprovision".to_owned(), "done".to_owned()),
            ("provision".to_owned(), "superseded".to_owned())
        ]
    );
    let ada = app.as_("ada");
    for state in ["queued", "dead"] {
        let open = ada.jobs(Some(state), None, 10).await.unwrap();
        assert!(open.jobs.is_empty(), "{state}: {open:#?}");
    }
    // Nothing is left to retry.
    let err = ada
        .retry_provisioning(&grant, "provision")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    app.stop().await;
}

/// A removal that cannot succeed (the group is gone from the directory) is
/// dead-lettered; an admin who removed the access by hand closes it with a reason,
/// the grant ends, and the evidence bundle tells who did it and why. An addition is
/// never resolved by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_resolves_a_dead_lettered_removal_by_hand_and_the_evidence_says_so() {
    let (ldap, _secrets, app) = directory_app("").await;
    let grant = active_vpn(&app, "1d").await;
    // The group is deleted behind Writ's back: the removal fails for good.
    ldap.modify_ldif(&format!("dn: {VPN_GROUP}\nchangetype: delete\n"));
    app.as_("priya")
        .revoke_grant(&grant, "moved to another team")
        .await
        .unwrap();
    let g = wait_for(&app, &grant, |g| g.failed_job.is_some()).await;
    assert_eq!(
        (g.status.as_str(), g.failed_job.as_deref()),
        ("revoking", Some("deprovision"))
    );

    let err = app
        .as_("priya")
        .resolve_provisioning(&grant, "deprovision", "gone with the group")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let ada = app.as_("ada");
    let err = ada
        .resolve_provisioning(&grant, "provision", "added by hand")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    let g = ada
        .resolve_provisioning(
            &grant,
            "deprovision",
            "the vpn-users group was deleted in the directory console",
        )
        .await
        .unwrap();
    assert_eq!(g.status, "revoked");
    assert!(
        g.jobs
            .iter()
            .any(|j| j.action == "deprovision" && j.state == "resolved"),
        "{g:#?}"
    );
    let err = ada
        .resolve_provisioning(&grant, "deprovision", "again")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");

    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: writ_ledger::evidence::Bundle =
        serde_json::from_value(olivia.evidence(&grant).await.unwrap()).unwrap();
    let story = writ_ledger::evidence::verify(&bundle, &key)
        .unwrap()
        .to_string();
    assert!(
        story.contains("ada closed the deprovision job by hand")
            && story.contains("group was deleted in the directory console"),
        "{story}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_succeed_is_dead_lettered_visibly_and_an_admin_retries_it() {
    let ldap = slapd::Slapd::start();
    let secrets = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(ldap_config(&ldap, secrets.path(), ""), false).await;

    // The group does not exist: a permanent error, dead-lettered at once.
    let (_, grant) = app.vpn_grant("alice", "1d").await;
    let g = wait_for(&app, &grant, |g| g.failed_job.is_some()).await;
    assert_eq!(
        (g.status.as_str(), g.failed_job.as_deref()),
        ("pending", Some("provision"))
    );
    let ada = app.as_("ada");
    let dead = ada.jobs(Some("dead"), None, 10).await.unwrap();
    assert_eq!(dead.jobs.len(), 1);
    assert!(
        dead.jobs[0].error.as_deref().unwrap().contains(VPN_GROUP),
        "{dead:#?}"
    );
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("writ_provisioning_jobs{state=\"dead\"} 1"),
        "{metrics}"
    );
    assert!(
        event_kinds(&ada)
            .await
            .contains(&"provisioning_failed".to_owned())
    );

    // Only admins retry, and only a dead job.
    let err = app
        .as_("priya")
        .retry_provisioning(&grant, "provision")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = ada
        .retry_provisioning(&grant, "deprovision")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    let err = ada
        .retry_provisioning(&grant, "reprovision")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");

    ldap.add_group("vpn-users", VPN_GROUP);
    ada.retry_provisioning(&grant, "provision").await.unwrap();
    let g = wait_for(&app, &grant, |g| g.status == "active").await;
    assert_eq!(g.failed_job, None);
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);
    assert!(
        ada.jobs(Some("dead"), None, 10)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_role_membership_follows_the_grant() {
    let pg = pg_peer::PgPeer::start().await;
    let target = pg.role("billing_ro");
    let admin = pg.client().await;
    admin
        .batch_execute(&format!("CREATE ROLE {} NOLOGIN", pg_peer::ident(&target)))
        .await
        .unwrap();
    let text = format!(
        r#"
[provisioning]
poll_interval_ms = 20

[systems.pg-prod]
connector = "postgres"
url = "{url}"
account_role = "{prefix}{{account}}"
"#,
        url = pg.url,
        prefix = pg.prefix,
    );
    let app = TestApp::spawn_with(Config::parse(&text, "test.toml").unwrap(), false).await;
    // Point the demo's entitlement at this test's role, low risk (manager only).
    let ada = app.as_("ada");
    let mut e: EntitlementBody = ada
        .entitlements()
        .await
        .unwrap()
        .entitlements
        .into_iter()
        .find(|e| e.reference == "pg-prod/read-only")
        .unwrap();
    e.external_ref = target.clone();
    e.risk = "low".into();
    ada.put_entitlement("pg-prod/read-only", &e).await.unwrap();

    let r = app
        .as_("alice")
        .create_request(
            &common::new_request("alice", "pg-prod/read-only", "8h"),
            None,
        )
        .await
        .unwrap();
    let done = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let grant = done.grant.unwrap();
    wait_for(&app, &grant, |g| g.status == "active").await;
    let account = pg.role("alice");
    assert_eq!(
        role_members(&admin, &target).await,
        [account],
        "GRANT landed in the real database"
    );

    app.as_("priya").revoke_grant(&grant, "done").await.unwrap();
    wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(
        role_members(&admin, &target).await.is_empty(),
        "REVOKE landed in the real database"
    );
    app.stop().await;
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_without_a_connector_is_not_held_back() {
    let app = TestApp::spawn().await;
    let (_, grant) = app.vpn_grant("alice", "1d").await;
    let g = app.as_("olivia").grant(&grant).await.unwrap();
    assert_eq!(g.status, "active");
    assert!(!g.provisioned_by_connector && g.jobs.is_empty());
    assert!(
        app.as_("ada")
            .jobs(None, None, 10)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    let _ = app.clock.now();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_by_hand_is_reported_once_and_each_access_names_its_approval() {
    let (ldap, _secrets, app) = directory_app("").await;
    let grant = active_vpn(&app, "1d").await;
    // Behind Writ's back: a Writ identity and a stranger.
    let stranger = "cn=mallory,ou=contractors,dc=example,dc=com";
    ldap.modify_ldif(&format!(
        "dn: {VPN_GROUP}\nchangetype: modify\nadd: member\nmember: {}\nmember: {stranger}\n",
        member("bob")
    ));

    let ada = app.as_("ada");
    let err = app.as_("priya").reconcile(None).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let report = &ada.reconcile(Some("corp-ldap")).await.unwrap().reports[0];
    assert_eq!(
        (
            report.memberships,
            report.explained,
            report.unexplained,
            report.missing
        ),
        (3, 1, 2, 0),
        "{report:#?}"
    );
    assert_eq!(report.unexplained_policy, "report");
    // The demo's other directory groups do not exist in this directory: said, not hidden.
    assert!(
        report
            .unchecked
            .iter()
            .any(|u| u.starts_with("corp-ldap/domain-admins: ")),
        "{report:#?}"
    );
    let mut recorded: Vec<(&str, &str)> = report
        .recorded
        .iter()
        .map(|f| (f.account_ref.as_str(), f.action.as_str()))
        .collect();
    recorded.sort();
    let bob = member("bob");
    assert_eq!(
        recorded,
        [(stranger, "reported"), (bob.as_str(), "reported")]
    );
    let alice = report
        .access
        .iter()
        .find(|a| a.account.as_deref() == Some("alice"))
        .unwrap();
    assert_eq!(
        (alice.state.as_str(), alice.grant.as_deref()),
        ("explained", Some(grant.as_str()))
    );
    assert!(
        alice.approved_by.len() == 1
            && alice.approved_by[0].starts_with("priya (manager of `alice`"),
        "{alice:#?}"
    );
    // Reported, not touched.
    assert_eq!(ldap.members(VPN_GROUP).len(), 3);

    // A finding is recorded once, not once per run.
    let again = &ada.reconcile(Some("corp-ldap")).await.unwrap().reports[0];
    assert_eq!(again.unexplained, 2);
    assert!(again.recorded.is_empty(), "{again:#?}");
    let kinds = event_kinds(&ada).await;
    assert_eq!(kinds.iter().filter(|k| *k == "drift_found").count(), 2);

    // Removed by hand: the next run says the finding no longer holds.
    ldap.modify_ldif(&format!(
        "dn: {VPN_GROUP}\nchangetype: modify\ndelete: member\nmember: {bob}\n"
    ));
    let later = &ada.reconcile(None).await.unwrap().reports[0];
    assert_eq!(later.unexplained, 1);
    assert_eq!(later.recorded.len(), 1);
    assert_eq!(
        (
            later.recorded[0].account_ref.as_str(),
            later.recorded[0].action.as_str()
        ),
        (bob.as_str(), "resolved")
    );
    let err = ada.reconcile(Some("nowhere")).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexplained_access_is_removed_where_the_system_says_so() {
    let (ldap, _secrets, app) = directory_app("unexplained = \"revoke\"").await;
    active_vpn(&app, "1d").await;
    let stranger = "cn=mallory,ou=contractors,dc=example,dc=com";
    ldap.modify_ldif(&format!(
        "dn: {VPN_GROUP}\nchangetype: modify\nadd: member\nmember: {}\nmember: {stranger}\n",
        member("bob")
    ));
    let report = &app.as_("ada").reconcile(None).await.unwrap().reports[0];
    assert_eq!(report.unexplained_policy, "revoke");
    let bob = member("bob");
    let action = |who: &str| {
        report
            .recorded
            .iter()
            .find(|f| f.account_ref == who)
            .map(|f| f.action.clone())
            .unwrap()
    };
    assert!(action(&bob).starts_with("removed: removed"), "{report:#?}");
    assert!(
        action(stranger).starts_with("reported: the member is not a Writ account")
            && action(stranger).contains("owns_group = false"),
        "{report:#?}"
    );
    let mut now = ldap.members(VPN_GROUP);
    now.sort();
    let mut want = vec![member("alice"), stranger.to_owned()];
    want.sort();
    assert_eq!(
        now, want,
        "bob removed from the real directory; alice's granted access kept"
    );
    app.stop().await;
}

/// A system that owns its whole groups loses members that map to no Writ account
/// too; granted access stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_that_owns_its_groups_loses_members_no_account_explains() {
    let (ldap, _secrets, app) = directory_app("unexplained = \"revoke\"\nowns_group = true").await;
    active_vpn(&app, "1d").await;
    let stranger = "cn=mallory,ou=contractors,dc=example,dc=com";
    ldap.modify_ldif(&format!(
        "dn: {VPN_GROUP}\nchangetype: modify\nadd: member\nmember: {stranger}\n"
    ));
    let report = &app.as_("ada").reconcile(None).await.unwrap().reports[0];
    let f = report
        .recorded
        .iter()
        .find(|f| f.account_ref == stranger)
        .unwrap();
    assert!(f.action.starts_with("removed: removed"), "{report:#?}");
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);
    app.stop().await;
}

/// Break-glass access is explained by its authority, the policy, not by an empty
/// approver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_no_person_approved_is_explained_by_its_policy() {
    let (ldap, _secrets, app) = directory_app("").await;
    ldap.add_group(
        "domain-admins",
        "cn=domain-admins,ou=groups,dc=example,dc=com",
    );
    let emergency = app
        .as_("bob")
        .create_request(
            &writ_server::wire::NewRequest {
                kind: Some("break_glass".into()),
                ..common::new_request("bob", "corp-ldap/domain-admins", "1h")
            },
            None,
        )
        .await
        .unwrap();
    let grant = emergency.grant.clone().expect("break glass grants at once");
    wait_for(&app, &grant, |g| g.status == "active").await;
    let report = &app.as_("ada").reconcile(None).await.unwrap().reports[0];
    let bob = report
        .access
        .iter()
        .find(|a| a.account.as_deref() == Some("bob"))
        .unwrap();
    assert_eq!(bob.state, "explained");
    assert!(
        bob.approved_by.len() == 1
            && bob.approved_by[0].starts_with(
                "break-glass by bob (incident INC-4411), permitted by policy `break-glass-on-call`"
            ),
        "{bob:#?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lost_in_the_target_is_provisioned_again() {
    let (ldap, _secrets, app) = directory_app("").await;
    let grant = active_vpn(&app, "1d").await;
    // Someone removes alice by hand (keeping the group valid with a placeholder).
    ldap.modify_ldif(&format!(
        "dn: {VPN_GROUP}\nchangetype: modify\nadd: member\nmember: {VPN_GROUP}\n-\ndelete: member\nmember: {}\n",
        member("alice")
    ));
    assert!(!ldap.members(VPN_GROUP).contains(&member("alice")));

    let ada = app.as_("ada");
    let report = &ada.reconcile(None).await.unwrap().reports[0];
    assert_eq!(report.missing, 1, "{report:#?}");
    assert_eq!(report.recorded[0].action, "requeued");
    assert_eq!(report.recorded[0].grant.as_deref(), Some(grant.as_str()));
    let g = wait_for(&app, &grant, |g| {
        g.status == "active" && g.provisioned_at.is_some()
    })
    .await;
    assert!(ldap.members(VPN_GROUP).contains(&member("alice")), "{g:#?}");
    let resolved = &ada.reconcile(None).await.unwrap().reports[0];
    assert_eq!((resolved.missing, resolved.recorded.len()), (0, 1));
    assert_eq!(resolved.recorded[0].action, "resolved");
    // The grant's evidence tells the whole story of its target.
    let key = app.anonymous().ledger_key().await.unwrap();
    let bundle: writ_ledger::evidence::Bundle =
        serde_json::from_value(ada.evidence(&grant).await.unwrap()).unwrap();
    let story = writ_ledger::evidence::verify(&bundle, &key)
        .unwrap()
        .to_string();
    assert!(
        story.contains("access missing from the target (requeued)"),
        "{story}"
    );
    app.stop().await;
}

/// Reads every byte of the data directory's database files.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(".db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nhi_credential_is_shown_once_kept_as_a_fingerprint_rotated_and_disabled_with_its_access()
 {
    let pg = pg_peer::PgPeer::start().await;
    let target = pg.role("etl_reader");
    let admin = pg.client().await;
    admin
        .batch_execute(&format!("CREATE ROLE {} NOLOGIN", pg_peer::ident(&target)))
        .await
        .unwrap();
    let text = format!(
        "[provisioning]\npoll_interval_ms = 20\n\n[systems.pg-prod]\nconnector = \"postgres\"\nurl = \"{}\"\naccount_role = \"{}{{account}}\"\nrotation_days = 30\n",
        pg.url, pg.prefix
    );
    let app = TestApp::spawn_with(Config::parse(&text, "test.toml").unwrap(), false).await;
    let ada = app.as_("ada");
    let login = EntitlementBody {
        reference: String::new(),
        display_name: "ETL login".into(),
        kind: "account".into(),
        external_ref: target.clone(),
        risk: "low".into(),
        privileged: false,
        max_duration: "90d".into(),
        owner: None,
        break_glass: false,
        description: String::new(),
    };
    ada.put_entitlement("pg-prod/etl-login", &login)
        .await
        .unwrap();

    // carol owns svc-billing and asks for its login; whoever the policy names approves.
    let carol = app.as_("carol");
    let r = carol
        .create_request(
            &common::new_request("svc-billing", "pg-prod/etl-login", "60d"),
            None,
        )
        .await
        .unwrap();
    let approver = r.steps[0].eligible[0].identity.clone();
    let done = app
        .as_(&approver)
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let grant = done.grant.unwrap();
    wait_for(&app, &grant, |g| g.status == "active").await;
    let account = pg.role("svc-billing");
    let login_state = || async {
        let row = admin
            .query_one(
                "SELECT rolcanlogin, rolpassword, extract(epoch from rolvaliduntil)::bigint FROM pg_authid WHERE rolname = $1",
                &[&account],
            )
            .await
            .unwrap();
        (
            row.get::<_, bool>(0),
            row.get::<_, Option<String>>(1),
            row.get::<_, Option<i64>>(2),
        )
    };
    assert!(
        !login_state().await.0,
        "provisioned as a member, no login yet"
    );

    // Only the owner receives it.
    let err = app.as_("bob").issue_credential(&grant).await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(404),
        "bob cannot even see the grant: {err}"
    );
    let err = ada.issue_credential(&grant).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");

    let first = carol.issue_credential(&grant).await.unwrap();
    assert!(
        first.secret.len() >= 22,
        "at least 128 bits: {}",
        first.secret
    );
    assert!(first.fingerprint.starts_with("sha256:") && !first.fingerprint.contains(&first.secret));
    let (can_login, verifier, valid_until) = login_state().await;
    assert!(can_login);
    let verifier = verifier.unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:") && !verifier.contains(&first.secret));
    // The NHI rotates every 90 days, the system every 30: the shorter wins.
    let expires = writ_core::Timestamp::parse_rfc3339(&first.expires_at).unwrap();
    assert_eq!(expires, common::START.plus(DurationSpec::days(30)));
    assert_eq!(
        valid_until,
        Some(expires.millis() / 1000),
        "VALID UNTIL in the target"
    );

    // Rotation: a new secret, the old one replaced, still only fingerprints kept.
    let second = carol.issue_credential(&grant).await.unwrap();
    assert_ne!(second.secret, first.secret);
    assert_eq!(second.replaces.as_deref(), Some(first.fingerprint.as_str()));
    assert_ne!(
        login_state().await.1.unwrap(),
        verifier,
        "the target's password changed"
    );
    let stored = database_bytes(app.data_dir());
    for secret in [&first.secret, &second.secret] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret reached the database"
        );
    }
    let kinds = event_kinds(&ada).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "credential_issued").count(),
        2
    );

    // Past its rotation deadline: noted once, and reported.
    app.clock.advance(DurationSpec::days(25));
    let noted =
        writ_server::scheduler::note_rotations_due(app.state.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap();
    assert_eq!(noted, 1);
    assert_eq!(
        writ_server::scheduler::note_rotations_due(app.state.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        0
    );
    let report = app.as_("olivia").credential_report().await.unwrap();
    assert_eq!(report.past_rotation_deadline.len(), 1);
    assert_eq!(
        report.past_rotation_deadline[0].fingerprint,
        second.fingerprint
    );
    assert!(report.without_expiry.is_empty());

    // A second request for the NHI waits for its approver when the owner leaves.
    let mut reports = login.clone();
    reports.kind = "role".into();
    reports.display_name = "ETL reports".into();
    ada.put_entitlement("pg-prod/etl-reports", &reports)
        .await
        .unwrap();
    let waiting = carol
        .create_request(
            &common::new_request("svc-billing", "pg-prod/etl-reports", "7d"),
            None,
        )
        .await
        .unwrap();
    let waiting_approver = waiting.steps[0].eligible[0].identity.clone();

    // The owner leaves: the NHI is reported with its live grant.
    let mut c = ada.identity("carol").await.unwrap();
    c.status = Some("inactive".into());
    ada.put_identity("carol", &c).await.unwrap();
    let report = app.as_("olivia").credential_report().await.unwrap();
    let orphan = report
        .nhis_with_inactive_owner
        .iter()
        .find(|o| o.nhi == "svc-billing")
        .unwrap();
    assert_eq!(orphan.live_grants, std::slice::from_ref(&grant));
    assert_eq!(
        orphan.credentials_in_force,
        std::slice::from_ref(&second.fingerprint)
    );
    assert!(orphan.transfer_to_manager.is_some(), "{orphan:#?}");

    // Held: nothing more is approved for it, and the leaver's credential stops working.
    let err = app
        .as_(&waiting_approver)
        .approve(&waiting.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("owner-left"), "{err}");
    let provisioner = writ_server::provisioner::Provisioner::new(
        app.state.store.clone(),
        app.state.clock.clone(),
        app.state.connectors.clone(),
        Default::default(),
        app.state.metrics.clone(),
    );
    assert_eq!(provisioner.lock_orphaned_credentials().await.unwrap(), 1);
    assert_eq!(
        provisioner.lock_orphaned_credentials().await.unwrap(),
        0,
        "once"
    );
    let (can_login, password, _) = login_state().await;
    assert!(!can_login && password.is_none(), "disabled in the target");
    let page = ada.audit_events(0, 1000).await.unwrap();
    let revoked = page
        .events
        .iter()
        .find(|e| e.kind == "credential_revoked")
        .expect("a credential_revoked entry");
    assert_eq!(revoked.event["fingerprint"], second.fingerprint.as_str());
    assert_eq!(revoked.actor, "system:provisioner");

    // Revoked: the access goes too.
    ada.revoke_grant(&grant, "owner left").await.unwrap();
    wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(
        role_members(&admin, &target).await.is_empty(),
        "membership removed"
    );
    app.stop().await;
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_group_membership_follows_the_grant() {
    let scim = scim_peer::Scim2Server::start();
    let alice = scim.create_user("alice");
    let group = scim.create_group("CRM viewers");
    let secrets = tempfile::tempdir().unwrap();
    let token = secrets.path().join("scim-token");
    std::fs::write(&token, &scim.token).unwrap();
    let text = format!(
        "[provisioning]\npoll_interval_ms = 20\n\n[systems.crm]\nconnector = \"scim\"\nbase_url = \"{}\"\ntoken = {{ file = \"{}\" }}\n",
        scim.base_url,
        token.display()
    );
    let app = TestApp::spawn_with(Config::parse(&text, "test.toml").unwrap(), false).await;
    // The demo's CRM viewer group is this server's group.
    let ada = app.as_("ada");
    let mut e: EntitlementBody = ada
        .entitlements()
        .await
        .unwrap()
        .entitlements
        .into_iter()
        .find(|e| e.reference == "crm/viewer")
        .unwrap();
    e.external_ref = group.clone();
    ada.put_entitlement("crm/viewer", &e).await.unwrap();

    let r = app
        .as_("alice")
        .create_request(&common::new_request("alice", "crm/viewer", "8h"), None)
        .await
        .unwrap();
    let done = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let grant = done.grant.unwrap();
    let g = wait_for(&app, &grant, |g| g.status == "active").await;
    assert_eq!(
        scim.members(&group),
        std::slice::from_ref(&alice),
        "PATCHed into the real SCIM group"
    );
    assert!(g.jobs[0].state == "done", "{g:#?}");
    let page = ada.audit_events(0, 1000).await.unwrap();
    let receipt = page
        .events
        .iter()
        .find(|e| e.kind == "grant_provisioned")
        .unwrap();
    assert_eq!(receipt.event["receipt"]["connector"], "scim");
    assert_eq!(receipt.event["receipt"]["account_ref"], alice.as_str());

    app.as_("priya").revoke_grant(&grant, "done").await.unwrap();
    wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(
        scim.members(&group).is_empty(),
        "removed from the real SCIM group"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_carries_the_grant_and_its_removal() {
    let receiver = webhook_receiver::Receiver::start(|_| {
        (
            axum::http::StatusCode::NO_CONTENT,
            Default::default(),
            String::new(),
        )
    })
    .await;
    let secrets = tempfile::tempdir().unwrap();
    let key = secrets.path().join("webhook-key");
    std::fs::write(&key, webhook_receiver::KEY).unwrap();
    let text = format!(
        "[provisioning]\npoll_interval_ms = 20\n\n[systems.crm]\nconnector = \"webhook\"\nurl = \"{}\"\nsecret = {{ file = \"{}\" }}\nallow_private = true\n",
        receiver.url("/writ"),
        key.display()
    );
    let app = TestApp::spawn_with(Config::parse(&text, "test.toml").unwrap(), false).await;
    let ada = app.as_("ada");
    let mut e: EntitlementBody = ada
        .entitlements()
        .await
        .unwrap()
        .entitlements
        .into_iter()
        .find(|e| e.reference == "crm/api-read")
        .unwrap();
    e.risk = "low".into();
    ada.put_entitlement("crm/api-read", &e).await.unwrap();
    let r = app
        .as_("alice")
        .create_request(&common::new_request("alice", "crm/api-read", "8h"), None)
        .await
        .unwrap();
    let done = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let grant = done.grant.unwrap();
    wait_for(&app, &grant, |g| g.status == "active").await;
    app.as_("priya").revoke_grant(&grant, "done").await.unwrap();
    wait_for(&app, &grant, |g| g.status == "revoked").await;

    // (Reconciliation's hourly `list` calls, were one due, are left aside.)
    let seen: Vec<_> = receiver
        .seen()
        .into_iter()
        .filter(|s| s.body["action"] != "list")
        .collect();
    let actions: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|s| {
            (
                s.body["action"].as_str().unwrap(),
                s.body["account"].as_str().unwrap(),
                s.body["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("grant", "alice", "contacts:read"),
            ("revoke", "alice", "contacts:read")
        ]
    );
    assert!(
        seen.iter().all(|s| s.signature_ok),
        "every call signed with the shared key"
    );
    assert_eq!(seen[0].header("idempotency-key"), format!("{grant}:grant"));
    let page = ada.audit_events(0, 1000).await.unwrap();
    let receipt = page
        .events
        .iter()
        .find(|e| e.kind == "grant_provisioned")
        .unwrap();
    assert_eq!(receipt.event["receipt"]["connector"], "webhook");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_revocation_is_removed_from_the_directory_and_the_report_shows_the_receipt() {
    let (ldap, _secrets, app) = directory_app("").await;
    let grant = active_vpn(&app, "30d").await;
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);

    // The directory's owner reviews it, and revokes it.
    let c = app
        .as_("ada")
        .launch_campaign(
            &writ_server::wire::NewCampaign {
                name: "directory".into(),
                scope: writ_server::wire::ScopeBody {
                    systems: vec!["corp-ldap".into()],
                    ..Default::default()
                },
                reviewers: "system_owner".into(),
                fallback: "sam".into(),
                due_at: common::START.plus(DurationSpec::days(7)).to_rfc3339(),
                final_at: common::START.plus(DurationSpec::days(8)).to_rfc3339(),
                remind_before: None,
                on_deadline: "keep".into(),
            },
            None,
        )
        .await
        .unwrap();
    let dan = app.as_("dan");
    let item = dan
        .review_items(&c.id, Some(true), None)
        .await
        .unwrap()
        .items[0]
        .item;
    dan.decide_review(
        &c.id,
        &writ_server::wire::ReviewDecisionBody {
            items: vec![item],
            decision: "revoke".into(),
            reason: Some("VPN replaced by the zero-trust proxy".into()),
        },
    )
    .await
    .unwrap();
    let g = wait_for(&app, &grant, |g| g.status == "revoked").await;
    assert!(g.deprovisioned_at.is_some(), "{g:#?}");
    // Gone from the real directory: only the placeholder member is left.
    assert_eq!(ldap.members(VPN_GROUP), [VPN_GROUP]);

    let report = app.as_("olivia").review_report(&c.id).await.unwrap();
    let line = &report.lines[0];
    assert_eq!(line.follow_through.as_deref(), Some("deprovisioned"));
    let receipt = line.deprovisioned_entry.expect("the target's receipt");
    let entry = app.as_("olivia").ledger_entry(receipt - 1).await.unwrap();
    assert_eq!(entry.event.kind, "grant_deprovisioned");
    assert_eq!(entry.event.subject, format!("grant:{grant}"));
    assert!(line.revoked_entry.unwrap() < receipt);
}
