//! Approval authority as Cedar policy, end to end: what a decision records, policy
//! loaded from a directory and reloaded, failing closed, the check before
//! provisioning (against a real slapd), dry runs, explanations, and the `writ` binary.
//!
//! The provisioning worker is driven by hand: the server's own worker is left idle
//! (a day between polls) and each test runs one `Provisioner::pass` at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../writ-connect/tests/peers/slapd.rs"]
mod slapd;
mod support;

use std::path::Path;
use std::process::Command;

use common::{
    TestApp, comment, eligible, events_of_kind, new_request, policy_dir, refusal, shipped,
};
use support::{Demo, WRIT, ok};
use writ_ledger::evidence::{Bundle, verify};
use writ_server::Config;
use writ_server::provisioner::Provisioner;
use writ_server::wire::{AuditEvent, DecisionBody, IdentityBody};

// ---- policy fixtures ---------------------------------------------------------------

/// `text` without the policy annotated `@id("<id>")` (from its `@id` to its `};`).
fn without(text: &str, id: &str) -> String {
    let start = text
        .find(&format!("@id(\"{id}\")"))
        .unwrap_or_else(|| panic!("no policy `{id}` in the text"));
    let end = start + text[start..].find("};").unwrap() + 2;
    format!("{}{}", &text[..start], &text[end..])
}

/// Members of the `security` group decide manager steps, whoever the beneficiary.
const SECURITY_DECIDES: &str = r#"
@id("security-decides-manager-steps")
@reason("member of security, standing in for line managers")
permit (principal in Writ::Group::"security", action == Writ::Action::"decide", resource)
when { context.step == "manager" };
"#;

/// Validates, but every `decide` evaluation overflows a Long: an error, never an allow.
const OVERFLOWS: &str = r#"
@id("overflows")
permit (principal, action == Writ::Action::"decide", resource)
when { resource.duration_seconds * 9223372036854775807 > 0 };
"#;

/// Does not parse.
const SYNTAX_ERROR: &str =
    r#"permit (principal, action == Writ::Action::"decide", resource) when {"#;

/// Parses, but names an attribute the schema does not have.
const SCHEMA_TYPO: &str = r#"
@id("typo")
permit (principal, action == Writ::Action::"decide", resource)
when { principal.departmnt == "engineering" };
"#;

/// A server whose Cedar set is read from `dir`.
async fn app_with_policy(dir: &Path) -> TestApp {
    let config = Config {
        policy_dir: Some(dir.to_owned()),
        ..Config::default()
    };
    TestApp::spawn_with(config, false).await
}

// ---- small helpers -----------------------------------------------------------------

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

// ---- 1. a decision records its authority --------------------------------------------

/// Approving records which Cedar policy permitted the approver and the facts it used:
/// in the request view, in the ledger's `step_decided`, and in an evidence bundle that
/// still verifies offline (and checks the policy id against the proven policy text).
#[tokio::test]
async fn a_decision_records_the_policies_and_facts_it_rested_on() {
    let app = TestApp::spawn().await;
    let (done, grant) = app.vpn_grant("alice", "8h").await;
    assert_eq!(done.steps[0].approver.as_deref(), Some("priya"));

    let shown = app.as_("alice").request(&done.id).await.unwrap();
    let step = &shown.steps[0];
    assert_eq!(step.state, "approved");
    assert_eq!(step.policies, ["manager-of-beneficiary"]);
    assert!(
        step.facts.iter().any(|f| f == "manager of `alice`"),
        "{:?}",
        step.facts
    );
    let basis = step.basis.as_deref().unwrap();
    assert!(
        basis.contains("manager of `alice`") && basis.contains("`manager-of-beneficiary`"),
        "{basis}"
    );
    assert_eq!(
        step.policy_version.as_deref(),
        Some(shown.policy_version.as_str())
    );

    // The ledger holds the same authority, in the decision's own entry.
    let decided = events_of_kind(&app, "step_decided").await;
    let decided: Vec<&AuditEvent> = decided
        .iter()
        .filter(|e| e.subject == format!("request:{}", done.id))
        .collect();
    assert_eq!(decided.len(), 1);
    let entry = decided[0];
    assert_eq!(entry.actor, "priya");
    assert_eq!(
        strings(&entry.event["authority"]["policies"]),
        step.policies
    );
    assert_eq!(strings(&entry.event["authority"]["facts"]), step.facts);
    let leaf = app.as_("olivia").ledger_entry(entry.seq - 1).await.unwrap();
    assert_eq!(leaf.event.event["authority"], entry.event["authority"]);

    // The evidence bundle verifies with no database and tells the same.
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(&grant).await.unwrap()).unwrap();
    let story = verify(&bundle, &key).unwrap();
    assert!(story.policy_proven);
    assert_eq!(story.decisions.len(), 1);
    let d = &story.decisions[0];
    assert_eq!(d.approver, "priya");
    assert_eq!(d.policies, ["manager-of-beneficiary"]);
    assert_eq!(d.facts, step.facts);
}

