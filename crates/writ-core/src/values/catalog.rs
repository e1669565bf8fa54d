//! The catalogue: target systems and the entitlements they offer.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::names::{EntitlementRef, Name};
use super::time::DurationSpec;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct System {
    pub name: Name,
    pub display_name: String,
    pub kind: SystemKind,
    pub owner: Name,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    Directory,
    Database,
    Saas,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub system: Name,
    pub name: Name,
    pub display_name: String,
    pub kind: EntitlementKind,
    /// The target system's own name for it: an LDAP group DN, a PostgreSQL role, a
    /// SCIM group id, an OAuth scope.
    pub external_ref: String,
    pub risk: RiskTier,
    pub privileged: bool,
    pub max_duration: DurationSpec,
    pub owner: Option<Name>,
    pub break_glass: bool,
    #[serde(default)]
    pub description: String,
}

impl Entitlement {
    pub fn reference(&self) -> EntitlementRef {
        EntitlementRef::new(self.system.clone(), self.name.clone())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.external_ref.trim().is_empty() || self.external_ref.len() > 1024 {
            return Err(format!(
                "external reference of `{}` must be 1-1024 characters",
                self.reference()
            ));
        }
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 200 {
            return Err(format!(
                "display name of `{}` must be 1-200 characters",
                self.reference()
            ));
        }
        super::names::within("description", &self.description, 2000)?;
        if self.max_duration > DurationSpec::days(366) {
            return Err(format!(
                "maximum duration of `{}` is {}: at most a year is allowed",
                self.reference(),
                self.max_duration
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementKind {
    Role,
    Group,
    Account,
    Secret,
    ApiScope,
    Permission,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskTier {
    pub const ALL: [RiskTier; 4] = [
        RiskTier::Low,
        RiskTier::Medium,
        RiskTier::High,
        RiskTier::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
            RiskTier::Critical => "critical",
        }
    }
}

impl fmt::Display for RiskTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
