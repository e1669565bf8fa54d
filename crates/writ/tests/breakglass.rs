//! Break-glass end to end, through the real server: an on-call engineer grants
//! themself emergency access at once, security is told, a post-incident review opens,
//! closes with a finding or escalates once overdue; the limits (cap per entitlement,
//! the 24-hour ceiling, the total of back-to-back renewals); the evidence bundle; the
//! notification hook (signed POSTs to a real HTTP receiver, in order, at least once);
//! and the `writ` binary.
//!
//! Nothing sleeps: the ManualClock is advanced and the scheduler's and the hook's
//! functions are called directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{START, TestApp, all_events, events_of_kind, refusal};
use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;
use support::{Demo, WRIT, ok};
use writ_core::{ApprovalPolicy, DurationSpec, Timestamp};
use writ_ledger::evidence::{Bundle, verify};
use writ_server::Config;
use writ_server::wire::{
    CloseIncidentBody, IdentityBody, NewRequest, NotificationView, RequestView,
};
use writ_store::Store;

// ---- fixtures ----------------------------------------------------------------------

/// Long enough for the critical tier (40 characters).
const REASON: &str = "primary billing database refuses every write; need superuser to recover it";

/// The shipped Cedar policy that lets `on-call` break glass.
const ON_CALL: &str = "break-glass-on-call";

/// A break-glass request by `beneficiary`'s requester for `beneficiary`.
fn emergency(
    beneficiary: &str,
    entitlement: &str,
    duration: &str,
    ticket: Option<&str>,
) -> NewRequest {
    NewRequest {
        beneficiary: beneficiary.into(),
        entitlement: entitlement.into(),
        justification: REASON.into(),
        duration: duration.into(),
        ticket: ticket.map(Into::into),
        kind: Some("break_glass".into()),
        constraints: None,
        sod_exception: None,
    }
}

/// bob breaks glass on `entitlement` for `duration`; the approved request.
async fn bob_breaks_glass(app: &TestApp, entitlement: &str, duration: &str) -> RequestView {
    let r = app
        .as_("bob")
        .create_request(
            &emergency("bob", entitlement, duration, Some("INC-9001")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, "approved", "{r:?}");
    r
}

fn at(t: Timestamp) -> String {
    t.to_rfc3339()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// `persona`'s notification records of `kind`.
async fn notified(app: &TestApp, persona: &str, kind: &str) -> Vec<NotificationView> {
    app.as_(persona)
        .notifications(false)
        .await
        .unwrap()
        .notifications
        .into_iter()
        .filter(|n| n.kind == kind)
        .collect()
}

/// The request ids a list of post-incident reviews names.
async fn reviews(app: &TestApp, persona: &str, state: &str) -> Vec<String> {
    app.as_(persona)
        .incident_reviews(state)
        .await
        .unwrap()
        .reviews
        .into_iter()
        .map(|r| r.request)
        .collect()
}

fn close_body(finding: &str, notes: &str) -> CloseIncidentBody {
    CloseIncidentBody {
        finding: finding.into(),
        notes: notes.into(),
    }
}

async fn escalate(app: &TestApp) -> usize {
    writ_server::scheduler::escalate_incident_reviews(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap()
}

// ---- 1. breaking glass -------------------------------------------------------------

/// bob (on call) breaks glass on `pg-prod/superuser`: 201, approved at once under the
/// shipped `break-glass-on-call` policy with no steps, an active grant ending in 2 h,
/// an open post-incident review due in 72 h; sam and erin (security) get a
/// `break_glass_used` notification and the ledger's `break_glass_used` names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_call_breaks_glass_and_security_is_told_at_once() {
    let app = TestApp::spawn().await;
    let before = app.event_count().await;
    assert!(
        common::metrics(&app)
            .await
            .contains("writ_incident_reviews_open 0\n")
    );

    let body = serde_json::to_vec(&emergency(
        "bob",
        "pg-prod/superuser",
        "2h",
        Some("INC-9001"),
    ))
    .unwrap();
    let res = app
        .as_("bob")
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", body)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    let r: RequestView = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(r.status, "approved");
    assert!(
        common::metrics(&app)
            .await
            .contains("writ_incident_reviews_open 1\n")
    );
    assert_eq!(r.kind, "break_glass");
    assert_eq!(
        (r.requester.as_str(), r.beneficiary.as_str()),
        ("bob", "bob")
    );
    assert_eq!(r.break_glass_by, [ON_CALL]);
    assert!(r.steps.is_empty(), "no approval steps: {:?}", r.steps);
    assert_eq!(r.ticket.as_deref(), Some("INC-9001"));
    let review = r.incident_review.as_ref().expect("a post-incident review");
    assert_eq!(review.state, "open");
    assert_eq!(review.opened_at, at(START));
    assert_eq!(review.due, at(START.plus(DurationSpec::hours(72))));
    assert!(review.finding.is_none() && review.escalated_at.is_none());

    let grant_id = r.grant.clone().expect("granted at once");
    let grant = app.as_("bob").grant(&grant_id).await.unwrap();
    assert_eq!(grant.status, "active");
    assert_eq!(grant.request, r.id);
    assert_eq!(grant.granted_at, at(START));
    assert_eq!(grant.expires_at, at(START.plus(DurationSpec::hours(2))));

    // The ledger: submitted, approved, granted, security told — nothing else.
    let kinds: Vec<String> = all_events(&app)
        .await
        .into_iter()
        .skip(before as usize)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "request_submitted",
            "request_approved",
            "grant_created",
            "break_glass_used"
        ]
    );
    let used = events_of_kind(&app, "break_glass_used").await;
    assert_eq!(used.len(), 1);
    let used = &used[0];
    assert_eq!(used.actor, "bob");
    assert_eq!(used.subject, format!("request:{}", r.id));
    assert_eq!(names(&used.event["notified"]), ["erin", "sam"]);
    assert_eq!(used.event["incident"], "INC-9001");
    assert_eq!(used.event["grant"], grant_id.as_str());

    // Security is told, each in their own list; nobody else is.
    for who in ["sam", "erin"] {
        let n = notified(&app, who, "break_glass_used").await;
        assert_eq!(n.len(), 1, "{who}: {n:?}");
        assert_eq!(n[0].recipient, who);
        assert_eq!(n[0].seq, used.seq);
        assert_eq!(n[0].subject, format!("request:{}", r.id));
        assert!(
            n[0].message.contains("`bob`")
                && n[0].message.contains(&grant_id)
                && n[0].message.contains("INC-9001"),
            "{}",
            n[0].message
        );
    }
    for who in ["bob", "alice", "ada", "priya"] {
        assert!(
            notified(&app, who, "break_glass_used").await.is_empty(),
            "{who}"
        );
    }
    // Admins and auditors see everyone's; others may not ask.
    let all = app.as_("olivia").notifications(true).await.unwrap();
    let mut recipients: Vec<String> = all
        .notifications
        .iter()
        .filter(|n| n.kind == "break_glass_used")
        .map(|n| n.recipient.clone())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["erin", "sam"]);
    let e = app.as_("bob").notifications(true).await.unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("not-allowed")), "{e}");

    // The review is listed for security.
    assert_eq!(reviews(&app, "sam", "open").await, [r.id.as_str()]);
}