/// The facts recorded with a decision are those the determining policies used, and
/// no others: a manager step decided under `manager-of-beneficiary` rests on "manager
/// of the beneficiary", not on other relations the approver happens to have.
#[tokio::test]
async fn recorded_facts_are_only_those_the_determining_policies_use() {
    let app = TestApp::spawn().await;
    let mut wrong = Vec::new();

    // alice asks for herself: priya decides as her manager.
    let (done, _) = app.vpn_grant("alice", "8h").await;
    let step = &done.steps[0];
    assert_eq!(step.policies, ["manager-of-beneficiary"]);
    if step.facts != ["manager of `alice`"] {
        wrong.push(format!(
            "alice's own request, step 1 under {:?}: facts {:?}",
            step.policies, step.facts
        ));
    }

    // bob asks for pg-prod/superuser: priya manages bob and owns the entitlement, and
    // decides the manager step as his manager.
    let r = app
        .as_("bob")
        .create_request(&new_request("bob", "pg-prod/superuser", "4h"), None)
        .await
        .unwrap();
    let decided = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let step = &decided.steps[0];
    assert_eq!(
        (step.role.as_str(), step.approver.as_deref()),
        ("manager", Some("priya"))
    );
    assert_eq!(step.policies, ["manager-of-beneficiary"]);
    if step.facts != ["manager of `bob`"] {
        wrong.push(format!(
            "bob's superuser request, manager step under {:?}: facts {:?}",
            step.policies, step.facts
        ));
    }
    assert!(
        wrong.is_empty(),
        "facts no determining policy used were recorded:\n{}",
        wrong.join("\n")
    );
}

// ---- 2. policy from a directory ----------------------------------------------------

/// A custom Cedar directory decides who is eligible: with `manager-of-beneficiary`
/// removed and a rule letting the security group decide manager steps, exactly sam and
/// erin may decide alice's manager step, and her manager priya is refused.
#[tokio::test]
async fn a_policy_directory_decides_exactly_who_is_eligible() {
    let dir = policy_dir(&[
        (
            "approvers.cedar",
            &without(shipped(), "manager-of-beneficiary"),
        ),
        ("security.cedar", SECURITY_DECIDES),
    ]);
    let app = app_with_policy(dir.path()).await;

    let policy = app.as_("alice").policy().await.unwrap();
    assert_eq!(
        policy.directory.as_deref(),
        Some(dir.path().display().to_string().as_str())
    );
    let ids: Vec<&str> = policy.policies.iter().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"security-decides-manager-steps"), "{ids:?}");
    assert!(!ids.contains(&"manager-of-beneficiary"), "{ids:?}");
    let custom = policy
        .policies
        .iter()
        .find(|p| p.id == "security-decides-manager-steps")
        .unwrap();
    assert_eq!(
        (custom.file.as_str(), custom.effect.as_str()),
        ("security.cedar", "permit")
    );

    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "8h"), None)
        .await
        .unwrap();
    assert_eq!(eligible(&r, 0), ["erin", "sam"]);
    for e in &r.steps[0].eligible {
        assert_eq!(e.policies, ["security-decides-manager-steps"], "{e:?}");
        assert!(
            e.facts.iter().any(|f| f == "member of group `security`"),
            "{e:?}"
        );
    }

    let count = app.event_count().await;
    let e = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("not-eligible")), "{e}");
    assert!(
        e.to_string().contains("`erin`") && e.to_string().contains("`sam`"),
        "the refusal names who is eligible: {e}"
    );
    assert_eq!(app.event_count().await, count, "a refusal records nothing");

    let done = app
        .as_("sam")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(done.steps[0].policies, ["security-decides-manager-steps"]);
    assert!(
        done.steps[0]
            .facts
            .iter()
            .any(|f| f == "member of group `security`"),
        "{:?}",
        done.steps[0].facts
    );
}

