//! The access request: frozen at submission, decided step by step. The types here
//! are the payloads of the request events and the aggregate the rules read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::breakglass::IncidentReview;
use crate::values::{
    CanonicalError, Comment, Constraints, DelegationId, DurationSpec, EntitlementRef, GrantId,
    Justification, Name, Reason, RequestId, RiskTier, TicketRef, Timestamp, canonical_bytes,
    sha256_hex,
};

/// One kind of required decision.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StepRole {
    /// The beneficiary's manager; for a non-human identity, its owner. When that
    /// person is the requester, their own manager decides instead (skip-level).
    Manager,
    /// The owner of the target system.
    SystemOwner,
    /// The entitlement's owner, or the system owner when it has none.
    EntitlementOwner,
    /// A member of the policy's security group.
    Security,
    /// A member of a named group.
    Group(String),
    /// The extra step a separation-of-duties exception needs: a member of the
    /// security group accepts the exception. Added by Writ, never configured.
    SodException,
}

impl StepRole {
    pub fn parse(text: &str) -> Result<StepRole, String> {
        Ok(match text {
            "manager" => StepRole::Manager,
            "system_owner" => StepRole::SystemOwner,
            "entitlement_owner" => StepRole::EntitlementOwner,
            "security" => StepRole::Security,
            "sod_exception" => StepRole::SodException,
            other => match other.strip_prefix("group:") {
                Some(g) => StepRole::Group(Name::parse(g)?.to_string()),
                None => {
                    return Err(format!(
                        "`{other}` is not an approval step: use manager, system_owner, entitlement_owner, security or group:<name>"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for StepRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepRole::Manager => f.write_str("manager"),
            StepRole::SystemOwner => f.write_str("system_owner"),
            StepRole::EntitlementOwner => f.write_str("entitlement_owner"),
            StepRole::Security => f.write_str("security"),
            StepRole::SodException => f.write_str("sod_exception"),
            StepRole::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl TryFrom<String> for StepRole {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        StepRole::parse(&s)
    }
}

impl From<StepRole> for String {
    fn from(r: StepRole) -> String {
        r.to_string()
    }
}

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
        crate::event::personal::mask_submission(&mut value);
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
