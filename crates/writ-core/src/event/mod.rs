//! Events and their canonical, versioned byte encoding.
//!
//! The ledger stores and hashes exactly the leaf bytes of [`Recorded::seal`]:
//! canonical JSON with sorted keys, integers only (times in milliseconds, durations in
//! seconds), and a format version `v`. The API's JSON is a different thing and may
//! change freely; this encoding changes only with a new `v`.
//!
//! - `v: 1` ([`PLAIN_ENCODING`], [`Recorded::encode`]): every value in clear. The
//!   first ledgers were written this way and are still read.
//! - `v: 2` ([`CURRENT_ENCODING`], [`Recorded::seal`]): the same, except that each
//!   personal value is replaced by a salted commitment and kept beside the leaf in a
//!   personal document, so it can be erased without changing the leaf. See
//!   [`crate::personal`].

use serde::{Deserialize, Serialize};

use crate::breakglass::Finding;
use crate::delegation::Delegation;
use crate::grants::{Drift, JobAction, LostAuthority, Receipt};
use crate::policy::ApprovalPolicy;
use crate::requests::{Decision, StepAuthority, StepRole, Submission};
use crate::reviews::{Assignee, CampaignSpec, ItemOpened, Occurrence, ReviewDecision};
use crate::tokens::Token;
use crate::values::{
    CampaignId, Comment, DelegationId, Entitlement, EntitlementRef, GrantId, Identity, Name,
    Reason, RequestId, System, TicketRef, Timestamp, TokenId,
};

mod encoding;
mod error;
pub mod personal;

