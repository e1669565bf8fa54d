//! Grants on the wire: a grant, its credentials and provisioning jobs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::Grant;
use writ_store::{CredentialRecord, ProvisioningJob};

use super::ts;

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
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// `provision` or `deprovision`.
    #[schema(pattern = r"^(provision|deprovision)$")]
    pub action: String,
}

/// Closing a removal by hand: the access was removed in the target by other means.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Only `deprovision`: no access is ever added on anyone's word.
    #[schema(pattern = r"^deprovision$")]
    pub action: String,
    /// What was done in the target, and by whom.
    #[schema(min_length = 3, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[schema(min_length = 3, max_length = 2000)]
    pub reason: String,
}
