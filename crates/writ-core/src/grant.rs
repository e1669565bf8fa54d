//! A grant: access that exists because a request was approved, always with an end.

use serde::{Deserialize, Serialize};

use crate::event::{Event, Recorded};
use crate::ids::{GrantId, RequestId};
use crate::names::{EntitlementRef, Name};
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
    /// Replaced by the grant of an approved renewal; access continued without a gap.
    Renewed,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Expired => "expired",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Renewed => "renewed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(GrantStatus::Active),
            "expired" => Ok(GrantStatus::Expired),
            "revoked" => Ok(GrantStatus::Revoked),
            "renewed" => Ok(GrantStatus::Renewed),
            other => Err(format!(
                "`{other}` is not a grant status: use active, expired, revoked or renewed"
            )),
        }
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
}

impl Grant {
    /// The grant as it stands right after `GrantCreated`, or `None` for other events.
    pub fn created(recorded: &Recorded) -> Option<Grant> {
        match &recorded.event {
            Event::GrantCreated {
                grant,
                request,
                beneficiary,
                entitlement,
                expires_at,
                review_by,
                renews,
            } => Some(Grant {
                id: grant.clone(),
                request: request.clone(),
                beneficiary: beneficiary.clone(),
                entitlement: entitlement.clone(),
                granted_at: recorded.at,
                expires_at: *expires_at,
                review_by: *review_by,
                renews: renews.clone(),
                status: GrantStatus::Active,
                ended_at: None,
                ended_by: None,
                end_reason: None,
                successor: None,
            }),
            _ => None,
        }
    }

    pub fn apply(&mut self, recorded: &Recorded) {
        let (status, reason, successor) = match &recorded.event {
            Event::GrantExpired { grant } if grant == &self.id => {
                (GrantStatus::Expired, Some("expired".to_owned()), None)
            }
            Event::GrantRevoked { grant, reason, .. } if grant == &self.id => {
                (GrantStatus::Revoked, Some(reason.to_string()), None)
            }
            Event::GrantRenewed { grant, successor } if grant == &self.id => (
                GrantStatus::Renewed,
                Some(format!("renewed by {successor}")),
                Some(successor.clone()),
            ),
            _ => return,
        };
        self.status = status;
        self.ended_at = Some(recorded.at);
        self.ended_by = Some(recorded.actor.to_string());
        self.end_reason = reason;
        self.successor = successor;
    }

    pub fn is_active(&self) -> bool {
        self.status == GrantStatus::Active
    }
}
