//! Approval policy: which steps a request needs, and the limits each risk tier sets.
//!
//! Who may decide a step is worked out in `eligibility`; this module says which
//! steps exist. The policy is data (loaded from TOML by the server), and its
//! version is the SHA-256 of its canonical encoding, recorded with every request and
//! every decision.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::authority::{Authority, PolicySource};
use crate::requests::StepRole;
use crate::reviews::MicroReviewPolicy;
use crate::values::{
    DurationSpec, Entitlement, EntitlementRef, Name, RiskTier, canonical_bytes, sha256_hex,
};

mod activate;

pub(crate) use activate::decide_activate;

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
    /// The steps a system's or an entitlement's requests need, instead of their
    /// tier's: keyed `system` or `system/entitlement` (the more specific wins).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, Vec<StepRole>>,
    /// Who may decide each step, in Cedar (see `authority`). Absent from policies
    /// written before Cedar: those meant the shipped set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cedar: Option<PolicySource>,
    /// Separation of duties: pairs of entitlements no one may hold together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toxic: Vec<ToxicRule>,
    /// Escalation and timeouts of pending requests (absent: requests wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlines: Option<Deadlines>,
    /// Limits on break-glass (emergency) access.
    #[serde(default, skip_serializing_if = "BreakGlassPolicy::is_default")]
    pub break_glass: BreakGlassPolicy,
}

/// Break-glass limits. Who may break glass is Cedar policy (`break_glass` action);
/// which entitlements allow it is the catalogue's `break_glass` flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassPolicy {
    /// The longest emergency access, unless the entitlement has its own cap.
    #[serde(default = "BreakGlassPolicy::default_cap")]
    pub max_duration: DurationSpec,
    /// Per-entitlement caps (`system/entitlement` → duration), never above 24 h.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub caps: BTreeMap<String, DurationSpec>,
    /// Back-to-back emergency renewals may not run longer than this in all.
    #[serde(default = "BreakGlassPolicy::default_total")]
    pub max_total: DurationSpec,
    /// The post-incident review is due this long after the access starts; later it
    /// is overdue and escalates.
    #[serde(default = "BreakGlassPolicy::default_review")]
    pub review_within: DurationSpec,
}

impl Default for BreakGlassPolicy {
    fn default() -> Self {
        BreakGlassPolicy {
            max_duration: Self::default_cap(),
            caps: BTreeMap::new(),
            max_total: Self::default_total(),
            review_within: Self::default_review(),
        }
    }
}

impl BreakGlassPolicy {
    /// No emergency access ever lasts longer than this.
    pub const CEILING: DurationSpec = DurationSpec::hours(24);

    fn default_cap() -> DurationSpec {
        DurationSpec::hours(4)
    }
    fn default_total() -> DurationSpec {
        DurationSpec::hours(12)
    }
    fn default_review() -> DurationSpec {
        DurationSpec::hours(72)
    }
    fn is_default(&self) -> bool {
        self == &BreakGlassPolicy::default()
    }

    /// The cap for one entitlement.
    pub fn cap(&self, entitlement: &EntitlementRef) -> DurationSpec {
        self.caps
            .get(&entitlement.to_string())
            .copied()
            .unwrap_or(self.max_duration)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        for (what, d) in std::iter::once(("max_duration".to_owned(), self.max_duration))
            .chain(self.caps.iter().map(|(k, v)| (format!("caps.\"{k}\""), *v)))
        {
            if d > Self::CEILING {
                return Err(PolicyError(format!(
                    "break_glass.{what}: {d} is above the 24-hour ceiling of emergency access"
                )));
            }
            if d.seconds() < 60 {
                return Err(PolicyError(format!(
                    "break_glass.{what}: at least one minute"
                )));
            }
        }
        for k in self.caps.keys() {
            EntitlementRef::parse(k)
                .map_err(|e| PolicyError(format!("break_glass.caps: `{k}`: {e}")))?;
        }
        if self.max_total < self.max_duration {
            return Err(PolicyError(
                "break_glass.max_total must be at least max_duration".into(),
            ));
        }
        Ok(())
    }
}

/// When a pending request's open steps escalate and when it times out, counted from
/// submission. An escalated step may also be decided by the fallback approvers the
/// Cedar policies name (`context.escalated`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    pub escalate_after: DurationSpec,
    /// Then the request is denied with the reason "timed out".
    pub time_out_after: DurationSpec,
    /// A reminder to the eligible approvers this long before the step escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_before: Option<DurationSpec>,
}

/// A toxic combination: holding both entitlements (a live grant or a pending request
/// counts) is refused, or, when the rule allows an exception, needs an explicit
/// exception justification, an extra security step and a shorter maximum duration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToxicRule {
    pub name: String,
    pub entitlements: Vec<EntitlementRef>,
    #[serde(default)]
    pub exception: bool,
    /// The longest access an exception may give (default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_max_duration: Option<DurationSpec>,
}

impl ToxicRule {
    pub const DEFAULT_EXCEPTION_MAX: DurationSpec = DurationSpec::days(7);

    /// The other entitlement of the pair, when `e` is one of them.
    pub fn partner(&self, e: &EntitlementRef) -> Option<&EntitlementRef> {
        match self.entitlements.as_slice() {
            [a, b] if a == e => Some(b),
            [a, b] if b == e => Some(a),
            _ => None,
        }
    }

    pub fn exception_max(&self) -> DurationSpec {
        self.exception_max_duration
            .unwrap_or(Self::DEFAULT_EXCEPTION_MAX)
    }
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
            steps: BTreeMap::new(),
            cedar: None,
            toxic: Vec::new(),
            deadlines: None,
            break_glass: BreakGlassPolicy::default(),
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

