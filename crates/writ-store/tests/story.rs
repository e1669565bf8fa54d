//! The storage conformance suite: scenarios written against the `Store` trait only,
//! run against every backend.
//!
//! Each scenario is an ordinary async function taking a store (and the manual clock
//! it was opened with). The `conformance!` macro at the bottom instantiates one
//! `#[tokio::test]` per scenario for a backend; adding PostgreSQL is one opener in
//! `common` (an async fn returning a fresh `common::Backend`) and one more line:
//!
//! ```ignore
//! conformance!(postgres, crate::common::postgres_backend);
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use writ_core::{
    Actor, ApprovalPolicy, Clock, Command, Decision, DurationSpec, Event, GrantStatus, JobAction,
    Justification, ManualClock, Receipt, Recorded, RefusalKind, RequestKind, RequestStatus,
    RiskTier, StepRole, Timestamp,
};
use writ_store::{
    Envelope, ExecError, GrantFilter, JobAttempt, JobFilter, JobState, Outcome, RequestFilter,
    Stats, Store,
};

/// The whole lifecycle, with every read checked after every write: seed the
/// organisation, issue a token, submit, decide both steps of a medium-risk request,
/// cancel another, let the grant fall due, expire it, revoke the token.
pub async fn story(store: &dyn Store, clock: &ManualClock) {
    // An empty store.
    assert!(store.events(0, 100).await.unwrap().is_empty());
    assert_eq!(store.stats().await.unwrap(), Stats::default());
    assert!(store.org().await.unwrap().identities.is_empty());
    let default_version = ApprovalPolicy::default().version();
    assert_eq!(store.policy().await.unwrap().version, default_version);

    // -- The organisation, catalogued by Writ itself.
    let seeded = seed(store).await;
    assert_eq!(
        seeded.len(),
        seed_commands().len(),
        "one event per seed command"
    );
    for r in &seeded {
        assert_eq!(r.at, t0());
        assert_eq!(r.actor, Actor::system("test"));
    }
    assert_eq!(seeded[0].event.kind(), "policy_activated");
    let org = store.org().await.unwrap();
    assert_eq!(org.identities.len(), 14);
    assert_eq!(
        org.identity(&n("alice")).unwrap().manager(),
        Some(&n(MANAGER))
    );
    assert_eq!(
        org.identity(&n("ci-bot")).unwrap().owner(),
        Some(&n("alice"))
    );
    assert_eq!(org.system(&n("pg-prod")).unwrap().owner, n(OWNER));
    assert_eq!(
        org.entitlement(&eref(MEDIUM)).unwrap().risk,
        RiskTier::Medium
    );
    assert_eq!(org.members_of("security").count(), SECURITY.len());
    let policy = store.policy().await.unwrap();
    assert_eq!(policy.policy, ApprovalPolicy::default());
    assert_eq!(policy.version, default_version);
    let alice_events = store.events_of("identity:alice").await.unwrap();
    assert_eq!(stored_kinds(&alice_events), ["identity_upserted"]);
    assert_eq!(store.stats().await.unwrap().events, seeded.len() as u64);

    // Re-sending an unchanged catalogue entry commits nothing.
    let again = store
        .execute(sys(Command::UpsertIdentity {
            identity: human("alice", Some(MANAGER), &[], &[]),
        }))
        .await;
    assert!(committed(again).is_empty());
    assert_eq!(last_seq(store).await, seeded.len() as u64);

    // -- An API token for alice.
    clock.advance_millis(1_000);
    let mixed_case = token_hash(0xab).to_ascii_uppercase();
    let issued = exec(
        store,
        by(
            "ada",
            Command::IssueToken {
                identity: n("alice"),
                label: "  laptop  ".into(),
                hash: mixed_case,
                expires_at: Some(clock_now(clock).plus(DurationSpec::days(30))),
            },
        ),
    )
    .await;
    let token = match &issued[..] {
        [
            Recorded {
                event: Event::TokenIssued { token },
                ..
            },
        ] => token.clone(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(token.hash, token_hash(0xab), "hashes are stored lower-case");
    assert_eq!(token.label, "laptop");
    assert_eq!(token.issued_at, clock_now(clock));
    assert_eq!(
        store.token_by_hash(&token_hash(0xab)).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.token_by_hash(&token_hash(0xcd)).await.unwrap(), None);
    assert_eq!(store.token(&token.id).await.unwrap(), Some(token.clone()));
    assert_eq!(
        store.tokens(Some(&n("alice"))).await.unwrap(),
        vec![token.clone()]
    );
    assert!(store.tokens(Some(&n("bob"))).await.unwrap().is_empty());
    assert_eq!(store.tokens(None).await.unwrap(), vec![token.clone()]);

    // -- alice asks for medium-risk access for herself.
    clock.advance_millis(60_000);
    let submitted_at = clock_now(clock);
    let recs = exec(
        store,
        by("alice", submit("alice", MEDIUM, DurationSpec::days(7))),
    )
    .await;
    assert_eq!(kinds(&recs), ["request_submitted"]);
    let r1 = request_id(&recs);
    let digest = match &recs[0].event {
        Event::RequestSubmitted { digest, .. } => digest.clone(),
        _ => unreachable!(),
    };
    let req = store.request(&r1).await.unwrap().expect("the request");
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(req.digest, digest);
    assert_eq!(req.submission.requester, n("alice"));
    assert_eq!(req.submission.beneficiary, n("alice"));
    assert_eq!(req.submission.entitlement, eref(MEDIUM));
    assert_eq!(req.submission.risk, RiskTier::Medium);
    assert_eq!(req.submission.duration, DurationSpec::days(7));
    assert_eq!(req.submission.submitted_at, submitted_at);
    assert_eq!(req.submission.policy_version, default_version);
    let roles: Vec<StepRole> = req.steps.iter().map(|s| s.role.clone()).collect();
    assert_eq!(roles, [StepRole::Manager, StepRole::SystemOwner]);
    assert!(req.steps.iter().all(|s| s.decision.is_none()));
    assert_eq!(req.grant, None);
    assert_eq!(req.closed_at, None);

    // bob asks for low-risk access for himself, a minute later.
    clock.advance_millis(60_000);
    let r2 = request_id(&exec(store, by("bob", submit("bob", LOW, DurationSpec::days(1)))).await);
    // alice asks for access for the service account she owns.
    clock.advance_millis(60_000);
    let r3 = request_id(
        &exec(
            store,
            by("alice", submit("ci-bot", LOW, DurationSpec::days(1))),
        )
        .await,
    );
    let req3 = store.request(&r3).await.unwrap().unwrap();
    assert_eq!(req3.submission.requester, n("alice"));
    assert_eq!(req3.submission.beneficiary, n("ci-bot"));

    let pending = filter(Some(RequestStatus::Pending), None);
    assert_eq!(
        ids(store.requests(pending.clone()).await.unwrap()),
        vec![r3.clone(), r2.clone(), r1.clone()],
        "newest first"
    );
    assert_eq!(
        ids(store.requests(filter(None, Some("alice"))).await.unwrap()),
        vec![r3.clone(), r1.clone()],
        "`involving` matches the requester"
    );
    assert_eq!(
        ids(store.requests(filter(None, Some("ci-bot"))).await.unwrap()),
        vec![r3.clone()],
        "`involving` matches the beneficiary"
    );
    assert_eq!(
        ids(store
            .requests(filter(Some(RequestStatus::Pending), Some("alice")))
            .await
            .unwrap()),
        vec![r3.clone(), r1.clone()]
    );
    assert_eq!(
        ids(store.requests(filter(None, Some("bob"))).await.unwrap()),
        vec![r2.clone()]
    );
    assert!(
        store
            .requests(filter(None, Some(MANAGER)))
            .await
            .unwrap()
            .is_empty(),
        "`involving` means requester or beneficiary, not approver"
    );
    assert!(
        store
            .requests(filter(Some(RequestStatus::Approved), None))
            .await
            .unwrap()
            .is_empty()
    );
    let one = RequestFilter {
        page: writ_store::Page::first(1),
        ..pending.clone()
    };
    assert_eq!(
        ids(store.requests(one).await.unwrap()),
        vec![r3.clone()],
        "limit"
    );

    // -- Step 1: alice's manager.
    clock.advance_millis(60_000);
    let step1_at = clock_now(clock);
    let recs = exec(store, by(MANAGER, approve(&r1, None))).await;
    assert_eq!(kinds(&recs), ["step_decided"]);
    match &recs[0].event {
        Event::StepDecided {
            request,
            step,
            role,
            approver,
            decision,
            basis,
            policy_version,
            request_digest,
            ..
        } => {
            assert_eq!(request, &r1);
            assert_eq!(*step, 1);
            assert_eq!(role, &StepRole::Manager);
            assert_eq!(approver, &n(MANAGER));
            assert_eq!(*decision, Decision::Approve);
            assert!(basis.contains("manager of `alice`"), "{basis}");
            assert_eq!(policy_version, &default_version);
            assert_eq!(request_digest, &digest);
        }
        e => panic!("unexpected {e:?}"),
    }
    let req = store.request(&r1).await.unwrap().unwrap();
    assert_eq!(req.status, RequestStatus::Pending);
    let d = req.steps[0].decision.as_ref().expect("step 1 decided");
    assert_eq!(d.approver, n(MANAGER));
    assert_eq!(d.decision, Decision::Approve);
    assert_eq!(d.decided_at, step1_at);
    assert_eq!(d.policy_version, default_version);
    assert!(req.steps[1].decision.is_none());
    assert_eq!(req.grant, None);

    // -- Step 2: the system owner. The request is approved and the grant exists.
    clock.advance_millis(60_000);
    let approved_at = clock_now(clock);
    let recs = exec(store, by(OWNER, approve(&r1, Some(2)))).await;
    assert_eq!(
        kinds(&recs),
        ["step_decided", "request_approved", "grant_created"]
    );
    assert!(recs.iter().all(|r| r.at == approved_at));
    let g = grant_id(&recs);
    let req = store.request(&r1).await.unwrap().unwrap();
    assert_eq!(req.status, RequestStatus::Approved);
    assert_eq!(req.closed_at, Some(approved_at));
    assert_eq!(req.grant.as_ref(), Some(&g));
    assert_eq!(
        req.steps[1].decision.as_ref().map(|d| d.approver.clone()),
        Some(n(OWNER))
    );
    let grant = store.grant(&g).await.unwrap().expect("the grant");
    let expires_at = approved_at.plus(DurationSpec::days(7));
    assert_eq!(grant.request, r1);
    assert_eq!(grant.beneficiary, n("alice"));
    assert_eq!(grant.entitlement, eref(MEDIUM));
    assert_eq!(grant.status, GrantStatus::Active);
    assert_eq!(grant.granted_at, approved_at);
    assert_eq!(grant.expires_at, expires_at);
    assert_eq!(
        grant.review_by, expires_at,
        "review at the latest when it ends"
    );
    assert_eq!(grant.ended_at, None);
    assert_eq!(
        ids(store.requests(pending.clone()).await.unwrap()),
        vec![r3.clone(), r2.clone()]
    );
    assert_eq!(
        ids(store
            .requests(filter(Some(RequestStatus::Approved), Some("alice")))
            .await
            .unwrap()),
        vec![r1.clone()]
    );
    let active = GrantFilter {
        status: Some(GrantStatus::Active),
        ..all_grants()
    };
    assert_eq!(
        items(store.grants(active.clone()).await.unwrap()),
        vec![grant.clone()]
    );
    let of_alice = GrantFilter {
        beneficiary: Some(n("alice")),
        ..all_grants()
    };
    assert_eq!(
        items(store.grants(of_alice.clone()).await.unwrap()),
        vec![grant.clone()]
    );
    let of_bob = GrantFilter {
        beneficiary: Some(n("bob")),
        ..all_grants()
    };
    assert!(items(store.grants(of_bob).await.unwrap()).is_empty());
    let of_r1 = store.events_of(&format!("request:{r1}")).await.unwrap();
    assert_eq!(
        stored_kinds(&of_r1),
        [
            "request_submitted",
            "step_decided",
            "step_decided",
            "request_approved"
        ]
    );
    let of_g = store.events_of(&format!("grant:{g}")).await.unwrap();
    assert_eq!(stored_kinds(&of_g), ["grant_created"]);
    assert!(
        store
            .events_of("request:req_nothing")
            .await
            .unwrap()
            .is_empty()
    );

    // -- bob changes his mind.
    clock.advance_millis(60_000);
    let recs = exec(store, by("bob", cancel(&r2))).await;
    assert_eq!(kinds(&recs), ["request_cancelled"]);
    let req2 = store.request(&r2).await.unwrap().unwrap();
    assert_eq!(req2.status, RequestStatus::Cancelled);
    assert_eq!(req2.closed_at, Some(clock_now(clock)));
    assert_eq!(
        req2.cancel_reason.as_ref().map(|r| r.as_str()),
        Some("no longer needed")
    );
    assert_eq!(
        ids(store.requests(pending.clone()).await.unwrap()),
        vec![r3.clone()]
    );
    assert_eq!(
        ids(store
            .requests(filter(Some(RequestStatus::Cancelled), None))
            .await
            .unwrap()),
        vec![r2.clone()]
    );

    // -- The grant falls due exactly at its expiry, not before.
    assert!(
        store
            .due_grants(clock_now(clock), 10)
            .await
            .unwrap()
            .is_empty()
    );
    clock.set(Timestamp(expires_at.millis() - 1));
    assert!(
        store
            .due_grants(clock_now(clock), 10)
            .await
            .unwrap()
            .is_empty()
    );
    clock.set(expires_at);
    assert_eq!(
        store.due_grants(clock_now(clock), 10).await.unwrap(),
        vec![g.clone()]
    );
    clock.advance(DurationSpec::hours(1));
    assert_eq!(
        store.due_grants(clock_now(clock), 10).await.unwrap(),
        vec![g.clone()]
    );

    let scheduler = Actor::system("scheduler");
    let recs = exec(
        store,
        writ_store::Envelope::new(scheduler.clone(), expire(&g)),
    )
    .await;
    assert_eq!(kinds(&recs), ["grant_expired"]);
    let grant = store.grant(&g).await.unwrap().unwrap();
    assert_eq!(grant.status, GrantStatus::Expired);
    assert_eq!(grant.ended_at, Some(clock_now(clock)));
    assert_eq!(grant.ended_by.as_deref(), Some("system:scheduler"));
    assert_eq!(grant.end_reason.as_deref(), Some("expired"));
    assert!(
        store
            .due_grants(clock_now(clock), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(items(store.grants(active).await.unwrap()).is_empty());
    let expired = GrantFilter {
        status: Some(GrantStatus::Expired),
        ..all_grants()
    };
    assert_eq!(
        items(store.grants(expired).await.unwrap()),
        vec![grant.clone()]
    );
    assert_eq!(items(store.grants(of_alice).await.unwrap()), vec![grant]);
    let of_g = store.events_of(&format!("grant:{g}")).await.unwrap();
    assert_eq!(stored_kinds(&of_g), ["grant_created", "grant_expired"]);

    // -- alice revokes her own token.
    let recs = exec(
        store,
        by(
            "alice",
            Command::RevokeToken {
                token: token.id.clone(),
            },
        ),
    )
    .await;
    assert_eq!(kinds(&recs), ["token_revoked"]);
    let revoked = store.token(&token.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(clock_now(clock)));
    assert!(!revoked.is_usable(clock_now(clock)));
    assert_eq!(
        store.token_by_hash(&token.hash).await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(store.tokens(None).await.unwrap(), vec![revoked]);

    // -- The totals and the ledger as a whole.
    let events = all_events(store).await;
    assert_contiguous(&events);
    let expected_tail = [
        "token_issued",
        "request_submitted",
        "request_submitted",
        "request_submitted",
        "step_decided",
        "step_decided",
        "request_approved",
        "grant_created",
        "request_cancelled",
        "grant_expired",
        "token_revoked",
    ];
    assert_eq!(
        &stored_kinds(&events)[seeded.len()..],
        expected_tail,
        "the whole ledger after the seed"
    );
    let total = (seeded.len() + expected_tail.len()) as u64;
    assert_eq!(
        store.stats().await.unwrap(),
        Stats {
            events: total,
            grants_by_status: vec![("expired".into(), 1)],
            requests_by_status: vec![
                ("approved".into(), 1),
                ("cancelled".into(), 1),
                ("pending".into(), 1),
            ],
            jobs_by_state: vec![],
            open_campaigns: 0,
            open_review_items: 0,
            held_grants: 0,
            open_incident_reviews: 0,
        }
    );
    let page = store.events(2, 3).await.unwrap();
    let page_seqs: Vec<u64> = page.iter().map(|e| e.recorded.seq).collect();
    assert_eq!(page_seqs, [3, 4, 5], "events(after, limit) pages");
    assert!(store.events(total, 10).await.unwrap().is_empty());
    for w in events.windows(2) {
        assert!(
            w[0].recorded.at <= w[1].recorded.at,
            "ledger time never decreases"
        );
    }
}

/// Refused commands return `ExecError::Refused` with the rule that refused them, and
/// change nothing a client can read: not the ledger, not a projection, not a sequence
/// number, not an idempotency key.
pub async fn refusals_change_nothing(store: &dyn Store, clock: &ManualClock) {
    seed(store).await;
    clock.advance_millis(60_000);
    let r1 = request_id(
        &exec(
            store,
            by("alice", submit("alice", MEDIUM, DurationSpec::days(7))),
        )
        .await,
    );
    exec(store, by(MANAGER, approve(&r1, Some(1)))).await;
    let r2 = request_id(&exec(store, by("bob", submit("bob", LOW, DurationSpec::days(7)))).await);
    let g = grant_id(&exec(store, by(MANAGER, approve(&r2, None))).await);
    let t = match &exec(store, sys(issue_token("bob", 7))).await[0].event {
        Event::TokenIssued { token } => token.id.clone(),
        e => panic!("unexpected {e:?}"),
    };

    let before = snapshot(store).await;
    let short = Command::Submit {
        beneficiary: n("alice"),
        entitlement: eref(LOW),
        justification: Justification::parse("short").unwrap(),
        ticket: None,
        duration: DurationSpec::days(1),
        kind: RequestKind::Standard,
        constraints: None,
        sod_exception: None,
    };
    let mut cycle = human(MANAGER, Some("alice"), &[], &[]);
    cycle.display_name = "mia".into();
    let bad_policy = ApprovalPolicy {
        min_justification: 0,
        ..ApprovalPolicy::default()
    };
    let unknown_request = writ_core::RequestId::parse("req_doesnotexist").unwrap();
    let unknown_grant = writ_core::GrantId::parse("grt_doesnotexist").unwrap();
    let unknown_token = writ_core::TokenId::parse("tok_doesnotexist").unwrap();
    let cases: Vec<(writ_store::Envelope, &str, RefusalKind)> = vec![
        (
            by("alice", approve(&r1, None)),
            "self-approval",
            RefusalKind::Forbidden,
        ),
        (
            by("bob", approve(&r1, Some(2))),
            "not-eligible",
            RefusalKind::Forbidden,
        ),
        (
            by(MANAGER, approve(&r1, None)),
            "one-step-per-identity",
            RefusalKind::Forbidden,
        ),
        (
            by(OWNER, approve(&r1, Some(1))),
            "step-decided",
            RefusalKind::Conflict,
        ),
        (
            by(OWNER, approve(&r1, Some(7))),
            "unknown-step",
            RefusalKind::Invalid,
        ),
        (
            by(
                OWNER,
                Command::Decide {
                    request: r1.clone(),
                    step: Some(2),
                    decision: Decision::Deny,
                    comment: None,
                },
            ),
            "comment-required",
            RefusalKind::Invalid,
        ),
        (
            by(MANAGER, approve(&r2, None)),
            "not-pending",
            RefusalKind::Conflict,
        ),
        (
            by(MANAGER, approve(&unknown_request, None)),
            "unknown-request",
            RefusalKind::NotFound,
        ),
        (
            by("alice", submit("alice", MEDIUM, DurationSpec::days(1))),
            "duplicate-request",
            RefusalKind::Conflict,
        ),
        (
            by("bob", submit("bob", LOW, DurationSpec::days(1))),
            "already-granted",
            RefusalKind::Conflict,
        ),
        (
            by("bob", submit("alice", LOW, DurationSpec::days(1))),
            "not-your-beneficiary",
            RefusalKind::Forbidden,
        ),
        (
            by(
                "alice",
                submit("alice", "wiki/nothing", DurationSpec::days(1)),
            ),
            "unknown-entitlement",
            RefusalKind::Invalid,
        ),
        (
            by("alice", short),
            "justification-too-short",
            RefusalKind::Invalid,
        ),
        (
            by("alice", submit("alice", LOW, DurationSpec::days(91))),
            "duration-too-long",
            RefusalKind::Invalid,
        ),
        (
            by(
                "alice",
                submit("alice", LOW, DurationSpec::from_seconds(30).unwrap()),
            ),
            "duration-too-short",
            RefusalKind::Invalid,
        ),
        (
            by("audrey", submit("audrey", LOW, DurationSpec::days(1))),
            "read-only",
            RefusalKind::Forbidden,
        ),
        (
            by("carl", submit("carl", LOW, DurationSpec::days(1))),
            "actor-inactive",
            RefusalKind::Forbidden,
        ),
        (
            by("nobody", submit("alice", LOW, DurationSpec::days(1))),
            "unknown-actor",
            RefusalKind::Forbidden,
        ),
        (
            by("ci-bot", submit("ci-bot", LOW, DurationSpec::days(1))),
            "nhi-cannot-request",
            RefusalKind::Forbidden,
        ),
        (
            sys(submit("alice", LOW, DurationSpec::days(1))),
            "not-a-person",
            RefusalKind::Forbidden,
        ),
        (
            by("bob", cancel(&r1)),
            "not-requester",
            RefusalKind::Forbidden,
        ),
        (
            by("alice", revoke(&g)),
            "not-authorised",
            RefusalKind::Forbidden,
        ),
        (sys(expire(&g)), "not-due", RefusalKind::Conflict),
        (
            sys(expire(&unknown_grant)),
            "unknown-grant",
            RefusalKind::NotFound,
        ),
        (
            by("alice", Command::RevokeToken { token: t.clone() }),
            "not-authorised",
            RefusalKind::Forbidden,
        ),
        (
            sys(Command::RevokeToken {
                token: unknown_token,
            }),
            "unknown-token",
            RefusalKind::NotFound,
        ),
        (
            sys(Command::IssueToken {
                identity: n("alice"),
                label: "laptop".into(),
                hash: "not-hex".into(),
                expires_at: None,
            }),
            "invalid-hash",
            RefusalKind::Invalid,
        ),
        (
            by(
                "alice",
                Command::UpsertIdentity {
                    identity: human("zed", None, &[], &[]),
                },
            ),
            "admin-only",
            RefusalKind::Forbidden,
        ),
        (
            sys(Command::UpsertIdentity {
                identity: human("zed", Some("ghost"), &[], &[]),
            }),
            "unknown-manager",
            RefusalKind::Invalid,
        ),
        (
            sys(Command::UpsertIdentity { identity: cycle }),
            "manager-cycle",
            RefusalKind::Invalid,
        ),
        (
            sys(Command::UpsertEntitlement {
                entitlement: entitlement("nowhere", "x", RiskTier::Low, 1),
            }),
            "unknown-system",
            RefusalKind::Invalid,
        ),
        (
            sys(Command::ActivatePolicy { policy: bad_policy }),
            "invalid-policy",
            RefusalKind::Invalid,
        ),
    ];
    for (env, code, kind) in cases {
        clock.advance_millis(1_000);
        let what = format!("{} by {}", env.command.name(), env.actor);
        let refusal = refuse(store, env).await;
        assert_eq!(refusal.code, code, "{what}: {}", refusal.message);
        assert_eq!(refusal.kind, kind, "{what}: {}", refusal.message);
        assert!(!refusal.message.is_empty());
        assert_eq!(
            snapshot(store).await,
            before,
            "{what}: a refusal must change nothing"
        );
    }

    // A refused command's idempotency key is not remembered: the same key may carry a
    // different command later, and that one takes effect.
    let refusal = refuse(
        store,
        keyed(
            by("bob", submit("alice", LOW, DurationSpec::days(1))),
            "k-1",
            "first",
        ),
    )
    .await;
    assert_eq!(refusal.code, "not-your-beneficiary");
    assert_eq!(snapshot(store).await, before);

    // The next accepted command takes the very next sequence number: refusals used none.
    let recs = committed(
        store
            .execute(keyed(
                by("alice", submit("alice", LOW, DurationSpec::days(1))),
                "k-1",
                "second",
            ))
            .await,
    );
    assert_eq!(recs[0].seq, before.stats.events + 1);
    assert_eq!(recs[0].at, clock_now(clock));
}

/// The same idempotency key (and fingerprint) replays instead of running again; the
/// same key with another fingerprint is refused; the saved response is replayed.
pub async fn idempotency(store: Arc<dyn Store>, clock: &ManualClock) {
    let s = &*store;
    seed(s).await;
    clock.advance_millis(60_000);
    let first = keyed(
        by("alice", submit("alice", MEDIUM, DurationSpec::days(7))),
        "key-1",
        "fp-1",
    );
    let recs = committed(s.execute(first.clone()).await);
    let r1 = request_id(&recs);
    let after_first = snapshot(s).await;

    clock.advance_millis(60_000);
    let replay = match s.execute(first.clone()).await {
        Ok(Outcome::Replayed(rec)) => rec,
        other => panic!("expected a replay, got {other:?}"),
    };
    assert_eq!(replay.subject, format!("request:{r1}"));
    assert_eq!(replay.status, None, "no response saved yet");
    assert_eq!(replay.body, None);
    assert_eq!(snapshot(s).await, after_first, "a replay creates nothing");

    // Same key, different request: refused, and nothing changes.
    let other = keyed(
        by("alice", submit("alice", LOW, DurationSpec::days(1))),
        "key-1",
        "fp-2",
    );
    let refusal = refuse(s, other).await;
    assert_eq!(refusal.code, "idempotency-key-reused");
    assert_eq!(refusal.kind, RefusalKind::Invalid);
    assert!(refusal.message.contains("key-1"), "{}", refusal.message);
    assert_eq!(snapshot(s).await, after_first);
    // Even the very same command under a different fingerprint is refused.
    let mut same_command = first.clone();
    same_command.idempotency.as_mut().unwrap().fingerprint = "fp-3".into();
    assert_eq!(refuse(s, same_command).await.code, "idempotency-key-reused");

    // The server saves its response; the replay now carries it.
    let alice = Actor::Identity(n("alice"));
    let body = br#"{"id":"the-request"}"#.to_vec();
    s.save_response(&alice, "key-1", 201, body.clone())
        .await
        .unwrap();
    let replay = match s.execute(first.clone()).await {
        Ok(Outcome::Replayed(rec)) => rec,
        other => panic!("expected a replay, got {other:?}"),
    };
    assert_eq!(replay.subject, format!("request:{r1}"));
    assert_eq!(replay.status, Some(201));
    assert_eq!(replay.body, Some(body));
    assert_eq!(snapshot(s).await, after_first);

    // Keys belong to the actor that used them: bob's `key-1` is a different key.
    let bobs = keyed(
        by("bob", submit("bob", LOW, DurationSpec::days(1))),
        "key-1",
        "fp-9",
    );
    let recs = committed(s.execute(bobs.clone()).await);
    assert_eq!(kinds(&recs), ["request_submitted"]);
    assert!(matches!(s.execute(bobs).await, Ok(Outcome::Replayed(_))));

    // A command that commits no events still remembers its key, with an empty subject.
    let noop = keyed(
        sys(Command::UpsertIdentity {
            identity: human("alice", Some(MANAGER), &[], &[]),
        }),
        "key-noop",
        "fp",
    );
    assert!(committed(s.execute(noop.clone()).await).is_empty());
    match s.execute(noop).await {
        Ok(Outcome::Replayed(rec)) => assert_eq!(rec.subject, ""),
        other => panic!("expected a replay, got {other:?}"),
    }

    // Many concurrent deliveries of one keyed command: exactly one runs.
    let before = last_seq(s).await;
    let decide = keyed(by(MANAGER, approve(&r1, None)), "key-decide", "fp");
    let results = run_concurrently(&store, vec![decide; 24]).await;
    let mut commits = 0;
    for r in results {
        match r {
            Ok(Outcome::Committed(recs)) => {
                commits += 1;
                assert_eq!(kinds(&recs), ["step_decided"]);
            }
            Ok(Outcome::Replayed(rec)) => assert_eq!(rec.subject, format!("request:{r1}")),
            Ok(Outcome::Preview(_)) => panic!("no dry run was asked for"),
            Err(e) => panic!("a duplicate delivery must replay, not fail: {e:?}"),
        }
    }
    assert_eq!(commits, 1, "exactly one delivery commits");
    assert_eq!(last_seq(s).await, before + 1);
}

/// Hundreds of commands at once: every one commits, every command's events are
/// consecutive, the ledger has no gap and no duplicate, and no reader ever sees an
/// approved request whose grant is missing.
pub async fn concurrent_commands(store: Arc<dyn Store>, clock: &ManualClock) {
    const N: usize = 200;
    let s = &*store;
    let seeded = seed(s).await.len() as u64;
    clock.advance_millis(60_000);

    let people: Vec<String> = (0..N).map(|i| format!("emp-{i:03}")).collect();
    let upserts = people
        .iter()
        .map(|p| {
            sys(Command::UpsertIdentity {
                identity: human(p, Some(MANAGER), &[], &[]),
            })
        })
        .collect();
    let upserted = all_committed(run_concurrently(&store, upserts).await, 1);
    assert_disjoint_and_contiguous(&upserted, seeded + 1);
    assert_eq!(s.org().await.unwrap().identities.len(), 14 + N);

    let submits = people
        .iter()
        .map(|p| by(p, submit(p, LOW, DurationSpec::days(1))))
        .collect();
    let submitted = all_committed(run_concurrently(&store, submits).await, 1);
    assert_disjoint_and_contiguous(&submitted, seeded + N as u64 + 1);
    let requests: BTreeSet<_> = submitted.iter().map(|r| request_id(r)).collect();
    assert_eq!(requests.len(), N, "every submission is its own request");
    let pending = s
        .requests(filter(Some(RequestStatus::Pending), None))
        .await
        .unwrap();
    assert_eq!(pending.len(), N);

    // Approve them all at once while a reader watches.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = 0usize;
            let mut rounds = 0u32;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let events = all_events(&*store).await;
                assert_contiguous(&events);
                assert!(events.len() >= seen, "the ledger never shrinks");
                seen = events.len();
                let count = |k: &str| {
                    events
                        .iter()
                        .filter(|e| e.recorded.event.kind() == k)
                        .count()
                };
                assert_eq!(
                    count("request_approved"),
                    count("grant_created"),
                    "a reader saw half of a command"
                );
                let approved = store
                    .requests(filter(Some(RequestStatus::Approved), None))
                    .await
                    .unwrap();
                for r in items(approved) {
                    let g = r
                        .grant
                        .clone()
                        .expect("an approved request names its grant");
                    assert!(
                        store.grant(&g).await.unwrap().is_some(),
                        "approved request {} without its grant {g}",
                        r.id()
                    );
                }
                rounds += 1;
                if finished {
                    return rounds;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let approvals = requests
        .iter()
        .map(|r| by(MANAGER, approve(r, None)))
        .collect();
    let approved = all_committed(run_concurrently(&store, approvals).await, 3);
    done.store(true, Ordering::SeqCst);
    assert!(reader.await.unwrap() >= 1);
    for recs in &approved {
        assert_eq!(
            kinds(recs),
            ["step_decided", "request_approved", "grant_created"]
        );
    }
    assert_disjoint_and_contiguous(&approved, seeded + 2 * N as u64 + 1);

    let events = all_events(s).await;
    assert_contiguous(&events);
    assert_eq!(events.len() as u64, seeded + 5 * N as u64);
    let active = GrantFilter {
        status: Some(GrantStatus::Active),
        ..all_grants()
    };
    assert_eq!(items(s.grants(active).await.unwrap()).len(), N);
    assert_eq!(
        s.stats().await.unwrap(),
        Stats {
            events: seeded + 5 * N as u64,
            grants_by_status: vec![("active".into(), N as u64)],
            requests_by_status: vec![("approved".into(), N as u64)],
            jobs_by_state: vec![],
            open_campaigns: 0,
            open_review_items: 0,
            held_grants: 0,
            open_incident_reviews: 0,
        }
    );
}

/// Many concurrent decisions of one open step: exactly one wins, the others are
/// refused, and the ledger records exactly one decision of that step.
pub async fn exactly_one_winner(store: Arc<dyn Store>, clock: &ManualClock) {
    let s = &*store;
    seed(s).await;
    // Low risk: security first, then the manager. Six people may decide step 1.
    let mut policy = ApprovalPolicy::default();
    policy.tiers.low.steps = vec![StepRole::Security, StepRole::Manager];
    exec(
        s,
        sys(Command::ActivatePolicy {
            policy: policy.clone(),
        }),
    )
    .await;
    assert_eq!(s.policy().await.unwrap().version, policy.version());
    clock.advance_millis(60_000);
    let r = request_id(&exec(s, by("alice", submit("alice", LOW, DurationSpec::days(1)))).await);

    // Every security member, twice, half naming the step and half not.
    let mut racers = Vec::new();
    for round in 0..2 {
        for (i, who) in SECURITY.iter().enumerate() {
            let step = if (i + round) % 2 == 0 { Some(1) } else { None };
            racers.push(by(who, approve(&r, step)));
        }
    }
    let results = run_concurrently(&store, racers.clone()).await;
    let mut winners = Vec::new();
    for (env, result) in racers.iter().zip(results) {
        match result {
            Ok(Outcome::Committed(recs)) => {
                assert_eq!(kinds(&recs), ["step_decided"]);
                winners.push(env.actor.clone());
            }
            Err(ExecError::Refused(refusal)) => assert!(
                matches!(refusal.code, "step-decided" | "one-step-per-identity"),
                "{}: {}",
                refusal.code,
                refusal.message
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let winner = winners[0].identity().unwrap().clone();
    let decided = step_decisions(s, &r).await;
    assert_eq!(
        decided,
        [(1, winner.clone())],
        "one decision of step 1 in the ledger"
    );
    let req = s.request(&r).await.unwrap().unwrap();
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(
        req.steps[0].decision.as_ref().map(|d| d.approver.clone()),
        Some(winner)
    );
    assert!(req.steps[1].decision.is_none());

    // The last open step, raced by its only eligible approver many times over: one
    // approval, one grant.
    let recs = exec(s, by(MANAGER, approve(&r, None))).await;
    let alice_grant = grant_id(&recs);
    clock.advance_millis(60_000);
    let r2 = request_id(&exec(s, by("bob", submit("bob", MEDIUM, DurationSpec::days(1)))).await);
    exec(s, by(MANAGER, approve(&r2, Some(1)))).await;
    let racers = vec![by(OWNER, approve(&r2, None)); 16];
    let results = run_concurrently(&store, racers).await;
    let mut wins = 0;
    for result in results {
        match result {
            Ok(Outcome::Committed(recs)) => {
                wins += 1;
                assert_eq!(
                    kinds(&recs),
                    ["step_decided", "request_approved", "grant_created"]
                );
            }
            Err(ExecError::Refused(refusal)) => {
                assert_eq!(refusal.code, "not-pending", "{}", refusal.message)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        step_decisions(s, &r2).await,
        [(1, n(MANAGER)), (2, n(OWNER))]
    );
    let of_bob = GrantFilter {
        beneficiary: Some(n("bob")),
        ..all_grants()
    };
    assert_eq!(
        items(s.grants(of_bob).await.unwrap()).len(),
        1,
        "exactly one grant"
    );

    // The same submission, many times at once: one open request per pair.
    let racers = vec![by("alice", submit("alice", MEDIUM, DurationSpec::days(1))); 12];
    let results = run_concurrently(&store, racers).await;
    let mut submitted = Vec::new();
    for result in results {
        match result {
            Ok(Outcome::Committed(recs)) => submitted.push(request_id(&recs)),
            Err(ExecError::Refused(refusal)) => {
                assert_eq!(refusal.code, "duplicate-request", "{}", refusal.message)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(submitted.len(), 1, "one open request per pair");
    let open = s
        .requests(filter(Some(RequestStatus::Pending), Some("alice")))
        .await
        .unwrap();
    assert_eq!(ids(open), submitted);

    // The scheduler, running twice, expires a grant once.
    clock.advance(DurationSpec::days(2));
    let racers = vec![sys(expire(&alice_grant)); 8];
    let results = run_concurrently(&store, racers).await;
    let mut expiries = 0;
    for result in results {
        match result {
            Ok(Outcome::Committed(recs)) => {
                expiries += 1;
                assert_eq!(kinds(&recs), ["grant_expired"]);
            }
            Err(ExecError::Refused(refusal)) => {
                assert_eq!(refusal.code, "grant-not-active", "{}", refusal.message)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(expiries, 1);
    let of_grant = s.events_of(&format!("grant:{alice_grant}")).await.unwrap();
    assert_eq!(stored_kinds(&of_grant), ["grant_created", "grant_expired"]);
    assert_contiguous(&all_events(s).await);
}

/// A renewal replaces an active grant without a gap: the new grant names the old,
/// the old ends as `renewed` and names its successor, and only the new one falls due.
pub async fn renewal(store: &dyn Store, clock: &ManualClock) {
    seed(store).await;
    clock.advance_millis(60_000);
    let r1 = request_id(&exec(store, by("bob", submit("bob", LOW, DurationSpec::days(10)))).await);
    let g1 = grant_id(&exec(store, by(MANAGER, approve(&r1, None))).await);

    clock.advance(DurationSpec::days(9));
    assert_eq!(
        refuse(store, by("bob", submit("bob", LOW, DurationSpec::days(10))))
            .await
            .code,
        "already-granted"
    );
    assert_eq!(
        refuse(
            store,
            by("alice", renew("alice", LOW, DurationSpec::days(10)))
        )
        .await
        .code,
        "nothing-to-renew"
    );
    let r2 = request_id(&exec(store, by("bob", renew("bob", LOW, DurationSpec::days(10)))).await);
    let req = store.request(&r2).await.unwrap().unwrap();
    assert_eq!(req.submission.kind, RequestKind::Renewal);
    assert_eq!(req.submission.renews.as_ref(), Some(&g1));
    assert_eq!(
        refuse(store, by("bob", renew("bob", LOW, DurationSpec::days(10))))
            .await
            .code,
        "duplicate-request"
    );

    clock.advance(DurationSpec::hours(1));
    let renewed_at = clock_now(clock);
    let recs = exec(store, by(MANAGER, approve(&r2, None))).await;
    assert_eq!(
        kinds(&recs),
        [
            "step_decided",
            "request_approved",
            "grant_created",
            "grant_renewed"
        ]
    );
    let g2 = grant_id(&recs);
    let new = store.grant(&g2).await.unwrap().unwrap();
    assert_eq!(new.status, GrantStatus::Active);
    assert_eq!(new.renews.as_ref(), Some(&g1));
    assert_eq!(new.expires_at, renewed_at.plus(DurationSpec::days(10)));
    let old = store.grant(&g1).await.unwrap().unwrap();
    assert_eq!(old.status, GrantStatus::Renewed);
    assert_eq!(old.successor.as_ref(), Some(&g2));
    assert_eq!(old.ended_at, Some(renewed_at));
    assert_eq!(old.ended_by.as_deref(), Some(MANAGER));
    assert_eq!(old.end_reason, Some(format!("renewed by {g2}")));

    let of_bob = GrantFilter {
        beneficiary: Some(n("bob")),
        ..all_grants()
    };
    assert_eq!(
        items(store.grants(of_bob).await.unwrap()),
        vec![new.clone(), old.clone()],
        "newest first"
    );
    let renewed = GrantFilter {
        status: Some(GrantStatus::Renewed),
        ..all_grants()
    };
    assert_eq!(items(store.grants(renewed).await.unwrap()), vec![old]);
    let of_g1 = store.events_of(&format!("grant:{g1}")).await.unwrap();
    assert_eq!(stored_kinds(&of_g1), ["grant_created", "grant_renewed"]);

    // Due grants: active only, soonest first, at most `limit`.
    let r3 = request_id(
        &exec(
            store,
            by("alice", submit("alice", LOW, DurationSpec::days(1))),
        )
        .await,
    );
    let g3 = grant_id(&exec(store, by(MANAGER, approve(&r3, None))).await);
    let far = Timestamp(i64::MAX);
    assert_eq!(
        store.due_grants(far, 10).await.unwrap(),
        vec![g3.clone(), g2.clone()]
    );
    assert_eq!(store.due_grants(far, 1).await.unwrap(), vec![g3]);
    assert_eq!(
        store.stats().await.unwrap().grants_by_status,
        vec![("active".into(), 2), ("renewed".into(), 1)]
    );
}

/// Every leaf decodes to the event it is stored with and re-encodes to the same bytes;
/// index columns agree; ledger time never runs backwards, even when the clock does.
pub async fn ledger_integrity(store: &dyn Store, clock: &ManualClock) {
    seed(store).await;
    clock.advance(DurationSpec::hours(2));
    let high_water = clock_now(clock);
    let r = request_id(
        &exec(
            store,
            by("alice", submit("alice", MEDIUM, DurationSpec::days(1))),
        )
        .await,
    );

    // The clock jumps back an hour: the next events keep the last time.
    clock.set(Timestamp(high_water.millis() - 3_600_000));
    let recs = exec(store, by(MANAGER, approve(&r, None))).await;
    assert_eq!(recs[0].at, high_water, "time does not run backwards");
    clock.set(Timestamp(0));
    let recs = exec(store, by(OWNER, approve(&r, None))).await;
    assert!(recs.iter().all(|r| r.at == high_water));
    let g = grant_id(&recs);
    let grant = store.grant(&g).await.unwrap().unwrap();
    assert_eq!(grant.granted_at, high_water);
    assert_eq!(
        grant.expires_at,
        high_water.plus(DurationSpec::days(1)),
        "durations count from ledger time, not from a clock that went backwards"
    );
    // Forward again: time moves on.
    clock.set(Timestamp(high_water.millis() + 5));
    let recs = exec(store, by("bob", submit("bob", LOW, DurationSpec::days(1)))).await;
    assert_eq!(recs[0].at, Timestamp(high_water.millis() + 5));
    let r2 = request_id(&recs);
    assert_eq!(
        store
            .request(&r2)
            .await
            .unwrap()
            .unwrap()
            .submission
            .submitted_at,
        recs[0].at
    );
    clock.set(Timestamp(high_water.millis() - 1));
    exec(store, by("bob", cancel(&r2))).await;

    let events = all_events(store).await;
    assert_contiguous(&events);
    for w in events.windows(2) {
        assert!(
            w[0].recorded.at <= w[1].recorded.at,
            "entry {} is earlier than entry {}",
            w[1].recorded.seq,
            w[0].recorded.seq
        );
    }
    for e in &events {
        let opened = Recorded::open(&e.leaf, e.personal.as_deref()).expect("every leaf opens");
        assert_eq!(opened.recorded, e.recorded, "entry {}", e.recorded.seq);
        assert!(opened.erased.is_empty());
        // Personal values stay beside the leaf, never in it.
        if let writ_core::Event::RequestSubmitted { request, .. } = &e.recorded.event {
            let text = request.justification.as_str().as_bytes();
            assert!(
                !e.leaf.windows(text.len()).any(|w| w == text),
                "entry {} carries its justification in clear",
                e.recorded.seq
            );
        }
        // Subjects index the ledger: every event is found under its own subject.
        let of = store.events_of(&e.recorded.event.subject()).await.unwrap();
        assert!(
            of.iter().any(|x| x.leaf == e.leaf),
            "entry {}",
            e.recorded.seq
        );
    }
}

// ---- helpers -----------------------------------------------------------------------

fn clock_now(clock: &ManualClock) -> Timestamp {
    writ_core::Clock::now(clock)
}

fn filter(status: Option<RequestStatus>, involving: Option<&str>) -> RequestFilter {
    RequestFilter {
        status,
        involving: involving.map(n),
        ..all_requests()
    }
}

fn ids(requests: Vec<writ_store::Keyed<writ_core::Request>>) -> Vec<writ_core::RequestId> {
    requests.into_iter().map(|r| r.item.id().clone()).collect()
}

async fn run_concurrently(
    store: &Arc<dyn Store>,
    envelopes: Vec<writ_store::Envelope>,
) -> Vec<Result<Outcome, ExecError>> {
    let handles: Vec<_> = envelopes
        .into_iter()
        .map(|env| {
            let store = store.clone();
            tokio::spawn(async move { store.execute(env).await })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

fn all_committed(
    results: Vec<Result<Outcome, ExecError>>,
    events_each: usize,
) -> Vec<Vec<Recorded>> {
    results
        .into_iter()
        .map(|r| {
            let recs = committed(r);
            assert_eq!(recs.len(), events_each, "{:?}", kinds(&recs));
            recs
        })
        .collect()
}

/// Each command's events are consecutive, and together they cover `from..` exactly once.
fn assert_disjoint_and_contiguous(outcomes: &[Vec<Recorded>], from: u64) {
    let mut seqs = Vec::new();
    for recs in outcomes {
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(
                r.seq,
                recs[0].seq + i as u64,
                "a command's events are consecutive"
            );
            assert_eq!(r.at, recs[0].at, "a command's events share one time");
        }
        seqs.extend(recs.iter().map(|r| r.seq));
    }
    seqs.sort_unstable();
    let expected: Vec<u64> = (from..from + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "no gaps, no duplicates");
}

/// `(step, approver)` of every `step_decided` event of `request`, in ledger order.
async fn step_decisions(
    store: &dyn Store,
    request: &writ_core::RequestId,
) -> Vec<(u32, writ_core::Name)> {
    store
        .events_of(&format!("request:{request}"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.recorded.event {
            Event::StepDecided { step, approver, .. } => Some((step, approver)),
            _ => None,
        })
        .collect()
}

/// The provisioning outbox: a job row is written with the event that opens it, runs
/// in ledger order per account and entitlement, keeps the worker's bookkeeping beside
/// it, and closes with the event that confirms, dead-letters or retries it.
pub async fn provisioning_outbox(store: &dyn Store, clock: &ManualClock) {
    seed(store).await;
    store
        .set_provisioned_systems([n("wiki")].into_iter().collect())
        .await
        .unwrap();
    let r = request_id(
        &exec(
            store,
            by("alice", submit("alice", LOW, DurationSpec::hours(8))),
        )
        .await,
    );
    let recs = exec(store, by(MANAGER, approve(&r, None))).await;
    let g = grant_id(&recs);
    let created_seq = recs.last().unwrap().seq;
    assert_eq!(
        store.grant(&g).await.unwrap().unwrap().status,
        GrantStatus::Pending
    );
    let jobs = store.jobs(JobFilter::default()).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(
        (
            job.action,
            job.state,
            job.created_seq,
            job.target.as_str(),
            job.attempts
        ),
        (
            JobAction::Provision,
            JobState::Queued,
            created_seq,
            "role_editor",
            0
        )
    );
    assert_eq!(
        (job.beneficiary.as_str(), job.system.as_str()),
        ("alice", "wiki")
    );

    // A system without a connector: the grant is active at once and opens no job.
    let r2 = request_id(
        &exec(
            store,
            by("bob", submit("bob", MEDIUM, DurationSpec::hours(8))),
        )
        .await,
    );
    exec(store, by(MANAGER, approve(&r2, None))).await;
    let g2 = grant_id(&exec(store, by(OWNER, approve(&r2, None))).await);
    assert_eq!(
        store.grant(&g2).await.unwrap().unwrap().status,
        GrantStatus::Active
    );
    assert_eq!(store.jobs(JobFilter::default()).await.unwrap().len(), 1);

    // A failed attempt delays the job and says why.
    let now = clock.now();
    assert_eq!(store.due_jobs(now, 10).await.unwrap().len(), 1);
    store
        .record_attempt(JobAttempt {
            grant: g.clone(),
            action: JobAction::Provision,
            attempts: 1,
            next_at: now.plus(DurationSpec::from_seconds(60).unwrap()),
            error: "connection refused".into(),
        })
        .await
        .unwrap();
    assert!(
        store.due_jobs(now, 10).await.unwrap().is_empty(),
        "not before its retry time"
    );
    let later = now.plus(DurationSpec::from_seconds(60).unwrap());
    let due = store.due_jobs(later, 10).await.unwrap();
    assert_eq!(
        (due[0].attempts, due[0].last_error.as_deref()),
        (1, Some("connection refused"))
    );

    // Revoked before the target confirmed: the addition is superseded and never runs;
    // the removal is due at once, whether or not the addition reached the target.
    let revoked = exec(store, by(MANAGER, revoke(&g))).await;
    assert_eq!(
        store.grant(&g).await.unwrap().unwrap().status,
        GrantStatus::Revoking
    );
    let due = store.due_jobs(later, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| j.action).collect::<Vec<_>>(),
        [JobAction::Deprovision],
        "only the removal is due: {due:?}"
    );
    let provision = |jobs: Vec<writ_store::ProvisioningJob>| {
        jobs.into_iter()
            .find(|j| j.action == JobAction::Provision)
            .unwrap()
    };
    let superseded = provision(
        store
            .jobs(JobFilter {
                grant: Some(g.clone()),
                ..JobFilter::default()
            })
            .await
            .unwrap(),
    );
    assert_eq!(
        (
            superseded.state,
            superseded.finished_seq,
            superseded.attempts
        ),
        (JobState::Superseded, Some(revoked[0].seq), 0),
        "closed by the revocation; its bookkeeping is gone"
    );

    let confirm = |action| Command::ConfirmProvisioning {
        grant: g.clone(),
        action,
        receipt: Receipt {
            connector: "ldap".into(),
            change: "added".into(),
            account_ref: "uid=alice".into(),
            target_ref: "role_editor".into(),
            detail: "member added".into(),
        },
    };
    let refused = refuse(store, by("ada", confirm(JobAction::Provision))).await;
    assert_eq!(refused.code, "provisioner-only");
    // A call that was already in flight when the revocation committed still reports:
    // the target holds the access until the removal, due next, takes it away.
    let done = exec(
        store,
        Envelope::new(Actor::system("provisioner"), confirm(JobAction::Provision)),
    )
    .await;
    assert_eq!(kinds(&done), ["grant_provisioned"]);
    assert_eq!(
        store.grant(&g).await.unwrap().unwrap().status,
        GrantStatus::Revoking
    );
    let due = store.due_jobs(later, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].action, due[0].attempts),
        (JobAction::Deprovision, 0)
    );
    let provision = store
        .jobs(JobFilter {
            grant: Some(g.clone()),
            ..JobFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.action == JobAction::Provision)
        .unwrap();
    assert_eq!(
        (provision.state, provision.finished_seq, provision.attempts),
        (JobState::Done, Some(done[0].seq), 0),
        "closed by its event; the bookkeeping is gone"
    );

    // Dead-lettered, then sent back by an admin.
    let fail = Command::FailProvisioning {
        grant: g.clone(),
        action: JobAction::Deprovision,
        attempts: 8,
        error: "no such object".into(),
    };
    exec(store, Envelope::new(Actor::system("provisioner"), fail)).await;
    assert!(store.due_jobs(later, 10).await.unwrap().is_empty());
    let dead = store
        .jobs(JobFilter {
            state: Some(JobState::Dead),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (dead.len(), dead[0].error.as_deref()),
        (1, Some("no such object"))
    );
    assert_eq!(
        store.grant(&g).await.unwrap().unwrap().failed,
        Some(JobAction::Deprovision)
    );
    let retry = Command::RetryProvisioning {
        grant: g.clone(),
        action: JobAction::Deprovision,
    };
    assert_eq!(
        refuse(store, by("alice", retry.clone())).await.code,
        "admin-only"
    );
    exec(store, by("ada", retry)).await;
    assert_eq!(store.due_jobs(later, 10).await.unwrap().len(), 1);

    let done = exec(
        store,
        Envelope::new(
            Actor::system("provisioner"),
            confirm(JobAction::Deprovision),
        ),
    )
    .await;
    assert_eq!(kinds(&done), ["grant_deprovisioned"]);
    let ended = store.grant(&g).await.unwrap().unwrap();
    assert_eq!((ended.status, ended.failed), (GrantStatus::Revoked, None));
    assert!(ended.provisioned_at.is_some() && ended.deprovisioned_at.is_some());
    assert!(store.due_jobs(later, 10).await.unwrap().is_empty());
    assert_eq!(
        store.stats().await.unwrap().jobs_by_state,
        vec![("done".into(), 2)]
    );
}

// ---- the suite, per backend ----------------------------------------------------------

/// One test per scenario for the backend that `$open` (an async fn returning a
/// `common::Backend`) provides.
macro_rules! conformance {
    ($backend:ident, $open:path) => {
        mod $backend {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn story() {
                let b = $open().await;
                super::story(&*b.store, &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn provisioning_outbox() {
                let b = $open().await;
                super::provisioning_outbox(&*b.store, &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refusals_change_nothing() {
                let b = $open().await;
                super::refusals_change_nothing(&*b.store, &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idempotency() {
                let b = $open().await;
                super::idempotency(b.store.clone(), &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_commands() {
                let b = $open().await;
                super::concurrent_commands(b.store.clone(), &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_one_winner() {
                let b = $open().await;
                super::exactly_one_winner(b.store.clone(), &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn renewal() {
                let b = $open().await;
                super::renewal(&*b.store, &b.clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ledger_integrity() {
                let b = $open().await;
                super::ledger_integrity(&*b.store, &b.clock).await;
            }
        }
    };
}

conformance!(sqlite, crate::common::sqlite_backend);
