//! Approval policy: which steps a request needs, and the limits each risk tier sets.
//!
//! Who may decide a step is worked out in `eligibility`; this module says which
//! steps exist. The policy is data (loaded from TOML by the server), and its
//! version is the SHA-256 of its canonical encoding, recorded with every request and
//! every decision.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::review::MicroReviewPolicy;

use crate::canonical::{canonical_bytes, sha256_hex};
use crate::catalog::RiskTier;
use crate::names::Name;
use crate::time::DurationSpec;

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
}

impl StepRole {
    pub fn parse(text: &str) -> Result<StepRole, String> {
        Ok(match text {
            "manager" => StepRole::Manager,
            "system_owner" => StepRole::SystemOwner,
            "entitlement_owner" => StepRole::EntitlementOwner,
            "security" => StepRole::Security,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub steps: Vec<StepRole>,
    #[serde(default)]
    pub ticket_required: bool,
    /// Minimum justification length for this tier (the policy-wide minimum applies too).
    #[serde(default)]
    pub min_justification: usize,
    /// Cap on the requested duration for this tier, on top of the entitlement's own.
    #[serde(default)]
    pub max_duration: Option<DurationSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    pub low: TierRule,
    pub medium: TierRule,
    pub high: TierRule,
    pub critical: TierRule,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// The group whose members decide `security` steps.
    pub security_group: String,
    /// Minimum justification length for every request.
    pub min_justification: usize,
    /// A grant is due for review at most this long after it starts.
    pub review_period: DurationSpec,
    pub tiers: Tiers,
    /// When set, a person's manager or department change opens a micro-review of
    /// their live grants for the new manager. Absent from policies written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro_review: Option<MicroReviewPolicy>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid approval policy: {0}")]
pub struct PolicyError(pub String);

impl Default for ApprovalPolicy {
    /// The chains Writ ships with (see the README): low needs the manager (or NHI
    /// owner); medium adds the system owner; high adds the entitlement owner and
    /// security, a ticket, a 40-character justification, at most 30 days; critical is
    /// high with at most 8 hours.
    fn default() -> Self {
        let high_steps = vec![
            StepRole::Manager,
            StepRole::EntitlementOwner,
            StepRole::Security,
        ];
        ApprovalPolicy {
            security_group: "security".into(),
            min_justification: 10,
            review_period: DurationSpec::days(90),
            tiers: Tiers {
                low: TierRule {
                    steps: vec![StepRole::Manager],
                    ticket_required: false,
                    min_justification: 0,
                    max_duration: None,
                },
                medium: TierRule {
                    steps: vec![StepRole::Manager, StepRole::SystemOwner],
                    ticket_required: false,
                    min_justification: 0,
                    max_duration: None,
                },
                high: TierRule {
                    steps: high_steps.clone(),
                    ticket_required: true,
                    min_justification: 40,
                    max_duration: Some(DurationSpec::days(30)),
                },
                critical: TierRule {
                    steps: high_steps,
                    ticket_required: true,
                    min_justification: 40,
                    max_duration: Some(DurationSpec::hours(8)),
                },
            },
            micro_review: None,
        }
    }
}

impl ApprovalPolicy {
    pub fn tier(&self, tier: RiskTier) -> &TierRule {
        match tier {
            RiskTier::Low => &self.tiers.low,
            RiskTier::Medium => &self.tiers.medium,
            RiskTier::High => &self.tiers.high,
            RiskTier::Critical => &self.tiers.critical,
        }
    }

    /// Refuses a policy that could approve access without a person deciding, or that
    /// could never be satisfied because one identity would have to decide twice.
    pub fn validate(&self) -> Result<(), PolicyError> {
        Name::parse(&self.security_group)
            .map_err(|e| PolicyError(format!("security_group: {e}")))?;
        if self.min_justification == 0 {
            return Err(PolicyError(
                "min_justification must be at least 1: every request says why".into(),
            ));
        }
        for tier in RiskTier::ALL {
            let rule = self.tier(tier);
            if rule.steps.is_empty() {
                return Err(PolicyError(format!(
                    "tier `{tier}` has no approval steps: every request needs at least one decision"
                )));
            }
            if rule.steps.len() > 8 {
                return Err(PolicyError(format!("tier `{tier}` has more than 8 steps")));
            }
            let mut seen = Vec::new();
            for step in &rule.steps {
                if seen.contains(&step) {
                    return Err(PolicyError(format!(
                        "tier `{tier}` lists step `{step}` twice"
                    )));
                }
                seen.push(step);
            }
        }
        Ok(())
    }

    /// SHA-256 of the canonical encoding: the version recorded with every decision.
    pub fn version(&self) -> String {
        match canonical_bytes(self) {
            Ok(bytes) => sha256_hex(&bytes),
            // The policy holds no floats, so this cannot happen; fail visibly anyway.
            Err(e) => format!("unencodable:{e}"),
        }
    }

    /// Builds a policy from TOML text; absent keys keep their defaults per tier.
    pub fn from_toml_value(value: serde_json::Value) -> Result<ApprovalPolicy, PolicyError> {
        let mut base = serde_json::to_value(ApprovalPolicy::default())
            .map_err(|e| PolicyError(e.to_string()))?;
        merge(&mut base, value);
        let policy: ApprovalPolicy =
            serde_json::from_value(base).map_err(|e| PolicyError(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_policy_is_valid_and_versioned() {
        let p = ApprovalPolicy::default();
        p.validate().unwrap();
        assert_eq!(p.version().len(), 64);
        assert_eq!(p.version(), ApprovalPolicy::default().version());
    }

    #[test]
    fn overrides_merge_into_defaults() {
        let p = ApprovalPolicy::from_toml_value(json!({
            "tiers": {"low": {"steps": ["manager", "group:helpdesk"]}}
        }))
        .unwrap();
        assert_eq!(
            p.tiers.low.steps,
            vec![StepRole::Manager, StepRole::Group("helpdesk".into())]
        );
        assert_eq!(p.tiers.high, ApprovalPolicy::default().tiers.high);
        assert_ne!(p.version(), ApprovalPolicy::default().version());
    }

    #[test]
    fn refuses_empty_chains_unknown_steps_and_unknown_keys() {
        assert!(ApprovalPolicy::from_toml_value(json!({"tiers": {"low": {"steps": []}}})).is_err());
        assert!(
            ApprovalPolicy::from_toml_value(json!({"tiers": {"low": {"steps": ["ceo"]}}})).is_err()
        );
        assert!(ApprovalPolicy::from_toml_value(json!({"tiers": {"low": {"stepz": []}}})).is_err());
        assert!(
            ApprovalPolicy::from_toml_value(
                json!({"tiers": {"low": {"steps": ["manager", "manager"]}}})
            )
            .is_err()
        );
    }
}
