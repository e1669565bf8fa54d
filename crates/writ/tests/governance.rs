//! Governance rules end to end through the real server: separation of duties (toxic
//! pairs, refused or with an exception), delegation of approval authority, escalation
//! and timeouts of pending requests, and automated fulfilment by Cedar policy.
//!
//! The server's own scheduler is off: each test advances the injected clock and runs
//! the scheduler's functions (`request_deadlines`, `expire_due`) by hand, once per
//! instant it wants to look at. Nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    TestApp, comment, eligible, events_of_kind, new_request, policy_dir, refusal, shipped,
};
use reqwest::Method;
use writ_core::{
    Actor, Command, Deadlines, DurationSpec, EmploymentType, EntitlementRef, Human, Identity,
    IdentityKind, IdentityStatus, Justification, Name, RequestKind, ToxicRule,
};
use writ_ledger::evidence::{Bundle, Story, verify};
use writ_server::Config;
use writ_server::wire::{
    DecisionBody, DelegationView, NewDelegation, NewRequest, NotificationList, NotificationView,
    RequestView, RevokeDelegationBody,
};
use writ_store::Envelope;

// ---- configuration -----------------------------------------------------------------

fn ent(text: &str) -> EntitlementRef {
    EntitlementRef::parse(text).unwrap()
}

/// A toxic pair; `exception` is the exception's maximum duration, when one is allowed.
fn toxic(name: &str, a: &str, b: &str, exception: Option<DurationSpec>) -> ToxicRule {
    ToxicRule {
        name: name.into(),
        entitlements: vec![ent(a), ent(b)],
        exception: exception.is_some(),
        exception_max_duration: exception,
    }
}

/// A server with these toxic rules and deadlines (and the shipped Cedar set).
async fn app_with(toxic: Vec<ToxicRule>, deadlines: Option<Deadlines>) -> TestApp {
    let mut config = Config::default();
    config.approval.toxic = toxic;
    config.approval.deadlines = deadlines;
    TestApp::spawn_with(config, false).await
}

// ---- small helpers -----------------------------------------------------------------

fn roles(r: &RequestView) -> Vec<&str> {
    r.steps.iter().map(|s| s.role.as_str()).collect()
}

fn with_exception(mut body: NewRequest, why: &str) -> NewRequest {
    body.sod_exception = Some(why.into());
    body
}

fn step(n: u32) -> DecisionBody {
    DecisionBody {
        comment: None,
        step: Some(n),
    }
}

/// The evidence bundle for a request or grant, verified offline with the ledger key.
async fn verified_evidence(app: &TestApp, id: &str) -> Story {
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let bundle: Bundle = serde_json::from_value(olivia.evidence(id).await.unwrap()).unwrap();
    verify(&bundle, &key).unwrap_or_else(|e| panic!("the bundle for {id} does not verify: {e}"))
}

/// `GET /api/v1/notifications` as `who` (`all` for everyone's), newest first.
async fn notifications_as(
    app: &TestApp,
    who: &str,
    all: bool,
) -> Result<Vec<NotificationView>, (u16, String)> {
    let path = if all {
        "/api/v1/notifications?all=true"
    } else {
        "/api/v1/notifications"
    };
    let res = app
        .as_(who)
        .raw(Method::GET, path, None, None)
        .await
        .unwrap();
    if res.status != 200 {
        return Err((res.status, String::from_utf8_lossy(&res.body).into_owned()));
    }
    Ok(serde_json::from_slice::<NotificationList>(&res.body)
        .unwrap()
        .notifications)
}

/// `who`'s notifications of `kind` about request `id`.
async fn notified(app: &TestApp, who: &str, kind: &str, id: &str) -> Vec<NotificationView> {
    notifications_as(app, who, false)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == kind && n.subject == format!("request:{id}"))
        .collect()
}

/// One pass of the scheduler's request deadlines at the clock's current time: how
/// many ledger entries it wrote.
async fn deadlines_pass(app: &TestApp) -> usize {
    writ_server::scheduler::request_deadlines(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap()
}

fn delegation(delegate: &str, for_: &str) -> NewDelegation {
    NewDelegation {
        delegate: delegate.into(),
        for_: Some(for_.into()),
        reason: "priya is at the offsite; carol covers her approvals".into(),
        ..Default::default()
    }
}

/// The state of delegation `id` in `who`'s listing (`active` only, or all).
async fn listed_state(app: &TestApp, who: &str, active: bool, id: &str) -> Option<String> {
    app.as_(who)
        .delegations(active)
        .await
        .unwrap()
        .delegations
        .into_iter()
        .find(|d| d.id == id)
        .map(|d| d.state)
}

// ---- 1. separation of duties, refused -----------------------------------------------

const VPN: &str = "corp-ldap/vpn-users";
const CRM_VIEWER: &str = "crm/viewer";
const ANALYTICS: &str = "pg-prod/analytics";

/// A toxic pair with no exception: whoever holds one side — as a live grant, or only
/// as a pending request — is refused the other with 403 `separation-of-duties` naming
/// the rule, in either order, and nothing is recorded.
#[tokio::test]
async fn a_toxic_pair_without_exception_is_refused_whether_held_or_pending() {
    let app = app_with(vec![toxic("vpn-and-crm", VPN, CRM_VIEWER, None)], None).await;

    // alice holds the VPN as a live grant.
    let (_, grant) = app.vpn_grant("alice", "8h").await;
    assert_eq!(app.as_("ada").grant(&grant).await.unwrap().status, "active");
    let count = app.event_count().await;
    let e = app
        .as_("alice")
        .create_request(&new_request("alice", CRM_VIEWER, "8h"), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("separation-of-duties")),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("vpn-and-crm") && text.contains(VPN) && text.contains(&grant),
        "the refusal names the rule, the held entitlement and the grant: {text}"
    );
    // An exception cannot be asked for where the rule allows none.
    let e = app
        .as_("alice")
        .create_request(
            &with_exception(
                new_request("alice", CRM_VIEWER, "8h"),
                "the sales team needs an engineer to look at the CRM export this week",
            ),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("separation-of-duties")),
        "{e}"
    );
    // Nor by her manager on her behalf.
    let e = app
        .as_("priya")
        .create_request(&new_request("alice", CRM_VIEWER, "8h"), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("separation-of-duties")),
        "{e}"
    );
    assert_eq!(app.event_count().await, count, "nothing is recorded");

    // bob only has a pending request for the CRM; it counts as much as a grant.
    let pending = app
        .as_("bob")
        .create_request(&new_request("bob", CRM_VIEWER, "8h"), None)
        .await
        .unwrap();
    assert_eq!(pending.status, "pending");
    let count = app.event_count().await;
    let e = app
        .as_("bob")
        .create_request(&new_request("bob", VPN, "8h"), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("separation-of-duties")),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("vpn-and-crm") && text.contains(&pending.id),
        "the refusal names the rule and the pending request: {text}"
    );
    assert_eq!(app.event_count().await, count, "nothing is recorded");

    // Unrelated people are not affected: carol may ask for either.
    app.as_("carol")
        .create_request(&new_request("carol", VPN, "8h"), None)
        .await
        .unwrap();
    // Once bob's pending request is cancelled, the VPN is his to ask for.
    app.as_("bob")
        .cancel(&pending.id, &Default::default())
        .await
        .unwrap();
    let r = app
        .as_("bob")
        .create_request(&new_request("bob", VPN, "8h"), None)
        .await
        .unwrap();
    assert_eq!(r.status, "pending");
}

