//! The inverse of `possible_deciders`: for one person, which requests the `decide`
//! permits in force could let them decide, as relations a database can index — the
//! requesters, beneficiaries and entitlements whose paths lead to them, and the kinds
//! of open step a group or named permit gives them. An approver's inbox is read with
//! it and then judged exactly, so it is a superset by construction, never a cut.

use std::collections::BTreeSet;

use crate::organisation::Org;
use crate::policy::ApprovalPolicy;
use crate::requests::StepRole;
use crate::values::{EntitlementRef, Name};

use super::Authority;
use super::syntax::{Decider, Source};

/// Where a person may decide: a request matches when any one relation holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    pub requesters: BTreeSet<Name>,
    pub beneficiaries: BTreeSet<Name>,
    pub entitlements: BTreeSet<EntitlementRef>,
    /// Roles of undecided steps (`manager`, `security`, `group:helpdesk`, …).
    pub open_roles: BTreeSet<String>,
    /// Any undecided step that escalated.
    pub any_escalated: bool,
}

impl Reach {
    fn extend(&mut self, other: Reach) {
        self.requesters.extend(other.requesters);
        self.beneficiaries.extend(other.beneficiaries);
        self.entitlements.extend(other.entitlements);
        self.open_roles.extend(other.open_roles);
        self.any_escalated |= other.any_escalated;
    }
}

/// What a path step is at, following a permit's attribute path forwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identity,
    Entitlement,
    System,
}

impl Authority {
    /// Where `who` may decide under the policies in force (and through the
    /// delegations to them); `None` when a permit does not narrow its principal, or
    /// names a path this reading does not know — then every open request is a
    /// candidate.
    pub fn reach(&self, org: &Org, policy: &ApprovalPolicy, who: &Name) -> Option<Reach> {
        let deciders = self.deciders.as_ref()?;
        let mut principals = vec![who.clone()];
        principals.extend(
            org.delegations
                .values()
                .filter(|d| &d.delegate == who && d.revoked_at.is_none())
                .map(|d| d.delegator.clone()),
        );
        let mut out = Reach::default();
        for p in &principals {
            for d in deciders {
                out.extend(reach_of(org, policy, d, p)?);
            }
        }
        Some(out)
    }
}

fn reach_of(org: &Org, policy: &ApprovalPolicy, d: &Decider, who: &Name) -> Option<Reach> {
    let mut out = Reach::default();
    let roles = |out: &mut Reach| -> Option<()> {
        match &d.kinds {
            // Any kind of step, once escalated: every escalated open step.
            None if d.escalated => {
                out.any_escalated = true;
                Some(())
            }
            None => None,
            Some(kinds) => {
                for kind in kinds {
                    if kind == "group" {
                        out.open_roles.extend(group_roles(policy));
                    } else {
                        out.open_roles.insert(kind.clone());
                    }
                }
                Some(())
            }
        }
    };
    let member = |g: &str| org.identity(who).is_some_and(|i| i.groups.contains(g));
    match &d.source {
        Source::Path(path) => inverse(org, path, who, &mut out)?,
        Source::Group(g) if member(g) => roles(&mut out)?,
        Source::Identity(id) if id == who.as_str() => roles(&mut out)?,
        // `principal in context.group`: the group the step names (`step_group`).
        Source::StepGroup => {
            let any = ["group", "security", "sod_exception"];
            let kinds: Vec<&str> = match &d.kinds {
                Some(k) => k.iter().map(String::as_str).collect(),
                None => any.to_vec(),
            };
            if let Some(i) = org.identity(who) {
                for kind in kinds {
                    match kind {
                        "group" => out.open_roles.extend(
                            i.groups
                                .iter()
                                .map(|g| StepRole::Group(g.clone()).to_string()),
                        ),
                        "security" | "sod_exception"
                            if i.groups.contains(&policy.security_group) =>
                        {
                            out.open_roles.insert(kind.to_owned());
                        }
                        _ => {}
                    }
                }
            }
        }
        Source::Group(_) | Source::Identity(_) => {}
    }
    Some(out)
}

/// Every `group:<name>` role the approval policy configures.
fn group_roles(policy: &ApprovalPolicy) -> BTreeSet<String> {
    let tiers = [
        &policy.tiers.low,
        &policy.tiers.medium,
        &policy.tiers.high,
        &policy.tiers.critical,
    ];
    tiers
        .iter()
        .flat_map(|t| t.steps.iter())
        .chain(policy.steps.values().flatten())
        .filter(|r| matches!(r, StepRole::Group(_)))
        .map(ToString::to_string)
        .collect()
}