    /// The steps a request for `entitlement` needs: the entitlement's override, else
    /// its system's, else its tier's.
    pub fn steps_for(&self, entitlement: &Entitlement) -> &[StepRole] {
        let full = format!("{}/{}", entitlement.system, entitlement.name);
        self.steps
            .get(&full)
            .or_else(|| self.steps.get(entitlement.system.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&self.tier(entitlement.risk).steps)
    }

    /// The Cedar sources in force: the configured ones, else the shipped set.
    pub fn cedar_source(&self) -> Cow<'_, PolicySource> {
        match &self.cedar {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(PolicySource::shipped()),
        }
    }

    /// Refuses a policy that could approve access without a person deciding, or that
    /// could never be satisfied because one identity would have to decide twice.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (key, steps) in &self.steps {
            let valid_key = match key.split_once('/') {
                Some((sys, ent)) => Name::parse(sys).is_ok() && Name::parse(ent).is_ok(),
                None => Name::parse(key).is_ok(),
            };
            if !valid_key {
                return Err(PolicyError(format!(
                    "steps: `{key}` is neither a system nor a system/entitlement"
                )));
            }
            check_chain(&format!("steps.\"{key}\""), steps)?;
        }
        for (i, rule) in self.toxic.iter().enumerate() {
            let at = format!("toxic[{i}] (`{}`)", rule.name);
            Name::parse(&rule.name).map_err(|e| PolicyError(format!("toxic[{i}].name: {e}")))?;
            if self.toxic[..i].iter().any(|r| r.name == rule.name) {
                return Err(PolicyError(format!("{at}: the name is used twice")));
            }
            match rule.entitlements.as_slice() {
                [a, b] if a != b => {}
                _ => {
                    return Err(PolicyError(format!(
                        "{at}: name exactly two different entitlements"
                    )));
                }
            }
            if !rule.exception && rule.exception_max_duration.is_some() {
                return Err(PolicyError(format!(
                    "{at}: exception_max_duration needs exception = true"
                )));
            }
        }
        for (key, steps) in &self.steps {
            if steps.contains(&StepRole::SodException) {
                return Err(PolicyError(format!(
                    "steps.\"{key}\": sod_exception is added by Writ to exception requests, not configured"
                )));
            }
        }
        for tier in RiskTier::ALL {
            if self.tier(tier).steps.contains(&StepRole::SodException) {
                return Err(PolicyError(format!(
                    "tier `{tier}`: sod_exception is added by Writ to exception requests, not configured"
                )));
            }
        }
        self.break_glass.validate()?;
        if let Some(d) = &self.deadlines {
            if d.escalate_after >= d.time_out_after {
                return Err(PolicyError(
                    "deadlines: escalate_after must be shorter than time_out_after".into(),
                ));
            }
            if d.remind_before.is_some_and(|r| r >= d.escalate_after) {
                return Err(PolicyError(
                    "deadlines: remind_before must be shorter than escalate_after".into(),
                ));
            }
        }
        if let Some(src) = &self.cedar {
            Authority::compile(src).map_err(|e| PolicyError(e.to_string()))?;
        }
        Name::parse(&self.security_group)
            .map_err(|e| PolicyError(format!("security_group: {e}")))?;
        if self.min_justification == 0 {
            return Err(PolicyError(
                "min_justification must be at least 1: every request says why".into(),
            ));
        }
        for tier in RiskTier::ALL {
            check_chain(&format!("tier `{tier}`"), &self.tier(tier).steps)?;
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
        let policy = ApprovalPolicy::merged(value)?;
        policy.validate()?;
        Ok(policy)
    }

    /// `value` merged into the default policy, well-formed but not yet validated.
    pub fn merged(value: serde_json::Value) -> Result<ApprovalPolicy, PolicyError> {
        let mut base = serde_json::to_value(ApprovalPolicy::default())
            .map_err(|e| PolicyError(e.to_string()))?;
        merge(&mut base, value);
        serde_json::from_value(base).map_err(|e| PolicyError(e.to_string()))
    }
}

fn check_chain(what: &str, steps: &[StepRole]) -> Result<(), PolicyError> {
    if steps.is_empty() {
        return Err(PolicyError(format!(
            "{what} has no approval steps: every request needs at least one decision"
        )));
    }
    if steps.len() > 8 {
        return Err(PolicyError(format!("{what} has more than 8 steps")));
    }
    for (i, step) in steps.iter().enumerate() {
        if steps[..i].contains(step) {
            return Err(PolicyError(format!("{what} lists step `{step}` twice")));
        }
    }
    Ok(())
}

/// The policy in force, as eligibility reads it.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub policy: &'a ApprovalPolicy,
    pub authority: &'a Authority,
}

/// The approval policy in force, with its version and its compiled Cedar set.
#[derive(Clone, Debug)]
pub struct ActivePolicy {
    pub policy: ApprovalPolicy,
    pub version: String,
    pub authority: Authority,
}

impl ActivePolicy {
    /// The policy as eligibility reads it.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            policy: &self.policy,
            authority: &self.authority,
        }
    }

    /// Compiles the policy's Cedar set. A stored set that no longer compiles (it was
    /// validated when activated) allows nothing: decisions fail closed.
    pub fn new(policy: ApprovalPolicy) -> ActivePolicy {
        let authority = Authority::compile(&policy.cedar_source())
            .unwrap_or_else(|_| Authority::allows_nothing());
        ActivePolicy {
            version: policy.version(),
            policy,
            authority,
        }
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