// ---- 3. reload ---------------------------------------------------------------------

/// An admin reloads the policy directory: a changed valid set is activated and
/// recorded with the version it replaces and who changed it; non-admins are refused;
/// an invalid set (a syntax error, a schema typo) is refused naming the file, and the
/// policy in force stays in force for the next decision.
#[tokio::test]
async fn reloading_activates_a_valid_set_and_refuses_an_invalid_one() {
    let dir = policy_dir(&[("approvers.cedar", shipped())]);
    let app = app_with_policy(dir.path()).await;
    let ada = app.as_("ada");
    let v0 = ada.policy().await.unwrap().version;
    // Submitted under v0, where only alice's manager may decide it.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "8h"), None)
        .await
        .unwrap();
    assert_eq!(r.policy_version, v0);
    assert_eq!(eligible(&r, 0), ["priya"]);

    // Nothing changed: nothing is recorded.
    let activations = events_of_kind(&app, "policy_activated").await.len();
    let same = ada.reload_policy().await.unwrap();
    assert!(!same.changed);
    assert_eq!(
        (same.previous.as_str(), same.version.as_str()),
        (&*v0, &*v0)
    );
    assert_eq!(
        events_of_kind(&app, "policy_activated").await.len(),
        activations
    );

    // Only admins reload.
    for (who, code) in [("priya", "admin-only"), ("olivia", "read-only")] {
        let e = app.as_(who).reload_policy().await.unwrap_err();
        assert_eq!(refusal(&e), (Some(403), Some(code)), "{who}: {e}");
    }

    // A changed, valid set.
    std::fs::write(dir.path().join("security.cedar"), SECURITY_DECIDES).unwrap();
    let reloaded = ada.reload_policy().await.unwrap();
    assert!(reloaded.changed);
    assert_eq!(reloaded.previous, v0);
    assert_ne!(reloaded.version, v0);
    let v1 = reloaded.version.clone();
    assert!(
        reloaded
            .policies
            .iter()
            .any(|p| p.id == "security-decides-manager-steps"),
        "{:?}",
        reloaded.policies
    );
    assert_eq!(ada.policy().await.unwrap().version, v1);
    let activated = events_of_kind(&app, "policy_activated").await;
    assert_eq!(activated.len(), activations + 1);
    let newest = activated.last().unwrap();
    assert_eq!(newest.actor, "ada", "the entry's actor is who changed it");
    assert_eq!(newest.event["version"], v1.as_str());
    assert_eq!(newest.event["previous"], v0.as_str());

    // Invalid sets are refused whole, naming the file; the policy in force stays.
    let count = app.event_count().await;
    std::fs::write(dir.path().join("broken.cedar"), SYNTAX_ERROR).unwrap();
    let e = ada.reload_policy().await.unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("invalid-policy")), "{e}");
    assert!(e.to_string().contains("broken.cedar"), "{e}");
    assert_eq!(ada.policy().await.unwrap().version, v1);
    std::fs::remove_file(dir.path().join("broken.cedar")).unwrap();

    std::fs::write(dir.path().join("typo.cedar"), SCHEMA_TYPO).unwrap();
    let e = ada.reload_policy().await.unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("invalid-policy")), "{e}");
    assert!(
        e.to_string().contains("typo.cedar") && e.to_string().contains("departmnt"),
        "{e}"
    );
    let still = ada.policy().await.unwrap();
    assert_eq!(still.version, v1);
    assert!(
        still
            .policies
            .iter()
            .all(|p| p.id != "typo" && p.file != "typo.cedar")
    );
    assert_eq!(
        app.event_count().await,
        count,
        "refused reloads record nothing"
    );

    // Decisions go on under v1, which lets sam decide the manager step of the request
    // submitted under v0; the evidence bundle proves both policies.
    let shown = app.as_("alice").request(&r.id).await.unwrap();
    assert_eq!(eligible(&shown, 0), ["erin", "priya", "sam"]);
    let done = app
        .as_("sam")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(done.policy_version, v0, "the submission is frozen");
    assert_eq!(done.steps[0].policy_version.as_deref(), Some(v1.as_str()));
    assert_eq!(done.steps[0].policies, ["security-decides-manager-steps"]);
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(&r.id).await.unwrap()).unwrap();
    let story = verify(&bundle, &key).unwrap();
    assert!(story.policy_proven);
    assert_eq!(story.decisions[0].policy_version, v1);
    assert_eq!(
        story.decisions[0].policies,
        ["security-decides-manager-steps"]
    );

    // A server on the shipped set has no directory to reload.
    let plain = TestApp::spawn().await;
    let e = plain.as_("ada").reload_policy().await.unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("no-policy-directory")), "{e}");
}

