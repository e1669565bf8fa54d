//! Requests on the wire: a new request, decisions, and a request as shown.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::{Candidate, Constraints, Excluded, Request, StepEligibility};

use super::ts;

/// A new access request. Everything in it is frozen once submitted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// Who receives the access: the requester, a direct report, or an NHI they own.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub beneficiary: String,
    /// `<system>/<entitlement>`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}/[a-z0-9][a-z0-9._-]{0,63}$")]
    pub entitlement: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub justification: String,
    /// ISO 8601 (`PT8H`, `P7D`) or short form (`8h`, `7d`).
    #[schema(max_length = 40)]
    pub duration: String,
    /// ITSM ticket key such as `INC-4411`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub ticket: Option<String>,
    /// `standard` (default) or `renewal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For non-human identities: what the issued credential may do.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::optional_object"
    )]
    pub constraints: Option<ConstraintsBody>,
    /// Why a separation-of-duties exception is needed, when the request completes a
    /// toxic combination whose rule allows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 2000)]
    pub sod_exception: Option<String>,
}

/// The separation-of-duties exception a request asks for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SodExceptionView {
    pub rule: String,
    pub conflicts_with: String,
    /// `grant g_…` or `request req_…`.
    pub held_as: String,
    pub justification: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsBody {
    #[serde(default)]
    pub api_scopes: Vec<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub source_ranges: Vec<String>,
}

impl From<ConstraintsBody> for Constraints {
    fn from(c: ConstraintsBody) -> Constraints {
        Constraints {
            api_scopes: c.api_scopes,
            environment: c.environment,
            source_ranges: c.source_ranges,
        }
    }
}