// ---- 2. separation of duties, with an exception ------------------------------------

const EXCEPTION_WHY: &str =
    "the analytics on-call is out this week; priya reviews my queries daily";

/// A toxic pair whose rule allows an exception (at most 3 days): without one the
/// request is refused 403 `sod-exception-required`; a too-short justification and a
/// duration over the exception's limit are refused 422; a proper exception adds a
/// `sod_exception` step only the security group decides, shows on the request, and the
/// grant's evidence bundle verifies offline and tells the exception.
#[tokio::test]
async fn a_toxic_pair_with_an_exception_needs_a_justified_short_request_and_security() {
    let app = app_with(
        vec![toxic(
            "vpn-and-analytics",
            VPN,
            ANALYTICS,
            Some(DurationSpec::days(3)),
        )],
        None,
    )
    .await;
    let alice = app.as_("alice");
    let (_, vpn_grant) = app.vpn_grant("alice", "7d").await;
    let count = app.event_count().await;

    let e = alice
        .create_request(&new_request("alice", ANALYTICS, "2d"), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("sod-exception-required")),
        "{e}"
    );
    assert!(e.to_string().contains("vpn-and-analytics"), "{e}");

    let e = alice
        .create_request(
            &with_exception(new_request("alice", ANALYTICS, "2d"), "need it"),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(422), Some("exception-justification-too-short")),
        "{e}"
    );

    // 5 days is within the entitlement's 90 but over the exception's 3.
    let e = alice
        .create_request(
            &with_exception(new_request("alice", ANALYTICS, "5d"), EXCEPTION_WHY),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("duration-too-long")), "{e}");
    assert!(e.to_string().contains("exception"), "{e}");

    // An exception where nothing conflicts is refused too.
    let e = alice
        .create_request(
            &with_exception(new_request("alice", CRM_VIEWER, "2d"), EXCEPTION_WHY),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("no-sod-conflict")), "{e}");
    assert_eq!(app.event_count().await, count, "no refusal is recorded");

    // A proper exception: the tier's manager step, then the exception step.
    let r = alice
        .create_request(
            &with_exception(new_request("alice", ANALYTICS, "2d"), EXCEPTION_WHY),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, "pending");
    assert_eq!(roles(&r), ["manager", "sod_exception"]);
    let ex = r
        .sod_exception
        .as_ref()
        .expect("the request shows its exception");
    assert_eq!(ex.rule, "vpn-and-analytics");
    assert_eq!(ex.conflicts_with, VPN);
    assert!(ex.held_as.contains(&vpn_grant), "{}", ex.held_as);
    assert_eq!(ex.justification, EXCEPTION_WHY);
    assert_eq!(eligible(&r, 0), ["priya"]);
    assert_eq!(eligible(&r, 1), ["erin", "sam"]);
    for e in &r.steps[1].eligible {
        assert_eq!(e.policies, ["group-member"], "{e:?}");
    }
    let shown = app.as_("sam").request(&r.id).await.unwrap();
    assert_eq!(
        shown.sod_exception.as_ref().map(|e| e.rule.as_str()),
        Some("vpn-and-analytics")
    );

    // Her manager may not decide the exception step; security may.
    let count = app.event_count().await;
    let e = app
        .as_("priya")
        .approve(&r.id, &step(2), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("not-eligible")), "{e}");
    assert_eq!(app.event_count().await, count);
    let after_manager = app
        .as_("priya")
        .approve(&r.id, &step(1), None)
        .await
        .unwrap();
    assert_eq!(after_manager.status, "pending");
    let done = app
        .as_("sam")
        .approve(&r.id, &comment("accepted for two days"), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    let decided = &done.steps[1];
    assert_eq!(decided.role, "sod_exception");
    assert_eq!(decided.approver.as_deref(), Some("sam"));
    assert_eq!(decided.policies, ["group-member"]);
    let grant = done.grant.clone().unwrap();
    let g = app.as_("ada").grant(&grant).await.unwrap();
    assert_eq!(g.status, "active");
    assert_eq!(g.entitlement, ANALYTICS);

    // The evidence verifies with no database and tells the exception.
    let story = verified_evidence(&app, &grant).await;
    assert_eq!(story.request.steps, ["manager", "sod_exception"]);
    let told = story
        .request
        .sod_exception
        .as_deref()
        .expect("the verified story carries the exception");
    assert!(
        told.contains("vpn-and-analytics") && told.contains(VPN) && told.contains(EXCEPTION_WHY),
        "{told}"
    );
    let security = story.decisions.iter().find(|d| d.step == 2).unwrap();
    assert_eq!(
        (security.role.as_str(), security.approver.as_str()),
        ("sod_exception", "sam")
    );
    assert_eq!(security.policies, ["group-member"]);
}

