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

use serde_json::Value;

use crate::canonical::{CanonicalError, canonical_bytes};
use crate::catalog::{Entitlement, System};
use crate::command::Actor;
use crate::delegation::Delegation;
use crate::grant::{Drift, JobAction, Receipt};
use crate::identity::Identity;
use crate::ids::{CampaignId, DelegationId, GrantId, RequestId, TokenId};
use crate::names::{Comment, EntitlementRef, Name, Reason, TicketRef};
use crate::personal::{self, Personal};
use crate::policy::{ApprovalPolicy, StepRole};
use crate::request::{Decision, Finding, StepAuthority, Submission};
use crate::review::{Assignee, CampaignSpec, ItemOpened, Occurrence, ReviewDecision};
use crate::time::Timestamp;
use crate::token::Token;

/// The encoding version [`Recorded::seal`] writes: personal values sealed.
pub const CURRENT_ENCODING: u32 = 2;

/// The first encoding version, every value in clear: what [`Recorded::encode`]
/// writes. Still read, so ledgers begun before version 2 stay verifiable.
pub const PLAIN_ENCODING: u32 = 1;

/// An approver who no longer has authority for the step they approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LostAuthority {
    pub step: u32,
    pub approver: Name,
    pub why: String,
}

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
    /// An admin sent a dead-lettered or held job back to the worker.
    ProvisioningRetried {
        grant: GrantId,
        action: JobAction,
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

/// An event as the ledger holds it: position, time, who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub event: Event,
}

#[derive(Serialize)]
struct EncodedRef<'a> {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: &'a Actor,
    event: &'a Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Encoded {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: Actor,
    event: Event,
}

/// A sealed event: the leaf the tree hashes, and the personal document beside it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Canonical leaf bytes, encoding version [`CURRENT_ENCODING`]. Holds no personal
    /// value, only commitments to them.
    pub leaf: Vec<u8>,
    /// The canonical personal document: `{}` when the event has no personal values.
    pub personal: Vec<u8>,
}

/// The leaf holds no personal data, so `Debug` shows it; the personal document is
/// shown by size only.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("leaf", &String::from_utf8_lossy(&self.leaf))
            .field("personal", &format_args!("<{} bytes>", self.personal.len()))
            .finish()
    }
}

/// An opened leaf: the event, with [`ERASED`](crate::ERASED) in every erased field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub recorded: Recorded,
    /// Pointers of the personal fields whose values were erased, in order. The leaf
    /// still commits to them, but they can no longer be shown or proven.
    pub erased: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("leaf is not a Writ event: {0}")]
    Malformed(String),
    #[error(
        "leaf has encoding version {0}; this build reads versions {PLAIN_ENCODING} to {CURRENT_ENCODING}"
    )]
    Version(u32),
    #[error("leaf is not in canonical form")]
    NotCanonical,
    #[error("personal document is malformed: {0}")]
    PersonalMalformed(String),
    #[error("personal value at `{0}` does not match the leaf's commitment")]
    Tampered(String),
    #[error("personal document holds `{0}`, which the leaf does not seal")]
    UnexpectedPersonal(String),
    #[error("leaf seals personal values (`{}`): open it with its personal document", .0.join("`, `"))]
    Sealed(Vec<String>),
}

impl Recorded {
    fn plain(&self, v: u32) -> Result<Value, CanonicalError> {
        Ok(serde_json::to_value(EncodedRef {
            v,
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            event: &self.event,
        })?)
    }

    /// The version-1 leaf bytes, every value in clear.
    ///
    /// The ledger no longer writes these: leaves are written by [`Recorded::seal`], so
    /// that personal data can be erased. Kept for callers that have not moved yet and
    /// for tests of version-1 ledgers.
    pub fn encode(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical_bytes(&self.plain(PLAIN_ENCODING)?)
    }

    /// Reads a leaf on its own: any version-1 leaf, or a version-2 leaf that seals
    /// nothing. A leaf that seals personal values is refused
    /// ([`DecodeError::Sealed`]) rather than read with placeholders; use
    /// [`Recorded::open`] for it.
    pub fn decode(bytes: &[u8]) -> Result<Recorded, DecodeError> {
        let opened = Recorded::open(bytes, None)?;
        if !opened.erased.is_empty() {
            return Err(DecodeError::Sealed(opened.erased));
        }
        Ok(opened.recorded)
    }

    /// The leaf the ledger writes (version [`CURRENT_ENCODING`]) and the personal
    /// document to store beside it.
    ///
    /// `salt` is called once per personal value present, in the order of
    /// [`PERSONAL_FIELDS`](crate::PERSONAL_FIELDS); given the same salts, sealing is
    /// deterministic. In production the salts must be uniformly random (a CSPRNG):
    /// they are all that keeps an erased value from being confirmed by a guess.
    pub fn seal(&self, salt: &mut dyn FnMut() -> [u8; 16]) -> Result<Sealed, CanonicalError> {
        let mut leaf = self.plain(CURRENT_ENCODING)?;
        let personal = personal::seal_fields(&mut leaf, self.event.kind(), salt)?;
        Ok(Sealed {
            leaf: canonical_bytes(&leaf)?,
            personal: personal.to_bytes()?,
        })
    }

    /// Reads a leaf of either version with the personal document stored beside it.
    ///
    /// The leaf must be exactly the canonical encoding of what it says, so two
    /// different byte strings can never mean the same event. Every value in the
    /// document must match the leaf's commitment ([`DecodeError::Tampered`] names the
    /// first that does not), and the document may hold no value the leaf does not
    /// seal. A sealed field without a value was erased: it reads as
    /// [`ERASED`](crate::ERASED) and is listed in [`Opened::erased`]. `None` means the
    /// whole document is gone: every sealed field is erased.
    pub fn open(leaf: &[u8], personal: Option<&[u8]>) -> Result<Opened, DecodeError> {
        let mut value: Value =
            serde_json::from_slice(leaf).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let v = match value.get("v") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| DecodeError::Malformed(format!("`{n}` is not a version")))?,
            _ => return Err(DecodeError::Malformed("no integer version `v`".into())),
        };
        let kind = value
            .pointer("/event/type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let sealed = match v {
            PLAIN_ENCODING => Default::default(),
            CURRENT_ENCODING => personal::commitments(&value, &kind)?,
            other => return Err(DecodeError::Version(other)),
        };
        let personal = match personal {
            Some(bytes) => Personal::parse(bytes)?,
            None => Personal::default(),
        };
        let erased = personal::unseal(&mut value, &sealed, &personal)?;
        let e: Encoded =
            serde_json::from_value(value).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let recorded = Recorded {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            event: e.event,
        };
        // Encode what was read and seal it again with the leaf's own commitments: it
        // must give back the very bytes, and each personal value its very value.
        let mut again = recorded.plain(e.v).map_err(|_| DecodeError::NotCanonical)?;
        for (pointer, commit) in &sealed {
            let slot = again
                .pointer_mut(pointer)
                .ok_or(DecodeError::NotCanonical)?;
            if !erased.contains(pointer) && personal::value_of(&personal, pointer) != Some(&*slot) {
                return Err(DecodeError::PersonalMalformed(format!(
                    "value of `{pointer}` is not in canonical form"
                )));
            }
            *slot = commit.clone();
        }
        match canonical_bytes(&again) {
            Ok(bytes) if bytes == leaf => Ok(Opened { recorded, erased }),
            _ => Err(DecodeError::NotCanonical),
        }
    }
}
