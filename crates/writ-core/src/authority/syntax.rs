//! Two readings of each policy's syntax tree (`Policy::to_json`) that keep evaluation
//! cheap without changing a verdict: which people a `decide` permit can allow, and
//! which kinds of step a policy can apply to.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::PolicySet;

use crate::organisation::Org;
use crate::requests::Submission;
use crate::values::{Entitlement, Identity, Name};

/// Where the principals every `decide` permit can allow come from; `None` as soon as
/// one permit does not restrict its principal.
pub(super) fn deciders(set: &PolicySet) -> Option<Vec<Decider>> {
    let mut all = Vec::new();
    for p in set.policies() {
        if p.effect() != cedar_policy::Effect::Permit {
            continue;
        }
        let json = p.to_json().ok()?;
        if !may_act(&json["action"], "decide") {
            continue;
        }
        let from_scope = match (
            json["principal"]["op"].as_str(),
            &json["principal"]["entity"],
        ) {
            (Some("=="), e) if e["type"] == "Writ::Identity" => {
                Some(vec![Source::Identity(e["id"].as_str()?.to_owned())])
            }
            (Some("in"), e) if e["type"] == "Writ::Group" => {
                Some(vec![Source::Group(e["id"].as_str()?.to_owned())])
            }
            _ => None,
        };
        let from_when = || {
            json["conditions"]
                .as_array()?
                .iter()
                .filter(|c| c["kind"] == "when")
                .find_map(|c| restriction(&c["body"]))
        };
        let kinds = step_kinds(&json);
        let escalated = escalated_only(&json);
        all.extend(
            from_scope
                .or_else(from_when)?
                .into_iter()
                .map(|source| Decider {
                    source,
                    kinds: kinds.clone(),
                    escalated,
                }),
        );
    }
    Some(all)
}

/// Where a `decide` permit's principal comes from, and the kinds of step the permit
/// can apply to (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Decider {
    pub source: Source,
    pub kinds: Option<BTreeSet<String>>,
    /// The permit applies only once a step escalated (`context.escalated` is one of
    /// the conjuncts of a `when` condition).
    pub escalated: bool,
}

/// Whether a policy's `when` conditions require `context.escalated`.
fn escalated_only(policy: &serde_json::Value) -> bool {
    fn conjunct(e: &serde_json::Value) -> bool {
        if let Some(and) = e.get("&&") {
            return conjunct(&and["left"]) || conjunct(&and["right"]);
        }
        e["."]["left"].get("Var").and_then(|x| x.as_str()) == Some("context")
            && e["."]["attr"] == "escalated"
    }
    policy["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .filter(|c| c["kind"] == "when")
            .any(|c| conjunct(&c["body"]))
    })
}

/// The policies that can apply to a `decide` of each kind of step.
pub(super) fn by_step(set: &PolicySet) -> BTreeMap<&'static str, PolicySet> {
    let mut out: BTreeMap<&'static str, PolicySet> =
        STEP_KINDS.iter().map(|k| (*k, PolicySet::new())).collect();
    for p in set.policies() {
        let Ok(json) = p.to_json() else {
            // Unreadable: keep it everywhere.
            for s in out.values_mut() {
                let _ = s.add(p.clone());
            }
            continue;
        };
        if !may_act(&json["action"], "decide") {
            continue;
        }
        let kinds = step_kinds(&json);
        for (kind, s) in &mut out {
            if kinds.as_ref().is_none_or(|k| k.contains(*kind)) {
                let _ = s.add(p.clone());
            }
        }
    }
    out
}

/// The step kinds a policy's `when` conditions allow, when they require
/// `context.step` to be one of some literals; `None`: any.
pub(super) fn step_kinds(policy: &serde_json::Value) -> Option<BTreeSet<String>> {
    policy["conditions"]
        .as_array()?
        .iter()
        .filter(|c| c["kind"] == "when")
        .filter_map(|c| step_literals(&c["body"]))
        .reduce(|a, b| a.intersection(&b).cloned().collect())
}