/// What `writ evidence verify` prints for the auditor (the story's text, without
/// `--json`) tells a separation-of-duties exception: the rule, what it conflicts with
/// and the exception's justification — not only that a `sod_exception` step existed.
#[tokio::test]
async fn the_printed_evidence_story_tells_the_sod_exception() {
    let app = app_with(
        vec![toxic(
            "vpn-and-analytics",
            VPN,
            ANALYTICS,
            Some(DurationSpec::days(3)),
        )],
        None,
    )
    .await;
    app.vpn_grant("alice", "7d").await;
    let r = app
        .as_("alice")
        .create_request(
            &with_exception(new_request("alice", ANALYTICS, "2d"), EXCEPTION_WHY),
            None,
        )
        .await
        .unwrap();
    app.as_("priya")
        .approve(&r.id, &step(1), None)
        .await
        .unwrap();
    let done = app.as_("sam").approve(&r.id, &step(2), None).await.unwrap();
    let story = verified_evidence(&app, done.grant.as_deref().unwrap()).await;
    assert!(
        story.request.sod_exception.is_some(),
        "the JSON story has it"
    );
    let text = story.to_string();
    assert!(
        text.contains("vpn-and-analytics") && text.contains(EXCEPTION_WHY),
        "the printed story does not mention the separation-of-duties exception:\n{text}"
    );
}

// ---- 3. delegation -----------------------------------------------------------------

