//! Evidence bundles: a genuine story verifies and is told right; every forged story is
//! refused with the error that says why.
//!
//! Every bundle here is built from a real in-memory log with genuine inclusion proofs
//! and a genuinely signed checkpoint, so only the checks under test can reject it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use writ_core::{
    Actor, ApprovalPolicy, Comment, Decision, DurationSpec, EntitlementRef, Event, GrantId,
    Justification, Name, Reason, Recorded, RequestId, RequestKind, RiskTier, StepRole, Submission,
    Timestamp, TokenId,
};
use writ_ledger::evidence::{Bundle, BundleEntry, EvidenceError, FORMAT, verify};
use writ_ledger::{Hash, LedgerKey, hash_to_base64, hashes_to_store, inclusion_proof, leaf_hash};

const ORIGIN: &str = "writ.test/ledger";
const REQUEST: &str = "req_0000000000000001";
const OTHER_REQUEST: &str = "req_0000000000000099";
const GRANT: &str = "grt_0000000000000001";
const OTHER_GRANT: &str = "grt_0000000000000099";
const BASIS: &str = "manager of `alice`";
const REVOKE_BASIS: &str = "member of `security`";
const REVOKE_REASON: &str = "left the project";
const JUSTIFICATION: &str = "investigate INC-4411 slow queries";

/// Leaf indexes of the genuine ledger (see [`genuine`]).
const POLICY: usize = 0;
const SUBMITTED: usize = 2;
const DECIDED: usize = 3;
const APPROVED: usize = 4;
const CREATED: usize = 5;
const REVOKED: usize = 7;
/// The entries a bundle about [`REQUEST`] holds.
const PICK: [u64; 6] = [0, 2, 3, 4, 5, 7];

fn key() -> LedgerKey {
    LedgerKey::from_seed(ORIGIN, [7; 32]).unwrap()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn req(s: &str) -> RequestId {
    RequestId::parse(s).unwrap()
}

fn grt(s: &str) -> GrantId {
    GrantId::parse(s).unwrap()
}

fn who(s: &str) -> Actor {
    Actor::Identity(name(s))
}

/// The time of leaf `i`: a minute apart, from 2026-01-01T00:00:00Z.
fn at(i: usize) -> Timestamp {
    Timestamp::from_millis(1_767_225_600_000 + 60_000 * i as i64)
}

fn submission() -> Submission {
    Submission {
        id: req(REQUEST),
        requester: name("alice"),
        beneficiary: name("alice"),
        entitlement: EntitlementRef::parse("pg-prod/read-only").unwrap(),
        risk: RiskTier::Low,
        privileged: false,
        justification: Justification::parse(JUSTIFICATION).unwrap(),
        ticket: None,
        duration: DurationSpec::hours(8),
        kind: RequestKind::Standard,
        renews: None,
        constraints: None,
        steps: vec![StepRole::Manager],
        sod_exception: None,
        pre_approved: None,
        emergency: None,
        policy_version: ApprovalPolicy::default().version(),
        submitted_at: at(SUBMITTED),
    }
}

fn filler(i: usize) -> Event {
    Event::TokenRevoked {
        token: TokenId::parse(&format!("tok_{i:016}")).unwrap(),
    }
}

/// The events of a genuine ledger, in order, with `seq` = index + 1:
///
/// | index | event |
/// |---|---|
/// | 0 | policy_activated (default policy) |
/// | 1 | token_revoked (unrelated) |
/// | 2 | request_submitted by alice |
/// | 3 | step_decided by carol, manager of alice |
/// | 4 | request_approved, grant G |
/// | 5 | grant_created G |
/// | 6 | token_revoked (unrelated) |
/// | 7 | grant_revoked G by dave |
/// | 8 | token_revoked (unrelated) |
fn genuine() -> Vec<Recorded> {
    let sub = submission();
    let digest = sub.digest().unwrap();
    let policy = ApprovalPolicy::default();
    let events: Vec<(Actor, Event)> = vec![
        (
            Actor::system("bootstrap"),
            Event::PolicyActivated {
                version: policy.version(),
                policy,
                previous: None,
            },
        ),
        (who("alice"), filler(1)),
        (
            who("alice"),
            Event::RequestSubmitted {
                request: sub.clone(),
                digest: digest.clone(),
            },
        ),
        (
            who("carol"),
            Event::StepDecided {
                request: req(REQUEST),
                step: 1,
                role: StepRole::Manager,
                approver: name("carol"),
                decision: Decision::Approve,
                comment: Some(Comment::parse("fine for one shift").unwrap()),
                basis: BASIS.to_owned(),
                policy_version: sub.policy_version.clone(),
                request_digest: digest,
                authority: None,
            },
        ),
        (
            Actor::system("decide"),
            Event::RequestApproved {
                request: req(REQUEST),
                grant: grt(GRANT),
            },
        ),
        (
            Actor::system("decide"),
            Event::GrantCreated {
                grant: grt(GRANT),
                request: req(REQUEST),
                beneficiary: name("alice"),
                entitlement: sub.entitlement.clone(),
                expires_at: at(CREATED).plus(sub.duration),
                review_by: at(CREATED).plus(DurationSpec::days(90)),
                renews: None,
                emergency_since: None,
                provision: false,
            },
        ),
        (who("bob"), filler(6)),
        (
            who("dave"),
            Event::GrantRevoked {
                grant: grt(GRANT),
                reason: Reason::parse(REVOKE_REASON).unwrap(),
                basis: REVOKE_BASIS.to_owned(),
            },
        ),
        (who("bob"), filler(8)),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, (actor, event))| Recorded {
            seq: i as u64 + 1,
            at: at(i),
            actor,
            event,
        })
        .collect()
}

