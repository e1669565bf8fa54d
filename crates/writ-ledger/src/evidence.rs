//! Evidence bundles: everything an auditor needs to prove one access decision, in one
//! self-contained file, checkable with no database and no server.
//!
//! A bundle holds a signed checkpoint and, for every ledger event about one request
//! and the grant it produced (plus the policy version it was decided under, and the
//! access-review decisions about the grant), the
//! exact leaf bytes, the salted personal values the leaf commits to, and an RFC 9162
//! inclusion proof against that checkpoint. [`verify`] checks the signature with a key
//! the auditor trusts, every proof, every commitment, and that the events tell one
//! consistent story; then it tells that story in plain words.
//!
//! What a bundle cannot prove: that no *other* event about the grant exists (a later
//! revocation, say). Inclusion proofs show presence, not absence; for completeness
//! compare with a newer checkpoint or verify the whole log.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use writ_core::{Actor, Event, Recorded};

use crate::{Hash, hash_from_base64, hash_to_base64, leaf_hash, open_checkpoint, verify_inclusion};

/// The format tag written into every bundle.
pub const FORMAT: &str = "writ-evidence/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// What the bundle is about: `request:req_…`.
    pub subject: String,
    /// The signed checkpoint (C2SP tlog-checkpoint note) every proof leads to.
    pub checkpoint: String,
    /// The key the server signed with, for information only: a verifier must bring
    /// the key it trusts.
    pub server_key: String,
    pub entries: Vec<BundleEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    /// Leaf index in the log (0-based).
    pub index: u64,
    /// Exact leaf bytes, base64.
    pub leaf: String,
    /// Salted personal values the leaf commits to, base64; absent once erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<String>,
    /// RFC 9162 inclusion proof against the checkpoint, base64 hashes.
    pub proof: Vec<String>,
}