// ---- 2. refusals -------------------------------------------------------------------

/// Every refused break-glass attempt says why and records nothing: not on call, an
/// entitlement without the flag, no incident, longer than the 4 h default cap, for
/// someone else (a colleague, or an NHI bob owns), too short a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_break_glass_changes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.event_count().await;
    let inc = Some("INC-9001");

    let cases: Vec<(&str, NewRequest, u16, &str)> = vec![
        (
            "alice",
            emergency("alice", "pg-prod/superuser", "1h", inc),
            403,
            "not-eligible-for-break-glass",
        ),
        (
            "bob",
            emergency("bob", "pg-prod/read-write", "1h", inc),
            403,
            "break-glass-not-allowed",
        ),
        (
            "bob",
            emergency("bob", "pg-prod/superuser", "1h", None),
            422,
            "incident-required",
        ),
        (
            // The entitlement allows 8 h; the break-glass default cap is 4 h.
            "bob",
            emergency("bob", "corp-ldap/domain-admins", "5h", inc),
            422,
            "duration-too-long",
        ),
        (
            "bob",
            emergency("alice", "pg-prod/superuser", "1h", inc),
            403,
            "not-your-beneficiary",
        ),
        (
            "bob",
            emergency("ci-deploy", "pg-prod/superuser", "1h", inc),
            403,
            "break-glass-for-oneself",
        ),
        (
            "bob",
            NewRequest {
                justification: "db down".into(),
                ..emergency("bob", "pg-prod/superuser", "1h", inc)
            },
            422,
            "justification-too-short",
        ),
    ];
    for (who, body, status, code) in cases {
        let e = app
            .as_(who)
            .create_request(&body, None)
            .await
            .expect_err(code);
        assert_eq!(refusal(&e), (Some(status), Some(code)), "{who}: {e}");
        if code == "duration-too-long" {
            assert!(e.to_string().contains("break-glass cap"), "{e}");
        }
    }

    assert_eq!(app.event_count().await, before, "a refusal records nothing");
    assert!(notified(&app, "sam", "break_glass_used").await.is_empty());
    assert!(reviews(&app, "sam", "all").await.is_empty());
    let grants = app.as_("olivia").grants(&Default::default()).await.unwrap();
    assert!(grants.grants.is_empty(), "{:?}", grants.grants);
}

// ---- 3. caps -----------------------------------------------------------------------

/// A cap configured for one entitlement (1 h on `corp-ldap/domain-admins`) is
/// enforced, naming the cap; other entitlements keep the default cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_per_entitlement_is_enforced() {
    let config = Config::parse(
        "[approval.break_glass]\ncaps = { \"corp-ldap/domain-admins\" = \"1h\" }\n",
        "writ.toml",
    )
    .unwrap();
    let app = TestApp::spawn_with(config, false).await;
    let bob = app.as_("bob");
    let before = app.event_count().await;

    let e = bob
        .create_request(
            &emergency("bob", "corp-ldap/domain-admins", "2h", Some("INC-1")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("duration-too-long")), "{e}");
    assert!(
        e.to_string()
            .contains("the break-glass cap of `corp-ldap/domain-admins`"),
        "{e}"
    );
    assert_eq!(app.event_count().await, before);

    let r = bob_breaks_glass(&app, "corp-ldap/domain-admins", "1h").await;
    let g = bob.grant(r.grant.as_deref().unwrap()).await.unwrap();
    assert_eq!(g.expires_at, at(START.plus(DurationSpec::hours(1))));

    // Not capped at 1 h: the default cap (4 h) still applies elsewhere.
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "4h").await;
    let g = bob.grant(r.grant.as_deref().unwrap()).await.unwrap();
    assert_eq!(g.expires_at, at(START.plus(DurationSpec::hours(4))));
}

