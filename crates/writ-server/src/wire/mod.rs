//! JSON wire types of the HTTP API. Domain types never cross the wire directly:
//! each view is built here from the domain, so the API can evolve without touching
//! the ledger's encoding, and the domain can evolve without breaking clients.

use std::collections::BTreeSet;

mod delegation;
mod policy;
mod review;
pub use delegation::*;
pub use policy::*;
pub use review::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::{
    Candidate, Constraints, DurationSpec, EmploymentType, Entitlement, EntitlementKind, Excluded,
    Grant, Identity, IdentityKind, IdentityStatus, Name, NhiKind, Request, RiskTier, Role,
    StepEligibility, System, SystemKind, Timestamp, Token,
};
use writ_store::{CredentialRecord, ProvisioningJob};

pub(crate) fn ts(t: Timestamp) -> String {
    t.to_rfc3339()
}

// ---- requests ----------------------------------------------------------------------

/// A new access request. Everything in it is frozen once submitted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// Who receives the access: the requester, a direct report, or an NHI they own.
    pub beneficiary: String,
    /// `<system>/<entitlement>`.
    pub entitlement: String,
    pub justification: String,
    /// ISO 8601 (`PT8H`, `P7D`) or short form (`8h`, `7d`).
    pub duration: String,
    /// ITSM ticket key such as `INC-4411`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `standard` (default) or `renewal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For non-human identities: what the issued credential may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<ConstraintsBody>,
    /// Why a separation-of-duties exception is needed, when the request completes a
    /// toxic combination whose rule allows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub comment: Option<String>,
    /// The step to decide; by default the first open step the caller may decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

// ---- grants ------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub request: String,
    pub beneficiary: String,
    pub entitlement: String,
    /// `pending`, `active`, `revoking`, `expiring`, `expired`, `revoked` or `renewed`.
    pub status: String,
    pub granted_at: String,
    pub expires_at: String,
    pub review_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    /// A connector provisions this grant in its target system.
    #[serde(default)]
    pub provisioned_by_connector: bool,
    /// When the target confirmed the access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_at: Option<String>,
    /// When the target confirmed the removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprovisioned_at: Option<String>,
    /// The job that failed for good (`provision` or `deprovision`), waiting for a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_job: Option<String>,
    /// Held, not provisioned: an approver lost authority before provisioning (who and
    /// why). An admin's retry checks again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Its provisioning jobs (shown for one grant, not in lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobView>,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        GrantView {
            id: g.id.to_string(),
            request: g.request.to_string(),
            beneficiary: g.beneficiary.to_string(),
            entitlement: g.entitlement.to_string(),
            status: g.status.as_str().into(),
            granted_at: ts(g.granted_at),
            expires_at: ts(g.expires_at),
            review_by: ts(g.review_by),
            renews: g.renews.as_ref().map(|x| x.to_string()),
            ended_at: g.ended_at.map(ts),
            ended_by: g.ended_by.clone(),
            end_reason: g.end_reason.clone(),
            successor: g.successor.as_ref().map(|x| x.to_string()),
            provisioned_by_connector: g.provision,
            provisioned_at: g.provisioned_at.map(ts),
            deprovisioned_at: g.deprovisioned_at.map(ts),
            failed_job: g.failed.map(|a| a.as_str().to_owned()),
            held: g.held.clone(),
            jobs: Vec::new(),
        }
    }
}

/// A credential just set in the target: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedCredential {
    pub grant: String,
    /// The secret. Shown once; Writ keeps only its fingerprint.
    pub secret: String,
    pub fingerprint: String,
    pub expires_at: String,
    /// Rotate it before this time (`writ grant credential` again).
    pub rotate_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// A credential as Writ keeps it: its fingerprint, never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    pub fingerprint: String,
    pub grant: String,
    pub nhi: String,
    pub entitlement: String,
    pub issued_at: String,
    pub expires_at: String,
    pub rotate_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// `replaced` or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_how: Option<String>,
}