/// The starting points (requesters, beneficiaries, entitlements) from which `path`
/// reaches `who`, walked backwards over the organisation data.
fn inverse(org: &Org, path: &[String], who: &Name, out: &mut Reach) -> Option<()> {
    let (first, rest) = path.split_first()?;
    // The kind at each position, forwards.
    let mut kinds = vec![match first.as_str() {
        "requester" | "beneficiary" => Kind::Identity,
        "entitlement" => Kind::Entitlement,
        "system" => Kind::System,
        _ => return None,
    }];
    for attr in rest {
        let here = *kinds.last()?;
        kinds.push(match (here, attr.as_str()) {
            (Kind::Identity, "manager" | "owner") => Kind::Identity,
            (Kind::Entitlement, "owner") | (Kind::System, "owner") => Kind::Identity,
            (Kind::Entitlement, "system") => Kind::System,
            _ => return None,
        });
    }
    if kinds.last() != Some(&Kind::Identity) {
        return None;
    }
    // Backwards: the sets of names at each position that lead to `who`.
    let mut names: BTreeSet<String> = BTreeSet::from([who.to_string()]);
    for (i, attr) in rest.iter().enumerate().rev() {
        let from = kinds[i];
        names = match (from, attr.as_str()) {
            (Kind::Identity, "manager") => org
                .identities
                .values()
                .filter(|p| p.manager().is_some_and(|m| names.contains(m.as_str())))
                .map(|p| p.name.to_string())
                .collect(),
            (Kind::Identity, "owner") => org
                .identities
                .values()
                .filter(|p| p.owner().is_some_and(|m| names.contains(m.as_str())))
                .map(|p| p.name.to_string())
                .collect(),
            (Kind::Entitlement, "owner") => org
                .entitlements
                .values()
                .filter(|e| e.owner.as_ref().is_some_and(|o| names.contains(o.as_str())))
                .map(|e| e.reference().to_string())
                .collect(),
            (Kind::System, "owner") => org
                .systems
                .values()
                .filter(|s| names.contains(s.owner.as_str()))
                .map(|s| s.name.to_string())
                .collect(),
            (Kind::Entitlement, "system") => org
                .entitlements
                .values()
                .filter(|e| names.contains(e.system.as_str()))
                .map(|e| e.reference().to_string())
                .collect(),
            _ => return None,
        };
    }
    match first.as_str() {
        "requester" => out
            .requesters
            .extend(names.iter().filter_map(|n| Name::parse(n).ok())),
        "beneficiary" => out
            .beneficiaries
            .extend(names.iter().filter_map(|n| Name::parse(n).ok())),
        "entitlement" => out
            .entitlements
            .extend(names.iter().filter_map(|e| EntitlementRef::parse(e).ok())),
        "system" => out.entitlements.extend(
            org.entitlements
                .values()
                .filter(|e| names.contains(e.system.as_str()))
                .map(|e| e.reference()),
        ),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ApprovalPolicy;
    use crate::values::{Entitlement, Identity, System};

    fn org() -> Org {
        let id = |v: serde_json::Value| -> Identity { serde_json::from_value(v).unwrap() };
        let mut org = Org::default();
        for i in [
            id(
                serde_json::json!({"name": "carol", "display_name": "C", "status": "active",
                "kind": {"type": "human", "email": "c@x", "employment_type": "employee"}}),
            ),
            id(
                serde_json::json!({"name": "priya", "display_name": "P", "status": "active",
                "kind": {"type": "human", "email": "p@x", "manager": "carol", "employment_type": "employee"}}),
            ),
            id(
                serde_json::json!({"name": "alice", "display_name": "A", "status": "active",
                "kind": {"type": "human", "email": "a@x", "manager": "priya", "employment_type": "employee"}}),
            ),
            id(
                serde_json::json!({"name": "sam", "display_name": "S", "status": "active", "groups": ["security"],
                "kind": {"type": "human", "email": "s@x", "employment_type": "employee"}}),
            ),
        ] {
            org.identities.insert(i.name.clone(), i);
        }
        let s: System = serde_json::from_value(serde_json::json!(
            {"name": "pg", "display_name": "PG", "kind": "database", "owner": "carol"}))
        .unwrap();
        org.systems.insert(s.name.clone(), s);
        let e: Entitlement =
            serde_json::from_value(serde_json::json!({"system": "pg", "name": "ro",
            "display_name": "RO", "kind": "role", "external_ref": "ro", "risk": "medium",
            "privileged": false, "max_duration": "30d", "break_glass": false}))
            .unwrap();
        org.entitlements.insert(e.reference(), e);
        org
    }

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn the_shipped_policies_reach_reports_owned_systems_and_the_security_steps() {
        let org = org();
        let policy = ApprovalPolicy::default();
        let a = Authority::shipped();
        let priya = a.reach(&org, &policy, &name("priya")).unwrap();
        assert!(priya.beneficiaries.contains(&name("alice")), "{priya:?}");
        let carol = a.reach(&org, &policy, &name("carol")).unwrap();
        assert!(
            carol
                .entitlements
                .contains(&EntitlementRef::parse("pg/ro").unwrap()),
            "{carol:?}"
        );
        // The next manager up (escalation, skip-level) reaches two levels down.
        assert!(carol.beneficiaries.contains(&name("alice")), "{carol:?}");
        let sam = a.reach(&org, &policy, &name("sam")).unwrap();
        assert!(sam.open_roles.contains("security"), "{sam:?}");
        assert!(
            sam.any_escalated,
            "security decides any escalated step: {sam:?}"
        );
        let alice = a.reach(&org, &policy, &name("alice")).unwrap();
        assert!(
            alice.beneficiaries.is_empty() && alice.entitlements.is_empty(),
            "{alice:?}"
        );
    }

    #[test]
    fn a_permit_that_does_not_narrow_its_principal_reaches_everything() {
        let source = crate::PolicySource {
            files: [(
                "any.cedar".to_owned(),
                r#"permit (principal, action == Writ::Action::"decide", resource);"#.to_owned(),
            )]
            .into(),
        };
        let a = Authority::compile(&source).unwrap();
        assert_eq!(
            a.reach(&org(), &ApprovalPolicy::default(), &name("alice")),
            None
        );
    }
}