pub(super) fn step_literals(e: &serde_json::Value) -> Option<BTreeSet<String>> {
    if let Some(and) = e.get("&&") {
        return match (step_literals(&and["left"]), step_literals(&and["right"])) {
            (Some(l), Some(r)) => Some(l.intersection(&r).cloned().collect()),
            (l, r) => l.or(r),
        };
    }
    if let Some(or) = e.get("||") {
        let mut l = step_literals(&or["left"])?;
        l.extend(step_literals(&or["right"])?);
        return Some(l);
    }
    let eq = e.get("==")?;
    let is_step = |v: &serde_json::Value| {
        v["."]["left"].get("Var").and_then(|x| x.as_str()) == Some("context")
            && v["."]["attr"] == "step"
    };
    let literal = if is_step(&eq["left"]) {
        &eq["right"]
    } else if is_step(&eq["right"]) {
        &eq["left"]
    } else {
        return None;
    };
    Some(BTreeSet::from([literal["Value"].as_str()?.to_owned()]))
}

/// Whether a policy's action scope can include action `id`.
pub(super) fn may_act(action: &serde_json::Value, id: &str) -> bool {
    let is = |e: &serde_json::Value| e["type"] == "Writ::Action" && e["id"] == id;
    match action["op"].as_str() {
        Some("==") => is(&action["entity"]),
        Some("in") => match action["entities"].as_array() {
            Some(list) => list.iter().any(is),
            None => is(&action["entity"]),
        },
        _ => true,
    }
}

/// The sources a condition restricts the principal to when it holds, if it does.
pub(super) fn restriction(e: &serde_json::Value) -> Option<Vec<Source>> {
    let both = |l: Option<Vec<Source>>, r: Option<Vec<Source>>| {
        let mut l = l?;
        l.extend(r?);
        Some(l)
    };
    if let Some(and) = e.get("&&") {
        return restriction(&and["left"]).or_else(|| restriction(&and["right"]));
    }
    if let Some(or) = e.get("||") {
        return both(restriction(&or["left"]), restriction(&or["right"]));
    }
    if let Some(ite) = e.get("if-then-else") {
        return both(restriction(&ite["then"]), restriction(&ite["else"]));
    }
    if let Some(eq) = e.get("==") {
        let principal =
            |v: &serde_json::Value| v.get("Var").and_then(|x| x.as_str()) == Some("principal");
        let other = if principal(&eq["right"]) {
            &eq["left"]
        } else if principal(&eq["left"]) {
            &eq["right"]
        } else {
            return None;
        };
        if let Some(path) = resource_path(other) {
            return Some(vec![Source::Path(path)]);
        }
        let entity = &other["Value"]["__entity"];
        if entity["type"] == "Writ::Identity" {
            return Some(vec![Source::Identity(entity["id"].as_str()?.to_owned())]);
        }
        return None;
    }
    if let Some(inn) = e.get("in") {
        if inn["left"].get("Var").and_then(|x| x.as_str()) != Some("principal") {
            return None;
        }
        let right = &inn["right"];
        let entity = &right["Value"]["__entity"];
        if entity["type"] == "Writ::Group" {
            return Some(vec![Source::Group(entity["id"].as_str()?.to_owned())]);
        }
        let dot = &right["."];
        if dot["left"].get("Var").and_then(|x| x.as_str()) == Some("context")
            && dot["attr"] == "group"
        {
            return Some(vec![Source::StepGroup]);
        }
    }
    None
}

/// `resource.a.b…` as `["a", "b", …]`.
pub(super) fn resource_path(e: &serde_json::Value) -> Option<Vec<String>> {
    let dot = e.get(".")?;
    let attr = dot["attr"].as_str()?.to_owned();
    if dot["left"].get("Var").and_then(|x| x.as_str()) == Some("resource") {
        return Some(vec![attr]);
    }
    let mut path = resource_path(&dot["left"])?;
    path.push(attr);
    Some(path)
}