/// priya delegates her approvals to carol for three days. carol is eligible on alice's
/// request on priya's behalf, approves it, and the decision records on whose behalf
/// under which delegation — in the view and in a verified evidence bundle. carol never
/// decides her own request or one she benefits from; no self-delegation (422), no
/// chains (409); only the delegator (or an admin) revokes (403 otherwise); an expired,
/// revoked or out-of-scope delegation gives nothing (`not-eligible`), and listings
/// show each state.
#[tokio::test]
async fn a_delegate_decides_on_behalf_of_the_delegator_within_the_rules() {
    let app = TestApp::spawn().await;
    let (priya, carol) = (app.as_("priya"), app.as_("carol"));

    // Refused outright: to oneself, and a window over 90 days.
    let count = app.event_count().await;
    let e = priya
        .delegate(&delegation("priya", "3d"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("self-delegation")), "{e}");
    let e = priya
        .delegate(&delegation("carol", "91d"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("window-too-long")), "{e}");
    // Only an admin delegates someone else's authority.
    let mut others = delegation("carol", "3d");
    others.delegator = Some("priya".into());
    let e = app.as_("bob").delegate(&others).await.unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("not-your-authority")), "{e}");
    assert_eq!(app.event_count().await, count);

    let d: DelegationView = priya.delegate(&delegation("carol", "3d")).await.unwrap();
    assert_eq!(
        (d.delegator.as_str(), d.delegate.as_str(), d.state.as_str()),
        ("priya", "carol", "active")
    );
    assert_eq!(
        d.until,
        common::START.plus(DurationSpec::days(3)).to_rfc3339()
    );
    for who in ["priya", "carol", "olivia"] {
        assert_eq!(
            listed_state(&app, who, true, &d.id).await.as_deref(),
            Some("active"),
            "{who}'s listing"
        );
    }
    assert_eq!(listed_state(&app, "alice", false, &d.id).await, None);

    // No chains: the delegate cannot pass it on, and nobody delegates to the delegator.
    let count = app.event_count().await;
    let e = carol.delegate(&delegation("bob", "1d")).await.unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("delegation-chain")), "{e}");
    let e = app
        .as_("morgan")
        .delegate(&delegation("priya", "1d"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("delegation-chain")), "{e}");
    assert_eq!(app.event_count().await, count);

    // alice's request: carol is eligible on priya's behalf, and decides it.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", VPN, "8h"), None)
        .await
        .unwrap();
    assert_eq!(eligible(&r, 0), ["carol", "priya"]);
    let as_delegate = r.steps[0]
        .eligible
        .iter()
        .find(|e| e.identity == "carol")
        .unwrap();
    assert!(
        as_delegate
            .basis
            .starts_with(&format!("on behalf of `priya` under delegation `{}`", d.id)),
        "{}",
        as_delegate.basis
    );
    assert_eq!(as_delegate.policies, ["manager-of-beneficiary"]);
    let done = carol
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    let s = &done.steps[0];
    assert_eq!(s.approver.as_deref(), Some("carol"));
    assert_eq!(s.on_behalf_of.as_deref(), Some("priya"));
    assert_eq!(s.delegation.as_deref(), Some(d.id.as_str()));
    assert_eq!(s.policies, ["manager-of-beneficiary"]);
    assert!(
        s.basis.as_deref().unwrap_or_default().contains(&d.id),
        "{:?}",
        s.basis
    );
    let decided = events_of_kind(&app, "step_decided").await;
    let entry = decided.last().unwrap();
    assert_eq!(entry.actor, "carol");
    assert_eq!(entry.event["authority"]["on_behalf_of"], "priya");
    assert_eq!(entry.event["authority"]["delegation"], d.id.as_str());

    // The evidence carries the delegation, and the verifier checks the decision by it.
    let story = verified_evidence(&app, done.grant.as_deref().unwrap()).await;
    assert_eq!(story.decisions.len(), 1);
    let dec = &story.decisions[0];
    assert_eq!(dec.approver, "carol");
    assert_eq!(dec.on_behalf_of.as_deref(), Some("priya"));
    assert_eq!(dec.delegation.as_deref(), Some(d.id.as_str()));
    assert!(
        story.to_string().contains("on behalf of `priya`"),
        "{story}"
    );

    // carol's own request: priya's delegation never lets her decide it; nor one priya
    // asks for on carol's behalf (carol is its beneficiary; morgan decides, skip-level).
    let own = carol
        .create_request(&new_request("carol", VPN, "8h"), None)
        .await
        .unwrap();
    assert_eq!(eligible(&own, 0), ["priya"]);
    let for_carol = priya
        .create_request(&new_request("carol", "corp-ldap/wiki-editors", "8h"), None)
        .await
        .unwrap();
    assert_eq!(eligible(&for_carol, 0), ["morgan"]);
    let count = app.event_count().await;
    let e = carol
        .approve(&own.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(403), Some("self-approval")), "{e}");
    let e = carol
        .approve(&for_carol.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("beneficiary-approval")),
        "{e}"
    );
    // Only the delegator or an admin revokes: the delegate is refused, and bob, who
    // has no part in it, is told it does not exist.
    for (who, status, code) in [
        ("carol", 403, "not-your-delegation"),
        ("bob", 404, "unknown-delegation"),
    ] {
        let e = app
            .as_(who)
            .revoke_delegation(&d.id, &RevokeDelegationBody::default())
            .await
            .unwrap_err();
        assert_eq!(refusal(&e), (Some(status), Some(code)), "{who}: {e}");
    }
    assert_eq!(app.event_count().await, count, "no refusal is recorded");

    // Past `until`: the delegation is expired and gives nothing.
    app.clock.advance(DurationSpec::days(3));
    app.clock.advance(DurationSpec::hours(1));
    let bobs = app
        .as_("bob")
        .create_request(&new_request("bob", VPN, "8h"), None)
        .await
        .unwrap();
    assert_eq!(eligible(&bobs, 0), ["priya"]);
    // carol, a peer of bob's with no live delegation, may neither decide nor see it.
    let e = carol
        .approve(&bobs.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(404), Some("unknown-request")), "{e}");
    assert_eq!(
        listed_state(&app, "priya", false, &d.id).await.as_deref(),
        Some("expired")
    );
    assert_eq!(listed_state(&app, "priya", true, &d.id).await, None);
    let e = priya
        .revoke_delegation(&d.id, &RevokeDelegationBody::default())
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("delegation-ended")), "{e}");

    // A new delegation makes carol eligible again; revoking it ends that at once.
    let d2 = priya.delegate(&delegation("carol", "1d")).await.unwrap();
    let shown = carol.request(&bobs.id).await.unwrap();
    assert_eq!(eligible(&shown, 0), ["carol", "priya"]);
    let revoked = priya
        .revoke_delegation(
            &d2.id,
            &RevokeDelegationBody {
                reason: Some("back early".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked.state, "revoked");
    assert!(revoked.revoked_at.is_some());
    let shown = app.as_("bob").request(&bobs.id).await.unwrap();
    assert_eq!(eligible(&shown, 0), ["priya"]);
    let e = carol
        .approve(&bobs.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(404), Some("unknown-request")), "{e}");
    let e = priya
        .revoke_delegation(&d2.id, &RevokeDelegationBody::default())
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("delegation-ended")), "{e}");

    // The listing shows both, each in its state; none is active.
    let all = carol.delegations(false).await.unwrap().delegations;
    let mut states: Vec<(String, String)> = all
        .iter()
        .map(|d| (d.id.clone(), d.state.clone()))
        .collect();
    states.sort();
    let mut expected = vec![
        (d.id.clone(), "expired".to_owned()),
        (d2.id.clone(), "revoked".to_owned()),
    ];
    expected.sort();
    assert_eq!(states, expected);
    assert!(
        carol
            .delegations(true)
            .await
            .unwrap()
            .delegations
            .is_empty()
    );

    // A delegation scoped to other systems or tiers gives nothing here.
    let mut scoped = delegation("carol", "1d");
    scoped.systems = vec!["pg-prod".into()];
    let d3 = priya.delegate(&scoped).await.unwrap();
    assert_eq!(
        (d3.systems.as_slice(), d3.state.as_str()),
        (&["pg-prod".to_owned()][..], "active")
    );
    let mut tiered = delegation("carol", "1d");
    tiered.tiers = vec!["high".into(), "critical".into()];
    let d4 = priya.delegate(&tiered).await.unwrap();
    assert_eq!(d4.tiers, ["high", "critical"]);
    let shown = app.as_("bob").request(&bobs.id).await.unwrap();
    assert_eq!(
        eligible(&shown, 0),
        ["priya"],
        "the VPN is corp-ldap, low risk"
    );
    let e = carol
        .approve(&bobs.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(404), Some("unknown-request")), "{e}");
    // Bad input: an auditor as delegate, a tier that does not exist.
    let e = priya
        .delegate(&delegation("olivia", "1d"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("not-a-decider")), "{e}");
    let mut bad_tier = delegation("carol", "1d");
    bad_tier.tiers = vec!["urgent".into()];
    let e = priya.delegate(&bad_tier).await.unwrap_err();
    assert_eq!(refusal(&e), (Some(422), Some("invalid-field")), "{e}");

    // priya herself still decides bob's request, in her own name.
    let done = priya
        .approve(&bobs.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert!(done.steps[0].on_behalf_of.is_none() && done.steps[0].delegation.is_none());
}