/// A server does not start on an invalid policy directory, and says which file is
/// wrong.
#[tokio::test]
async fn a_server_refuses_to_start_on_an_invalid_policy_directory() {
    let dir = policy_dir(&[("approvers.cedar", shipped()), ("typo.cedar", SCHEMA_TYPO)]);
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        policy_dir: Some(dir.path().to_owned()),
        ..Config::default()
    };
    let err = writ_server::Application::build(writ_server::Settings {
        data_dir: data.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config,
        clock: std::sync::Arc::new(writ_core::ManualClock::new(common::START)),
        scheduler: false,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("typo.cedar") && err.contains("departmnt"),
        "{err}"
    );
}

// ---- 4. fail closed ----------------------------------------------------------------

/// A set that validates but fails at evaluation allows nothing: the manager's approve
/// (and deny) is refused `policy-evaluation-failed` and nothing is appended.
#[tokio::test]
async fn an_evaluation_error_fails_closed() {
    let dir = policy_dir(&[
        ("approvers.cedar", shipped()),
        ("overflow.cedar", OVERFLOWS),
    ]);
    let app = app_with_policy(dir.path()).await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "8h"), None)
        .await
        .unwrap();
    assert!(r.steps[0].eligible.is_empty(), "{:?}", r.steps[0].eligible);
    let note = r.steps[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("policy evaluation failed"), "{note}");

    let count = app.event_count().await;
    let e = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("policy-evaluation-failed")),
        "{e}"
    );
    let e = app
        .as_("priya")
        .deny(&r.id, &comment("not today"), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("policy-evaluation-failed")),
        "{e}"
    );
    assert_eq!(app.event_count().await, count, "nothing is appended");
    let shown = app.as_("alice").request(&r.id).await.unwrap();
    assert_eq!(shown.status, "pending");
    assert_eq!(shown.steps[0].state, "open");
}

// ---- 5. authority lost before provisioning -----------------------------------------

const VPN_GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=com";

fn member(account: &str) -> String {
    format!("uid={account},ou=people,dc=example,dc=com")
}

/// A server provisioning `corp-ldap` into `ldap`, whose own worker stays idle (a day
/// between polls, no reconciliation) so the test runs every pass itself.
async fn ldap_app(ldap: &slapd::Slapd, secrets: &Path, policy: Option<&Path>) -> (TestApp, Config) {
    let secret = secrets.join("ldap-password");
    std::fs::write(&secret, format!("{}\n", ldap.admin_password)).unwrap();
    let text = format!(
        r#"
[provisioning]
max_attempts = 3
reconcile_interval_ms = 0

[systems.corp-ldap]
connector = "ldap"
url = "{url}"
bind_dn = "{bind}"
bind_password = {{ file = "{secret}" }}
account_dn = "uid={{account}},ou=people,dc=example,dc=com"
timeout_ms = 2000
"#,
        url = ldap.url,
        bind = ldap.admin_dn,
        secret = secret.display(),
    );
    let mut config = Config::parse(&text, "test.toml").unwrap();
    config.provisioning.poll_interval_ms = 24 * 3600 * 1000;
    config.policy_dir = policy.map(Path::to_owned);
    (TestApp::spawn_with(config.clone(), false).await, config)
}

