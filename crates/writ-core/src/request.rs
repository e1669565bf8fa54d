//! The access request: frozen at submission, decided step by step.

use serde::{Deserialize, Serialize};

use crate::canonical::{CanonicalError, canonical_bytes, sha256_hex};
use crate::catalog::RiskTier;
use crate::event::{Event, Recorded};
use crate::ids::{DelegationId, GrantId, RequestId};
use crate::names::{Comment, Constraints, EntitlementRef, Justification, Name, Reason, TicketRef};
use crate::policy::StepRole;
use crate::time::{DurationSpec, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Standard,
    Renewal,
    /// Emergency access: granted at once to the requester, with a reason and an
    /// incident reference, capped, and reviewed by security afterwards.
    BreakGlass,
}

impl RequestKind {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "standard" => Ok(RequestKind::Standard),
            "renewal" => Ok(RequestKind::Renewal),
            "break_glass" | "break-glass" => Ok(RequestKind::BreakGlass),
            other => Err(format!(
                "`{other}` is not a request kind: use standard, renewal or break_glass"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Standard => "standard",
            RequestKind::Renewal => "renewal",
            RequestKind::BreakGlass => "break_glass",
        }
    }
}

/// What a post-incident review of break-glass access found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Legitimate,
    Misuse,
    Drill,
}

impl Finding {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "legitimate" => Ok(Finding::Legitimate),
            "misuse" => Ok(Finding::Misuse),
            "drill" => Ok(Finding::Drill),
            other => Err(format!(
                "`{other}` is not a finding: use legitimate, misuse or drill"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Legitimate => "legitimate",
            Finding::Misuse => "misuse",
            Finding::Drill => "drill",
        }
    }
}

/// The post-incident review every break-glass access opens for security.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReview {
    pub opened_at: Timestamp,
    pub due: Timestamp,
    pub escalated_at: Option<Timestamp>,
    pub finding: Option<Finding>,
    pub closed_by: Option<Name>,
    pub closed_at: Option<Timestamp>,
    pub notes: Option<Reason>,
}

/// The reason a request denied at its final deadline carries.
pub const TIMED_OUT: &str = "timed out";

/// Everything an approver approves, fixed when the request is submitted. Nothing here
/// ever changes; a different ask is a new request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: RequestId,
    pub requester: Name,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub risk: RiskTier,
    pub privileged: bool,
    pub justification: Justification,
    pub ticket: Option<TicketRef>,
    pub duration: DurationSpec,
    pub kind: RequestKind,
    pub renews: Option<GrantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    pub steps: Vec<StepRole>,
    pub policy_version: String,
    pub submitted_at: Timestamp,
    /// A separation-of-duties exception this request asks for (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod_exception: Option<SodException>,
    /// Automated fulfilment: a Cedar policy pre-approved the request at submission
    /// (its ids and facts); it then has no steps. The policy version is the
    /// submission's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_approved: Option<StepAuthority>,
    /// Break-glass: the Cedar policies that let the requester grant themself
    /// emergency access (a break-glass request has no steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<StepAuthority>,
}

/// The toxic combination a request completes and the exception it asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SodException {
    /// The rule's name.
    pub rule: String,
    /// The entitlement the beneficiary already holds or has asked for.
    pub conflicts_with: EntitlementRef,
    /// Where: `grant g_…` or `request req_…`.
    pub held_as: String,
    /// Why the exception is needed: personal data, sealed in the ledger like a
    /// justification.
    pub justification: Justification,
}