/// An admin records delegations between other people, never one to themself; one
/// recorded by someone other than the delegator tells the delegator and says so in
/// the evidence. The same delegation twice, or one starting years ahead, is refused.
#[tokio::test]
async fn an_admin_records_delegations_for_others_never_for_themself() {
    let app = TestApp::spawn().await;
    let ada = app.as_("ada");
    let count = app.event_count().await;
    let mut to_ada = delegation("ada", "3d");
    to_ada.delegator = Some("priya".into());
    let e = ada.delegate(&to_ada).await.unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(403), Some("self-appointed-delegate")),
        "{e}"
    );
    let mut far = delegation("carol", "3d");
    far.from = Some("9999-12-31T00:00:00Z".into());
    let e = app.as_("priya").delegate(&far).await.unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(422), Some("delegation-too-far-ahead")),
        "{e}"
    );
    assert_eq!(app.event_count().await, count, "refusals record nothing");

    let mut for_priya = delegation("carol", "3d");
    for_priya.delegator = Some("priya".into());
    let d = ada.delegate(&for_priya).await.unwrap();
    assert_eq!(d.recorded_by.as_deref(), Some("ada"));
    let e = ada.delegate(&for_priya).await.unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(409), Some("duplicate-delegation")),
        "{e}"
    );
    // A scope is a set: repeating a system neither stores it twice nor makes a new one.
    let mut scoped = delegation("grace", "3d");
    scoped.systems = vec!["corp-ldap".into(), "corp-ldap".into()];
    let s = app.as_("priya").delegate(&scoped).await.unwrap();
    assert_eq!(s.systems, ["corp-ldap"]);
    scoped.systems = vec!["corp-ldap".into()];
    let e = app.as_("priya").delegate(&scoped).await.unwrap_err();
    assert_eq!(
        refusal(&e),
        (Some(409), Some("duplicate-delegation")),
        "{e}"
    );
    let told = app.as_("priya").notifications(false).await.unwrap();
    let note = told
        .notifications
        .iter()
        .find(|n| n.kind == "delegation_granted")
        .expect("priya is told of the delegation ada recorded for her");
    assert!(
        note.message.contains("`ada`") && note.message.contains(&d.id),
        "{}",
        note.message
    );
    // Her own delegations tell nobody.
    let own = app
        .as_("sam")
        .delegate(&delegation("erin", "1d"))
        .await
        .unwrap();
    assert_eq!(own.recorded_by, None);
    assert!(
        !app.as_("sam")
            .notifications(false)
            .await
            .unwrap()
            .notifications
            .iter()
            .any(|n| n.kind == "delegation_granted")
    );

    // carol decides under it; the evidence says who recorded the delegation.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", VPN, "8h"), None)
        .await
        .unwrap();
    let done = app
        .as_("carol")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let story = verified_evidence(&app, done.grant.as_deref().unwrap()).await;
    assert_eq!(
        story.decisions[0].delegation_recorded_by.as_deref(),
        Some("ada")
    );
    assert!(
        story.to_string().contains("recorded by ada, not by priya"),
        "{story}"
    );
}

// ---- 4. escalation and timeouts ----------------------------------------------------