/// A provisioning worker of its own over the server's store and connectors.
fn worker(app: &TestApp, config: &Config) -> Provisioner {
    Provisioner::new(
        app.state.store.clone(),
        app.state.clock.clone(),
        app.state.connectors.clone(),
        config.provisioning.clone(),
        app.state.metrics.clone(),
    )
}

/// Runs one provisioning pass (a fresh worker each time, so nothing is left in flight
/// from an earlier one) that must start exactly one job, and waits until `kind` is
/// recorded for `grant` once more than before. The timeout only guards against a hang.
async fn one_pass(app: &TestApp, config: &Config, grant: &str, kind: &str) {
    let subject = format!("grant:{grant}");
    let count = |events: Vec<writ_store::StoredEvent>| {
        events
            .iter()
            .filter(|e| e.recorded.event.kind() == kind)
            .count()
    };
    let before = count(app.state.store.events_of(&subject).await.unwrap());
    assert_eq!(
        worker(app, config).pass().await.unwrap(),
        1,
        "one job is due"
    );
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while count(app.state.store.events_of(&subject).await.unwrap()) == before {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the job never recorded `{kind}` for {grant}"));
}

/// Sets `name`'s manager, as the admin.
async fn set_manager(app: &TestApp, name: &str, manager: &str) {
    let ada = app.as_("ada");
    let mut body: IdentityBody = ada.identity(name).await.unwrap();
    body.manager = Some(manager.into());
    ada.put_identity(name, &body).await.unwrap();
}

/// An approver who lost authority between the decision and provisioning holds the
/// grant: the connector is not called (the real directory stays unchanged), the job
/// is dead-lettered `held: …`, and the ledger says who lost authority. Once authority
/// is restored, an admin's retry sends it back and the next pass provisions it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_who_lost_authority_holds_the_grant_until_an_admin_retries() {
    let ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", VPN_GROUP);
    let secrets = tempfile::tempdir().unwrap();
    let (app, config) = ldap_app(&ldap, secrets.path(), None).await;
    let ada = app.as_("ada");

    let (_, grant) = app.vpn_grant("alice", "1d").await;
    let g = ada.grant(&grant).await.unwrap();
    assert!(g.provisioned_by_connector, "{g:#?}");
    assert_eq!(g.status, "pending", "the worker has not run");

    // alice moves to morgan's team before the worker runs: priya no longer manages her.
    set_manager(&app, "alice", "morgan").await;
    one_pass(&app, &config, &grant, "authority_rechecked").await;

    let g = ada.grant(&grant).await.unwrap();
    let held = g
        .held
        .as_deref()
        .unwrap_or_else(|| panic!("not held: {g:#?}"));
    assert!(held.contains("`priya`"), "{held}");
    let m = common::metrics(&app).await;
    assert!(m.contains("writ_grants_held 1\n"), "{m}");
    assert_eq!(g.status, "pending");
    assert!(g.provisioned_at.is_none());
    assert_eq!(g.jobs.len(), 1, "{g:#?}");
    assert_eq!(g.jobs[0].state, "dead");
    let error = g.jobs[0].error.as_deref().unwrap_or_default();
    assert!(error.starts_with("held: "), "{error}");
    let rechecked = events_of_kind(&app, "authority_rechecked").await;
    assert_eq!(rechecked.len(), 1);
    assert_eq!(rechecked[0].actor, "system:provisioner");
    let lost = rechecked[0].event["lost"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["step"], 1);
    assert_eq!(lost[0]["approver"], "priya");
    assert!(events_of_kind(&app, "grant_provisioned").await.is_empty());
    assert_eq!(
        ldap.members(VPN_GROUP),
        [VPN_GROUP],
        "the connector was not called"
    );
    // A held job is not picked up again by itself.
    assert_eq!(worker(&app, &config).pass().await.unwrap(), 0);

    // Only an admin retries: alice sees her grant and is refused; priya, no longer
    // her manager, no longer sees it.
    let e = app
        .as_("alice")
        .retry_provisioning(&grant, "provision")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    let e = app
        .as_("priya")
        .retry_provisioning(&grant, "provision")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");

    // Authority restored, the admin retries, and the next pass provisions.
    set_manager(&app, "alice", "priya").await;
    let retried = ada.retry_provisioning(&grant, "provision").await.unwrap();
    assert!(retried.held.is_none(), "{retried:#?}");
    one_pass(&app, &config, &grant, "grant_provisioned").await;

    let g = ada.grant(&grant).await.unwrap();
    assert_eq!(g.status, "active", "{g:#?}");
    assert!(g.held.is_none() && g.provisioned_at.is_some(), "{g:#?}");
    assert_eq!(ldap.members(VPN_GROUP), [member("alice")]);
    let rechecked = events_of_kind(&app, "authority_rechecked").await;
    assert_eq!(rechecked.len(), 2);
    assert!(
        rechecked[1]
            .event
            .get("lost")
            .is_none_or(|l| l == &serde_json::json!([])),
        "{}",
        rechecked[1].event
    );

    // The evidence bundle tells the hold, and still verifies.
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(&grant).await.unwrap()).unwrap();
    let story = verify(&bundle, &key).unwrap().to_string();
    assert!(
        story.contains("held, not provisioned: step 1 `priya`"),
        "{story}"
    );
    assert!(
        story.contains("every approver still had authority"),
        "{story}"
    );
    app.stop().await;
}

