//! A grant: access that exists because a request was approved, always with an end.
//!
//! On a system with a connector, a grant is `pending` until the target confirms the
//! access exists (`GrantProvisioned`), and a revoked or expired one is `revoking` /
//! `expiring` until the target confirms it is gone (`GrantDeprovisioned`). On a system
//! without one, the decision is the whole story: `active` at once, `revoked` at once.

use serde::{Deserialize, Serialize};

use crate::values::{EntitlementRef, GrantId, Name, RequestId, Timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Approved; the target system has not confirmed the access yet.
    Pending,
    Active,
    /// Revoked; the target system has not confirmed the removal yet.
    Revoking,
    /// Expired; the target system has not confirmed the removal yet.
    Expiring,
    Expired,
    Revoked,
    /// Replaced by the grant of an approved renewal; access continued without a gap.
    Renewed,
}

impl GrantStatus {
    pub const ALL: [GrantStatus; 7] = [
        GrantStatus::Pending,
        GrantStatus::Active,
        GrantStatus::Revoking,
        GrantStatus::Expiring,
        GrantStatus::Expired,
        GrantStatus::Revoked,
        GrantStatus::Renewed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Pending => "pending",
            GrantStatus::Active => "active",
            GrantStatus::Revoking => "revoking",
            GrantStatus::Expiring => "expiring",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Renewed => "renewed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        GrantStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a grant status: use pending, active, revoking, expiring, expired, revoked or renewed"
                )
            })
    }
}

/// The two things a provisioning job does to a target system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    /// Make the access exist in the target.
    Provision,
    /// Make it disappear.
    Deprovision,
}

impl JobAction {
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Provision => "provision",
            JobAction::Deprovision => "deprovision",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "provision" => Ok(JobAction::Provision),
            "deprovision" => Ok(JobAction::Deprovision),
            other => Err(format!(
                "`{other}` is not a provisioning action: use provision or deprovision"
            )),
        }
    }
}

/// A target system's confirmation, as the ledger keeps it. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The connector that did it (`ldap`, `postgres`, `scim`, `webhook`).
    pub connector: String,
    /// What changed: `added`, `already_present`, `removed`, `already_absent`.
    pub change: String,
    /// The target's identifier for the account (an LDAP DN, a PostgreSQL role, a SCIM id).
    pub account_ref: String,
    /// The target's identifier for the entitlement.
    pub target_ref: String,
    pub detail: String,
}

impl Receipt {
    /// Receipts come from target systems: bounded, so a chatty target cannot bloat the
    /// ledger.
    pub fn validate(&self) -> Result<(), String> {
        for (field, value, max) in [
            ("connector", &self.connector, 32),
            ("change", &self.change, 32),
            ("account_ref", &self.account_ref, 1024),
            ("target_ref", &self.target_ref, 1024),
            ("detail", &self.detail, 1024),
        ] {
            if value.len() > max {
                return Err(format!("receipt {field} is longer than {max} bytes"));
            }
        }
        if self.change.is_empty() {
            return Err("receipt says nothing about what changed".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub request: RequestId,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub granted_at: Timestamp,
    /// Every grant ends: there is no grant without an expiry.
    pub expires_at: Timestamp,
    pub review_by: Timestamp,
    pub renews: Option<GrantId>,
    pub status: GrantStatus,
    pub ended_at: Option<Timestamp>,
    pub ended_by: Option<String>,
    pub end_reason: Option<String>,
    pub successor: Option<GrantId>,
    /// A connector provisions this grant in its target system.
    pub provision: bool,
    /// When the target confirmed the access exists.
    pub provisioned_at: Option<Timestamp>,
    /// When the target confirmed the access is gone.
    pub deprovisioned_at: Option<Timestamp>,
    /// The job that failed for good and waits for an admin's retry, if any.
    pub failed: Option<JobAction>,
    /// The fingerprint of the credential in force, for grants that issue one.
    pub credential: Option<String>,
    /// Break-glass access: when its run of back-to-back emergency grants began.
    pub emergency_since: Option<Timestamp>,
    /// Held, not provisioned: an approver lost their authority before provisioning.
    /// Says who and why; an admin's retry checks again.
    pub held: Option<String>,
}

impl Grant {
    /// The access is in place (and confirmed by the target, where one is connected).
    pub fn is_active(&self) -> bool {
        self.status == GrantStatus::Active
    }

    /// Granted and not ended: active, or pending its target's confirmation.
    pub fn is_live(&self) -> bool {
        matches!(self.status, GrantStatus::Pending | GrantStatus::Active)
    }

    /// The provisioning job this grant has open, if any: the one a worker should run.
    pub fn open_job(&self) -> Option<JobAction> {
        if !self.provision {
            return None;
        }
        let job = match self.status {
            GrantStatus::Pending => JobAction::Provision,
            GrantStatus::Revoking | GrantStatus::Expiring => JobAction::Deprovision,
            _ => return None,
        };
        let held = job == JobAction::Provision && self.held.is_some();
        (self.failed != Some(job) && !held).then_some(job)
    }
}

/// What reconciliation found wrong between a target system and the grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Access in the target that no live grant explains.
    Unexplained,
    /// An active grant whose access the target does not have.
    Missing,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Unexplained => "unexplained",
            DriftKind::Missing => "missing",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "unexplained" => Ok(DriftKind::Unexplained),
            "missing" => Ok(DriftKind::Missing),
            other => Err(format!(
                "`{other}` is not a drift kind: use unexplained or missing"
            )),
        }
    }
}

/// One reconciliation finding. `(system, entitlement, kind, account_ref)` identifies
/// it: it is recorded once when found and once when it no longer holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    pub kind: DriftKind,
    pub system: Name,
    pub entitlement: EntitlementRef,
    /// The Writ identity the target's account maps back to, if it does.
    pub account: Option<Name>,
    /// The target's own identifier for the account.
    pub account_ref: String,
    /// The grant that should have put the access there (`missing` only).
    pub grant: Option<GrantId>,
}

impl Drift {
    pub fn validate(&self) -> Result<(), String> {
        if self.account_ref.is_empty() || self.account_ref.len() > 1024 {
            return Err("a finding's account_ref must be 1-1024 bytes".into());
        }
        if self.entitlement.system != self.system {
            return Err(format!(
                "finding on system `{}` names entitlement `{}` of another system",
                self.system, self.entitlement
            ));
        }
        match (self.kind, &self.grant) {
            (DriftKind::Missing, None) => Err("a missing-access finding names its grant".into()),
            (DriftKind::Unexplained, Some(_)) => {
                Err("unexplained access has no grant to name".into())
            }
            _ => Ok(()),
        }
    }
}
/// An approver who no longer has authority for the step they approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LostAuthority {
    pub step: u32,
    pub approver: Name,
    pub why: String,
}
