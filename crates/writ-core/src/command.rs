//! Commands: everything that can change Writ's state.

use crate::breakglass::Finding;
use crate::delegation::DelegationSpec;
use crate::grants::{Drift, JobAction, Receipt};
use crate::policy::ApprovalPolicy;
use crate::requests::{Decision, RequestKind};
use crate::reviews::{CampaignSpec, Occurrence, ReviewDecision, ReviewNeeds, RubberStampRules};
use crate::values::{
    CampaignId, Comment, Constraints, DelegationId, DurationSpec, Entitlement, EntitlementRef,
    GrantId, Identity, Justification, Name, Reason, RequestId, System, TicketRef, Timestamp,
    TokenId,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    ActivatePolicy {
        policy: ApprovalPolicy,
    },
    UpsertIdentity {
        identity: Identity,
    },
    UpsertSystem {
        system: System,
    },
    UpsertEntitlement {
        entitlement: Entitlement,
    },
    IssueToken {
        identity: Name,
        label: String,
        /// Keyed hash of the secret, computed by the server; never the secret.
        hash: String,
        expires_at: Option<Timestamp>,
    },
    RevokeToken {
        token: TokenId,
    },
    Submit {
        beneficiary: Name,
        entitlement: EntitlementRef,
        justification: Justification,
        ticket: Option<TicketRef>,
        duration: DurationSpec,
        kind: RequestKind,
        constraints: Option<Constraints>,
        /// Why a separation-of-duties exception is needed, when the request completes
        /// a toxic combination whose rule allows one.
        sod_exception: Option<Justification>,
    },
    Decide {
        request: RequestId,
        /// The step to decide; when absent, the first undecided step the actor may decide.
        step: Option<u32>,
        decision: Decision,
        comment: Option<Comment>,
    },
    Cancel {
        request: RequestId,
        reason: Option<Reason>,
    },
    RevokeGrant {
        grant: GrantId,
        reason: Reason,
    },
    ExpireGrant {
        grant: GrantId,
    },
    /// The provisioning worker reports the target's confirmation.
    ConfirmProvisioning {
        grant: GrantId,
        action: JobAction,
        receipt: Receipt,
    },
    /// The provisioning worker gives a job up: it goes to the dead-letter state.
    FailProvisioning {
        grant: GrantId,
        action: JobAction,
        attempts: u32,
        error: String,
    },
    /// An admin sends a dead-lettered or held job back to the worker.
    RetryProvisioning {
        grant: GrantId,
        action: JobAction,
    },
    /// An admin closes a removal the worker could not make (dead-lettered, or waiting
    /// for its next attempt), having removed the access by other means.
    ResolveProvisioning {
        grant: GrantId,
        action: JobAction,
        reason: Reason,
    },
    /// Security closes the post-incident review of break-glass access.
    CloseIncidentReview {
        request: RequestId,
        finding: Finding,
        notes: Reason,
    },
    /// The scheduler escalates an overdue post-incident review.
    EscalateIncidentReview {
        request: RequestId,
    },
    /// The scheduler applies a pending request's deadlines: reminders, escalation of
    /// open steps, and denial when it timed out.
    RunRequestDeadlines {
        request: RequestId,
    },
    /// Delegate one's approval authority for a window (see `delegation`).
    Delegate {
        spec: DelegationSpec,
    },
    /// End a delegation early (its delegator or an admin).
    RevokeDelegation {
        delegation: DelegationId,
        reason: Option<Reason>,
    },
    /// The provisioning worker asks, just before provisioning, whether every approver
    /// of the grant's request still has authority.
    RecheckAuthority {
        grant: GrantId,
        request: RequestId,
    },
    /// The NHI's owner has had a new credential set in the target (the server made
    /// it and shows it once); only its fingerprint reaches the ledger.
    IssueCredential {
        grant: GrantId,
        fingerprint: String,
        expires_at: Timestamp,
        rotate_by: Timestamp,
    },
    /// Writ disabled a credential in the target (its NHI's owner left).
    RevokeCredential {
        grant: GrantId,
        fingerprint: String,
    },
    /// The scheduler notes that a credential reached its rotation deadline.
    NoteRotationDue {
        grant: GrantId,
        fingerprint: String,
    },
    /// An admin launches an access-review campaign (or the scheduler, a schedule's
    /// occurrence).
    LaunchCampaign {
        spec: CampaignSpec,
        schedule: Option<Occurrence>,
    },
    /// A reviewer certifies or revokes items (more than one: a bulk decision).
    DecideReview {
        campaign: CampaignId,
        items: Vec<u32>,
        decision: ReviewDecision,
        reason: Option<Reason>,
    },
    /// The scheduler reminds, escalates, and applies the deadline action when due.
    RunReviewDeadlines {
        campaign: CampaignId,
    },
    /// Flags reviewers whose decisions meet a rubber-stamp rule.
    FlagReviewers {
        campaign: CampaignId,
        rules: RubberStampRules,
    },
    /// The campaign owner sends a flagged reviewer's certifications back for review.
    RequireReReview {
        campaign: CampaignId,
        reviewer: Name,
    },
    /// Reconciliation records a finding (`found`) or that it no longer holds.
    RecordDrift {
        drift: Drift,
        found: bool,
        action: String,
    },
}

