//! The main flow: request, approvals, grant, expiry, revocation, audit.

use writ::GrantQuery;
use writ_core::{DurationSpec, Timestamp};
use writ_server::scheduler;

use crate::common::{START, TestApp, comment, new_request};

#[tokio::test]
async fn request_two_approvals_grant_with_expiry_from_final_approval() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let r = alice
        .create_request(&new_request("alice", "pg-prod/read-only", "PT8H"), None)
        .await
        .unwrap();
    assert_eq!(r.status, "pending");
    assert_eq!(r.requester, "alice");
    assert_eq!(r.risk, "medium");
    assert_eq!(r.duration, "PT8H");
    assert_eq!(r.ticket.as_deref(), Some("INC-4411"));
    let roles: Vec<&str> = r.steps.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(roles, ["manager", "system_owner"]);
    assert_eq!(r.steps[0].eligible[0].identity, "priya");
    assert!(r.steps[0].eligible[0].basis.contains("manager of `alice`"));
    assert_eq!(r.steps[1].eligible[0].identity, "carol");
    assert!(
        r.steps[1].eligible[0]
            .basis
            .contains("owner of system `pg-prod`")
    );

    // Approvals come an hour later: the clock must start at the final approval.
    app.clock.advance(DurationSpec::hours(1));
    let after_first = app
        .as_("priya")
        .approve(&r.id, &comment("ok for today"), None)
        .await
        .unwrap();
    assert_eq!(after_first.status, "pending");
    assert_eq!(after_first.steps[0].state, "approved");
    assert_eq!(after_first.steps[0].approver.as_deref(), Some("priya"));
    app.clock.advance(DurationSpec::hours(1));
    let approved_at = app.clock_now();
    let done = app
        .as_("carol")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    let basis = done.steps[1].basis.as_deref().unwrap();
    assert!(basis.contains("owner of system `pg-prod`"), "{basis}");
    assert_eq!(
        done.steps[1].policy_version.as_deref(),
        Some(done.policy_version.as_str())
    );

    let grant = alice.grant(done.grant.as_deref().unwrap()).await.unwrap();
    assert_eq!(grant.status, "active");
    assert_eq!(grant.request, r.id);
    assert_eq!(grant.granted_at, approved_at.to_rfc3339());
    assert_eq!(
        grant.expires_at,
        approved_at.plus(DurationSpec::hours(8)).to_rfc3339()
    );
    assert!(grant.review_by <= grant.expires_at);

    // Every state change is an audit event, in order, with who did it.
    let log = app
        .as_("olivia")
        .audit_events(0, 1000)
        .await
        .unwrap()
        .events;
    let mine: Vec<(String, String)> = log
        .iter()
        .filter(|e| {
            e.subject.ends_with(&r.id)
                || Some(e.subject.trim_start_matches("grant:")) == done.grant.as_deref()
        })
        .map(|e| (e.actor.clone(), e.kind.clone()))
        .collect();
    let expected = [
        ("alice", "request_submitted"),
        ("priya", "step_decided"),
        ("carol", "step_decided"),
        ("carol", "request_approved"),
        ("carol", "grant_created"),
    ];
    assert_eq!(
        mine,
        expected
            .iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect::<Vec<_>>()
    );
    // Each decision names the exact submission it approved.
    for e in log
        .iter()
        .filter(|e| e.kind == "step_decided" && e.subject.ends_with(&r.id))
    {
        assert_eq!(e.event["request_digest"], serde_json::json!(r.digest));
    }
}

