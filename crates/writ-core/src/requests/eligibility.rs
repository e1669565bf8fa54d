//! Who may decide a step, and why: the Cedar policies in force, evaluated against the
//! organisation as it is now, then the rules no policy can change.
//!
//! The same function answers `writ request show`, judges a decision and checks the
//! approvers again before provisioning, so what is shown is exactly what is enforced.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::authority::{Action, Scene, StepQuery, Verdict};
use crate::organisation::Org;
use crate::policy::{ApprovalPolicy, Rules};
use crate::values::{Name, Role, Timestamp};

use super::model::{Request, StepAuthority, StepRole};

/// An identity that may decide a step, with the policies and facts that make it so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub identity: Name,
    /// The facts and policies in words: what a decision by this identity records.
    pub basis: String,
    pub authority: StepAuthority,
}

/// An identity a policy permits who may not decide, with the rule that excludes it.
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
    /// Set when nobody is eligible, saying why (for example a beneficiary without a
    /// manager, or a policy evaluation that failed).
    pub note: Option<String>,
}

/// Where one identity stands for one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    Eligible(Candidate),
    /// A policy permits them, but a rule policy cannot change excludes them.
    Excluded(String),
    /// No policy permits them (or one forbids it: its ids).
    NotPermitted(Vec<String>),
    /// The evaluation failed: a refusal, with the diagnostics.
    Failed(String),
}

/// Eligibility for every undecided step of `request`: Cedar is asked about every
/// person the policies could permit (everyone, when a policy does not restrict its
/// principal), so what is shown is exactly what is enforced.
pub fn eligibility(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    now: Timestamp,
) -> Vec<StepEligibility> {
    let steps: Vec<(u32, Vec<&Name>)> = request
        .undecided_steps()
        .map(|s| (s.index, candidates(org, rules, request, s.index)))
        .collect();
    let everyone: BTreeSet<&Name> = steps.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let scene = Scene::new(rules.authority, org, &request.submission, everyone);
    steps
        .iter()
        .map(|(index, people)| over(org, rules, request, *index, &scene, people, now))
        .collect()
}

/// Eligibility for step `index` of `request`.
pub fn step_eligibility(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    index: u32,
    now: Timestamp,
) -> StepEligibility {
    let people = candidates(org, rules, request, index);
    let scene = Scene::new(
        rules.authority,
        org,
        &request.submission,
        people.iter().copied(),
    );
    over(org, rules, request, index, &scene, &people, now)
}

/// The people to ask Cedar about for one step: those the policies could permit (and
/// their delegates), or every person when a policy does not restrict its principal.
fn candidates<'o>(org: &'o Org, rules: Rules<'_>, request: &Request, index: u32) -> Vec<&'o Name> {
    let role = role_of(request, index);
    let group = step_group(rules.policy, &role);
    match rules
        .authority
        .possible_deciders(org, &request.submission, group)
    {
        Some(names) => names
            .iter()
            .filter_map(|n| org.identities.get(n))
            .filter(|i| i.is_human())
            .map(|i| &i.name)
            .collect(),
        None => org
            .identities
            .values()
            .filter(|i| i.is_human())
            .map(|i| &i.name)
            .collect(),
    }
}

fn over(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    index: u32,
    scene: &Result<Scene, String>,
    people: &[&Name],
    now: Timestamp,
) -> StepEligibility {
    let role = role_of(request, index);
    let mut out = StepEligibility {
        index,
        role: role.clone(),
        eligible: Vec::new(),
        excluded: Vec::new(),
        note: None,
    };
    let scene = match scene {
        Ok(s) => s,
        Err(e) => {
            out.note = Some(format!("policy evaluation failed: {e}"));
            return out;
        }
    };
    let mut failures = Vec::new();
    for who in people {
        match judge(org, rules, request, index, who, scene, now) {
            Standing::Eligible(c) => out.eligible.push(c),
            Standing::Excluded(why) => out.excluded.push(Excluded {
                identity: (*who).clone(),
                why,
            }),
            Standing::NotPermitted(_) => {}
            Standing::Failed(e) => failures.push(format!("`{who}`: {e}")),
        }
    }
    if out.eligible.is_empty() {
        out.note = Some(if failures.is_empty() {
            nobody(org, rules.policy, request, &role)
        } else {
            format!("policy evaluation failed: {}", failures.join("; "))
        });
    }
    out
}

/// Where `who` stands for step `index` of `request`: the function every decision,
/// every display and the check before provisioning use.
pub fn standing(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    index: u32,
    who: &Name,
    now: Timestamp,
) -> Standing {
    match Scene::new(rules.authority, org, &request.submission, [who]) {
        Ok(scene) => judge(org, rules, request, index, who, &scene, now),
        Err(e) => Standing::Failed(e),
    }
}

