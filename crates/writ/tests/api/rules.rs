//! The approval rules, each through the real API.

use reqwest::Method;
use writ::RequestQuery;
use writ_server::wire::{CancelBody, DecisionBody, IdentityBody};

use crate::common::{TestApp, comment, new_request};

#[tokio::test]
async fn approver_is_never_requester_nor_beneficiary_and_decides_one_step() {
    let app = TestApp::spawn().await;
    // priya asks for her report alice: priya is the manager, so her manager (morgan)
    // decides the manager step (skip-level), and priya cannot decide any step.
    let r = app
        .as_("priya")
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    let step = &r.steps[0];
    assert_eq!(step.eligible[0].identity, "morgan");
    assert!(
        step.eligible[0].basis.contains("skip-level"),
        "{}",
        step.eligible[0].basis
    );
    assert!(
        step.excluded
            .iter()
            .any(|x| x.identity == "priya" && x.why.contains("requester"))
    );

    let e = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some("self-approval")));
    let e = app
        .as_("alice")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(403), Some("beneficiary-approval"))
    );
    // Someone who may see the request but not decide it is told who may.
    let e = app
        .as_("ada")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some("not-eligible")));
    assert!(
        e.to_string().contains("`morgan`"),
        "the refusal names who is eligible: {e}"
    );
    // Someone who may not see it learns nothing, not even that it exists.
    let e = app
        .as_("bob")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("unknown-request")));

    // One identity, one step: priya owns pg-prod/superuser and manages bob.
    let r = app
        .as_("bob")
        .create_request(&new_request("bob", "pg-prod/superuser", "4h"), None)
        .await
        .unwrap();
    let roles: Vec<&str> = r.steps.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(roles, ["manager", "entitlement_owner", "security"]);
    assert_eq!(r.steps[1].eligible[0].identity, "priya");
    app.as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let e = app
        .as_("priya")
        .approve(
            &r.id,
            &DecisionBody {
                comment: None,
                step: Some(2),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(403), Some("one-step-per-identity"))
    );
    let shown = app.as_("bob").request(&r.id).await.unwrap();
    assert!(shown.steps[1].eligible.is_empty());
    assert!(
        shown.steps[1]
            .excluded
            .iter()
            .any(|x| x.identity == "priya" && x.why.contains("already decided step 1"))
    );
}

#[tokio::test]
async fn a_denial_ends_the_request_and_later_decisions_conflict() {
    let app = TestApp::spawn().await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    let e = app
        .as_("priya")
        .deny(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(422), Some("comment-required"))
    );
    let denied = app
        .as_("priya")
        .deny(&r.id, &comment("not for production"), None)
        .await
        .unwrap();
    assert_eq!(denied.status, "denied");
    assert_eq!(denied.steps[0].state, "denied");
    assert!(denied.grant.is_none());
    let e = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("not-pending")));
    // carol, eligible for the next step while it was open, no longer sees the request.
    let e = app
        .as_("carol")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("unknown-request")));
    let e = app
        .as_("alice")
        .cancel(&r.id, &CancelBody::default())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
}

#[tokio::test]
async fn eligibility_uses_the_organisation_at_decision_time() {
    let app = TestApp::spawn().await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "8h"), None)
        .await
        .unwrap();
    assert_eq!(r.steps[0].eligible[0].identity, "priya");

    // alice moves to morgan's team after she asked.
    let mut alice: IdentityBody = app.as_("ada").identity("alice").await.unwrap();
    alice.manager = Some("morgan".into());
    app.as_("ada").put_identity("alice", &alice).await.unwrap();

    // priya no longer manages alice: she may neither decide nor see the request.
    let e = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("unknown-request")));
    let done = app
        .as_("morgan")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert!(
        done.steps[0]
            .basis
            .as_deref()
            .unwrap()
            .contains("manager of `alice`")
    );
}