impl Bundle {
    pub fn new(
        subject: String,
        checkpoint: String,
        server_key: String,
        entries: Vec<BundleEntry>,
    ) -> Bundle {
        Bundle {
            format: FORMAT.to_owned(),
            subject,
            checkpoint,
            server_key,
            entries,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("not a Writ evidence bundle (format `{0}`, expected `{FORMAT}`)")]
    Format(String),
    #[error("the checkpoint does not verify with the given key: {0}")]
    Checkpoint(String),
    #[error("entry {index}: {message}")]
    Entry { index: u64, message: String },
    #[error("the entries do not tell one consistent story: {0}")]
    Story(String),
}

/// What a verified bundle proves, ready to be told.
#[derive(Debug, Clone, Serialize)]
pub struct Story {
    pub subject: String,
    pub checkpoint_origin: String,
    pub checkpoint_size: u64,
    pub checkpoint_root: String,
    pub entries: usize,
    pub request: RequestFacts,
    pub policy_proven: bool,
    pub decisions: Vec<DecisionFacts>,
    pub outcome: Option<String>,
    /// Reminders and escalations of the request's open steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deadlines: Vec<String>,
    pub grant: Option<GrantFacts>,
    /// Personal fields erased from the entries (their commitments still verify).
    pub erased: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestFacts {
    pub id: String,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub risk: String,
    pub privileged: bool,
    pub kind: String,
    pub justification: String,
    pub ticket: Option<String>,
    pub duration: String,
    pub submitted_at: String,
    pub policy_version: String,
    pub steps: Vec<String>,
    /// Automated fulfilment: the Cedar policies that pre-approved the request, each
    /// checked to be in the policy the bundle proves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_approved_by: Vec<String>,
    /// A separation-of-duties exception: the rule and what it conflicts with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sod_exception: Option<String>,
    /// Break-glass: the Cedar policies that let the requester grant themself the
    /// access, each checked to be in the policy the bundle proves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub break_glass_by: Vec<String>,
    /// Break-glass: the incident, the notice to security and the post-incident review.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incident: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionFacts {
    pub step: u32,
    pub role: String,
    pub approver: String,
    pub decision: String,
    pub at: String,
    /// Why the approver had authority for this step, as recorded at decision time.
    pub basis: String,
    pub policy_version: String,
    pub comment: Option<String>,
    /// The Cedar policies that permitted the decision, each checked to be in the
    /// policy text the bundle proves (empty for decisions made before Cedar).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The facts about the approver those policies used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
    /// A delegate's decision: whose authority, under which delegation (the bundle
    /// carries the delegation, and the decision falls inside its window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    /// The admin who recorded that delegation, when the delegator did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation_recorded_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantFacts {
    pub id: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub started_at: String,
    pub expires_at: String,
    pub review_by: String,
    /// How access ended, if an event in the bundle says so.
    pub ended: Option<String>,
    /// What the target system confirmed (or why it could not), in ledger order.
    pub target: Vec<String>,
    /// Access-review decisions about the grant, in ledger order.
    #[serde(default)]
    pub reviews: Vec<String>,
}

fn entry_err(index: u64, message: impl Into<String>) -> EvidenceError {
    EvidenceError::Entry {
        index,
        message: message.into(),
    }
}

/// Checks a bundle with the verifier key the auditor trusts and reconstructs the story.
pub fn verify(bundle: &Bundle, verifier_key: &str) -> Result<Story, EvidenceError> {
    if bundle.format != FORMAT {
        return Err(EvidenceError::Format(bundle.format.clone()));
    }
    let checkpoint = open_checkpoint(&bundle.checkpoint, verifier_key)
        .map_err(|e| EvidenceError::Checkpoint(e.to_string()))?;

    let mut events: Vec<Recorded> = Vec::with_capacity(bundle.entries.len());
    let mut erased = Vec::new();
    let mut last: Option<u64> = None;
    for e in &bundle.entries {
        let i = e.index;
        if last.is_some_and(|l| l >= i) {
            return Err(entry_err(
                i,
                "entries must be in increasing index order, once each",
            ));
        }
        last = Some(i);
        if i >= checkpoint.size {
            return Err(entry_err(
                i,
                format!("beyond the checkpoint's {} entries", checkpoint.size),
            ));
        }
        let leaf = B64
            .decode(&e.leaf)
            .map_err(|err| entry_err(i, format!("leaf is not base64: {err}")))?;
        let proof: Vec<Hash> = e
            .proof
            .iter()
            .map(|h| hash_from_base64(h))
            .collect::<Result<_, _>>()
            .map_err(|err| entry_err(i, format!("proof: {err}")))?;
        verify_inclusion(
            i,
            checkpoint.size,
            leaf_hash(&leaf),
            &proof,
            checkpoint.root,
        )
        .map_err(|err| entry_err(i, format!("not in the signed log: {err}")))?;
        let personal = e
            .personal
            .as_ref()
            .map(|p| B64.decode(p))
            .transpose()
            .map_err(|err| entry_err(i, format!("personal data is not base64: {err}")))?;
        let opened = Recorded::open(&leaf, personal.as_deref())
            .map_err(|err| entry_err(i, err.to_string()))?;
        if opened.recorded.seq != i + 1 {
            return Err(entry_err(
                i,
                format!(
                    "leaf says it is seq {} (index {}), not seq {}",
                    opened.recorded.seq,
                    opened.recorded.seq.saturating_sub(1),
                    i + 1
                ),
            ));
        }
        erased.extend(
            opened
                .erased
                .iter()
                .map(|path| format!("entry {i}: {path}")),
        );
        events.push(opened.recorded);
    }
    let mut story = tell(&bundle.subject, &events)?;
    story.checkpoint_origin = checkpoint.origin.clone();
    story.checkpoint_size = checkpoint.size;
    story.checkpoint_root = hash_to_base64(&checkpoint.root);
    story.entries = events.len();
    story.erased = erased;
    Ok(story)
}

fn story_err(message: impl Into<String>) -> EvidenceError {
    EvidenceError::Story(message.into())
}

/// Rebuilds the request's history from its verified events.
fn tell(subject: &str, events: &[Recorded]) -> Result<Story, EvidenceError> {
    let (submitted, digest) = events
        .iter()
        .find_map(|r| match &r.event {
            Event::RequestSubmitted { request, digest } => Some((request, digest)),
            _ => None,
        })
        .ok_or_else(|| story_err("no request submission among the entries"))?;
    let submissions = events
        .iter()
        .filter(|r| matches!(r.event, Event::RequestSubmitted { .. }))
        .count();
    if submissions > 1 {
        return Err(story_err(format!(
            "the bundle holds {submissions} request submissions; one request per bundle"
        )));
    }
    if !digest_matches(submitted, digest) {
        return Err(story_err(
            "the submission's digest does not match its content",
        ));
    }
    if subject != format!("request:{}", submitted.id) {
        return Err(story_err(format!(
            "the bundle is about `{subject}` but holds request `{}`",
            submitted.id
        )));
    }
    let request_id = &submitted.id;
    let mut grant_id = None;
    let mut story = Story {
        subject: subject.to_owned(),
        checkpoint_origin: String::new(),
        checkpoint_size: 0,
        checkpoint_root: String::new(),
        entries: 0,
        request: RequestFacts {
            id: request_id.to_string(),
            requester: submitted.requester.to_string(),
            beneficiary: submitted.beneficiary.to_string(),
            entitlement: submitted.entitlement.to_string(),
            risk: submitted.risk.to_string(),
            privileged: submitted.privileged,
            kind: submitted.kind.as_str().to_owned(),
            justification: submitted.justification.as_str().to_owned(),
            ticket: submitted.ticket.as_ref().map(|t| t.to_string()),
            duration: submitted.duration.to_string(),
            submitted_at: submitted.submitted_at.to_rfc3339(),
            policy_version: submitted.policy_version.clone(),
            steps: submitted.steps.iter().map(|s| s.to_string()).collect(),
            pre_approved_by: submitted
                .pre_approved
                .as_ref()
                .map(|p| p.policies.clone())
                .unwrap_or_default(),
            break_glass_by: submitted
                .emergency
                .as_ref()
                .map(|p| p.policies.clone())
                .unwrap_or_default(),
            incident: Vec::new(),
            sod_exception: submitted.sod_exception.as_ref().map(|e| {
                format!(
                    "rule `{}`: also holds `{}` ({}); exception: {}",
                    e.rule,
                    e.conflicts_with,
                    e.held_as,
                    e.justification.as_str()
                )
            }),
        },
        policy_proven: false,
        decisions: Vec::new(),
        outcome: None,
        deadlines: Vec::new(),
        grant: None,
        erased: Vec::new(),
    };
    // Each policy version the bundle proves, with the ids of its Cedar policies.
    let mut policies: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    // Each delegation the bundle carries, as it stood.
    let mut delegations: std::collections::BTreeMap<String, writ_core::Delegation> =
        Default::default();
    for r in events {
        let at = r.at.to_rfc3339();
        match &r.event {
            Event::PolicyActivated {
                version, policy, ..
            } => {
                if &policy.version() != version {
                    return Err(story_err(format!(
                        "the policy text does not hash to its version `{version}`"
                    )));
                }
                let ids = match writ_core::Authority::compile(&policy.cedar_source()) {
                    Ok(a) => a.policies().map(|p| p.id.clone()).collect(),
                    Err(e) => return Err(story_err(format!("policy `{version}`: {e}"))),
                };
                policies.insert(version.clone(), ids);
                if version == &submitted.policy_version {
                    story.policy_proven = true;
                }
            }
            Event::RequestSubmitted { .. } => {}
            Event::DelegationGranted { delegation } => {
                delegations.insert(delegation.id.to_string(), delegation.clone());
            }
            Event::DelegationRevoked {
                delegation,
                revoked_at,
                ..
            } => {
                if let Some(d) = delegations.get_mut(delegation.as_str()) {
                    d.revoked_at = Some(*revoked_at);
                }
            }
            Event::StepDecided {
                request,
                step,
                role,
                approver,
                decision,
                comment,
                basis,
                policy_version,
                request_digest,
                authority,
            } => {
                same_request(request, request_id)?;
                if request_digest != digest {
                    return Err(story_err(format!(
                        "step {step} was decided on a different version of the request"
                    )));
                }
                // A decision is judged under the policy in force when it is made,
                // which the bundle must prove, as it proves the one at submission.
                if policy_version != &submitted.policy_version
                    && !policies.contains_key(policy_version)
                {
                    return Err(story_err(format!(
                        "step {step} was decided under policy `{policy_version}`, which is \
                         neither the request's `{}` nor proven by the bundle",
                        submitted.policy_version
                    )));
                }
                let named = authority
                    .as_ref()
                    .map(|a| a.policies.clone())
                    .unwrap_or_default();
                let on_behalf = authority.as_ref().and_then(|a| {
                    a.on_behalf_of
                        .as_ref()
                        .map(|o| (o.to_string(), a.delegation.as_ref().map(|d| d.to_string())))
                });
                let mut recorded_by = None;
                if let Some((delegator, id)) = &on_behalf {
                    let d = id.as_ref().and_then(|id| delegations.get(id)).ok_or_else(|| {
                        story_err(format!(
                            "step {step} was decided on behalf of `{delegator}` under a delegation \
                             the bundle does not carry"
                        ))
                    })?;
                    let inside =
                        d.from <= r.at && r.at < d.until && d.revoked_at.is_none_or(|t| r.at < t);
                    if d.delegator.as_str() != delegator || &d.delegate != approver || !inside {
                        return Err(story_err(format!(
                            "step {step}: delegation `{}` does not let `{approver}` decide for \
                             `{delegator}` at {at}",
                            d.id
                        )));
                    }
                    recorded_by = d.recorded_by.as_ref().map(|a| a.to_string());
                }
                if let Some(known) = policies.get(policy_version) {
                    for id in &named {
                        let id = id.strip_prefix("automatic:").unwrap_or(id);
                        if !known.iter().any(|k| k == id) {
                            return Err(story_err(format!(
                                "step {step} names policy `{id}`, which is not in policy \
                                 `{policy_version}`"
                            )));
                        }
                    }
                }
                let expected = (*step as usize)
                    .checked_sub(1)
                    .and_then(|i| submitted.steps.get(i));
                if expected != Some(role) {
                    return Err(story_err(format!(
                        "step {step} ({role}) is not a step the request required"
                    )));
                }
                if story.decisions.iter().any(|d| d.step == *step) {
                    return Err(story_err(format!("step {step} was decided twice")));
                }
                story.decisions.push(DecisionFacts {
                    step: *step,
                    role: role.to_string(),
                    approver: approver.to_string(),
                    decision: decision.as_str().to_owned(),
                    at,
                    basis: basis.clone(),
                    policy_version: policy_version.clone(),
                    comment: comment.as_ref().map(|c| c.as_str().to_owned()),
                    policies: named,
                    facts: authority
                        .as_ref()
                        .map(|a| a.facts.clone())
                        .unwrap_or_default(),
                    on_behalf_of: on_behalf.as_ref().map(|(o, _)| o.clone()),
                    delegation: on_behalf.and_then(|(_, d)| d),
                    delegation_recorded_by: recorded_by,
                });
            }
            Event::RequestApproved { request, grant } => {
                same_request(request, request_id)?;
                if story.outcome.is_some() {
                    return Err(story_err("the request was closed twice"));
                }
                let approved = story
                    .decisions
                    .iter()
                    .filter(|d| d.decision == "approve")
                    .count();
                if approved != submitted.steps.len() || approved != story.decisions.len() {
                    return Err(story_err(format!(
                        "the request is recorded as approved, but the bundle shows {approved} \
                         approvals of {} required steps and {} decisions",
                        submitted.steps.len(),
                        story.decisions.len()
                    )));
                }
                if let Some(pre) = submitted
                    .pre_approved
                    .as_ref()
                    .or(submitted.emergency.as_ref())
                {
                    let Some(known) = policies.get(&submitted.policy_version) else {
                        return Err(story_err(
                            "the request was pre-approved by policy, but the bundle does not \
                             prove the policy it was submitted under",
                        ));
                    };
                    for id in &pre.policies {
                        let bare = id.strip_prefix("automatic:").unwrap_or(id);
                        if !known.iter().any(|k| k == bare) {
                            return Err(story_err(format!(
                                "the request names policy `{bare}` as its pre-approval, which \
                                 is not in policy `{}`",
                                submitted.policy_version
                            )));
                        }
                    }
                }
                grant_id = Some(grant.clone());
                story.outcome = Some(match &submitted.pre_approved {
                    Some(p) => format!(
                        "approved at {at} by policy {} at version {}",
                        p.policies.join(", "),
                        submitted.policy_version
                    ),
                    None => format!("approved at {at}"),
                });
            }
            Event::RequestDenied { request, step } => {
                same_request(request, request_id)?;
                if story.outcome.is_some() {
                    return Err(story_err("the request was closed twice"));
                }
                story.outcome = Some(format!("denied at step {step} at {at}"));
            }
            Event::ApprovalReminded {
                request,
                step,
                notified,
            }
            | Event::StepEscalated {
                request,
                step,
                notified,
            } => {
                same_request(request, request_id)?;
                let what = if matches!(r.event, Event::StepEscalated { .. }) {
                    "escalated"
                } else {
                    "was reminded"
                };
                let who: Vec<String> = notified.iter().map(ToString::to_string).collect();
                story.deadlines.push(format!(
                    "at {at} step {step} {what}; notified: {}",
                    who.join(", ")
                ));
            }
            Event::BreakGlassUsed {
                request,
                grant,
                incident,
                review_due,
                notified,
            } => {
                same_request(request, request_id)?;
                if submitted.emergency.is_none() {
                    return Err(story_err(
                        "break-glass is recorded for a request that was not break-glass",
                    ));
                }
                let who: Vec<String> = notified.iter().map(ToString::to_string).collect();
                story.request.incident.push(format!(
                    "at {at} break-glass grant `{grant}` for incident {incident}; security notified: {}; post-incident review due by {}",
                    who.join(", "),
                    review_due.to_rfc3339()
                ));
            }
            Event::IncidentReviewEscalated { request, notified } => {
                same_request(request, request_id)?;
                let who: Vec<String> = notified.iter().map(ToString::to_string).collect();
                story.request.incident.push(format!(
                    "at {at} the post-incident review was overdue and escalated to {}",
                    who.join(", ")
                ));
            }
            Event::IncidentReviewClosed {
                request,
                finding,
                notes,
            } => {
                same_request(request, request_id)?;
                story.request.incident.push(format!(
                    "at {at} {} closed the post-incident review: {} — {}",
                    who(&r.actor),
                    finding.as_str(),
                    notes.as_str()
                ));
            }
            Event::RequestTimedOut { request, .. } => {
                same_request(request, request_id)?;
                if story.outcome.is_some() {
                    return Err(story_err("the request was closed twice"));
                }
                story.outcome = Some(format!("denied at {at}: timed out"));
            }
            Event::RequestCancelled { request, reason } => {
                same_request(request, request_id)?;
                if story.outcome.is_some() {
                    return Err(story_err("the request was closed twice"));
                }
                story.outcome = Some(match reason {
                    Some(reason) => {
                        format!("cancelled by {} at {at}: {}", r.actor, reason.as_str())
                    }
                    None => format!("cancelled by {} at {at}", r.actor),
                });
            }
            Event::GrantCreated {
                grant,
                request,
                beneficiary,
                entitlement,
                expires_at,
                review_by,
                ..
            } => {
                same_request(request, request_id)?;
                if beneficiary != &submitted.beneficiary || entitlement != &submitted.entitlement {
                    return Err(story_err(format!(
                        "grant `{grant}` gives {entitlement} to {beneficiary}, not what was requested"
                    )));
                }
                if grant_id.as_ref() != Some(grant) {
                    return Err(story_err(format!(
                        "grant `{grant}` was not the one the approval created"
                    )));
                }
                story.grant = Some(GrantFacts {
                    id: grant.to_string(),
                    beneficiary: beneficiary.to_string(),
                    entitlement: entitlement.to_string(),
                    started_at: at,
                    expires_at: expires_at.to_rfc3339(),
                    review_by: review_by.to_rfc3339(),
                    ended: None,
                    target: Vec::new(),
                    reviews: Vec::new(),
                });
            }
            Event::GrantRenewed { grant, successor } => {
                ended(&mut story, grant, format!("renewed at {at} as {successor}"))?;
            }
            Event::GrantRevoked {
                grant,
                reason,
                basis,
            } => {
                ended(
                    &mut story,
                    grant,
                    format!(
                        "revoked by {} at {at} ({basis}): {}",
                        who(&r.actor),
                        reason.as_str()
                    ),
                )?;
            }
            Event::GrantExpired { grant } => {
                ended(&mut story, grant, format!("expired at {at}"))?;
            }
            Event::GrantProvisioned { grant, receipt } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} the target confirmed the access ({}): {} for {} in {} — {}",
                        receipt.connector,
                        receipt.change,
                        receipt.account_ref,
                        receipt.target_ref,
                        receipt.detail
                    ),
                )?;
            }
            Event::GrantDeprovisioned { grant, receipt } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} the target confirmed the removal ({}): {} for {} in {} — {}",
                        receipt.connector,
                        receipt.change,
                        receipt.account_ref,
                        receipt.target_ref,
                        receipt.detail
                    ),
                )?;
            }
            Event::ProvisioningFailed {
                grant,
                action,
                attempts,
                error,
            } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} the {} job gave up after {attempts} attempt(s): {error}",
                        action.as_str()
                    ),
                )?;
            }
            Event::DriftFound {
                drift:
                    writ_core::Drift {
                        grant: Some(grant),
                        account_ref,
                        ..
                    },
                action,
            } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} reconciliation found {account_ref}'s access missing from the target ({action})"
                    ),
                )?;
            }
            Event::DriftResolved {
                drift:
                    writ_core::Drift {
                        grant: Some(grant), ..
                    },
            } => {
                in_target(
                    &mut story,
                    grant,
                    format!("at {at} reconciliation found the access back in the target"),
                )?;
            }
            Event::CredentialIssued {
                grant,
                fingerprint,
                expires_at,
                replaces,
                ..
            } => {
                let what = match replaces {
                    Some(old) => format!("replacing {old}"),
                    None => "the first".to_owned(),
                };
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} {} received credential {fingerprint} ({what}), valid until {}",
                        who(&r.actor),
                        expires_at.to_rfc3339()
                    ),
                )?;
            }
            Event::CredentialRevoked { grant, fingerprint } => {
                in_target(
                    &mut story,
                    grant,
                    format!("at {at} credential {fingerprint} was disabled in the target"),
                )?;
            }
            Event::CredentialRotationDue { grant, fingerprint } => {
                in_target(
                    &mut story,
                    grant,
                    format!("at {at} credential {fingerprint} reached its rotation deadline"),
                )?;
            }
            Event::ReviewDecided {
                campaign,
                item,
                grant,
                decision,
                reason,
                defaulted,
                basis,
                review_by,
                ..
            } => {
                let verb = match decision {
                    writ_core::ReviewDecision::Certify => "certified",
                    writ_core::ReviewDecision::Revoke => "revoked",
                    writ_core::ReviewDecision::Keep => "kept",
                };
                let mut line = if *defaulted {
                    format!(
                        "at {at} campaign {campaign} {verb} it (item {item}, undecided): {basis}"
                    )
                } else {
                    format!(
                        "at {at} {} {verb} it in campaign {campaign} (item {item}), with authority: {basis}",
                        who(&r.actor)
                    )
                };
                if let Some(reason) = reason {
                    line.push_str(&format!("; reason: {}", reason.as_str()));
                }
                if let Some(next) = review_by {
                    line.push_str(&format!("; next review by {next}"));
                }
                match &mut story.grant {
                    Some(g) if g.id == grant.as_str() => g.reviews.push(line),
                    _ => {
                        return Err(story_err(format!(
                            "a review decides grant `{grant}`, which this request did not create"
                        )));
                    }
                }
            }
            Event::AuthorityRechecked {
                grant,
                policy_version,
                lost,
            } => {
                let outcome = if lost.is_empty() {
                    "every approver still had authority".to_owned()
                } else {
                    let who: Vec<String> = lost
                        .iter()
                        .map(|l| format!("step {} `{}` {}", l.step, l.approver, l.why))
                        .collect();
                    format!("held, not provisioned: {}", who.join("; "))
                };
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at}, before provisioning, the approvers were judged again under \
                         policy `{policy_version}`: {outcome}"
                    ),
                )?;
            }
            Event::ProvisioningResolved {
                grant,
                action,
                reason,
            } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} {} closed the {} job by hand, the access having been removed by other means: {reason}",
                        who(&r.actor),
                        action.as_str()
                    ),
                )?;
            }
            Event::ProvisioningRetried { grant, action } => {
                in_target(
                    &mut story,
                    grant,
                    format!(
                        "at {at} {} sent the {} job back to the worker",
                        who(&r.actor),
                        action.as_str()
                    ),
                )?;
            }
            other => {
                return Err(story_err(format!(
                    "entry {} ({}) is not about this request",
                    r.seq - 1,
                    other.kind()
                )));
            }
        }
    }
    // Every policy the bundle carries is one the request was submitted or decided
    // under, or one its approvers were judged again under before provisioning.
    let rechecked: Vec<&str> = events
        .iter()
        .filter_map(|r| match &r.event {
            Event::AuthorityRechecked { policy_version, .. } => Some(policy_version.as_str()),
            _ => None,
        })
        .collect();
    for version in policies.keys() {
        let used = version == &submitted.policy_version
            || story.decisions.iter().any(|d| &d.policy_version == version)
            || rechecked.contains(&version.as_str());
        if !used {
            return Err(story_err(format!(
                "policy `{version}` is not the one the request was submitted under, nor one \
                 a step was decided under"
            )));
        }
    }
    Ok(story)
}