/// The identity an attribute path from the request reaches, from the organisation
/// data: none when an attribute on the way is absent; `None` for a path this
/// resolver does not know (then everyone must be asked).
pub(super) fn resolve(org: &Org, s: &Submission, path: &[String]) -> Option<Vec<Name>> {
    enum At<'a> {
        Identity(Option<&'a Identity>),
        Entitlement(Option<&'a Entitlement>),
        System(Option<&'a crate::values::System>),
    }
    let (first, rest) = path.split_first()?;
    let mut at = match first.as_str() {
        "requester" => At::Identity(org.identity(&s.requester)),
        "beneficiary" => At::Identity(org.identity(&s.beneficiary)),
        "entitlement" => At::Entitlement(org.entitlement(&s.entitlement)),
        "system" => At::System(org.system(&s.entitlement.system)),
        _ => return None,
    };
    for attr in rest {
        at = match (at, attr.as_str()) {
            (At::Identity(i), "manager") => {
                At::Identity(i.and_then(Identity::manager).and_then(|m| org.identity(m)))
            }
            (At::Identity(i), "owner") => {
                At::Identity(i.and_then(Identity::owner).and_then(|m| org.identity(m)))
            }
            (At::Entitlement(e), "owner") => At::Identity(
                e.and_then(|e| e.owner.as_ref())
                    .and_then(|m| org.identity(m)),
            ),
            (At::Entitlement(e), "system") => At::System(e.and_then(|e| org.system(&e.system))),
            (At::System(x), "owner") => At::Identity(x.and_then(|x| org.identity(&x.owner))),
            _ => return None,
        };
    }
    match at {
        At::Identity(i) => Some(i.map(|i| i.name.clone()).into_iter().collect()),
        _ => None,
    }
}

/// The kinds of step (`context.step`).
pub(super) const STEP_KINDS: [&str; 6] = [
    "manager",
    "system_owner",
    "entitlement_owner",
    "security",
    "group",
    "sod_exception",
];

/// Where a permitted principal must come from, read off a policy's syntax tree: the
/// principal scope, or a `when` condition that equates the principal with an
/// attribute path or puts it in a group. Used only to list who is eligible without
/// asking Cedar about every person; every decision is still judged by Cedar itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// An attribute path from `resource` (`["beneficiary", "manager"]`).
    Path(Vec<String>),
    /// Members of a group.
    Group(String),
    /// Members of the step's group (`principal in context.group`).
    StepGroup,
    /// One identity.
    Identity(String),
}

/// What a policy's text can read that becomes a recorded fact, with the text (without
/// spaces) that shows it reads it. A policy naming none of these records only group
/// memberships it names by literal.
pub(super) const USES: &[(&str, &[&str])] = &[
    (
        "beneficiary-manager",
        &[
            "beneficiary.manager==principal",
            "principal==resource.beneficiary.manager",
        ],
    ),
    (
        "nhi-owner",
        &[
            "beneficiary.owner==principal",
            "principal==resource.beneficiary.owner",
        ],
    ),
    (
        "requester-manager",
        &[
            "requester.manager==principal",
            "principal==resource.requester.manager",
        ],
    ),
    (
        "managers-manager",
        &[
            "manager.manager==principal",
            "principal==resource.beneficiary.manager.manager",
        ],
    ),
    (
        "entitlement-owner",
        &[
            "entitlement.owner==principal",
            "principal==resource.entitlement.owner",
        ],
    ),
    (
        "system-owner",
        &[
            "system.owner==principal",
            "principal==resource.system.owner",
        ],
    ),
    ("step-group", &["principalincontext.group"]),
    (
        "principal-department",
        &["principal.department", "principalhasdepartment"],
    ),
    (
        "principal-employment",
        &["principal.employment_type", "principalhasemployment_type"],
    ),
];