/// With deadlines (remind 1 day before, escalate after 2 days, time out after 5): at
/// 1 day the eligible approvers are reminded; at 2 days every open step escalates,
/// the fallback approvers (the next manager up, security) are notified and may now
/// decide — they were refused before — and the decisions record the escalation
/// policies; a request left alone is denied "timed out" at 5 days and its requester is
/// notified. Each deadline acts once: a second pass at the same instant writes nothing.
#[tokio::test]
async fn deadlines_remind_escalate_to_fallback_approvers_and_time_out_once_each() {
    let app = app_with(
        Vec::new(),
        Some(Deadlines {
            escalate_after: DurationSpec::days(2),
            time_out_after: DurationSpec::days(5),
            remind_before: Some(DurationSpec::days(1)),
        }),
    )
    .await;
    // r1: medium risk, a manager step (priya) and a system-owner step (carol).
    let r1 = app
        .as_("alice")
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    assert_eq!(roles(&r1), ["manager", "system_owner"]);
    // r2: low risk, left alone until it times out.
    let r2 = app
        .as_("bob")
        .create_request(&new_request("bob", "corp-ldap/wiki-editors", "8h"), None)
        .await
        .unwrap();
    assert_eq!(
        deadlines_pass(&app).await,
        0,
        "nothing is due at submission"
    );

    // Day 1: reminders to who may decide each open step (r1: 2 steps, r2: 1).
    app.clock.advance(DurationSpec::days(1));
    assert_eq!(deadlines_pass(&app).await, 3);
    assert_eq!(deadlines_pass(&app).await, 0, "each reminder is sent once");
    assert_eq!(events_of_kind(&app, "approval_reminded").await.len(), 3);
    assert_eq!(
        notified(&app, "priya", "approval_reminded", &r1.id)
            .await
            .len(),
        1
    );
    assert_eq!(
        notified(&app, "priya", "approval_reminded", &r2.id)
            .await
            .len(),
        1
    );
    assert_eq!(
        notified(&app, "carol", "approval_reminded", &r1.id)
            .await
            .len(),
        1
    );
    for who in ["morgan", "sam", "alice"] {
        assert!(
            notifications_as(&app, who, false).await.unwrap().is_empty(),
            "{who} is not reminded"
        );
    }
    let shown = app.as_("alice").request(&r1.id).await.unwrap();
    assert!(shown.steps.iter().all(|s| !s.escalated));
    assert_eq!(eligible(&shown, 0), ["priya"]);
    assert_eq!(eligible(&shown, 1), ["carol"]);

    // Not escalated yet: the fallback approvers are no part of the request (they do
    // not see it), and nothing is recorded.
    let count = app.event_count().await;
    for (who, n) in [("morgan", 1), ("sam", 1), ("sam", 2)] {
        let e = app
            .as_(who)
            .approve(&r1.id, &step(n), None)
            .await
            .unwrap_err();
        assert_eq!(
            refusal(&e),
            (Some(404), Some("unknown-request")),
            "{who}, step {n}: {e}"
        );
    }
    assert_eq!(app.event_count().await, count);

    // Day 2: every open step escalates, once.
    app.clock.advance(DurationSpec::days(1));
    assert_eq!(deadlines_pass(&app).await, 3);
    assert_eq!(deadlines_pass(&app).await, 0, "each step escalates once");
    assert_eq!(events_of_kind(&app, "step_escalated").await.len(), 3);
    let shown = app.as_("alice").request(&r1.id).await.unwrap();
    assert!(shown.steps.iter().all(|s| s.escalated), "{:?}", shown.steps);
    assert_eq!(eligible(&shown, 0), ["erin", "morgan", "priya", "sam"]);
    assert_eq!(eligible(&shown, 1), ["carol", "erin", "sam"]);
    let morgan_basis = shown.steps[0]
        .eligible
        .iter()
        .find(|e| e.identity == "morgan")
        .unwrap();
    assert_eq!(morgan_basis.policies, ["escalated-to-next-manager"]);
    // The fallback approvers are told.
    assert_eq!(
        notified(&app, "morgan", "step_escalated", &r1.id)
            .await
            .len(),
        1
    );
    assert_eq!(
        notified(&app, "sam", "step_escalated", &r1.id).await.len(),
        2
    );
    assert_eq!(
        notified(&app, "erin", "step_escalated", &r1.id).await.len(),
        2
    );
    assert_eq!(
        notified(&app, "morgan", "step_escalated", &r2.id)
            .await
            .len(),
        1
    );
    let n = &notified(&app, "morgan", "step_escalated", &r1.id).await[0];
    assert!(n.message.contains(&r1.id), "{}", n.message);

    // Now they may decide, under the escalation policies.
    let after_morgan = app
        .as_("morgan")
        .approve(&r1.id, &step(1), None)
        .await
        .unwrap();
    let s = &after_morgan.steps[0];
    assert_eq!(s.approver.as_deref(), Some("morgan"));
    assert_eq!(s.policies, ["escalated-to-next-manager"]);
    let done = app
        .as_("sam")
        .approve(&r1.id, &step(2), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(done.steps[1].approver.as_deref(), Some("sam"));
    assert_eq!(done.steps[1].policies, ["escalated-to-security"]);
    let story = verified_evidence(&app, &r1.id).await;
    let policies: Vec<Vec<String>> = story.decisions.iter().map(|d| d.policies.clone()).collect();
    assert_eq!(
        policies,
        [
            vec!["escalated-to-next-manager".to_owned()],
            vec!["escalated-to-security".to_owned()]
        ]
    );
    assert_eq!(story.deadlines.len(), 4, "{:?}", story.deadlines);

    // Day 5: r2 is still pending and times out; bob (its requester) is told.
    app.clock.advance(DurationSpec::days(3));
    assert_eq!(deadlines_pass(&app).await, 1);
    assert_eq!(deadlines_pass(&app).await, 0, "a request times out once");
    let timed_out = app.as_("bob").request(&r2.id).await.unwrap();
    assert_eq!(timed_out.status, "denied");
    assert_eq!(timed_out.cancel_reason.as_deref(), Some("timed out"));
    let told = notified(&app, "bob", "request_timed_out", &r2.id).await;
    assert_eq!(told.len(), 1);
    assert!(told[0].message.contains("timed out"), "{}", told[0].message);
    let e = app
        .as_("priya")
        .approve(&r2.id, &Default::default(), None)
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), (Some(409), Some("not-pending")), "{e}");
    let story = verified_evidence(&app, &r2.id).await;
    assert!(
        story
            .outcome
            .as_deref()
            .is_some_and(|o| o.contains("timed out")),
        "{:?}",
        story.outcome
    );
    // r1, approved, was left alone at 5 days.
    assert_eq!(
        app.as_("alice").request(&r1.id).await.unwrap().status,
        "approved"
    );

    // Everyone's notifications are for admins and auditors only.
    let all = notifications_as(&app, "olivia", true).await.unwrap();
    assert!(
        all.iter()
            .any(|n| n.recipient == "bob" && n.kind == "request_timed_out")
    );
    let (status, _) = notifications_as(&app, "alice", true).await.unwrap_err();
    assert_eq!(status, 403);
}