impl From<&CredentialRecord> for CredentialView {
    fn from(c: &CredentialRecord) -> Self {
        CredentialView {
            fingerprint: c.fingerprint.clone(),
            grant: c.grant.to_string(),
            nhi: c.beneficiary.to_string(),
            entitlement: c.entitlement.to_string(),
            issued_at: ts(c.issued_at),
            expires_at: ts(c.expires_at),
            rotate_by: ts(c.rotate_by),
            replaces: c.replaces.clone(),
            ended_at: c.ended_at.map(ts),
            ended_how: c.ended_how.clone(),
        }
    }
}

/// What an auditor asks of NHI credentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CredentialReport {
    /// Credentials in force whose rotation deadline has passed.
    pub past_rotation_deadline: Vec<CredentialView>,
    /// Credentials in force without an expiry. Writ issues none (every credential
    /// carries one, never later than its grant), so this lists nothing unless the
    /// store was edited behind the ledger's back.
    pub without_expiry: Vec<CredentialView>,
    /// NHIs whose owner is inactive, with their live grants.
    pub nhis_with_inactive_owner: Vec<OrphanNhi>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrphanNhi {
    pub nhi: String,
    pub owner: String,
    /// Who should find it a new owner: the leaver's manager (an admin sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_to_manager: Option<String>,
    /// Its live grants, held (no approvals, no new credentials) until it has an owner.
    pub live_grants: Vec<String>,
    /// Credentials still in force (Writ disables them within seconds).
    pub credentials_in_force: Vec<String>,
}

/// One provisioning job: a row of the outbox with the worker's bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub grant: String,
    /// `provision` or `deprovision`.
    pub action: String,
    /// `queued`, `done` or `dead`.
    pub state: String,
    pub system: String,
    pub entitlement: String,
    pub beneficiary: String,
    /// The entitlement's external reference in the target.
    pub target: String,
    /// The ledger entry that opened the job.
    pub opened_by_seq: u64,
    /// The ledger entry that closed or dead-lettered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by_seq: Option<u64>,
    /// Why it was dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed attempts so far (while queued).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<&ProvisioningJob> for JobView {
    fn from(j: &ProvisioningJob) -> Self {
        JobView {
            grant: j.grant.to_string(),
            action: j.action.as_str().into(),
            state: j.state.as_str().into(),
            system: j.system.to_string(),
            entitlement: j.entitlement.to_string(),
            beneficiary: j.beneficiary.to_string(),
            target: j.target.clone(),
            opened_by_seq: j.created_seq,
            closed_by_seq: j.finished_seq,
            error: j.error.clone(),
            attempts: j.attempts,
            next_attempt_at: j.next_at.map(ts),
            last_error: j.last_error.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// `provision` or `deprovision`.
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub reason: String,
}

// ---- catalogue ---------------------------------------------------------------------

/// An identity as the API shows and accepts it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// Ignored on PUT (the path names the identity).
    #[serde(default)]
    pub name: String,
    pub display_name: String,
    /// `human` or `nhi`.
    pub kind: String,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `admin` and/or `auditor` (not both).
    #[serde(default)]
    pub roles: Vec<String>,
    // human
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `employee`, `contractor` or `vendor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_type: Option<String>,
    // nhi
    /// `service_account`, `api_key`, `token`, `secret`, `workload` or `agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhi_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// ISO 8601 or short form; default 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period: Option<String>,
}

fn enum_from<T: serde::de::DeserializeOwned>(
    field: &str,
    text: &str,
    allowed: &str,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("{field} `{text}` is not one of: {allowed}"))
}

fn enum_to<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn required(field: &str, v: &Option<String>) -> Result<String, String> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("{field} is required"))
}