/// Authority is judged again under the policy in force at provisioning: a reload that
/// withdraws the approver's policy holds the grant; a retry while it is still withdrawn
/// is held again on the next pass; once the policy permits them again, a retry
/// provisions it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_withdraws_authority_holds_the_grant_at_every_pass() {
    let ldap = slapd::Slapd::start();
    ldap.add_group("vpn-users", VPN_GROUP);
    let secrets = tempfile::tempdir().unwrap();
    let dir = policy_dir(&[("approvers.cedar", shipped())]);
    let (app, config) = ldap_app(&ldap, secrets.path(), Some(dir.path())).await;
    let ada = app.as_("ada");

    let (done, grant) = app.vpn_grant("bob", "1d").await;
    assert_eq!(done.steps[0].policies, ["manager-of-beneficiary"]);

    // The manager rule is withdrawn before the worker runs.
    std::fs::write(
        dir.path().join("approvers.cedar"),
        without(shipped(), "manager-of-beneficiary"),
    )
    .unwrap();
    let withdrawn = ada.reload_policy().await.unwrap();
    assert!(withdrawn.changed);
    one_pass(&app, &config, &grant, "authority_rechecked").await;
    let rechecked = events_of_kind(&app, "authority_rechecked").await;
    let last = rechecked.last().unwrap();
    assert_eq!(last.event["policy_version"], withdrawn.version.as_str());
    assert_eq!(last.event["lost"][0]["approver"], "priya");
    let why = last.event["lost"][0]["why"].as_str().unwrap();
    assert!(why.contains("no policy in force permits them"), "{why}");
    let g = ada.grant(&grant).await.unwrap();
    assert!(g.held.is_some(), "{g:#?}");
    assert_eq!(ldap.members(VPN_GROUP), [VPN_GROUP]);

    // A retry is not an override: the next pass judges again and holds again.
    ada.retry_provisioning(&grant, "provision").await.unwrap();
    one_pass(&app, &config, &grant, "authority_rechecked").await;
    let g = ada.grant(&grant).await.unwrap();
    assert!(g.held.is_some(), "{g:#?}");
    assert_eq!(g.status, "pending");
    assert_eq!(events_of_kind(&app, "authority_rechecked").await.len(), 2);
    assert!(events_of_kind(&app, "grant_provisioned").await.is_empty());
    assert_eq!(ldap.members(VPN_GROUP), [VPN_GROUP]);

    // The rule is back: the retry provisions.
    std::fs::write(dir.path().join("approvers.cedar"), shipped()).unwrap();
    let restored = ada.reload_policy().await.unwrap();
    assert!(restored.changed);
    assert_eq!(restored.previous, withdrawn.version);
    ada.retry_provisioning(&grant, "provision").await.unwrap();
    one_pass(&app, &config, &grant, "grant_provisioned").await;
    let g = ada.grant(&grant).await.unwrap();
    assert_eq!(g.status, "active", "{g:#?}");
    assert_eq!(ldap.members(VPN_GROUP), [member("bob")]);
    app.stop().await;
}