fn judge(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    index: u32,
    who: &Name,
    scene: &Scene,
    now: Timestamp,
) -> Standing {
    let role = role_of(request, index);
    let group = step_group(rules.policy, &role);
    let step = request.steps.iter().find(|s| s.index == index);
    let query = StepQuery {
        role: &role,
        index,
        group,
        escalated: step.is_some_and(|s| s.escalated),
    };
    let policies = match rules
        .authority
        .evaluate(scene, Action::Decide, who, Some(&query))
    {
        Verdict::Allow { policies } => policies,
        // A policy that forbids this person is not undone by a delegation.
        Verdict::Deny { forbidden_by } if !forbidden_by.is_empty() => {
            return Standing::NotPermitted(forbidden_by);
        }
        Verdict::Deny { .. } => {
            return delegated(org, rules, request, index, who, &query, now)
                .unwrap_or(Standing::NotPermitted(Vec::new()));
        }
        Verdict::Error(e) => return Standing::Failed(e),
    };
    if let Some(why) = exclusion(org, request, index, who) {
        return Standing::Excluded(why);
    }
    let facts = rules
        .authority
        .facts(org, &request.submission, who, group, &policies);
    let basis = rules.authority.basis(&facts, &policies, now);
    Standing::Eligible(Candidate {
        identity: who.clone(),
        basis,
        authority: StepAuthority {
            policies,
            facts,
            on_behalf_of: None,
            delegation: None,
        },
    })
}

/// Authority through a delegation in force that covers the request: the delegator's
/// own authority, judged by the policies for the delegator. Both the delegate and the
/// delegator must pass the rules no policy changes; `None` when no delegation helps.
fn delegated(
    org: &Org,
    rules: Rules<'_>,
    request: &Request,
    index: u32,
    who: &Name,
    query: &StepQuery<'_>,
    now: Timestamp,
) -> Option<Standing> {
    let s = &request.submission;
    let mut excluded = None;
    let delegations = org
        .delegations
        .values()
        .filter(|d| &d.delegate == who && d.active_at(now) && d.covers(s));
    for d in delegations {
        let scene = match Scene::new(rules.authority, org, s, [&d.delegator]) {
            Ok(scene) => scene,
            Err(e) => return Some(Standing::Failed(e)),
        };
        let policies =
            match rules
                .authority
                .evaluate(&scene, Action::Decide, &d.delegator, Some(query))
            {
                Verdict::Allow { policies } => policies,
                Verdict::Deny { .. } => continue,
                Verdict::Error(e) => return Some(Standing::Failed(e)),
            };
        if let Some(why) = exclusion(org, request, index, who) {
            excluded = Some(format!(
                "{why} (acting for `{}` under delegation `{}`)",
                d.delegator, d.id
            ));
            continue;
        }
        if let Some(why) = exclusion(org, request, index, &d.delegator) {
            excluded = Some(format!(
                "acts for `{}` under delegation `{}`, and `{}` {why}",
                d.delegator, d.id, d.delegator
            ));
            continue;
        }
        let facts = rules
            .authority
            .facts(org, s, &d.delegator, query.group, &policies);
        let basis = format!(
            "on behalf of `{}` under delegation `{}` (until {}): {}",
            d.delegator,
            d.id,
            d.until.to_rfc3339(),
            rules.authority.basis(&facts, &policies, now)
        );
        return Some(Standing::Eligible(Candidate {
            identity: who.clone(),
            basis,
            authority: StepAuthority {
                policies,
                facts,
                on_behalf_of: Some(d.delegator.clone()),
                delegation: Some(d.id.clone()),
            },
        }));
    }
    excluded.map(Standing::Excluded)
}

fn role_of(request: &Request, index: u32) -> StepRole {
    request
        .steps
        .iter()
        .find(|s| s.index == index)
        .map(|s| s.role.clone())
        .unwrap_or(StepRole::Manager)
}

/// The group a security or group step names.
pub fn step_group<'a>(policy: &'a ApprovalPolicy, role: &'a StepRole) -> Option<&'a str> {
    match role {
        StepRole::Security | StepRole::SodException => Some(policy.security_group.as_str()),
        StepRole::Group(g) => Some(g.as_str()),
        _ => None,
    }
}

/// Why nobody is eligible, when the organisation data says.
fn nobody(org: &Org, policy: &ApprovalPolicy, request: &Request, role: &StepRole) -> String {
    let s = &request.submission;
    let b = org.identity(&s.beneficiary);
    match role {
        StepRole::Manager => match b {
            None => format!(
                "beneficiary `{}` is not in the organisation data",
                s.beneficiary
            ),
            Some(b) if b.manager().is_none() && b.owner().is_none() => {
                format!("`{}` has no manager on record", b.name)
            }
            Some(b) => match b.manager().or(b.owner()) {
                Some(m)
                    if m == &s.requester && org.identity(m).and_then(|i| i.manager()).is_none() =>
                {
                    format!(
                        "`{m}` is the requester and leads `{}`, and has no manager on record for a skip-level decision",
                        b.name
                    )
                }
                _ => "no policy makes anyone eligible for this step".into(),
            },
        },
        StepRole::SystemOwner | StepRole::EntitlementOwner
            if org.system(&s.entitlement.system).is_none() =>
        {
            format!("system `{}` is not in the catalogue", s.entitlement.system)
        }
        StepRole::Security | StepRole::Group(_) | StepRole::SodException => {
            let g = step_group(policy, role).unwrap_or_default();
            if org.members_of(g).next().is_none() {
                format!("group `{g}` has no members")
            } else {
                format!("no member of group `{g}` may decide it")
            }
        }
        _ => "no policy makes anyone eligible for this step".into(),
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