impl IdentityBody {
    pub fn to_domain(&self, name: &Name) -> Result<Identity, String> {
        let status = match self.status.as_deref() {
            None | Some("active") => IdentityStatus::Active,
            Some("inactive") => IdentityStatus::Inactive,
            Some(other) => return Err(format!("status `{other}` is not one of: active, inactive")),
        };
        let mut roles = BTreeSet::new();
        for r in &self.roles {
            roles.insert(enum_from::<Role>("role", r, "admin, auditor")?);
        }
        let kind = match self.kind.as_str() {
            "human" => IdentityKind::Human(writ_core::Human {
                email: required("email", &self.email)?,
                manager: self.manager.as_deref().map(Name::parse).transpose()?,
                department: self.department.clone(),
                employment_type: match self.employment_type.as_deref() {
                    None => EmploymentType::Employee,
                    Some(t) => enum_from("employment_type", t, "employee, contractor, vendor")?,
                },
            }),
            "nhi" => IdentityKind::Nhi(writ_core::Nhi {
                nhi_kind: enum_from(
                    "nhi_kind",
                    &required("nhi_kind", &self.nhi_kind)?,
                    "service_account, api_key, token, secret, workload, agent",
                )?,
                owner: Name::parse(&required("owner", &self.owner)?)?,
                purpose: required("purpose", &self.purpose)?,
                environment: required("environment", &self.environment)?,
                rotation_period: match &self.rotation_period {
                    None => DurationSpec::days(90),
                    Some(p) => DurationSpec::parse(p)?,
                },
            }),
            other => return Err(format!("kind `{other}` is not one of: human, nhi")),
        };
        Ok(Identity {
            name: name.clone(),
            display_name: self.display_name.trim().to_owned(),
            status,
            groups: self.groups.iter().cloned().collect(),
            roles,
            kind,
        })
    }
}