/// Requests submitted before personal data was sealed (encoding v1) carry the digest
/// of the whole submission; later ones leave the justification out.
fn digest_matches(submitted: &writ_core::Submission, digest: &str) -> bool {
    let masked = submitted.digest().ok();
    let whole = writ_core::canonical_bytes(submitted)
        .ok()
        .map(|b| writ_core::sha256_hex(&b));
    masked.as_deref() == Some(digest) || whole.as_deref() == Some(digest)
}

fn who(actor: &Actor) -> String {
    actor.to_string()
}

fn same_request(
    request: &writ_core::RequestId,
    expected: &writ_core::RequestId,
) -> Result<(), EvidenceError> {
    if request == expected {
        Ok(())
    } else {
        Err(story_err(format!(
            "an entry is about request `{request}`, not `{expected}`"
        )))
    }
}

fn ended(story: &mut Story, grant: &writ_core::GrantId, how: String) -> Result<(), EvidenceError> {
    match &mut story.grant {
        Some(g) if g.id == grant.as_str() => {
            g.ended = Some(how);
            Ok(())
        }
        _ => Err(story_err(format!(
            "grant `{grant}` ends without having been created by this request"
        ))),
    }
}

fn in_target(
    story: &mut Story,
    grant: &writ_core::GrantId,
    what: String,
) -> Result<(), EvidenceError> {
    match &mut story.grant {
        Some(g) if g.id == grant.as_str() => {
            g.target.push(what);
            Ok(())
        }
        _ => Err(story_err(format!(
            "the target reports on grant `{grant}`, which this request did not create"
        ))),
    }
}