/// No emergency access may last longer than 24 h: a configuration with a cap or a
/// default above it is refused at parse time naming the key and the ceiling, and a
/// server given such a policy in code refuses to start; exactly 24 h is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_above_the_24_hour_ceiling_are_refused() {
    for (toml, key) in [
        (
            "[approval.break_glass]\ncaps = { \"pg-prod/superuser\" = \"25h\" }\nmax_total = \"48h\"\n",
            "caps.\"pg-prod/superuser\"",
        ),
        (
            "[approval.break_glass]\nmax_duration = \"2d\"\nmax_total = \"3d\"\n",
            "max_duration",
        ),
    ] {
        let e = Config::parse(toml, "writ.toml").unwrap_err().to_string();
        assert!(
            e.contains("writ.toml") && e.contains(key) && e.contains("24-hour ceiling"),
            "{e}"
        );
    }
    Config::parse(
        "[approval.break_glass]\ncaps = { \"pg-prod/superuser\" = \"24h\" }\nmax_total = \"24h\"\n",
        "writ.toml",
    )
    .expect("exactly 24 h is allowed");
    let e = Config::parse(
        "[approval.break_glass]\nmax_duration = \"4h\"\nmax_total = \"2h\"\n",
        "writ.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("max_total"), "{e}");

    // A policy built in code, past the parser, is refused when the server starts.
    let mut approval = ApprovalPolicy::default();
    approval
        .break_glass
        .caps
        .insert("pg-prod/superuser".into(), DurationSpec::hours(25));
    approval.break_glass.max_total = DurationSpec::hours(48);
    let data = tempfile::tempdir().unwrap();
    let built = writ_server::Application::build(writ_server::Settings {
        data_dir: data.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config: Config {
            approval,
            ..Config::default()
        },
        clock: Arc::new(writ_core::ManualClock::new(START)),
        scheduler: false,
    })
    .await;
    let Err(err) = built else {
        panic!("the server started with a 25 h break-glass cap");
    };
    let err = err.to_string();
    assert!(err.contains("24-hour ceiling"), "{err}");
}

/// `writ demo --config` with a cap above 24 h exits at once with a non-zero status
/// and an error naming the file and the ceiling (it never starts listening).
#[test]
fn the_binary_refuses_to_start_with_a_cap_above_24_hours() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("writ.toml");
    std::fs::write(
        &config,
        "[approval.break_glass]\ncaps = { \"pg-prod/superuser\" = \"30h\" }\nmax_total = \"48h\"\n",
    )
    .unwrap();
    let mut child = Command::new(WRIT)
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("WRIT_LOG", "warn")
        .env_remove("WRIT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes to their end (the process exiting closes them), with a bound:
    // a server that starts anyway would keep them open.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut out);
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`writ demo` started with a 30 h break-glass cap");
        }
    };
    let status = child.wait().unwrap();
    assert!(!status.success(), "{out}");
    assert!(!out.contains("Writ is listening"), "{out}");
    assert!(
        out.contains("writ.toml") && out.contains("24-hour ceiling"),
        "{out}"
    );
}

// ---- 4. back-to-back renewals ------------------------------------------------------

/// With a 2 h cap and a 3 h total: breaking glass again after 1 h renews the live
/// emergency grant (`grant_renewed`, 1 h + 2 h fits); after another hour the run would
/// reach 4 h and is refused `break-glass-total-exceeded`, recording nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_break_glass_stops_at_the_total() {
    let config = Config::parse(
        "[approval.break_glass]\nmax_duration = \"2h\"\nmax_total = \"3h\"\n",
        "writ.toml",
    )
    .unwrap();
    let app = TestApp::spawn_with(config, false).await;
    let bob = app.as_("bob");

    let first = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let g1 = first.grant.clone().unwrap();

    app.clock.advance(DurationSpec::hours(1));
    let before = app.event_count().await;
    let second = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    assert_eq!(second.renews.as_deref(), Some(g1.as_str()));
    assert_eq!(second.break_glass_by, [ON_CALL]);
    let g2 = second.grant.clone().unwrap();
    assert_ne!(g1, g2);
    let kinds: Vec<String> = all_events(&app)
        .await
        .into_iter()
        .skip(before as usize)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "request_submitted",
            "request_approved",
            "grant_created",
            "grant_renewed",
            "break_glass_used"
        ]
    );
    assert_eq!(bob.grant(&g1).await.unwrap().status, "renewed");
    let live = bob.grant(&g2).await.unwrap();
    assert_eq!(live.status, "active");
    assert_eq!(live.expires_at, at(START.plus(DurationSpec::hours(3))));
    // Each use is told to security and reviewed on its own.
    assert_eq!(notified(&app, "sam", "break_glass_used").await.len(), 2);

    app.clock.advance(DurationSpec::hours(1));
    let before = app.event_count().await;
    let e = bob
        .create_request(
            &emergency("bob", "pg-prod/superuser", "2h", Some("INC-9001")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("break-glass-total-exceeded")),
        "{e}"
    );
    assert_eq!(app.event_count().await, before);
    assert_eq!(bob.grant(&g2).await.unwrap().status, "active");
}