// ---- 6. dry run --------------------------------------------------------------------

/// A dry run shows the steps and who may decide them, with status `dry-run`, and
/// records nothing; invalid input is refused exactly as a real submission is.
#[tokio::test]
async fn a_dry_run_shows_steps_and_approvers_and_records_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let count = app.event_count().await;

    let body = new_request("alice", "pg-prod/read-only", "8h");
    let dry = alice.dry_run_request(&body).await.unwrap();
    assert_eq!(dry.status, "dry-run");
    let roles: Vec<&str> = dry.steps.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(roles, ["manager", "system_owner"]);
    assert_eq!(eligible(&dry, 0), ["priya"]);
    assert_eq!(
        dry.steps[0].eligible[0].policies,
        ["manager-of-beneficiary"]
    );
    assert_eq!(eligible(&dry, 1), ["carol"]);
    assert_eq!(dry.steps[1].eligible[0].policies, ["system-owner"]);
    assert!(dry.steps.iter().all(|s| s.state == "open"));

    assert_eq!(app.event_count().await, count, "nothing recorded");
    let e = alice.request(&dry.id).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let mine = alice
        .requests(&writ::RequestQuery {
            mine: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(mine.requests.is_empty());

    // Refused exactly like a real submission: too short a justification, and a
    // beneficiary alice may not ask for.
    let mut short = body.clone();
    short.justification = "short".into();
    let mut for_other = body.clone();
    for_other.beneficiary = "bob".into();
    for bad in [&short, &for_other] {
        let dry = alice.dry_run_request(bad).await.unwrap_err();
        let real = alice.create_request(bad, None).await.unwrap_err();
        assert!(dry.status().is_some_and(|s| s >= 400), "{dry}");
        assert_eq!(refusal(&dry), refusal(&real), "{dry} / {real}");
        assert_eq!(dry.to_string(), real.to_string());
    }
    let e = alice.dry_run_request(&short).await.unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(422), Some("justification-too-short")),
        "{e}"
    );
    assert_eq!(app.event_count().await, count, "still nothing recorded");
}

// ---- 7. explain --------------------------------------------------------------------

/// `explain` shows, for a decided step, who decided under which policies and facts,
/// and for the open step, who may decide it now and the policy that makes them so.
#[tokio::test]
async fn explain_shows_the_decider_and_who_may_decide_the_open_step() {
    let app = TestApp::spawn().await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    app.as_("priya")
        .approve(&r.id, &DecisionBody::default(), None)
        .await
        .unwrap();

    let e = app.as_("alice").explain(&r.id).await.unwrap();
    assert_eq!(e.request, r.id);
    assert_eq!(e.status, "pending");
    assert_eq!(e.submitted_under, r.policy_version);
    assert_eq!(e.policy_version, r.policy_version);
    assert_eq!(e.steps.len(), 2);

    let first = &e.steps[0];
    assert_eq!(
        (first.role.as_str(), first.state.as_str()),
        ("manager", "approved")
    );
    assert_eq!(first.approver.as_deref(), Some("priya"));
    assert_eq!(first.decided_under, ["manager-of-beneficiary"]);
    assert!(
        first
            .decided_facts
            .iter()
            .any(|f| f == "manager of `alice`"),
        "{:?}",
        first.decided_facts
    );
    assert_eq!(
        first.decided_policy_version.as_deref(),
        Some(r.policy_version.as_str())
    );

    let open = &e.steps[1];
    assert_eq!(
        (open.role.as_str(), open.state.as_str()),
        ("system_owner", "open")
    );
    assert!(open.approver.is_none() && open.decided_under.is_empty());
    let now: Vec<&str> = open
        .eligible_now
        .iter()
        .map(|c| c.identity.as_str())
        .collect();
    assert_eq!(now, ["carol"]);
    assert_eq!(open.eligible_now[0].policies, ["system-owner"]);
    assert!(
        open.eligible_now[0]
            .facts
            .iter()
            .any(|f| f.starts_with("owner of system `pg-prod`")),
        "{:?}",
        open.eligible_now[0].facts
    );

    // The auditor may ask too; someone unrelated may not see the request at all.
    assert!(app.as_("olivia").explain(&r.id).await.is_ok());
    let e = app.as_("frank").explain(&r.id).await.unwrap_err();
    assert!(matches!(e.status(), Some(403 | 404)), "{e}");
}