#[tokio::test]
async fn scheduler_expires_grants_at_expires_at_and_not_before() {
    let app = TestApp::spawn().await;
    let (_, grant_id) = app.vpn_grant("alice", "2h").await;

    app.clock.advance_millis(2 * 3600 * 1000 - 1);
    assert_eq!(
        scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.as_("alice").grant(&grant_id).await.unwrap().status,
        "active"
    );

    app.clock.advance_millis(1);
    assert_eq!(
        scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        1
    );
    let g = app.as_("alice").grant(&grant_id).await.unwrap();
    assert_eq!(g.status, "expired");
    assert_eq!(g.ended_by.as_deref(), Some("system:scheduler"));
    assert_eq!(g.ended_at.as_deref(), Some(g.expires_at.as_str()));
    // A second pass finds nothing left to do.
    assert_eq!(
        scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn background_scheduler_expires_without_being_asked() {
    let config = writ_server::Config {
        scheduler_interval_ms: 50,
        ..Default::default()
    };
    let app = TestApp::spawn_with(config, true).await;
    let (_, grant_id) = app.vpn_grant("alice", "1h").await;
    app.clock.advance(DurationSpec::hours(2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let g = app.as_("alice").grant(&grant_id).await.unwrap();
        if g.status == "expired" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler never expired {grant_id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn manager_or_admin_revokes_with_a_reason_others_cannot() {
    let app = TestApp::spawn().await;
    let (_, grant_id) = app.vpn_grant("alice", "7d").await;

    // bob may not see alice's grant, so he is told it does not exist.
    let e = app
        .as_("bob")
        .revoke_grant(&grant_id, "I do not like it")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.code(), Some("unknown-grant"));
    // The auditor sees it and may not change it.
    let e = app
        .as_("olivia")
        .revoke_grant(&grant_id, "I do not like it")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    let e = app
        .as_("priya")
        .revoke_grant(&grant_id, "")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));

    let g = app
        .as_("priya")
        .revoke_grant(&grant_id, "left the project")
        .await
        .unwrap();
    assert_eq!(g.status, "revoked");
    assert_eq!(g.ended_by.as_deref(), Some("priya"));
    assert_eq!(g.end_reason.as_deref(), Some("left the project"));
    let e = app
        .as_("ada")
        .revoke_grant(&grant_id, "again")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(409));

    // The admin may revoke anyone's grant.
    let r2 = app
        .as_("bob")
        .create_request(&new_request("bob", "corp-ldap/vpn-users", "7d"), None)
        .await
        .unwrap();
    let g2 = app
        .as_("priya")
        .approve(&r2.id, &Default::default(), None)
        .await
        .unwrap()
        .grant
        .unwrap();
    assert_eq!(
        app.as_("ada")
            .revoke_grant(&g2, "offboarding")
            .await
            .unwrap()
            .status,
        "revoked"
    );

    let active = app
        .as_("ada")
        .grants(&GrantQuery {
            status: Some("active".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(active.grants.is_empty());
}

#[tokio::test]
async fn renewal_replaces_the_active_grant_without_a_gap() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let r = alice
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "7d"), None)
        .await
        .unwrap();
    let first = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap()
        .grant
        .unwrap();

    let again = alice
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "7d"), None)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("already-granted"));

    let mut renewal = new_request("alice", "corp-ldap/vpn-users", "7d");
    renewal.kind = Some("renewal".into());
    let r2 = alice.create_request(&renewal, None).await.unwrap();
    assert_eq!(r2.renews.as_deref(), Some(first.as_str()));
    app.clock.advance(DurationSpec::days(6));
    let second = app
        .as_("priya")
        .approve(&r2.id, &Default::default(), None)
        .await
        .unwrap()
        .grant
        .unwrap();
    let old = alice.grant(&first).await.unwrap();
    assert_eq!(old.status, "renewed");
    assert_eq!(old.successor.as_deref(), Some(second.as_str()));
    let new = alice.grant(&second).await.unwrap();
    assert_eq!(new.status, "active");
    assert_eq!(new.renews.as_deref(), Some(first.as_str()));
    assert_eq!(new.granted_at, old.ended_at.unwrap());
}

impl TestApp {
    pub fn clock_now(&self) -> Timestamp {
        use writ_core::Clock;
        self.clock.now()
    }
}

#[test]
fn start_constant_is_the_documented_instant() {
    assert_eq!(START.to_rfc3339(), "2026-11-29T09:00:00.000Z");
}