impl Submission {
    /// The hex SHA-256 of the canonical submission with its personal fields (the
    /// justification) set to `null`; every decision names it. The justification is
    /// left out because this hash is unsalted: it would let anyone confirm a guess at
    /// an erased justification. Its salted commitment in the `request_submitted` leaf
    /// binds it instead (see [`crate::personal`]).
    pub fn digest(&self) -> Result<String, CanonicalError> {
        let mut value = serde_json::to_value(self)?;
        crate::personal::mask_submission(&mut value);
        Ok(sha256_hex(&canonical_bytes(&value)?))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "pending" => Ok(RequestStatus::Pending),
            "approved" => Ok(RequestStatus::Approved),
            "denied" => Ok(RequestStatus::Denied),
            "cancelled" => Ok(RequestStatus::Cancelled),
            other => Err(format!(
                "`{other}` is not a request status: use pending, approved, denied or cancelled"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// The authority a decision rested on: the Cedar policies that permitted it and the
/// facts about the approver they used. Absent from decisions made before Cedar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepAuthority {
    /// Ids of the determining policies, or `automatic:<id>` for a pre-approval.
    pub policies: Vec<String>,
    /// The facts, in words, from the organisation data at the decision.
    pub facts: Vec<String>,
    /// A delegate's decision: whose authority it used (the policies and facts are
    /// about them) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Name>,
    /// … and under which delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDecision {
    pub approver: Name,
    pub decision: Decision,
    pub comment: Option<Comment>,
    /// Which fact made the approver eligible, as recorded at decision time.
    pub basis: String,
    pub policy_version: String,
    pub decided_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StepAuthority>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub index: u32,
    pub role: StepRole,
    pub decision: Option<StepDecision>,
    /// The step passed its deadline: policies see `context.escalated`.
    #[serde(default)]
    pub escalated: bool,
    /// Its approvers were reminded.
    #[serde(default)]
    pub reminded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub submission: Submission,
    /// [`Submission::digest`] at submission time; every decision names it.
    pub digest: String,
    pub steps: Vec<Step>,
    pub status: RequestStatus,
    pub closed_at: Option<Timestamp>,
    pub grant: Option<GrantId>,
    pub cancel_reason: Option<Reason>,
    /// Break-glass access: its post-incident review.
    pub incident_review: Option<IncidentReview>,
}

impl Request {
    pub fn id(&self) -> &RequestId {
        &self.submission.id
    }

    /// The request as it stands right after `RequestSubmitted`.
    pub fn submitted(submission: Submission, digest: String) -> Request {
        let steps = submission
            .steps
            .iter()
            .enumerate()
            .map(|(i, role)| Step {
                index: i as u32 + 1,
                role: role.clone(),
                decision: None,
                escalated: false,
                reminded: false,
            })
            .collect();
        Request {
            submission,
            digest,
            steps,
            status: RequestStatus::Pending,
            closed_at: None,
            grant: None,
            cancel_reason: None,
            incident_review: None,
        }
    }

    /// Applies one of this request's events. Events of other aggregates are ignored.
    pub fn apply(&mut self, recorded: &Recorded) {
        match &recorded.event {
            Event::StepDecided {
                request,
                step,
                approver,
                decision,
                comment,
                basis,
                policy_version,
                authority,
                ..
            } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.decision = Some(StepDecision {
                        approver: approver.clone(),
                        decision: *decision,
                        comment: comment.clone(),
                        basis: basis.clone(),
                        policy_version: policy_version.clone(),
                        decided_at: recorded.at,
                        authority: authority.clone(),
                    });
                }
            }
            Event::RequestApproved { request, grant } if request == self.id() => {
                self.status = RequestStatus::Approved;
                self.closed_at = Some(recorded.at);
                self.grant = Some(grant.clone());
            }
            Event::RequestDenied { request, .. } if request == self.id() => {
                self.status = RequestStatus::Denied;
                self.closed_at = Some(recorded.at);
            }
            Event::StepEscalated { request, step, .. } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.escalated = true;
                }
            }
            Event::ApprovalReminded { request, step, .. } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.reminded = true;
                }
            }
            Event::BreakGlassUsed {
                request,
                review_due,
                ..
            } if request == self.id() => {
                self.incident_review = Some(IncidentReview {
                    opened_at: recorded.at,
                    due: *review_due,
                    escalated_at: None,
                    finding: None,
                    closed_by: None,
                    closed_at: None,
                    notes: None,
                });
            }
            Event::IncidentReviewEscalated { request, .. } if request == self.id() => {
                if let Some(r) = &mut self.incident_review {
                    r.escalated_at = Some(recorded.at);
                }
            }
            Event::IncidentReviewClosed {
                request,
                finding,
                notes,
            } if request == self.id() => {
                if let Some(r) = &mut self.incident_review {
                    r.finding = Some(*finding);
                    r.closed_at = Some(recorded.at);
                    r.closed_by = recorded.actor.identity().cloned();
                    r.notes = Some(notes.clone());
                }
            }
            Event::RequestTimedOut { request, .. } if request == self.id() => {
                self.status = RequestStatus::Denied;
                self.closed_at = Some(recorded.at);
                self.cancel_reason = Reason::parse(TIMED_OUT).ok();
            }
            Event::RequestCancelled { request, reason } if request == self.id() => {
                self.status = RequestStatus::Cancelled;
                self.closed_at = Some(recorded.at);
                self.cancel_reason = reason.clone();
            }
            _ => {}
        }
    }

    /// The step this identity decided, themself or through a delegate, if any.
    pub fn step_decided_by(&self, who: &Name) -> Option<&Step> {
        self.steps.iter().find(|s| {
            s.decision.as_ref().is_some_and(|d| {
                &d.approver == who
                    || d.authority.as_ref().and_then(|a| a.on_behalf_of.as_ref()) == Some(who)
            })
        })
    }

    pub fn undecided_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.decision.is_none())
    }
}
