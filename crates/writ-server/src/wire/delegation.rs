//! Delegations of approval authority on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::{Delegation, Timestamp};

use super::ts;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDelegation {
    /// Whose authority: defaults to the caller (an admin may name someone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub delegator: Option<String>,
    /// Who may decide in their place.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub delegate: String,
    /// RFC 3339; defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// RFC 3339 end of the window; or give `for` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// A duration (`7d`, `PT12H`) from `from`, instead of `until`.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Only requests for these systems (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    /// Only requests of these risk tiers (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    #[schema(min_length = 3, max_length = 2000)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DelegationView {
    pub id: String,
    pub delegator: String,
    pub delegate: String,
    pub from: String,
    pub until: String,
    #[serde(default)]
    pub systems: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    pub reason: String,
    /// `active`, `scheduled`, `expired` or `revoked`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The admin who recorded it for the delegator (the delegator was notified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
}

impl DelegationView {
    pub fn new(d: &Delegation, now: Timestamp) -> DelegationView {
        let state = if d.revoked_at.is_some() {
            "revoked"
        } else if d.until <= now {
            "expired"
        } else if d.from > now {
            "scheduled"
        } else {
            "active"
        };
        DelegationView {
            id: d.id.to_string(),
            delegator: d.delegator.to_string(),
            delegate: d.delegate.to_string(),
            from: ts(d.from),
            until: ts(d.until),
            systems: d.systems.iter().map(ToString::to_string).collect(),
            tiers: d.tiers.iter().map(ToString::to_string).collect(),
            reason: d.reason.to_string(),
            state: state.into(),
            revoked_at: d.revoked_at.map(ts),
            recorded_by: d.recorded_by.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DelegationList {
    pub delegations: Vec<DelegationView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeDelegationBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// A notification record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    /// The ledger entry it comes from.
    pub seq: u64,
    pub recipient: String,
    /// The entry's event type (`step_escalated`, …).
    pub kind: String,
    /// What it is about (`request:req_…`).
    pub subject: String,
    pub message: String,
    pub at: String,
}

impl From<&writ_store::Notification> for NotificationView {
    fn from(n: &writ_store::Notification) -> Self {
        NotificationView {
            seq: n.seq,
            recipient: n.recipient.clone(),
            kind: n.kind.clone(),
            subject: n.subject.clone(),
            message: n.message.clone(),
            at: ts(n.at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One post-incident review, with what it is about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentItem {
    pub request: String,
    pub grant: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub incident: String,
    pub review: super::IncidentReviewView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    pub reviews: Vec<IncidentItem>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIncidentBody {
    /// `legitimate`, `misuse` or `drill`.
    #[schema(pattern = r"^(legitimate|misuse|drill)$")]
    pub finding: String,
    #[schema(min_length = 3, max_length = 2000)]
    pub notes: String,
}