impl From<&Constraints> for ConstraintsBody {
    fn from(c: &Constraints) -> ConstraintsBody {
        ConstraintsBody {
            api_scopes: c.api_scopes.clone(),
            environment: c.environment.clone(),
            source_ranges: c.source_ranges.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Required when denying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
    /// The step to decide; by default the first open step the caller may decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EligibleView {
    pub identity: String,
    /// The facts and policies that make this identity eligible, in words.
    pub basis: String,
    /// Ids of the Cedar policies that permit this identity.
    #[serde(default)]
    pub policies: Vec<String>,
    /// The facts about this identity those policies use.
    #[serde(default)]
    pub facts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExcludedView {
    pub identity: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub index: u32,
    /// `manager`, `system_owner`, `entitlement_owner`, `security` or `group:<name>`.
    pub role: String,
    /// `open`, `approved` or `denied`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For a decided step: the authority the approver decided under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// For a decided step: the Cedar policies that permitted the decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// For a decided step: the facts about the approver those policies used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
    /// For a delegate's decision: whose authority they used, under which delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// The step passed its deadline and escalated to the fallback approvers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    /// For an open step of a pending request: who may decide it now, and why.
    #[serde(default)]
    pub eligible: Vec<EligibleView>,
    /// For an open step: who the role points at but may not decide, and why.
    #[serde(default)]
    pub excluded: Vec<ExcludedView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    /// `pending`, `approved`, `denied` or `cancelled`.
    pub status: String,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub risk: String,
    pub privileged: bool,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// ISO 8601.
    pub duration: String,
    pub duration_seconds: u64,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<ConstraintsBody>,
    pub submitted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// SHA-256 of the frozen submission; every decision names it.
    pub digest: String,
    /// Version of the approval policy the steps were derived from.
    pub policy_version: String,
    /// A separation-of-duties exception: the toxic combination and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod_exception: Option<SodExceptionView>,
    /// Automated fulfilment: the Cedar policies (`automatic:<id>`) that pre-approved
    /// the request at `policy_version`; it then has no steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_approved_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_approval_facts: Vec<String>,
    /// Break-glass: the Cedar policies that let the requester grant themself the
    /// access, and its post-incident review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub break_glass_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_review: Option<IncidentReviewView>,
    pub steps: Vec<StepView>,
}

/// The post-incident review of break-glass access.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentReviewView {
    /// `open`, `overdue` (when the reader knows the time) or `closed`.
    pub state: String,
    pub opened_at: String,
    pub due: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<String>,
    /// `legitimate`, `misuse` or `drill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl IncidentReviewView {
    pub fn new(
        v: &writ_core::IncidentReview,
        now: Option<writ_core::Timestamp>,
    ) -> IncidentReviewView {
        IncidentReviewView {
            state: if v.finding.is_some() {
                "closed"
            } else if now.is_some_and(|now| now >= v.due) {
                "overdue"
            } else {
                "open"
            }
            .into(),
            opened_at: ts(v.opened_at),
            due: ts(v.due),
            escalated_at: v.escalated_at.map(ts),
            finding: v.finding.map(|f| f.as_str().to_owned()),
            closed_by: v.closed_by.as_ref().map(ToString::to_string),
            closed_at: v.closed_at.map(ts),
            notes: v.notes.as_ref().map(ToString::to_string),
        }
    }
}

impl RequestView {
    /// `open` holds the eligibility of the open steps (empty once the request closed).
    pub fn new(r: &Request, open: &[StepEligibility]) -> RequestView {
        let s = &r.submission;
        let steps = r
            .steps
            .iter()
            .map(|step| {
                let d = step.decision.as_ref();
                let e = open.iter().find(|e| e.index == step.index);
                StepView {
                    index: step.index,
                    role: step.role.to_string(),
                    state: match d {
                        None => "open".into(),
                        Some(d) if d.decision == writ_core::Decision::Approve => "approved".into(),
                        Some(_) => "denied".into(),
                    },
                    approver: d.map(|d| d.approver.to_string()),
                    comment: d.and_then(|d| d.comment.as_ref().map(|c| c.to_string())),
                    basis: d.map(|d| d.basis.clone()),
                    policy_version: d.map(|d| d.policy_version.clone()),
                    policies: d
                        .and_then(|d| d.authority.as_ref())
                        .map(|a| a.policies.clone())
                        .unwrap_or_default(),
                    facts: d
                        .and_then(|d| d.authority.as_ref())
                        .map(|a| a.facts.clone())
                        .unwrap_or_default(),
                    on_behalf_of: d
                        .and_then(|d| d.authority.as_ref())
                        .and_then(|a| a.on_behalf_of.as_ref())
                        .map(ToString::to_string),
                    delegation: d
                        .and_then(|d| d.authority.as_ref())
                        .and_then(|a| a.delegation.as_ref())
                        .map(ToString::to_string),
                    decided_at: d.map(|d| ts(d.decided_at)),
                    escalated: step.escalated,
                    eligible: e
                        .map(|e| e.eligible.iter().map(EligibleView::from).collect())
                        .unwrap_or_default(),
                    excluded: e
                        .map(|e| e.excluded.iter().map(ExcludedView::from).collect())
                        .unwrap_or_default(),
                    note: e.and_then(|e| e.note.clone()),
                }
            })
            .collect();
        RequestView {
            id: s.id.to_string(),
            status: r.status.as_str().into(),
            requester: s.requester.to_string(),
            beneficiary: s.beneficiary.to_string(),
            entitlement: s.entitlement.to_string(),
            risk: s.risk.to_string(),
            privileged: s.privileged,
            justification: s.justification.to_string(),
            ticket: s.ticket.as_ref().map(|t| t.to_string()),
            duration: s.duration.to_iso8601(),
            duration_seconds: s.duration.seconds(),
            kind: s.kind.as_str().into(),
            renews: s.renews.as_ref().map(|g| g.to_string()),
            constraints: s.constraints.as_ref().map(ConstraintsBody::from),
            submitted_at: ts(s.submitted_at),
            closed_at: r.closed_at.map(ts),
            grant: r.grant.as_ref().map(|g| g.to_string()),
            cancel_reason: r.cancel_reason.as_ref().map(|c| c.to_string()),
            digest: r.digest.clone(),
            policy_version: s.policy_version.clone(),
            sod_exception: s.sod_exception.as_ref().map(|e| SodExceptionView {
                rule: e.rule.clone(),
                conflicts_with: e.conflicts_with.to_string(),
                held_as: e.held_as.clone(),
                justification: e.justification.to_string(),
            }),
            pre_approved_by: s
                .pre_approved
                .as_ref()
                .map(|p| p.policies.clone())
                .unwrap_or_default(),
            pre_approval_facts: s
                .pre_approved
                .as_ref()
                .map(|p| p.facts.clone())
                .unwrap_or_default(),
            break_glass_by: s
                .emergency
                .as_ref()
                .map(|p| p.policies.clone())
                .unwrap_or_default(),
            incident_review: r
                .incident_review
                .as_ref()
                .map(|v| IncidentReviewView::new(v, None)),
            steps,
        }
    }
}

impl From<&Candidate> for EligibleView {
    fn from(c: &Candidate) -> Self {
        EligibleView {
            identity: c.identity.to_string(),
            basis: c.basis.clone(),
            policies: c.authority.policies.clone(),
            facts: c.authority.facts.clone(),
        }
    }
}

impl From<&Excluded> for ExcludedView {
    fn from(x: &Excluded) -> Self {
        ExcludedView {
            identity: x.identity.to_string(),
            why: x.why.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