pub use encoding::{Opened, Recorded, Sealed};
pub use error::{CURRENT_ENCODING, DecodeError, PLAIN_ENCODING};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The approval policy in force from now on. The entry's actor is who changed it.
    PolicyActivated {
        version: String,
        policy: ApprovalPolicy,
        /// The version it replaces (absent for the first, and before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    IdentityUpserted {
        identity: Identity,
    },
    SystemUpserted {
        system: System,
    },
    EntitlementUpserted {
        entitlement: Entitlement,
    },
    TokenIssued {
        token: Token,
    },
    TokenRevoked {
        token: TokenId,
    },
    RequestSubmitted {
        request: Submission,
        digest: String,
    },
    StepDecided {
        request: RequestId,
        step: u32,
        role: StepRole,
        approver: Name,
        decision: Decision,
        comment: Option<Comment>,
        basis: String,
        policy_version: String,
        /// The digest of the submission the approver saw and decided.
        request_digest: String,
        /// The policies and facts the decision rested on (absent before Cedar).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authority: Option<StepAuthority>,
    },
    RequestApproved {
        request: RequestId,
        grant: GrantId,
    },
    RequestDenied {
        request: RequestId,
        step: u32,
    },
    RequestCancelled {
        request: RequestId,
        reason: Option<Reason>,
    },
    GrantCreated {
        grant: GrantId,
        request: RequestId,
        beneficiary: Name,
        entitlement: EntitlementRef,
        expires_at: Timestamp,
        review_by: Timestamp,
        renews: Option<GrantId>,
        /// Break-glass access: when the run of back-to-back emergency grants this one
        /// continues began (its own start for the first).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emergency_since: Option<Timestamp>,
        /// A connector provisions the grant: it stays pending until the target confirms.
        /// Absent (false) on systems without one, and in every leaf written before
        /// connectors existed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        provision: bool,
    },
    GrantRenewed {
        grant: GrantId,
        successor: GrantId,
    },
    GrantRevoked {
        grant: GrantId,
        reason: Reason,
        basis: String,
    },
    GrantExpired {
        grant: GrantId,
    },
    /// The target system confirmed the access exists.
    GrantProvisioned {
        grant: GrantId,
        receipt: Receipt,
    },
    /// The target system confirmed the access is gone.
    GrantDeprovisioned {
        grant: GrantId,
        receipt: Receipt,
    },
    /// A provisioning job failed for good (a permanent error, or every attempt spent);
    /// it waits in the dead-letter state for an admin's retry.
    ProvisioningFailed {
        grant: GrantId,
        action: JobAction,
        attempts: u32,
        error: String,
    },
    /// An admin sent a dead-lettered or held job back to the worker, or a job waiting
    /// for its next attempt to run now.
    ProvisioningRetried {
        grant: GrantId,
        action: JobAction,
    },
    /// An admin closed a removal the worker could not make, having removed the access
    /// in the target by other means: the grant ends as if the target had confirmed.
    /// Only ever a removal, so no access is created on anyone's word.
    ProvisioningResolved {
        grant: GrantId,
        action: JobAction,
        /// Personal data: sealed in the ledger.
        reason: Reason,
    },
    /// A reminder to the people who may decide a step before it escalates
    /// (a notification record).
    ApprovalReminded {
        request: RequestId,
        step: u32,
        notified: Vec<Name>,
    },
    /// A step passed its deadline: the fallback approvers the policies name may now
    /// decide it too, and are notified.
    StepEscalated {
        request: RequestId,
        step: u32,
        notified: Vec<Name>,
    },
    /// A request still pending at its final deadline: denied, "timed out".
    RequestTimedOut {
        request: RequestId,
        notified: Vec<Name>,
    },
    /// Break-glass access was granted at once: security is notified, and a
    /// post-incident review is open until `review_due` (then it escalates).
    BreakGlassUsed {
        request: RequestId,
        grant: GrantId,
        incident: TicketRef,
        review_due: Timestamp,
        notified: Vec<Name>,
    },
    /// A post-incident review passed its due date open: escalated, with notices.
    IncidentReviewEscalated {
        request: RequestId,
        notified: Vec<Name>,
    },
    /// Security closed a post-incident review with its finding.
    IncidentReviewClosed {
        request: RequestId,
        finding: Finding,
        /// Personal data: sealed in the ledger.
        notes: Reason,
    },
    /// An approver delegated their authority for a window.
    DelegationGranted {
        delegation: Delegation,
    },
    /// A delegation ended before its window did.
    DelegationRevoked {
        delegation: DelegationId,
        revoked_at: Timestamp,
        reason: Option<Reason>,
    },
    /// Just before provisioning, every approver's authority was judged again, by the
    /// same function as at decision time, under the policy in force. When one was
    /// lost the grant is held, not provisioned.
    AuthorityRechecked {
        grant: GrantId,
        policy_version: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lost: Vec<LostAuthority>,
    },
    /// A credential was set in the target for an NHI's grant and shown once to the
    /// NHI's owner. Only its fingerprint is recorded, never the secret.
    CredentialIssued {
        grant: GrantId,
        fingerprint: String,
        expires_at: Timestamp,
        rotate_by: Timestamp,
        /// The credential it replaces (a rotation).
        replaces: Option<String>,
    },
    /// The credential was disabled in the target (with the access it belongs to).
    CredentialRevoked {
        grant: GrantId,
        fingerprint: String,
    },
    /// A credential reached its rotation deadline: a notice for its NHI's owner.
    CredentialRotationDue {
        grant: GrantId,
        fingerprint: String,
    },
    /// Reconciliation found the target and the grants disagree. `action` says what
    /// Writ did: `reported`, `requeued` (missing access provisioned again), or the
    /// outcome of removing unexplained access (`removed: …`, `removal failed: …`).
    DriftFound {
        drift: Drift,
        action: String,
    },
    /// A finding no longer holds (the access was removed, or granted, or restored).
    DriftResolved {
        drift: Drift,
    },
    /// An access-review campaign snapshotted its population. `population` grants were
    /// in scope out of `live_grants` live in Writ at that instant; `digest` is the
    /// SHA-256 of their sorted ids. Its items follow in `review_items_opened` events.
    CampaignLaunched {
        campaign: CampaignId,
        spec: CampaignSpec,
        schedule: Option<Occurrence>,
        population: u64,
        live_grants: u64,
        digest: String,
    },
    /// A chunk of a campaign's review items, each with its reviewer and why.
    ReviewItemsOpened {
        campaign: CampaignId,
        items: Vec<ItemOpened>,
    },
    /// A reviewer (or, `defaulted`, the campaign's deadline action) decided an item.
    /// A certification moves the grant's `review_by` to `review_by`.
    ReviewDecided {
        campaign: CampaignId,
        item: u32,
        grant: GrantId,
        decision: ReviewDecision,
        reason: Option<Reason>,
        bulk: bool,
        defaulted: bool,
        basis: String,
        review_by: Option<Timestamp>,
    },
    /// Items moved to another reviewer: escalated when overdue, or reopened
    /// (`reopen`) for re-review after their reviewer was flagged.
    ReviewItemsReassigned {
        campaign: CampaignId,
        items: Vec<u32>,
        to: Assignee,
        why: String,
        reopen: bool,
    },
    /// A notification record: `reminder`, `escalation`, `kept-at-deadline`.
    ReviewNotified {
        campaign: CampaignId,
        to: Assignee,
        notice: String,
        items: u64,
    },
    /// A reviewer's decisions met a rubber-stamp rule.
    ReviewerFlagged {
        campaign: CampaignId,
        reviewer: Name,
        rule: String,
        decisions: u32,
        certified: u32,
        median_gap_ms: Option<i64>,
    },
    /// Every item of the campaign is decided.
    CampaignClosed {
        campaign: CampaignId,
        certified: u64,
        revoked: u64,
        kept: u64,
    },
    /// An administrator erased the personal values about `identity` from `entries`
    /// earlier entries. Their leaves, and so the tree, are unchanged.
    PersonalDataErased {
        identity: Name,
        entries: u64,
        fields: u64,
    },
}