/// Once the emergency grant has expired, breaking glass again starts a new run: a new
/// grant (not a renewal), with the whole total available again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_emergency_grant_expires_a_new_run_begins() {
    let config = Config::parse(
        "[approval.break_glass]\nmax_duration = \"2h\"\nmax_total = \"3h\"\n",
        "writ.toml",
    )
    .unwrap();
    let app = TestApp::spawn_with(config, false).await;
    let first = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    app.clock.advance(DurationSpec::hours(2));
    let expired = writ_server::scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let g1 = app
        .as_("bob")
        .grant(first.grant.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(g1.status, "expired");

    let again = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    assert!(again.renews.is_none(), "{:?}", again.renews);
    app.clock.advance(DurationSpec::hours(1));
    let renewed = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    assert_eq!(
        renewed.renews, again.grant,
        "1 h + 2 h of the new run fits 3 h"
    );
}

/// A break-glass POST replayed with the same `Idempotency-Key` is one use: the same
/// request comes back (marked replayed), nothing more is recorded and security is
/// told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_break_glass_is_one_use() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&emergency(
        "bob",
        "pg-prod/superuser",
        "2h",
        Some("INC-9001"),
    ))
    .unwrap();
    let bob = app.as_("bob");
    let post = || {
        bob.raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", body.clone())),
            Some("bg-0001"),
        )
    };
    let first = post().await.unwrap();
    assert_eq!(first.status, 201);
    let count = app.event_count().await;
    let again = post().await.unwrap();
    assert!(again.replayed);
    let a: RequestView = serde_json::from_slice(&first.body).unwrap();
    let b: RequestView = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(app.event_count().await, count);
    assert_eq!(notified(&app, "sam", "break_glass_used").await.len(), 1);
    assert_eq!(reviews(&app, "sam", "all").await.len(), 1);
}

/// A dry run of break-glass shows it would be permitted (and by which policy) but
/// records nothing and tells no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_break_glass_records_and_tells_nothing() {
    let app = TestApp::spawn().await;
    let before = app.event_count().await;
    let v = app
        .as_("bob")
        .dry_run_request(&emergency(
            "bob",
            "pg-prod/superuser",
            "2h",
            Some("INC-9001"),
        ))
        .await
        .unwrap();
    assert_eq!(v.status, "dry-run");
    assert_eq!(v.break_glass_by, [ON_CALL]);
    assert_eq!(app.event_count().await, before);
    assert!(notified(&app, "sam", "break_glass_used").await.is_empty());
    assert!(reviews(&app, "sam", "all").await.is_empty());
    let e = app
        .as_("alice")
        .dry_run_request(&emergency(
            "alice",
            "pg-prod/superuser",
            "2h",
            Some("INC-9001"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("not-eligible-for-break-glass")),
        "{e}"
    );
}

// ---- 5. closing the post-incident review -------------------------------------------

/// Only security closes a post-incident review, and not the person who used the
/// access: bob gets `security-only`, then, added to security, `self-review`; erin
/// closes it `legitimate`; closing again is a 409; the open list no longer has it,
/// the full list does, with the finding. Non-security people cannot list reviews.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_security_closes_the_review_and_not_the_user() {
    let app = TestApp::spawn().await;
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let bob = app.as_("bob");

    let e = bob
        .incident_reviews("open")
        .await
        .expect_err("bob is not security");
    assert_eq!(refusal(&e), (Some(403), Some("not-allowed")), "{e}");
    assert_eq!(reviews(&app, "olivia", "open").await, [r.id.as_str()]);
    let e = app.as_("sam").incident_reviews("closed").await.unwrap_err();
    assert_eq!(refusal(&e), (Some(400), Some("invalid-query")), "{e}");

    let before = app.event_count().await;
    let e = bob
        .close_incident_review(&r.id, &close_body("legitimate", "all fine, it was me"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("security-only")), "{e}");

    // Put bob in security too: still not his to review.
    let ada = app.as_("ada");
    let mut body: IdentityBody = ada.identity("bob").await.unwrap();
    body.groups = vec!["on-call".into(), "security".into()];
    ada.put_identity("bob", &body).await.unwrap();
    let before_self = app.event_count().await;
    assert!(before_self > before, "the identity change is recorded");
    let e = bob
        .close_incident_review(&r.id, &close_body("legitimate", "all fine, it was me"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("self-review")), "{e}");
    assert_eq!(app.event_count().await, before_self);

    let v = app
        .as_("erin")
        .close_incident_review(
            &r.id,
            &close_body(
                "legitimate",
                "INC-9001 database outage; access used as logged",
            ),
        )
        .await
        .unwrap();
    assert_eq!(v.state, "closed");
    assert_eq!(v.finding.as_deref(), Some("legitimate"));
    assert_eq!(v.closed_by.as_deref(), Some("erin"));
    assert_eq!(v.closed_at.as_deref(), Some(at(START).as_str()));
    let closed = events_of_kind(&app, "incident_review_closed").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].actor, "erin");

    let shown = app.as_("olivia").request(&r.id).await.unwrap();
    let review = shown.incident_review.unwrap();
    assert_eq!(review.finding.as_deref(), Some("legitimate"));
    assert_eq!(review.state, "closed");

    let before = app.event_count().await;
    let e = app
        .as_("sam")
        .close_incident_review(&r.id, &close_body("misuse", "second thoughts"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("review-closed")), "{e}");
    assert_eq!(app.event_count().await, before);

    assert!(reviews(&app, "sam", "open").await.is_empty());
    let all = app.as_("sam").incident_reviews("all").await.unwrap();
    assert_eq!(all.reviews.len(), 1);
    let item = &all.reviews[0];
    assert_eq!(item.request, r.id);
    assert_eq!(Some(&item.grant), r.grant.as_ref());
    assert_eq!(
        (item.beneficiary.as_str(), item.entitlement.as_str()),
        ("bob", "pg-prod/superuser")
    );
    assert_eq!(item.incident, "INC-9001");
    assert_eq!(item.review.finding.as_deref(), Some("legitimate"));

    // A normal request has no review to close (security does not even see it); an
    // unknown finding is refused.
    let (normal, _) = app.vpn_grant("alice", "8h").await;
    let e = app
        .as_("sam")
        .close_incident_review(&normal.id, &close_body("drill", "nothing to see"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(404), Some("unknown-request")), "{e}");
    let e = app
        .as_("ada")
        .close_incident_review(&normal.id, &close_body("drill", "nothing to see"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("not-break-glass")), "{e}");
    let e = app
        .as_("sam")
        .close_incident_review(&r.id, &close_body("fine", "x"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("invalid-field")), "{e}");
}