impl From<&Identity> for IdentityBody {
    fn from(i: &Identity) -> Self {
        let mut b = IdentityBody {
            name: i.name.to_string(),
            display_name: i.display_name.clone(),
            kind: i.kind_label().into(),
            status: Some(if i.is_active() { "active" } else { "inactive" }.into()),
            groups: i.groups.iter().cloned().collect(),
            roles: i.roles.iter().map(enum_to).collect(),
            email: None,
            manager: None,
            department: None,
            employment_type: None,
            nhi_kind: None,
            owner: None,
            purpose: None,
            environment: None,
            rotation_period: None,
        };
        match &i.kind {
            IdentityKind::Human(h) => {
                b.email = Some(h.email.clone());
                b.manager = h.manager.as_ref().map(|m| m.to_string());
                b.department = h.department.clone();
                b.employment_type = Some(enum_to(&h.employment_type));
            }
            IdentityKind::Nhi(n) => {
                b.nhi_kind = Some(enum_to::<NhiKind>(&n.nhi_kind));
                b.owner = Some(n.owner.to_string());
                b.purpose = Some(n.purpose.clone());
                b.environment = Some(n.environment.clone());
                b.rotation_period = Some(n.rotation_period.to_iso8601());
            }
        }
        b
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityBody>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemBody {
    #[serde(default)]
    pub name: String,
    pub display_name: String,
    /// `directory`, `database`, `saas` or `other`.
    pub kind: String,
    pub owner: String,
    #[serde(default)]
    pub description: String,
}

impl SystemBody {
    pub fn to_domain(&self, name: &Name) -> Result<System, String> {
        Ok(System {
            name: name.clone(),
            display_name: self.display_name.trim().to_owned(),
            kind: enum_from::<SystemKind>("kind", &self.kind, "directory, database, saas, other")?,
            owner: Name::parse(&self.owner)?,
            description: self.description.clone(),
        })
    }
}

impl From<&System> for SystemBody {
    fn from(s: &System) -> Self {
        SystemBody {
            name: s.name.to_string(),
            display_name: s.display_name.clone(),
            kind: enum_to(&s.kind),
            owner: s.owner.to_string(),
            description: s.description.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SystemList {
    pub systems: Vec<SystemBody>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementBody {
    /// `<system>/<name>`; ignored on PUT (the path names it).
    #[serde(default)]
    pub reference: String,
    pub display_name: String,
    /// `role`, `group`, `account`, `secret`, `api_scope` or `permission`.
    pub kind: String,
    /// LDAP group DN, PostgreSQL role, SCIM group id, OAuth scope.
    pub external_ref: String,
    /// `low`, `medium`, `high` or `critical`.
    pub risk: String,
    #[serde(default)]
    pub privileged: bool,
    /// ISO 8601 or short form.
    pub max_duration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub break_glass: bool,
    #[serde(default)]
    pub description: String,
}

impl EntitlementBody {
    pub fn to_domain(&self, r: &writ_core::EntitlementRef) -> Result<Entitlement, String> {
        Ok(Entitlement {
            system: r.system.clone(),
            name: r.entitlement.clone(),
            display_name: self.display_name.trim().to_owned(),
            kind: enum_from::<EntitlementKind>(
                "kind",
                &self.kind,
                "role, group, account, secret, api_scope, permission",
            )?,
            external_ref: self.external_ref.clone(),
            risk: enum_from::<RiskTier>("risk", &self.risk, "low, medium, high, critical")?,
            privileged: self.privileged,
            max_duration: DurationSpec::parse(&self.max_duration)?,
            owner: self.owner.as_deref().map(Name::parse).transpose()?,
            break_glass: self.break_glass,
            description: self.description.clone(),
        })
    }
}

impl From<&Entitlement> for EntitlementBody {
    fn from(e: &Entitlement) -> Self {
        EntitlementBody {
            reference: e.reference().to_string(),
            display_name: e.display_name.clone(),
            kind: enum_to(&e.kind),
            external_ref: e.external_ref.clone(),
            risk: e.risk.to_string(),
            privileged: e.privileged,
            max_duration: e.max_duration.to_iso8601(),
            owner: e.owner.as_ref().map(|o| o.to_string()),
            break_glass: e.break_glass,
            description: e.description.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntitlementList {
    pub entitlements: Vec<EntitlementBody>,
}

// ---- tokens, audit, misc ------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub identity: String,
    pub label: String,
    /// Lifetime, ISO 8601 or short form; none means until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub identity: String,
    pub label: String,
    pub issued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<&Token> for TokenView {
    fn from(t: &Token) -> Self {
        TokenView {
            id: t.id.to_string(),
            identity: t.identity.to_string(),
            label: t.label.clone(),
            issued_at: ts(t.issued_at),
            expires_at: t.expires_at.map(ts),
            revoked_at: t.revoked_at.map(ts),
        }
    }
}

/// A newly issued token. `secret` is shown this once and never again.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub token: TokenView,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// The event type, e.g. `step_decided`.
    pub kind: String,
    /// The aggregate, e.g. `request:req_…`.
    pub subject: String,
    /// RFC 9162 leaf hash of the exact leaf bytes, base64: SHA-256(0x00 ‖ leaf).
    pub leaf_hash: String,
    /// The decoded event.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` to get the next page; absent at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub identity: IdentityBody,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// One leaf of the ledger's Merkle tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// Position in the tree, from 0 (the event's `seq` is `index + 1`).
    pub index: u64,
    /// The exact leaf bytes, base64: hash these, never a re-serialisation.
    pub leaf: String,
    /// RFC 9162 leaf hash, base64: SHA-256(0x00 ‖ leaf).
    pub leaf_hash: String,
    /// The salted personal values the leaf commits to (base64 of canonical JSON);
    /// absent once they were erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<String>,
    /// Personal fields whose values were erased; the leaf still commits to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erased: Vec<String>,
    pub event: AuditEvent,
}

/// RFC 9162 inclusion proof: the sibling hashes from the leaf up, base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub proof: Vec<String>,
}

/// RFC 9162 consistency proof between two tree sizes, base64 hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub old: u64,
    pub new: u64,
    pub proof: Vec<String>,
}