impl Event {
    /// The event's type name as it appears in the encoding.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PolicyActivated { .. } => "policy_activated",
            Event::IdentityUpserted { .. } => "identity_upserted",
            Event::SystemUpserted { .. } => "system_upserted",
            Event::EntitlementUpserted { .. } => "entitlement_upserted",
            Event::TokenIssued { .. } => "token_issued",
            Event::TokenRevoked { .. } => "token_revoked",
            Event::RequestSubmitted { .. } => "request_submitted",
            Event::StepDecided { .. } => "step_decided",
            Event::RequestApproved { .. } => "request_approved",
            Event::RequestDenied { .. } => "request_denied",
            Event::RequestCancelled { .. } => "request_cancelled",
            Event::GrantCreated { .. } => "grant_created",
            Event::GrantRenewed { .. } => "grant_renewed",
            Event::GrantRevoked { .. } => "grant_revoked",
            Event::GrantExpired { .. } => "grant_expired",
            Event::GrantProvisioned { .. } => "grant_provisioned",
            Event::GrantDeprovisioned { .. } => "grant_deprovisioned",
            Event::ProvisioningFailed { .. } => "provisioning_failed",
            Event::ProvisioningRetried { .. } => "provisioning_retried",
            Event::ProvisioningResolved { .. } => "provisioning_resolved",
            Event::AuthorityRechecked { .. } => "authority_rechecked",
            Event::DelegationGranted { .. } => "delegation_granted",
            Event::ApprovalReminded { .. } => "approval_reminded",
            Event::BreakGlassUsed { .. } => "break_glass_used",
            Event::IncidentReviewEscalated { .. } => "incident_review_escalated",
            Event::IncidentReviewClosed { .. } => "incident_review_closed",
            Event::StepEscalated { .. } => "step_escalated",
            Event::RequestTimedOut { .. } => "request_timed_out",
            Event::DelegationRevoked { .. } => "delegation_revoked",
            Event::DriftFound { .. } => "drift_found",
            Event::CredentialIssued { .. } => "credential_issued",
            Event::CredentialRevoked { .. } => "credential_revoked",
            Event::CredentialRotationDue { .. } => "credential_rotation_due",
            Event::DriftResolved { .. } => "drift_resolved",
            Event::PersonalDataErased { .. } => "personal_data_erased",
            Event::CampaignLaunched { .. } => "campaign_launched",
            Event::ReviewItemsOpened { .. } => "review_items_opened",
            Event::ReviewDecided { .. } => "review_decided",
            Event::ReviewItemsReassigned { .. } => "review_items_reassigned",
            Event::ReviewNotified { .. } => "review_notified",
            Event::ReviewerFlagged { .. } => "reviewer_flagged",
            Event::CampaignClosed { .. } => "campaign_closed",
        }
    }

    /// The aggregate the event belongs to, e.g. `request:req_…`, `identity:alice`.
    pub fn subject(&self) -> String {
        match self {
            Event::PolicyActivated { version, .. } => format!("policy:{version}"),
            Event::IdentityUpserted { identity } => format!("identity:{}", identity.name),
            Event::SystemUpserted { system } => format!("system:{}", system.name),
            Event::EntitlementUpserted { entitlement } => {
                format!("entitlement:{}", entitlement.reference())
            }
            Event::TokenIssued { token } => format!("token:{}", token.id),
            Event::TokenRevoked { token } => format!("token:{token}"),
            Event::RequestSubmitted { request, .. } => format!("request:{}", request.id),
            Event::StepDecided { request, .. }
            | Event::RequestApproved { request, .. }
            | Event::RequestDenied { request, .. }
            | Event::RequestCancelled { request, .. }
            | Event::ApprovalReminded { request, .. }
            | Event::StepEscalated { request, .. }
            | Event::RequestTimedOut { request, .. }
            | Event::BreakGlassUsed { request, .. }
            | Event::IncidentReviewEscalated { request, .. }
            | Event::IncidentReviewClosed { request, .. } => format!("request:{request}"),
            Event::GrantCreated { grant, .. }
            | Event::GrantRenewed { grant, .. }
            | Event::GrantRevoked { grant, .. }
            | Event::GrantExpired { grant }
            | Event::GrantProvisioned { grant, .. }
            | Event::GrantDeprovisioned { grant, .. }
            | Event::ProvisioningFailed { grant, .. }
            | Event::ProvisioningRetried { grant, .. }
            | Event::ProvisioningResolved { grant, .. }
            | Event::AuthorityRechecked { grant, .. }
            | Event::CredentialIssued { grant, .. }
            | Event::CredentialRevoked { grant, .. }
            | Event::CredentialRotationDue { grant, .. } => format!("grant:{grant}"),
            Event::PersonalDataErased { identity, .. } => format!("identity:{identity}"),
            Event::DelegationGranted { delegation } => format!("delegation:{}", delegation.id),
            Event::DelegationRevoked { delegation, .. } => format!("delegation:{delegation}"),
            Event::CampaignLaunched { campaign, .. }
            | Event::ReviewItemsOpened { campaign, .. }
            | Event::ReviewDecided { campaign, .. }
            | Event::ReviewItemsReassigned { campaign, .. }
            | Event::ReviewNotified { campaign, .. }
            | Event::ReviewerFlagged { campaign, .. }
            | Event::CampaignClosed { campaign, .. } => format!("campaign:{campaign}"),
            Event::DriftFound { drift, .. } | Event::DriftResolved { drift } => {
                match &drift.grant {
                    Some(grant) => format!("grant:{grant}"),
                    None => format!("system:{}", drift.system),
                }
            }
        }
    }
}