/// The security members told about a break-glass use, and who must review it, can
/// read the request it names (its justification, duration, grant): the notification
/// and the review list point at `req_…`, so a 404 for it leaves them reviewing blind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_can_read_the_break_glass_request_it_reviews() {
    let app = TestApp::spawn().await;
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    for who in ["sam", "erin"] {
        assert_eq!(notified(&app, who, "break_glass_used").await.len(), 1);
        assert_eq!(reviews(&app, who, "open").await, [r.id.as_str()]);
        let shown = app
            .as_(who)
            .request(&r.id)
            .await
            .unwrap_or_else(|e| panic!("{who} reviews `{}` but cannot read it: {e}", r.id));
        assert_eq!(shown.justification, REASON);
    }
}

// ---- 6. overdue escalation ---------------------------------------------------------

/// Of two reviews, one is closed and one left open. Until it is due nothing is
/// overdue; at the due time `?state=overdue` lists the open one and the scheduler
/// escalates it once (admins and security notified); then it leaves the overdue list
/// (escalated) but stays open, and a second pass escalates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_review_escalates_once() {
    let app = TestApp::spawn().await;
    let open = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let closed = bob_breaks_glass(&app, "corp-ldap/domain-admins", "1h").await;
    app.as_("sam")
        .close_incident_review(&closed.id, &close_body("drill", "quarterly failover drill"))
        .await
        .unwrap();

    // One millisecond before due: nothing overdue, nothing escalated.
    app.clock
        .set(Timestamp(START.plus(DurationSpec::hours(72)).millis() - 1));
    assert!(reviews(&app, "sam", "overdue").await.is_empty());
    let before = app.event_count().await;
    assert_eq!(escalate(&app).await, 0);
    assert_eq!(app.event_count().await, before);

    // Due now.
    app.clock.advance_millis(1);
    assert_eq!(reviews(&app, "sam", "overdue").await, [open.id.as_str()]);
    let listed = app.as_("sam").incident_reviews("open").await.unwrap();
    assert_eq!(listed.reviews.len(), 1);
    assert_eq!(listed.reviews[0].review.state, "overdue");

    assert_eq!(escalate(&app).await, 1);
    let escalated = events_of_kind(&app, "incident_review_escalated").await;
    assert_eq!(escalated.len(), 1);
    let e = &escalated[0];
    assert_eq!(e.subject, format!("request:{}", open.id));
    assert_eq!(e.actor, "system:scheduler");
    assert_eq!(names(&e.event["notified"]), ["ada", "erin", "sam"]);
    for who in ["ada", "erin", "sam"] {
        let n = notified(&app, who, "incident_review_escalated").await;
        assert_eq!(n.len(), 1, "{who}");
        assert!(n[0].message.contains(&open.id), "{}", n[0].message);
    }
    for who in ["bob", "olivia", "priya"] {
        assert!(
            notified(&app, who, "incident_review_escalated")
                .await
                .is_empty(),
            "{who}"
        );
    }

    // Escalated: no longer "overdue" for the scheduler's query, still open.
    assert!(reviews(&app, "sam", "overdue").await.is_empty());
    assert_eq!(reviews(&app, "sam", "open").await, [open.id.as_str()]);
    let view = app
        .as_("olivia")
        .request(&open.id)
        .await
        .unwrap()
        .incident_review
        .unwrap();
    assert_eq!(
        view.escalated_at.as_deref(),
        Some(at(START.plus(DurationSpec::hours(72))).as_str())
    );

    let before = app.event_count().await;
    app.clock.advance(DurationSpec::days(7));
    assert_eq!(escalate(&app).await, 0, "escalated once only");
    assert_eq!(app.event_count().await, before);

    // It can still be closed afterwards.
    app.as_("erin")
        .close_incident_review(&open.id, &close_body("legitimate", "late, but legitimate"))
        .await
        .unwrap();
    assert!(reviews(&app, "sam", "open").await.is_empty());
}