/// What `writ evidence verify` prints for the auditor tells the reminders and
/// escalations the verified bundle proves (each line of the story's `deadlines`), so
/// the reader sees why a fallback approver could decide.
#[tokio::test]
async fn the_printed_evidence_story_tells_reminders_and_escalations() {
    let app = app_with(
        Vec::new(),
        Some(Deadlines {
            escalate_after: DurationSpec::days(2),
            time_out_after: DurationSpec::days(5),
            remind_before: Some(DurationSpec::days(1)),
        }),
    )
    .await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", VPN, "8h"), None)
        .await
        .unwrap();
    app.clock.advance(DurationSpec::days(1));
    assert_eq!(deadlines_pass(&app).await, 1);
    app.clock.advance(DurationSpec::days(1));
    assert_eq!(deadlines_pass(&app).await, 1);
    app.as_("morgan")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let story = verified_evidence(&app, &r.id).await;
    assert_eq!(story.deadlines.len(), 2, "{:?}", story.deadlines);
    let text = story.to_string();
    for line in &story.deadlines {
        assert!(
            text.contains(line.as_str()),
            "the printed story leaves out `{line}`:\n{text}"
        );
    }
}

/// Deadlines reach every pending request, however many older ones wait: with 504
/// requests pending (more than the scheduler reads in one batch), a request submitted
/// a minute after them still escalates once its own deadline has passed, within a few
/// scheduler passes — older requests already escalated (waiting for their time-out)
/// must not keep it out of the batch.
#[tokio::test]
async fn a_newer_request_escalates_even_behind_many_older_escalated_ones() {
    let app = app_with(
        Vec::new(),
        Some(Deadlines {
            escalate_after: DurationSpec::days(2),
            time_out_after: DurationSpec::days(5),
            remind_before: None,
        }),
    )
    .await;
    // 504 pending requests at the start: 63 new engineers, 8 entitlements each
    // (submitted through the store, as those people, to keep the test quick).
    let store = app.state.store.as_ref();
    let entitlements = [
        "corp-ldap/vpn-users",
        "corp-ldap/wiki-editors",
        "corp-ldap/engineering",
        "pg-prod/read-only",
        "pg-prod/analytics",
        "crm/viewer",
        "crm/sales-rep",
        "crm/api-read",
    ];
    for i in 0..63 {
        let who = Name::parse(&format!("eng-{i:03}")).unwrap();
        let identity = Identity {
            name: who.clone(),
            display_name: format!("Engineer {i}"),
            status: IdentityStatus::Active,
            groups: Default::default(),
            roles: Default::default(),
            kind: IdentityKind::Human(Human {
                email: format!("eng-{i:03}@example.com"),
                manager: Some(Name::parse("priya").unwrap()),
                department: Some("engineering".into()),
                employment_type: EmploymentType::Employee,
            }),
        };
        store
            .execute(Envelope::new(
                Actor::system("test"),
                Command::UpsertIdentity { identity },
            ))
            .await
            .unwrap();
        for e in entitlements {
            store
                .execute(Envelope::new(
                    Actor::Identity(who.clone()),
                    Command::Submit {
                        beneficiary: who.clone(),
                        entitlement: ent(e),
                        justification: Justification::parse("quarterly data clean-up work")
                            .unwrap(),
                        ticket: None,
                        duration: DurationSpec::hours(8),
                        kind: RequestKind::Standard,
                        constraints: None,
                        sod_exception: None,
                    },
                ))
                .await
                .unwrap();
        }
    }
    // alice's request comes a minute later, after all of them.
    app.clock.advance_millis(60_000);
    let late = app
        .as_("alice")
        .create_request(&new_request("alice", VPN, "8h"), None)
        .await
        .unwrap();

    // Past everyone's escalation deadline, the scheduler runs a few times.
    app.clock.advance(DurationSpec::days(2));
    let mut written = 0;
    for _ in 0..3 {
        written += deadlines_pass(&app).await;
    }
    let escalated = events_of_kind(&app, "step_escalated").await;
    let shown = app.as_("alice").request(&late.id).await.unwrap();
    assert!(
        shown.steps[0].escalated,
        "alice's request, 2 days old, never escalated: {written} entries written over 3 passes, \
         {} escalations, none for `{}`",
        escalated.len(),
        late.id
    );
}

// ---- 5. automated fulfilment -------------------------------------------------------

const AUTO_POLICY: &str = r#"
@id("engineering-low-risk")
@reason("low-risk access for engineering employees")
permit (principal, action == Writ::Action::"auto_approve", resource)
when {
  resource.risk_level == 1 &&
  principal has department && principal.department == "engineering" &&
  principal has employment_type && principal.employment_type == "employee"
};
"#;