/// Seals the whole `ledger` (leaf 0 first), builds its stored-hash table, signs a
/// checkpoint over all of it with [`key`], and bundles the entries at `pick` (in the
/// order given) with their leaves, personal documents and genuine inclusion proofs.
fn bundle_of(ledger: &[Recorded], pick: &[u64]) -> Bundle {
    let key = key();
    let mut table: Vec<Hash> = Vec::new();
    let mut sealed = Vec::with_capacity(ledger.len());
    for (i, r) in ledger.iter().enumerate() {
        let mut n = 0u8;
        let mut salt = || {
            n += 1;
            let mut s = [i as u8; 16];
            s[15] = n;
            s
        };
        let s = r.seal(&mut salt).unwrap();
        let new = hashes_to_store(i as u64, leaf_hash(&s.leaf), &table).unwrap();
        table.extend(new);
        sealed.push(s);
    }
    let size = ledger.len() as u64;
    let root = writ_ledger::root(size, &table).unwrap();
    let checkpoint = key.sign_checkpoint(size, root).unwrap();
    let entries = pick
        .iter()
        .map(|&i| {
            let s = &sealed[i as usize];
            BundleEntry {
                index: i,
                leaf: B64.encode(&s.leaf),
                personal: Some(B64.encode(&s.personal)),
                proof: inclusion_proof(i, size, &table)
                    .unwrap()
                    .iter()
                    .map(hash_to_base64)
                    .collect(),
            }
        })
        .collect();
    Bundle::new(
        format!("request:{REQUEST}"),
        checkpoint,
        key.verifier_key(),
        entries,
    )
}

/// The genuine ledger with one event changed.
fn forged(index: usize, change: impl FnOnce(&mut Event)) -> Vec<Recorded> {
    let mut ledger = genuine();
    change(&mut ledger[index].event);
    ledger
}

fn check(bundle: &Bundle) -> Result<writ_ledger::evidence::Story, EvidenceError> {
    verify(bundle, &key().verifier_key())
}