// ---- 7. evidence -------------------------------------------------------------------

/// The evidence bundle of the break-glass grant verifies offline with the ledger key
/// and tells the emergency: the policy that permitted it (checked against the proven
/// policy text), no approver, the incident and who was told, the escalation and the
/// closing finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_bundle_tells_the_incident() {
    let app = TestApp::spawn().await;
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let grant = r.grant.clone().unwrap();
    app.clock.advance(DurationSpec::hours(73));
    assert_eq!(escalate(&app).await, 1);
    app.as_("erin")
        .close_incident_review(
            &r.id,
            &close_body("legitimate", "outage INC-9001, as logged"),
        )
        .await
        .unwrap();

    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(&grant).await.unwrap()).unwrap();
    let story = verify(&bundle, &key).unwrap();
    assert!(story.policy_proven);
    assert_eq!(story.request.id, r.id);
    assert_eq!(story.request.ticket.as_deref(), Some("INC-9001"));
    assert_eq!(story.request.break_glass_by, [ON_CALL]);
    assert!(story.decisions.is_empty(), "{:?}", story.decisions);
    assert_eq!(story.grant.as_ref().unwrap().id, grant);
    let lines = &story.request.incident;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains(&format!("grant `{grant}`"))
            && lines[0].contains("incident INC-9001")
            && lines[0].contains("security notified: erin, sam"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("escalated to ada, erin, sam"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("erin") && lines[2].contains("legitimate"),
        "{}",
        lines[2]
    );
    let told = story.to_string();
    assert!(
        told.contains(&format!("Break-glass, permitted by policy {ON_CALL}")),
        "{told}"
    );
    assert!(told.contains("Incident:"), "{told}");

    // The request's bundle tells the same; a bundle verified with another key fails.
    let by_request: Bundle = serde_json::from_value(olivia.evidence(&r.id).await.unwrap()).unwrap();
    assert_eq!(verify(&by_request, &key).unwrap().request.incident, *lines);
    let other = writ_ledger::LedgerKey::from_seed("other.example/ledger", [7; 32]).unwrap();
    assert!(verify(&bundle, &other.verifier_key()).is_err());
}

/// The evidence story spells the request kind as the API, the ledger and the CLI do
/// (`break_glass`), so an auditor's tooling can match it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_story_names_the_kind_break_glass() {
    let app = TestApp::spawn().await;
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    assert_eq!(r.kind, "break_glass");
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(&r.id).await.unwrap()).unwrap();
    let ledger = events_of_kind(&app, "request_submitted").await;
    assert_eq!(ledger[0].event["request"]["kind"], "break_glass");
    assert_eq!(verify(&bundle, &key).unwrap().request.kind, "break_glass");
}

// ---- 8. the notification hook ------------------------------------------------------

/// The shared HMAC key of the test receiver.
const SECRET: &str = "s3cret-hook-key-for-the-test";

/// One request the receiver got, and the status it answered.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
    fn seq(&self) -> u64 {
        self.json()["seq"].as_u64().unwrap()
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    tx: tokio::sync::mpsc::UnboundedSender<Received>,
}

