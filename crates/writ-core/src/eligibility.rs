//! Who may decide a step, and why: evaluated against the organisation as it is now.
//!
//! The same function answers `writ request show` and judges a decision, so what a
//! person is shown is exactly what is enforced.

use serde::Serialize;

use crate::identity::{IdentityKind, Role};
use crate::names::Name;
use crate::org::Org;
use crate::policy::{ApprovalPolicy, StepRole};
use crate::request::Request;
use crate::time::Timestamp;

/// An identity that may decide a step, with the fact that makes it so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub identity: Name,
    pub basis: String,
}

/// An identity the role points at who may not decide, with the rule that excludes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Excluded {
    pub identity: Name,
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepEligibility {
    pub index: u32,
    pub role: StepRole,
    pub eligible: Vec<Candidate>,
    pub excluded: Vec<Excluded>,
    /// Set when the role points at nobody (for example a beneficiary without a manager).
    pub note: Option<String>,
}

/// Eligibility for every undecided step of `request`.
pub fn eligibility(
    org: &Org,
    policy: &ApprovalPolicy,
    request: &Request,
    now: Timestamp,
) -> Vec<StepEligibility> {
    request
        .undecided_steps()
        .map(|s| step_eligibility(org, policy, request, s.index, now))
        .collect()
}

/// Eligibility for step `index` of `request`.
pub fn step_eligibility(
    org: &Org,
    policy: &ApprovalPolicy,
    request: &Request,
    index: u32,
    now: Timestamp,
) -> StepEligibility {
    let role = request
        .steps
        .iter()
        .find(|s| s.index == index)
        .map(|s| s.role.clone())
        .unwrap_or(StepRole::Manager);
    let (raw, mut excluded, note) = role_candidates(org, policy, request, &role, now);
    let mut eligible = Vec::new();
    for c in raw {
        if eligible
            .iter()
            .any(|e: &Candidate| e.identity == c.identity)
            || excluded.iter().any(|e: &Excluded| e.identity == c.identity)
        {
            continue;
        }
        match exclusion(org, request, index, &c.identity) {
            Some(why) => excluded.push(Excluded {
                identity: c.identity,
                why,
            }),
            None => eligible.push(c),
        }
    }
    StepEligibility {
        index,
        role,
        eligible,
        excluded,
        note,
    }
}

/// The rules that hold whatever the role: a person, active, not the requester, not
/// the beneficiary, not an auditor, and not someone who decided another step.
fn exclusion(org: &Org, request: &Request, index: u32, who: &Name) -> Option<String> {
    let s = &request.submission;
    let Some(identity) = org.identity(who) else {
        return Some("is not in the organisation data".into());
    };
    if !identity.is_active() {
        return Some("is inactive".into());
    }
    if !identity.is_human() {
        return Some("is a non-human identity; only people decide".into());
    }
    if identity.has_role(Role::Auditor) {
        return Some("is an auditor; auditors decide nothing".into());
    }
    if who == &s.requester {
        return Some("is the requester".into());
    }
    if who == &s.beneficiary {
        return Some("is the beneficiary".into());
    }
    if let Some(step) = request.step_decided_by(who)
        && step.index != index
    {
        return Some(format!(
            "already decided step {} of this request; one identity decides at most one step",
            step.index
        ));
    }
    None
}

type Raw = (Vec<Candidate>, Vec<Excluded>, Option<String>);

fn role_candidates(
    org: &Org,
    policy: &ApprovalPolicy,
    request: &Request,
    role: &StepRole,
    now: Timestamp,
) -> Raw {
    let s = &request.submission;
    let at = now.to_rfc3339();
    let mut out = Vec::new();
    let mut excluded = Vec::new();
    let mut note = None;
    match role {
        StepRole::Manager => {
            let Some(b) = org.identity(&s.beneficiary) else {
                return (
                    out,
                    excluded,
                    Some(format!(
                        "beneficiary `{}` is not in the organisation data",
                        s.beneficiary
                    )),
                );
            };
            let (first, relation) = match &b.kind {
                IdentityKind::Human(h) => (h.manager.clone(), format!("manager of `{}`", b.name)),
                IdentityKind::Nhi(n) => {
                    (Some(n.owner.clone()), format!("owner of NHI `{}`", b.name))
                }
            };
            match first {
                None => note = Some(format!("`{}` has no manager on record", b.name)),
                Some(m) if m == s.requester => {
                    excluded.push(Excluded {
                        identity: m.clone(),
                        why: "is the requester".into(),
                    });
                    match org.identity(&m).and_then(|i| i.manager().cloned()) {
                        Some(mm) => out.push(Candidate {
                            identity: mm,
                            basis: format!(
                                "manager of `{m}`, who is the requester and {relation} (skip-level), per organisation data at {at}"
                            ),
                        }),
                        None => {
                            note = Some(format!(
                                "`{m}` is the requester and {relation}, and has no manager on record for a skip-level decision"
                            ))
                        }
                    }
                }
                Some(m) => out.push(Candidate {
                    identity: m,
                    basis: format!("{relation}, per organisation data at {at}"),
                }),
            }
        }
        StepRole::SystemOwner => match org.system(&s.entitlement.system) {
            Some(sys) => out.push(Candidate {
                identity: sys.owner.clone(),
                basis: format!("owner of system `{}`, per catalogue at {at}", sys.name),
            }),
            None => {
                note = Some(format!(
                    "system `{}` is not in the catalogue",
                    s.entitlement.system
                ))
            }
        },
        StepRole::EntitlementOwner => {
            let ent = org.entitlement(&s.entitlement);
            match (ent.and_then(|e| e.owner.clone()), org.system(&s.entitlement.system)) {
                (Some(owner), _) => out.push(Candidate {
                    identity: owner,
                    basis: format!("owner of entitlement `{}`, per catalogue at {at}", s.entitlement),
                }),
                (None, Some(sys)) => out.push(Candidate {
                    identity: sys.owner.clone(),
                    basis: format!(
                        "owner of system `{}` (entitlement `{}` has no owner of its own), per catalogue at {at}",
                        sys.name, s.entitlement
                    ),
                }),
                (None, None) => {
                    note = Some(format!("entitlement `{}` has no owner and its system is not in the catalogue", s.entitlement))
                }
            }
        }
        StepRole::Security | StepRole::Group(_) => {
            let group = match role {
                StepRole::Group(g) => g.as_str(),
                _ => policy.security_group.as_str(),
            };
            for m in org.members_of(group) {
                out.push(Candidate {
                    identity: m.name.clone(),
                    basis: format!("member of group `{group}`, per organisation data at {at}"),
                });
            }
            if out.is_empty() {
                note = Some(format!("group `{group}` has no members"));
            }
        }
    }
    (out, excluded, note)
}