#[tokio::test]
async fn a_submitted_request_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let r = alice
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    let before = app.event_count().await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let body = serde_json::to_vec(&serde_json::json!({"duration": "30d"})).unwrap();
        let res = alice
            .raw(
                method.clone(),
                &format!("/api/v1/requests/{}", r.id),
                Some(("application/json", body)),
                None,
            )
            .await
            .unwrap();
        assert_eq!(res.status, 405, "{method}");
        assert_eq!(res.content_type, "application/problem+json");
        assert!(String::from_utf8_lossy(&res.body).contains("frozen"));
    }
    let after = alice.request(&r.id).await.unwrap();
    assert_eq!(after.duration, "PT8H");
    assert_eq!(after.digest, r.digest);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn parallel_decisions_on_one_step_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    // pg-prod/read-write (high): manager priya, owner carol, then security: sam or erin.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "pg-prod/read-write", "7d"), None)
        .await
        .unwrap();
    app.as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    app.as_("carol")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let (sam, erin) = (app.as_("sam"), app.as_("erin"));
    let none = DecisionBody::default();
    let (a, b) = tokio::join!(
        sam.approve(&r.id, &none, None),
        erin.approve(&r.id, &none, None)
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one security decision wins: {a:?} {b:?}");
    let loser = a.err().or(b.err()).unwrap();
    assert_eq!(loser.status(), Some(409), "{loser}");

    // Many identical approvals racing: one wins, none double-counts.
    let r = app
        .as_("bob")
        .create_request(&new_request("bob", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    let priya = app.as_("priya");
    let results =
        futures::future::join_all((0..12).map(|_| priya.approve(&r.id, &none, None))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(e.status(), Some(403) | Some(409)), "{e}");
    }
    let log = app
        .as_("olivia")
        .audit_events(0, 1000)
        .await
        .unwrap()
        .events;
    let decided = log
        .iter()
        .filter(|e| e.kind == "step_decided" && e.subject == format!("request:{}", r.id))
        .count();
    assert_eq!(decided, 1);
}

#[tokio::test]
async fn requests_for_reports_and_owned_nhis_only() {
    let app = TestApp::spawn().await;
    // carol owns the NHI svc-billing; her manager priya approves (skip-level).
    let mut req = new_request("svc-billing", "pg-prod/analytics", "30d");
    req.constraints = Some(writ_server::wire::ConstraintsBody {
        api_scopes: vec![],
        environment: Some("prod".into()),
        source_ranges: vec!["10.20.0.0/16".into()],
    });
    let r = app.as_("carol").create_request(&req, None).await.unwrap();
    assert_eq!(r.steps[0].eligible[0].identity, "priya");
    assert!(
        r.steps[0].eligible[0]
            .basis
            .contains("owner of NHI `svc-billing`")
    );
    assert_eq!(
        r.constraints.as_ref().unwrap().source_ranges,
        ["10.20.0.0/16"]
    );
    // bob may not ask for carol's NHI, nor for a peer.
    for (who, b) in [("bob", "svc-billing"), ("bob", "alice")] {
        let e = app
            .as_(who)
            .create_request(&new_request(b, "pg-prod/analytics", "1d"), None)
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(403), Some("not-your-beneficiary"))
        );
    }
    // An auditor cannot ask for anything.
    let e = app
        .as_("olivia")
        .create_request(&new_request("olivia", "crm/viewer", "1d"), None)
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some("read-only")));
}

#[tokio::test]
async fn duplicate_pending_requests_are_refused_and_cancel_is_the_requesters() {
    let app = TestApp::spawn().await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "crm/viewer", "30d"), None)
        .await
        .unwrap();
    let e = app
        .as_("alice")
        .create_request(&new_request("alice", "crm/viewer", "30d"), None)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some("duplicate-request"))
    );
    assert!(e.to_string().contains(&r.id));
    let e = app
        .as_("priya")
        .cancel(&r.id, &CancelBody::default())
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(403), Some("not-requester")));
    let c = app
        .as_("alice")
        .cancel(
            &r.id,
            &CancelBody {
                reason: Some("asked by mistake".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(c.status, "cancelled");
    assert_eq!(c.cancel_reason.as_deref(), Some("asked by mistake"));
    // Listing filters work for the people involved.
    let mine = app
        .as_("alice")
        .requests(&RequestQuery {
            mine: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.requests.len(), 1);
    let to_decide = app
        .as_("priya")
        .requests(&RequestQuery {
            to_decide: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(to_decide.requests.is_empty());
}