/// A tiny HTTP receiver on loopback: records every POST to `/hook` and answers with
/// the status currently set (200 at first).
struct Receiver {
    url: String,
    shared: Shared,
    rx: tokio::sync::mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    async fn start() -> Receiver {
        async fn record(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let answered = s.status.load(Ordering::SeqCst);
            let r = Received {
                headers,
                body: body.to_vec(),
                answered,
            };
            s.log.lock().unwrap().push(r.clone());
            let _ = s.tx.send(r);
            StatusCode::from_u16(answered).unwrap()
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared {
            log: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            tx,
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Receiver { url, shared, rx }
    }

    fn got(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }
}

/// A configuration whose `[notifications]` webhook points at `url`, keyed with
/// [`SECRET`] (read from a file in `dir`).
fn hook_config(dir: &Path, url: &str, allow_private: bool, interval_ms: u64) -> Config {
    let secret = dir.join("hook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    Config::parse(
        &format!(
            "[notifications]\ninterval_ms = {interval_ms}\nwebhook = {{ url = \"{url}\", secret = {{ file = \"{}\" }}, allow_private = {allow_private} }}\n",
            secret.display()
        ),
        "writ.toml",
    )
    .unwrap()
}

/// `sha256=<hex HMAC-SHA256(SECRET, "<timestamp>.<body>")>`, as the connector signs.
fn signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The notification entries (seq → kind, subject, message, sorted recipients), from
/// everyone's records as the auditor sees them.
async fn entries(app: &TestApp) -> BTreeMap<u64, (String, String, String, Vec<String>)> {
    let mut out: BTreeMap<u64, (String, String, String, Vec<String>)> = BTreeMap::new();
    for n in app
        .as_("olivia")
        .notifications(true)
        .await
        .unwrap()
        .notifications
    {
        let e = out
            .entry(n.seq)
            .or_insert_with(|| (n.kind.clone(), n.subject.clone(), n.message.clone(), vec![]));
        e.3.push(n.recipient.clone());
        e.3.sort();
    }
    out
}

/// One call the hook made matches a notification entry: `action: notify`, its seq,
/// kind, subject, message and recipients; a valid signature over the exact body with
/// the timestamp header (= `sent_at`); `Idempotency-Key: notification-<seq>`.
fn assert_delivery(r: &Received, seq: u64, entry: &(String, String, String, Vec<String>)) {
    let body = r.json();
    assert_eq!(body["action"], "notify", "{body}");
    assert_eq!(body["seq"].as_u64(), Some(seq), "{body}");
    assert_eq!(body["kind"], entry.0.as_str(), "{body}");
    assert_eq!(body["subject"], entry.1.as_str(), "{body}");
    assert_eq!(body["message"], entry.2.as_str(), "{body}");
    assert_eq!(names(&body["recipients"]), entry.3, "{body}");
    let ts = r.header("x-writ-timestamp");
    assert_eq!(body["sent_at"].as_u64().unwrap().to_string(), ts);
    assert_eq!(r.header("x-writ-signature"), signature(ts, &r.body));
    assert_ne!(
        r.header("x-writ-signature"),
        signature(&(ts.parse::<u64>().unwrap() + 1).to_string(), &r.body),
        "the timestamp is signed"
    );
    assert_eq!(r.header("idempotency-key"), format!("notification-{seq}"));
    assert!(r.header("content-type").starts_with("application/json"));
}

/// After two break-glass uses, one `deliver` POSTs one signed call per notification
/// entry in seq order (recipients sam and erin); a second pass sends nothing. When
/// the receiver answers 500 the pass stops at that entry and the cursor stays; the
/// next successful pass delivers it and the rest, so every entry is acknowledged once,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_posts_each_notification_signed_in_order_at_least_once() {
    let recv = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = hook_config(dir.path(), &recv.url, true, 3_600_000)
        .notify_hook
        .expect("a hook is configured");
    // The server itself runs no hook: this test drives every pass.
    let app = TestApp::spawn().await;
    let store: &dyn Store = app.state.store.as_ref();
    let deliver = || writ_server::hook::deliver(store, &hook);

    assert_eq!(deliver().await.unwrap(), 0, "nothing to tell yet");
    assert!(recv.got().is_empty());

    let first = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let second = bob_breaks_glass(&app, "corp-ldap/domain-admins", "1h").await;
    let known = entries(&app).await;
    assert_eq!(known.len(), 2, "{known:?}");
    assert_eq!(deliver().await.unwrap(), 2);
    let got = recv.got();
    assert_eq!(got.len(), 2);
    for (r, (seq, entry)) in got.iter().zip(&known) {
        assert_delivery(r, *seq, entry);
        assert_eq!(entry.0, "break_glass_used");
        assert_eq!(entry.3, ["erin", "sam"]);
    }
    assert_eq!(
        got.iter()
            .map(|r| r.json()["subject"].clone())
            .collect::<Vec<_>>(),
        [
            format!("request:{}", first.id),
            format!("request:{}", second.id)
        ]
    );
    let cursor = store.cursor("notification-hook").await.unwrap();
    assert_eq!(Some(&cursor), known.keys().last());

    assert_eq!(deliver().await.unwrap(), 0, "nothing new");
    assert_eq!(recv.got().len(), 2);

    // Two more entries (both reviews escalate); the receiver is down.
    app.clock.advance(DurationSpec::hours(73));
    assert_eq!(escalate(&app).await, 2);
    let known = entries(&app).await;
    assert_eq!(known.len(), 4);
    recv.answer(500);
    for attempt in 1..=2 {
        assert_eq!(deliver().await.unwrap(), 0, "attempt {attempt}");
        assert_eq!(
            store.cursor("notification-hook").await.unwrap(),
            cursor,
            "the cursor stays on a failure"
        );
        let got = recv.got();
        assert_eq!(
            got.len(),
            2 + attempt,
            "later entries wait behind the failed one"
        );
        assert_eq!(got.last().unwrap().answered, 500);
    }

    recv.answer(200);
    assert_eq!(deliver().await.unwrap(), 2);
    assert_eq!(deliver().await.unwrap(), 0);
    let got = recv.got();
    let attempted: Vec<u64> = got.iter().map(Received::seq).collect();
    assert!(
        attempted.windows(2).all(|w| w[0] <= w[1]),
        "sent in order: {attempted:?}"
    );
    let acknowledged: Vec<u64> = got
        .iter()
        .filter(|r| r.answered == 200)
        .map(Received::seq)
        .collect();
    assert_eq!(acknowledged, known.keys().copied().collect::<Vec<_>>());
    for r in &got {
        let seq = r.seq();
        assert_delivery(r, seq, &known[&seq]);
    }
    let escalations: Vec<&Received> = got
        .iter()
        .filter(|r| r.answered == 200 && r.json()["kind"] == "incident_review_escalated")
        .collect();
    assert_eq!(escalations.len(), 2);
    for r in escalations {
        assert_eq!(names(&r.json()["recipients"]), ["ada", "erin", "sam"]);
    }
    assert_eq!(
        store.cursor("notification-hook").await.unwrap(),
        *known.keys().last().unwrap()
    );
}

/// An entry with more recipients than one pass reads (200 rows) still reaches the
/// receiver with every recipient: with 203 people in security, the `break_glass_used`
/// call(s) for that seq name all 203, and none is lost when the cursor moves past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_delivers_every_recipient_of_a_large_entry() {
    let recv = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = hook_config(dir.path(), &recv.url, true, 3_600_000)
        .notify_hook
        .unwrap();
    let app = TestApp::spawn().await;
    let ada = app.as_("ada");
    let template: IdentityBody = ada.identity("erin").await.unwrap();
    for i in 0..201 {
        let name = format!("sec{i:03}");
        let body = IdentityBody {
            name: name.clone(),
            display_name: format!("Security {i}"),
            email: Some(format!("{name}@example.com")),
            ..template.clone()
        };
        ada.put_identity(&name, &body).await.unwrap();
    }
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let used = events_of_kind(&app, "break_glass_used").await;
    let everyone = names(&used[0].event["notified"]);
    assert_eq!(everyone.len(), 203);

