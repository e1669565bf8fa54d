//! A delegation and what one asks for.

use serde::{Deserialize, Serialize};

use crate::requests::Submission;
use crate::values::{DelegationId, DurationSpec, Name, Reason, RiskTier, Timestamp};

/// The longest window a delegation may span.
pub const MAX_WINDOW: DurationSpec = DurationSpec::days(90);

/// How far ahead a delegation may be recorded to start.
pub const MAX_LEAD: DurationSpec = DurationSpec::days(365);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    pub id: DelegationId,
    pub delegator: Name,
    pub delegate: Name,
    pub from: Timestamp,
    pub until: Timestamp,
    /// Only requests for these systems (empty: every system).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<Name>,
    /// Only requests of these risk tiers (empty: every tier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<RiskTier>,
    /// Personal data: sealed in the ledger.
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// The admin who recorded it, when that was not the delegator: the delegator is
    /// told, and evidence says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<Name>,
}

impl Delegation {
    /// In force at `at`: inside its window and not revoked.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.revoked_at.is_none() && self.from <= at && at < self.until
    }

    /// Whether its scope covers the request.
    pub fn covers(&self, s: &Submission) -> bool {
        (self.systems.is_empty() || self.systems.contains(&s.entitlement.system))
            && (self.tiers.is_empty() || self.tiers.contains(&s.risk))
    }

    pub(crate) fn overlaps(&self, from: Timestamp, until: Timestamp) -> bool {
        self.revoked_at.is_none() && self.from < until && from < self.until
    }
}

/// The request to delegate, as the delegator (or an admin for them) makes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationSpec {
    /// Defaults to the actor; an admin may record one for someone else.
    #[serde(default)]
    pub delegator: Option<Name>,
    pub delegate: Name,
    /// Defaults to now.
    #[serde(default)]
    pub from: Option<Timestamp>,
    pub until: Timestamp,
    #[serde(default)]
    pub systems: Vec<Name>,
    #[serde(default)]
    pub tiers: Vec<RiskTier>,
    pub reason: Reason,
}