/// With an `auto_approve` policy for low-risk access of engineering employees, alice's
/// VPN request is approved at submission, with `automatic:engineering-low-risk` as its
/// authority and no human step; its grant is active and still expires on time. Medium
/// risk, someone outside engineering, and a separation-of-duties exception all wait
/// for people. The evidence bundle verifies and names the policy.
#[tokio::test]
async fn an_auto_approve_policy_fulfils_covered_requests_at_once_and_nothing_else() {
    let dir = policy_dir(&[("approvers.cedar", shipped()), ("auto.cedar", AUTO_POLICY)]);
    let mut config = Config {
        policy_dir: Some(dir.path().to_owned()),
        ..Config::default()
    };
    config.approval.toxic = vec![toxic(
        "vpn-and-analytics",
        VPN,
        ANALYTICS,
        Some(DurationSpec::days(3)),
    )];
    let app = TestApp::spawn_with(config, false).await;
    let ids: Vec<String> = app
        .as_("alice")
        .policy()
        .await
        .unwrap()
        .policies
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert!(ids.contains(&"engineering-low-risk".to_owned()), "{ids:?}");

    // A dry run of a covered request says it would be pre-approved, and records nothing.
    let count = app.event_count().await;
    let dry = app
        .as_("alice")
        .dry_run_request(&new_request("alice", "corp-ldap/wiki-editors", "1d"))
        .await
        .unwrap();
    assert_eq!(dry.status, "dry-run");
    assert_eq!(dry.pre_approved_by, ["automatic:engineering-low-risk"]);
    assert!(dry.grant.is_none() && dry.steps.is_empty(), "{dry:#?}");
    assert_eq!(app.event_count().await, count, "a dry run records nothing");

    // Covered: approved at once, by policy.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", VPN, "1d"), None)
        .await
        .unwrap();
    assert_eq!(r.status, "approved", "{r:#?}");
    assert_eq!(r.pre_approved_by, ["automatic:engineering-low-risk"]);
    assert!(r.steps.is_empty(), "{:?}", r.steps);
    let grant = r.grant.clone().expect("a grant at once");
    let g = app.as_("ada").grant(&grant).await.unwrap();
    assert_eq!(g.status, "active");
    assert_eq!(g.beneficiary, "alice");
    assert_eq!(
        g.expires_at,
        common::START.plus(DurationSpec::days(1)).to_rfc3339()
    );
    let approved = events_of_kind(&app, "request_approved").await;
    assert_eq!(approved.len(), 1);
    assert!(events_of_kind(&app, "step_decided").await.is_empty());

    // Not covered: medium risk, and someone outside engineering.
    let medium = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/engineering", "1d"), None)
        .await
        .unwrap();
    assert_eq!(medium.status, "pending");
    assert!(medium.pre_approved_by.is_empty());
    assert_eq!(roles(&medium), ["manager", "system_owner"]);
    let sales = app
        .as_("grace")
        .create_request(&new_request("grace", "corp-ldap/wiki-editors", "1d"), None)
        .await
        .unwrap();
    assert_eq!(sales.status, "pending");
    assert!(sales.pre_approved_by.is_empty() && sales.grant.is_none());
    assert_eq!(eligible(&sales, 0), ["morgan"]);
    // Low risk and engineering, but a separation-of-duties exception: people decide.
    let exception = app
        .as_("alice")
        .create_request(
            &with_exception(new_request("alice", ANALYTICS, "1d"), EXCEPTION_WHY),
            None,
        )
        .await
        .unwrap();
    assert_eq!(exception.status, "pending");
    assert!(exception.pre_approved_by.is_empty());
    assert_eq!(roles(&exception), ["manager", "sod_exception"]);

    // The evidence verifies and names the policy, proven in the bundle's policy text.
    let story = verified_evidence(&app, &grant).await;
    assert!(story.policy_proven);
    assert_eq!(
        story.request.pre_approved_by,
        ["automatic:engineering-low-risk"]
    );
    assert!(story.decisions.is_empty());
    let outcome = story.outcome.clone().unwrap_or_default();
    assert!(
        outcome.contains("automatic:engineering-low-risk"),
        "{outcome}"
    );
    assert!(story.to_string().contains("automatic:engineering-low-risk"));

    // The pre-approved grant expires like any other.
    app.clock.advance(DurationSpec::hours(23));
    let none = writ_server::scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(none, 0, "not due yet");
    app.clock.advance(DurationSpec::hours(1));
    let expired = writ_server::scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let g = app.as_("ada").grant(&grant).await.unwrap();
    assert_eq!(g.status, "expired");
    assert_eq!(g.end_reason.as_deref(), Some("expired"));
}

/// Access granted before a toxic rule existed is flagged where it is re-attested:
/// the reviewer's context names the rule and the conflicting grant.
#[tokio::test]
async fn a_reviewer_sees_the_separation_of_duties_conflicts_of_the_access_under_review() {
    let app = app_with(Vec::new(), None).await;
    let mut grants = Vec::new();
    for e in ["corp-ldap/vpn-users", "corp-ldap/wiki-editors"] {
        let r = app
            .as_("alice")
            .create_request(&new_request("alice", e, "30d"), None)
            .await
            .unwrap();
        let done = app
            .as_("priya")
            .approve(&r.id, &comment("fine"), None)
            .await
            .unwrap();
        assert_eq!(done.status, "approved", "{e}");
        grants.push(done.grant.unwrap());
    }
    let clock = app.clock.clone();
    let dir = app.stop().await;
    // The rule arrives with a new configuration; existing access is not revoked by it.
    let mut config = Config::default();
    config.approval.toxic = vec![toxic(
        "vpn-and-wiki",
        "corp-ldap/vpn-users",
        "corp-ldap/wiki-editors",
        None,
    )];
    let app = TestApp::start(dir, clock, config, false).await;
    let at = |days: u64| common::START.plus(DurationSpec::days(days)).to_rfc3339();
    let c = app
        .as_("ada")
        .launch_campaign(
            &writ_server::wire::NewCampaign {
                name: "Directory access".into(),
                scope: writ_server::wire::ScopeBody {
                    systems: vec!["corp-ldap".into()],
                    ..Default::default()
                },
                reviewers: "system_owner".into(),
                fallback: "sam".into(),
                due_at: at(14),
                final_at: at(21),
                remind_before: None,
                on_deadline: "keep".into(),
            },
            None,
        )
        .await
        .unwrap();
    let items = app
        .as_("dan")
        .review_items(&c.id, Some(true), None)
        .await
        .unwrap()
        .items;
    let context = |grant: &str| {
        items
            .iter()
            .find(|i| i.grant == grant)
            .and_then(|i| i.context.clone())
            .unwrap_or_else(|| panic!("dan has no item for {grant}: {items:?}"))
    };
    assert_eq!(
        context(&grants[0]).sod_conflicts,
        [format!(
            "vpn-and-wiki: corp-ldap/wiki-editors (grant {})",
            grants[1]
        )]
    );
    assert_eq!(
        context(&grants[1]).sod_conflicts,
        [format!(
            "vpn-and-wiki: corp-ldap/vpn-users (grant {})",
            grants[0]
        )]
    );
}