    let store: &dyn Store = app.state.store.as_ref();
    while writ_server::hook::deliver(store, &hook).await.unwrap() > 0 {}
    let got = recv.got();
    assert!(!got.is_empty());
    let mut told: Vec<String> = got
        .iter()
        .filter(|c| c.json()["subject"] == format!("request:{}", r.id))
        .flat_map(|c| names(&c.json()["recipients"]))
        .collect();
    told.sort();
    told.dedup();
    assert_eq!(
        told.len(),
        everyone.len(),
        "{} of {} recipients reached the hook in {} call(s)",
        told.len(),
        everyone.len(),
        got.len()
    );
}

/// Without `allow_private` the hook refuses to call a loopback receiver: nothing is
/// sent and the cursor does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_refuses_a_private_receiver_unless_allowed() {
    let recv = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = hook_config(dir.path(), &recv.url, false, 3_600_000)
        .notify_hook
        .unwrap();
    let app = TestApp::spawn().await;
    bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let store: &dyn Store = app.state.store.as_ref();
    assert_eq!(writ_server::hook::deliver(store, &hook).await.unwrap(), 0);
    assert!(recv.got().is_empty());
    assert_eq!(store.cursor("notification-hook").await.unwrap(), 0);
}

/// The server configured with `[notifications] webhook` runs the hook itself: a
/// break-glass reaches the receiver without anyone calling `deliver`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_the_configured_hook() {
    let mut recv = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(hook_config(dir.path(), &recv.url, true, 100), false).await;
    let r = bob_breaks_glass(&app, "pg-prod/superuser", "2h").await;
    let got = tokio::time::timeout(Duration::from_secs(30), recv.rx.recv())
        .await
        .expect("the server's hook delivered within 30 s")
        .unwrap();
    let body = got.json();
    assert_eq!(body["kind"], "break_glass_used", "{body}");
    assert_eq!(body["subject"], format!("request:{}", r.id));
    assert_eq!(names(&body["recipients"]), ["erin", "sam"]);
    assert_eq!(
        got.header("x-writ-signature"),
        signature(got.header("x-writ-timestamp"), &got.body)
    );
}

// ---- 9. the writ binary ------------------------------------------------------------

/// The request id (`req_…`) first named in `text`.
fn request_id(text: &str) -> String {
    let start = text
        .find("req_")
        .unwrap_or_else(|| panic!("no request id in:\n{text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// `writ break-glass` as bob prints BREAK-GLASS and the policy; sam sees the
/// notification and the review in `writ incident list`; bob cannot close it; `writ
/// incident close --finding drill` as sam closes it, and it moves from the open list
/// to `--state all`.
#[test]
fn the_writ_binary_breaks_glass_and_closes_the_review() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let demo = Demo::start(&data);

    let out = ok(&demo.writ(
        &data,
        &[
            "--as",
            "bob",
            "break-glass",
            "--entitlement",
            "pg-prod/superuser",
            "--reason",
            REASON,
            "--incident",
            "INC-1",
            "--duration",
            "1h",
        ],
    ));
    assert!(out.contains("BREAK-GLASS"), "{out}");
    assert!(out.contains(ON_CALL), "{out}");
    assert!(out.contains("approved"), "{out}");
    let id = request_id(&out);

    let out = ok(&demo.writ(&data, &["--as", "sam", "notifications"]));
    assert!(
        out.contains("break_glass_used") && out.contains(&id),
        "{out}"
    );

    let out = ok(&demo.writ(&data, &["--as", "sam", "incident", "list"]));
    assert!(
        out.contains(&id) && out.contains("INC-1") && out.contains("open"),
        "{out}"
    );

    let refused = demo.writ(
        &data,
        &[
            "--as",
            "bob",
            "incident",
            "close",
            &id,
            "--finding",
            "drill",
            "--notes",
            "mine",
        ],
    );
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("only members of group `security` close post-incident reviews"),
        "{why}"
    );

    let out = ok(&demo.writ(
        &data,
        &[
            "--as",
            "sam",
            "incident",
            "close",
            &id,
            "--finding",
            "drill",
            "--notes",
            "scheduled failover drill",
        ],
    ));
    assert!(
        out.contains(&format!("post-incident review of {id}: drill")),
        "{out}"
    );

    let out = ok(&demo.writ(&data, &["--as", "sam", "incident", "list"]));
    assert!(out.contains("No post-incident reviews."), "{out}");
    let out = ok(&demo.writ(
        &data,
        &["--as", "sam", "incident", "list", "--state", "all"],
    ));
    assert!(out.contains(&id) && out.contains("drill"), "{out}");
}