#[track_caller]
fn assert_story_err(result: Result<writ_ledger::evidence::Story, EvidenceError>, needle: &str) {
    match result {
        Err(EvidenceError::Story(message)) => {
            assert!(message.contains(needle), "`{message}` lacks `{needle}`")
        }
        other => panic!("expected a story error with `{needle}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_entry_err(
    result: Result<writ_ledger::evidence::Story, EvidenceError>,
    index: u64,
    needle: &str,
) {
    match result {
        Err(EvidenceError::Entry { index: i, message }) => {
            assert_eq!(i, index, "{message}");
            assert!(message.contains(needle), "`{message}` lacks `{needle}`");
        }
        other => panic!("expected an error on entry {index} with `{needle}`, got {other:?}"),
    }
}

#[test]
fn a_genuine_story_verifies_and_is_told() {
    let bundle = bundle_of(&genuine(), &PICK);
    let story = check(&bundle).unwrap();

    assert_eq!(story.subject, format!("request:{REQUEST}"));
    assert_eq!(story.checkpoint_origin, ORIGIN);
    assert_eq!(story.checkpoint_size, 9);
    assert_eq!(story.entries, PICK.len());
    assert!(story.erased.is_empty(), "{:?}", story.erased);
    assert!(story.policy_proven);

    let r = &story.request;
    assert_eq!(r.id, REQUEST);
    assert_eq!(r.requester, "alice");
    assert_eq!(r.beneficiary, "alice");
    assert_eq!(r.entitlement, "pg-prod/read-only");
    assert_eq!(r.risk, "low");
    assert_eq!(r.kind, "standard");
    assert_eq!(r.justification, JUSTIFICATION);
    assert_eq!(r.duration, "PT8H");
    assert_eq!(r.submitted_at, at(SUBMITTED).to_rfc3339());
    assert_eq!(r.policy_version, ApprovalPolicy::default().version());
    assert_eq!(r.steps, vec!["manager".to_owned()]);

    assert_eq!(story.decisions.len(), 1);
    let d = &story.decisions[0];
    assert_eq!(d.step, 1);
    assert_eq!(d.role, "manager");
    assert_eq!(d.approver, "carol");
    assert_eq!(d.decision, "approve");
    assert_eq!(d.basis, BASIS);
    assert_eq!(d.at, at(DECIDED).to_rfc3339());
    assert_eq!(d.comment.as_deref(), Some("fine for one shift"));

    assert_eq!(
        story.outcome,
        Some(format!("approved at {}", at(APPROVED).to_rfc3339()))
    );
    let g = story.grant.as_ref().expect("the grant is in the story");
    assert_eq!(g.id, GRANT);
    assert_eq!(g.beneficiary, "alice");
    assert_eq!(g.entitlement, "pg-prod/read-only");
    assert_eq!(g.started_at, at(CREATED).to_rfc3339());
    assert_eq!(
        g.ended.as_deref(),
        Some(
            format!(
                "revoked by dave at {} ({REVOKE_BASIS}): {REVOKE_REASON}",
                at(REVOKED).to_rfc3339()
            )
            .as_str()
        )
    );

    let text = story.to_string();
    assert!(text.starts_with(&format!("VERIFIED: evidence for request {REQUEST}")));
    assert!(text.contains(&format!("with authority: {BASIS}")), "{text}");
    assert!(text.contains("Access ended: revoked by dave"), "{text}");
    assert!(!text.contains("Erased personal data"), "{text}");
}

#[test]
fn a_bundle_without_the_policy_still_verifies_but_says_so() {
    let pick: Vec<u64> = PICK.iter().copied().filter(|&i| i != 0).collect();
    let story = check(&bundle_of(&genuine(), &pick)).unwrap();
    assert!(!story.policy_proven);
    assert_eq!(story.entries, pick.len());
}

/// B1: a leaf whose `seq` disagrees with where the proof puts it.
#[test]
fn a_leaf_that_claims_another_position_is_refused() {
    let mut ledger = genuine();
    ledger[SUBMITTED].seq = 5;
    let bundle = bundle_of(&ledger, &PICK);
    assert_entry_err(check(&bundle), 2, "leaf says it is seq 5");
}

/// B2: the approver decided a different version of the request.
#[test]
fn a_decision_on_another_version_of_the_request_is_refused() {
    let mut other = submission();
    other.duration = DurationSpec::days(30);
    let other_digest = other.digest().unwrap();
    assert_ne!(other_digest, submission().digest().unwrap());
    let ledger = forged(DECIDED, |e| match e {
        Event::StepDecided { request_digest, .. } => *request_digest = other_digest,
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "step 1 was decided on a different version of the request",
    );
}

/// B3: the same entry twice.
#[test]
fn a_duplicated_entry_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    let dup = bundle.entries[2].clone();
    bundle.entries.insert(2, dup);
    assert_entry_err(check(&bundle), 3, "increasing index order");
}

/// B3: entries out of order.
#[test]
fn swapped_entries_are_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    // [0, 2, 3, 4, …] becomes [0, 2, 4, 3, …].
    bundle.entries.swap(2, 3);
    assert_entry_err(check(&bundle), 3, "increasing index order");
}

/// B4: the policy in the bundle is not the one the request was submitted under.
#[test]
fn another_policy_is_refused() {
    let policy = ApprovalPolicy {
        min_justification: 20,
        ..ApprovalPolicy::default()
    };
    let version = policy.version();
    assert_ne!(version, ApprovalPolicy::default().version());
    let ledger = forged(POLICY, |e| {
        *e = Event::PolicyActivated {
            version: version.clone(),
            policy,
            previous: None,
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("policy `{version}` is not the one the request was submitted under"),
    );
}

/// B5: the bundle says it is about another request than the one it holds.
#[test]
fn a_bundle_about_another_request_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    bundle.subject = format!("request:{OTHER_REQUEST}");
    assert_story_err(
        check(&bundle),
        &format!("the bundle is about `request:{OTHER_REQUEST}` but holds request `{REQUEST}`"),
    );
}

/// B6: a decision about another request.
#[test]
fn a_decision_about_another_request_is_refused() {
    let ledger = forged(DECIDED, |e| match e {
        Event::StepDecided { request, .. } => *request = req(OTHER_REQUEST),
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("an entry is about request `{OTHER_REQUEST}`, not `{REQUEST}`"),
    );
}

/// B6: an approval of another request.
#[test]
fn an_approval_of_another_request_is_refused() {
    let ledger = forged(APPROVED, |e| match e {
        Event::RequestApproved { request, .. } => *request = req(OTHER_REQUEST),
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("is about request `{OTHER_REQUEST}`"),
    );
}

/// B6: a grant created for another request.
#[test]
fn a_grant_created_for_another_request_is_refused() {
    let ledger = forged(CREATED, |e| match e {
        Event::GrantCreated { request, .. } => *request = req(OTHER_REQUEST),
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("is about request `{OTHER_REQUEST}`"),
    );
}

/// B7: the grant created is not the one the approval named.
#[test]
fn a_grant_the_approval_did_not_create_is_refused() {
    let ledger = forged(CREATED, |e| match e {
        Event::GrantCreated { grant, .. } => *grant = grt(OTHER_GRANT),
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("grant `{OTHER_GRANT}` was not the one the approval created"),
    );
}

#[test]
fn an_end_of_another_grant_is_refused() {
    let ledger = forged(REVOKED, |e| match e {
        Event::GrantRevoked { grant, .. } => *grant = grt(OTHER_GRANT),
        _ => unreachable!(),
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        &format!("grant `{OTHER_GRANT}` ends without having been created by this request"),
    );
}

#[test]
fn an_unrelated_entry_is_refused() {
    let bundle = bundle_of(&genuine(), &[0, 1, 2, 3, 4, 5, 7]);
    assert_story_err(
        check(&bundle),
        "entry 1 (token_revoked) is not about this request",
    );
}

#[test]
fn a_bundle_without_the_submission_is_refused() {
    let bundle = bundle_of(&genuine(), &[0, 3, 4, 5, 7]);
    assert_story_err(check(&bundle), "no request submission among the entries");
}

/// B8: the requester's justification was erased: the story still verifies, and says so.
#[test]
fn an_erased_justification_still_verifies_and_is_reported() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    let entry = bundle
        .entries
        .iter_mut()
        .find(|e| e.index == SUBMITTED as u64)
        .unwrap();
    entry.personal = None;
    let story = check(&bundle).unwrap();
    assert_eq!(
        story.erased,
        vec![format!("entry {SUBMITTED}: /event/request/justification")]
    );
    assert_eq!(story.request.justification, writ_core::ERASED);
    assert_eq!(story.request.requester, "alice");
    assert_eq!(story.decisions[0].basis, BASIS);
    let text = story.to_string();
    assert!(text.contains("Erased personal data"), "{text}");
    assert!(
        text.contains(&format!("entry {SUBMITTED}: /event/request/justification")),
        "{text}"
    );
    assert!(!text.contains(JUSTIFICATION), "{text}");
}

#[test]
fn a_changed_personal_value_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    let entry = bundle
        .entries
        .iter_mut()
        .find(|e| e.index == SUBMITTED as u64)
        .unwrap();
    let personal = String::from_utf8(B64.decode(entry.personal.as_ref().unwrap()).unwrap())
        .unwrap()
        .replace("INC-4411", "INC-4412");
    entry.personal = Some(B64.encode(personal));
    assert_entry_err(
        check(&bundle),
        SUBMITTED as u64,
        "does not match the leaf's commitment",
    );
}

#[test]
fn a_leaf_not_in_the_signed_log_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    // Leaf 3's bytes with leaf 4's proof: a real leaf, but not at that position.
    bundle.entries[3].leaf = bundle.entries[2].leaf.clone();
    assert_entry_err(check(&bundle), APPROVED as u64, "not in the signed log");
}

/// B9: a bundle of another format.
#[test]
fn another_format_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    bundle.format = "writ-evidence/2".to_owned();
    match check(&bundle) {
        Err(EvidenceError::Format(f)) => assert_eq!(f, "writ-evidence/2"),
        other => panic!("expected a format error, got {other:?}"),
    }
    assert_eq!(FORMAT, "writ-evidence/1");
}

#[test]
fn an_entry_beyond_the_checkpoint_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    bundle.entries.last_mut().unwrap().index = 9;
    assert_entry_err(check(&bundle), 9, "beyond the checkpoint's 9 entries");
}

#[test]
fn a_leaf_that_is_not_base64_is_refused() {
    let mut bundle = bundle_of(&genuine(), &PICK);
    bundle.entries[1].leaf = "not base64!".to_owned();
    assert_entry_err(check(&bundle), SUBMITTED as u64, "leaf is not base64");
}

#[test]
fn a_checkpoint_checked_with_another_key_is_refused() {
    let bundle = bundle_of(&genuine(), &PICK);
    let other = LedgerKey::from_seed(ORIGIN, [8; 32]).unwrap();
    assert!(matches!(
        verify(&bundle, &other.verifier_key()),
        Err(EvidenceError::Checkpoint(_))
    ));
    // The key the bundle names is for information only: naming the other key there
    // changes nothing.
    let mut named = bundle.clone();
    named.server_key = other.verifier_key();
    assert!(matches!(
        verify(&named, &other.verifier_key()),
        Err(EvidenceError::Checkpoint(_))
    ));
    assert!(check(&named).is_ok());
}

/// The submission's stored digest must be the digest of its content, so a decision
/// cannot be tied to a request by copying a made-up digest into both.
#[test]
fn a_submission_whose_digest_is_not_its_own_is_refused() {
    let made_up = "ab".repeat(32);
    let mut ledger = genuine();
    if let Event::RequestSubmitted { digest, .. } = &mut ledger[SUBMITTED].event {
        *digest = made_up.clone();
    }
    if let Event::StepDecided { request_digest, .. } = &mut ledger[DECIDED].event {
        *request_digest = made_up;
    }
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "digest does not match its content",
    );
}

#[test]
fn a_policy_text_that_does_not_hash_to_its_version_is_refused() {
    let ledger = forged(POLICY, |e| {
        if let Event::PolicyActivated { policy, .. } = e {
            policy.min_justification = 1;
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "does not hash to its version",
    );
}

#[test]
fn a_grant_for_someone_or_something_else_is_refused() {
    let ledger = forged(CREATED, |e| {
        if let Event::GrantCreated { beneficiary, .. } = e {
            *beneficiary = name("mallory");
        }
    });
    assert_story_err(check(&bundle_of(&ledger, &PICK)), "not what was requested");
}

#[test]
fn decisions_must_match_the_steps_the_request_required() {
    let ledger = forged(DECIDED, |e| {
        if let Event::StepDecided { step, .. } = e {
            *step = 7;
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "not a step the request required",
    );
    let ledger = forged(DECIDED, |e| {
        if let Event::StepDecided { role, .. } = e {
            *role = StepRole::Security;
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "not a step the request required",
    );
    let ledger = forged(DECIDED, |e| {
        if let Event::StepDecided { policy_version, .. } = e {
            *policy_version = "cd".repeat(32);
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "was decided under policy",
    );
}

#[test]
fn an_approval_without_every_step_approved_is_refused() {
    let ledger = forged(DECIDED, |e| {
        if let Event::StepDecided { decision, .. } = e {
            *decision = Decision::Deny;
        }
    });
    assert_story_err(
        check(&bundle_of(&ledger, &PICK)),
        "recorded as approved, but the bundle shows 0 approvals",
    );
    // The decision left out of the bundle altogether.
    let pick: Vec<u64> = PICK
        .iter()
        .copied()
        .filter(|&i| i != DECIDED as u64)
        .collect();
    assert_story_err(
        check(&bundle_of(&genuine(), &pick)),
        "recorded as approved, but the bundle shows 0 approvals",
    );
}

#[test]
fn a_second_submission_or_a_second_approval_is_refused() {
    // Entry 1 (unrelated filler) becomes another request's submission.
    let mut other = submission();
    other.id = req("req_0000000000000009");
    let other_digest = other.digest().unwrap();
    let ledger = forged(1, |e| {
        *e = Event::RequestSubmitted {
            request: other,
            digest: other_digest,
        }
    });
    let mut pick = PICK.to_vec();
    pick.insert(1, 1);
    assert_story_err(check(&bundle_of(&ledger, &pick)), "2 request submissions");

    // Entry 6 (unrelated filler) becomes a second approval.
    let ledger = forged(6, |e| {
        *e = Event::RequestApproved {
            request: req(REQUEST),
            grant: grt("grt_0000000000000009"),
        }
    });
    let mut pick = PICK.to_vec();
    pick.push(6);
    pick.sort();
    assert_story_err(check(&bundle_of(&ledger, &pick)), "closed twice");
}