// ---- 8. the real binary ------------------------------------------------------------

fn check(dir: &Path) -> std::process::Output {
    Command::new(WRIT)
        .args(["policy", "check"])
        .arg(dir)
        .env_remove("WRIT_TOKEN")
        .output()
        .unwrap()
}

fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `writ policy check DIR` validates offline: exit 0 with the policy ids for a valid
/// directory, exit 1 naming the offending file for an invalid one.
#[test]
fn writ_policy_check_validates_a_directory_offline() {
    let valid = policy_dir(&[
        ("approvers.cedar", shipped()),
        ("security.cedar", SECURITY_DECIDES),
        ("README.md", "not policy"),
    ]);
    let out = ok(&check(valid.path()));
    assert!(out.contains("valid"), "{out}");
    for id in [
        "manager-of-beneficiary",
        "skip-level-manager",
        "owner-of-nhi",
        "skip-level-nhi-owner",
        "system-owner",
        "entitlement-owner",
        "group-member",
        "security-decides-manager-steps",
    ] {
        assert!(out.contains(id), "`{id}` not in:\n{out}");
    }

    for (file, text, words) in [
        ("broken.cedar", SYNTAX_ERROR, "does not parse"),
        ("typo.cedar", SCHEMA_TYPO, "departmnt"),
    ] {
        let invalid = policy_dir(&[("approvers.cedar", shipped()), (file, text)]);
        let out = check(invalid.path());
        assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
        let text = all_output(&out);
        assert!(text.contains(file) && text.contains(words), "{text}");
        assert!(
            !text.contains("approvers.cedar:"),
            "only the bad file is blamed: {text}"
        );
    }

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(check(empty.path()).status.code(), Some(1));
}

/// `writ policy check` names every problem: a syntax error in one file does not hide
/// a schema error in another.
#[test]
fn writ_policy_check_names_every_problem_across_files() {
    let invalid = policy_dir(&[
        ("approvers.cedar", shipped()),
        ("broken.cedar", SYNTAX_ERROR),
        ("typo.cedar", SCHEMA_TYPO),
    ]);
    let out = check(invalid.path());
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("broken.cedar"), "{text}");
    assert!(
        text.contains("typo.cedar") && text.contains("departmnt"),
        "the schema error in typo.cedar is not reported:\n{text}"
    );
}

/// `writ request create --dry-run` prints the steps and who may decide them, and
/// submits nothing.
#[test]
fn writ_request_create_dry_run_prints_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let demo = Demo::start(&data);
    let out = ok(&demo.writ(
        &data,
        &[
            "--as",
            "alice",
            "request",
            "create",
            "--entitlement",
            "pg-prod/read-only",
            "--duration",
            "8h",
            "--justification",
            "investigate billing export failures",
            "--dry-run",
        ],
    ));
    assert!(out.contains("[dry-run]"), "{out}");
    let manager = out.find("1. manager").expect(&out);
    let owner = out.find("2. system_owner").expect(&out);
    let priya = out
        .find("eligible:  priya — manager of `alice`")
        .expect(&out);
    let carol = out
        .find("eligible:  carol — owner of system `pg-prod`")
        .expect(&out);
    assert!(manager < priya && priya < owner && owner < carol, "{out}");

    let mine = ok(&demo.writ(
        &data,
        &["--as", "alice", "--json", "request", "list", "--mine"],
    ));
    let mine: serde_json::Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(mine["requests"], serde_json::json!([]), "nothing submitted");
}