/// What the store must load before `decide` can judge a command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub request: Option<RequestId>,
    pub grant: Option<GrantId>,
    pub token: Option<TokenId>,
    /// Open request and active grant for this (beneficiary, entitlement) pair.
    pub pair: Option<(Name, EntitlementRef)>,
    /// What a review command (or a manager change) looks at.
    pub review: Option<ReviewNeeds>,
}

impl Command {
    pub fn needs(&self) -> Needs {
        match self {
            Command::Decide { request, .. }
            | Command::Cancel { request, .. }
            | Command::RunRequestDeadlines { request }
            | Command::CloseIncidentReview { request, .. }
            | Command::EscalateIncidentReview { request } => Needs {
                request: Some(request.clone()),
                ..Needs::default()
            },
            Command::RecheckAuthority { grant, request } => Needs {
                request: Some(request.clone()),
                grant: Some(grant.clone()),
                ..Needs::default()
            },
            Command::RevokeGrant { grant, .. }
            | Command::ExpireGrant { grant }
            | Command::ConfirmProvisioning { grant, .. }
            | Command::FailProvisioning { grant, .. }
            | Command::RetryProvisioning { grant, .. }
            | Command::ResolveProvisioning { grant, .. }
            | Command::IssueCredential { grant, .. }
            | Command::NoteRotationDue { grant, .. }
            | Command::RevokeCredential { grant, .. } => Needs {
                grant: Some(grant.clone()),
                ..Needs::default()
            },
            Command::RecordDrift { drift, .. } => Needs {
                grant: drift.grant.clone(),
                ..Needs::default()
            },
            Command::RevokeToken { token } => Needs {
                token: Some(token.clone()),
                ..Needs::default()
            },
            Command::Submit {
                beneficiary,
                entitlement,
                ..
            } => Needs {
                pair: Some((beneficiary.clone(), entitlement.clone())),
                ..Needs::default()
            },
            Command::UpsertIdentity { identity } => Needs {
                review: Some(ReviewNeeds::Beneficiary(identity.name.clone())),
                ..Needs::default()
            },
            Command::LaunchCampaign { schedule, .. } => Needs {
                review: Some(ReviewNeeds::Population {
                    occurrence: schedule.clone(),
                }),
                ..Needs::default()
            },
            Command::DecideReview {
                campaign, items, ..
            } => Needs {
                review: Some(ReviewNeeds::Items {
                    campaign: campaign.clone(),
                    items: items.clone(),
                }),
                ..Needs::default()
            },
            Command::RunReviewDeadlines { campaign } => Needs {
                review: Some(ReviewNeeds::Open(campaign.clone())),
                ..Needs::default()
            },
            Command::FlagReviewers { campaign, .. } => Needs {
                review: Some(ReviewNeeds::Decisions(campaign.clone())),
                ..Needs::default()
            },
            Command::RequireReReview { campaign, reviewer } => Needs {
                review: Some(ReviewNeeds::CertifiedBy {
                    campaign: campaign.clone(),
                    reviewer: reviewer.clone(),
                }),
                ..Needs::default()
            },
            Command::ActivatePolicy { .. }
            | Command::Delegate { .. }
            | Command::RevokeDelegation { .. }
            | Command::UpsertSystem { .. }
            | Command::UpsertEntitlement { .. }
            | Command::IssueToken { .. } => Needs::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::ActivatePolicy { .. } => "activate_policy",
            Command::UpsertIdentity { .. } => "upsert_identity",
            Command::UpsertSystem { .. } => "upsert_system",
            Command::UpsertEntitlement { .. } => "upsert_entitlement",
            Command::IssueToken { .. } => "issue_token",
            Command::RevokeToken { .. } => "revoke_token",
            Command::Submit { .. } => "submit_request",
            Command::Decide { .. } => "decide_step",
            Command::Cancel { .. } => "cancel_request",
            Command::RevokeGrant { .. } => "revoke_grant",
            Command::ExpireGrant { .. } => "expire_grant",
            Command::ConfirmProvisioning { .. } => "confirm_provisioning",
            Command::FailProvisioning { .. } => "fail_provisioning",
            Command::RetryProvisioning { .. } => "retry_provisioning",
            Command::ResolveProvisioning { .. } => "resolve_provisioning",
            Command::RecheckAuthority { .. } => "recheck_authority",
            Command::Delegate { .. } => "delegate",
            Command::RunRequestDeadlines { .. } => "run_request_deadlines",
            Command::CloseIncidentReview { .. } => "close_incident_review",
            Command::EscalateIncidentReview { .. } => "escalate_incident_review",
            Command::RevokeDelegation { .. } => "revoke_delegation",
            Command::RecordDrift { .. } => "record_drift",
            Command::IssueCredential { .. } => "issue_credential",
            Command::NoteRotationDue { .. } => "note_rotation_due",
            Command::RevokeCredential { .. } => "revoke_credential",
            Command::LaunchCampaign { .. } => "launch_campaign",
            Command::DecideReview { .. } => "decide_review",
            Command::RunReviewDeadlines { .. } => "run_review_deadlines",
            Command::FlagReviewers { .. } => "flag_reviewers",
            Command::RequireReReview { .. } => "require_rereview",
        }
    }
}