impl fmt::Display for Story {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        writeln!(f, "VERIFIED: evidence for request {}", r.id)?;
        writeln!(
            f,
            "  {} ledger entries, each proven to be in the log `{}` as signed at {} entries (root {})",
            self.entries, self.checkpoint_origin, self.checkpoint_size, self.checkpoint_root
        )?;
        writeln!(f)?;
        let for_whom = if r.requester == r.beneficiary {
            "for themselves".to_owned()
        } else {
            format!("for {}", r.beneficiary)
        };
        writeln!(
            f,
            "{} requested {} ({} risk{}) {for_whom} on {}, for {}.",
            r.requester,
            r.entitlement,
            r.risk,
            if r.privileged { ", privileged" } else { "" },
            r.submitted_at,
            r.duration
        )?;
        writeln!(f, "  Justification: {}", r.justification)?;
        if let Some(t) = &r.ticket {
            writeln!(f, "  Ticket: {t}")?;
        }
        writeln!(
            f,
            "  Steps required: {} (policy {}{})",
            r.steps.join(", "),
            r.policy_version,
            if self.policy_proven {
                ", its text is in the bundle"
            } else {
                ""
            }
        )?;
        if let Some(e) = &r.sod_exception {
            writeln!(f, "  Separation-of-duties exception: {e}")?;
        }
        if !r.pre_approved_by.is_empty() {
            writeln!(
                f,
                "  Pre-approved by policy {} (automated fulfilment).",
                r.pre_approved_by.join(", ")
            )?;
        }
        if !r.break_glass_by.is_empty() {
            writeln!(
                f,
                "  Break-glass, permitted by policy {}.",
                r.break_glass_by.join(", ")
            )?;
        }
        for line in &r.incident {
            writeln!(f, "  Incident: {line}")?;
        }
        for line in &self.deadlines {
            writeln!(f, "  Deadline: {line}")?;
        }
        for d in &self.decisions {
            let verb = if d.decision == "approve" {
                "approved"
            } else {
                "denied"
            };
            writeln!(
                f,
                "Step {} ({}): {} {verb} on {}, with authority: {} (policy {}).",
                d.step, d.role, d.approver, d.at, d.basis, d.policy_version
            )?;
            if let (Some(x), Some(id)) = (&d.on_behalf_of, &d.delegation) {
                writeln!(
                    f,
                    "  On behalf of {x} under delegation {id}, carried in the bundle."
                )?;
                if let Some(admin) = &d.delegation_recorded_by {
                    writeln!(
                        f,
                        "  That delegation was recorded by {admin}, not by {x}; {x} was notified."
                    )?;
                }
            }
            if let Some(c) = &d.comment {
                writeln!(f, "  Comment: {c}")?;
            }
        }
        match &self.outcome {
            Some(o) => writeln!(f, "The request was {o}.")?,
            None => writeln!(f, "The request had not been decided at this checkpoint.")?,
        }
        if let Some(g) = &self.grant {
            writeln!(
                f,
                "Access {} for {} to {} started on {}, set to expire on {} (review by {}).",
                g.id, g.beneficiary, g.entitlement, g.started_at, g.expires_at, g.review_by
            )?;
            for line in &g.target {
                writeln!(f, "In the target system: {line}.")?;
            }
            for line in &g.reviews {
                writeln!(f, "Reviewed: {line}.")?;
            }
            match &g.ended {
                Some(how) => writeln!(f, "Access ended: {how}.")?,
                None => writeln!(
                    f,
                    "No end of access is among these entries: at the checkpoint it was still \
                     granted, unless a later entry (not in this bundle) ended it."
                )?,
            }
        }
        if !self.erased.is_empty() {
            writeln!(
                f,
                "Erased personal data (committed to, no longer shown): {}",
                self.erased.join("; ")
            )?;
        }
        writeln!(
            f,
            "\nThis proves the entries above are in the signed log; it cannot prove that no \
             other entry about this request exists. Check a newer checkpoint, or run \
             `writ audit verify`, for completeness."
        )
    }
}
