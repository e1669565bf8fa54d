//! Approval authority as Cedar policy: who may decide a step, which requests a policy
//! pre-approves, who may break glass.
//!
//! Admins write policies in the Cedar language against the schema Writ ships
//! (`policy/writ.cedarschema`). A policy set is parsed, given stable ids (the
//! `@id("…")` annotation, else `<file>:<n>`) and validated strictly against the
//! schema before it can be activated; a set that fails is refused whole. Every
//! evaluation builds the entities it needs from the organisation data and the
//! request; an evaluation error is a refusal with its diagnostics, never an allow.
//!
//! What policy cannot change stays in Rust (`eligibility`): the requester, the
//! beneficiary, auditors, inactive and non-human identities never decide, and one
//! identity decides at most one step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, Policy, PolicyId, PolicySet, Request as CedarRequest, RestrictedExpression, Schema,
    ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};

use crate::canonical::sha256_hex;
use crate::catalog::{Entitlement, RiskTier};
use crate::identity::{Identity, IdentityKind};
use crate::names::Name;
use crate::org::Org;
use crate::policy::StepRole;
use crate::request::Submission;
use crate::time::Timestamp;

/// The Cedar schema policies are validated against.
pub const SCHEMA: &str = include_str!("../policy/writ.cedarschema");

/// The policy set Writ ships: the approval chains of the README, as Cedar.
pub const SHIPPED: &[(&str, &str)] = &[(
    "approvers.cedar",
    include_str!("../policy/default/approvers.cedar"),
)];

/// The Cedar sources of a policy set: file name → text. Part of the approval policy,
/// so its text is in the ledger and its hash in the policy version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    pub files: BTreeMap<String, String>,
}

impl PolicySource {
    pub fn shipped() -> PolicySource {
        PolicySource {
            files: SHIPPED
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    /// SHA-256 over the file names and texts, in name order.
    pub fn digest(&self) -> String {
        let mut all = String::new();
        for (name, text) in &self.files {
            all.push_str(&format!("{}:{name}\n{}:{text}\n", name.len(), text.len()));
        }
        sha256_hex(all.as_bytes())
    }
}

/// Why a policy set was refused: every problem, each naming its file or policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Cedar policy set: {}", .problems.join("; "))]
pub struct AuthorityError {
    pub problems: Vec<String>,
}

/// One policy of the active set, as shown to people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub id: String,
    pub file: String,
    pub effect: String,
    /// The policy's `@reason` annotation: the fact a decision under it rests on.
    pub reason: Option<String>,
}

/// A compiled, validated policy set.
#[derive(Clone)]
pub struct Authority {
    set: PolicySet,
    /// `None` only for [`Authority::allows_nothing`].
    schema: Option<Schema>,
    info: BTreeMap<String, PolicyInfo>,
    /// Groups named by entity literal somewhere in the set (`Writ::Group::"x"`).
    named_groups: BTreeMap<String, BTreeSet<String>>,
    /// The relations and attributes each policy's text reads (see [`USES`]): a
    /// decision records as facts only what its determining policies use.
    uses: BTreeMap<String, BTreeSet<&'static str>>,
    /// Where a principal the `decide` permits can come from, when every such permit
    /// restricts it (see [`Source`]); `None`: anyone may be permitted.
    deciders: Option<Vec<Source>>,
    /// Whether any permit can pre-approve (`auto_approve`): without one, submissions
    /// skip the question.
    auto_approves: bool,
    /// For each kind of step, the policies that can apply to a `decide` of it: a
    /// policy whose conditions require `context.step` to be another kind cannot, and
    /// leaving it out saves evaluating it (see [`step_kinds`]).
    by_step: BTreeMap<&'static str, PolicySet>,
}

/// The kinds of step (`context.step`).
const STEP_KINDS: [&str; 6] = [
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
enum Source {
    /// An attribute path from `resource` (`["beneficiary", "manager"]`).
    Path(Vec<String>),
    /// Members of a group.
    Group(String),
    /// Members of the step's group (`principal in context.group`).
    StepGroup,
    /// One identity.
    Identity(String),
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("policies", &self.info.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a policy evaluation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// At least one permit applied and no forbid: the determining policies' ids.
    Allow { policies: Vec<String> },
    /// No permit applied, or a forbid did.
    Deny { forbidden_by: Vec<String> },
    /// The evaluation failed; fail closed with the diagnostics.
    Error(String),
}

/// The Cedar actions Writ asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Decide,
    AutoApprove,
    BreakGlass,
}

impl Action {
    fn id(self) -> &'static str {
        match self {
            Action::Decide => "decide",
            Action::AutoApprove => "auto_approve",
            Action::BreakGlass => "break_glass",
        }
    }
}

/// The step being decided, as the `decide` action's context.
#[derive(Clone, Debug)]
pub struct StepQuery<'a> {
    pub role: &'a StepRole,
    pub index: u32,
    /// The group a security or group step names.
    pub group: Option<&'a str>,
    pub escalated: bool,
}

impl Authority {
    /// The shipped policy set. It is tested to compile; if it ever did not, every
    /// evaluation would fail closed rather than allow.
    pub fn shipped() -> Authority {
        match Authority::compile(&PolicySource::shipped()) {
            Ok(a) => a,
            Err(_) => Authority::allows_nothing(),
        }
    }

    /// A set that allows nothing: what a stored policy that no longer compiles
    /// becomes, so that every evaluation fails closed.
    pub fn allows_nothing() -> Authority {
        Authority {
            set: PolicySet::new(),
            schema: None,
            info: BTreeMap::new(),
            named_groups: BTreeMap::new(),
            uses: BTreeMap::new(),
            deciders: Some(Vec::new()),
            auto_approves: false,
            by_step: BTreeMap::new(),
        }
    }

    /// The schema entities and requests are checked against: in debug builds (every
    /// test), so an entity Writ builds that drifts from the schema fails loudly; not
    /// in release builds, where it costs a third of each evaluation and the policies
    /// were already validated against the same schema.
    fn checked(&self) -> Option<&Schema> {
        self.schema.as_ref().filter(|_| cfg!(debug_assertions))
    }

    /// Whether any permit in the set can pre-approve a request.
    pub fn auto_approves(&self) -> bool {
        self.auto_approves
    }

    /// Parses and strictly validates `source`; refuses the whole set on any problem.
    pub fn compile(source: &PolicySource) -> Result<Authority, AuthorityError> {
        let schema = schema().map_err(|p| AuthorityError { problems: vec![p] })?;
        let mut problems = Vec::new();
        let mut set = PolicySet::new();
        let mut info = BTreeMap::new();
        let mut named_groups = BTreeMap::new();
        let mut uses = BTreeMap::new();
        if source.files.is_empty() {
            problems.push("the policy directory holds no `.cedar` file".to_owned());
        }
        for (file, text) in &source.files {
            let parsed = match PolicySet::from_str(text) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("{file}: does not parse: {}", one_line(&e)));
                    continue;
                }
            };
            if parsed.templates().next().is_some() {
                problems.push(format!(
                    "{file}: policy templates are not supported; write each policy in full"
                ));
            }
            // `PolicySet::from_str` numbers policies in source order (policy0, …).
            let mut policies: Vec<&Policy> = parsed.policies().collect();
            policies.sort_by_key(|p| {
                p.id()
                    .to_string()
                    .trim_start_matches("policy")
                    .parse::<u64>()
                    .unwrap_or(u64::MAX)
            });
            for (n, p) in policies.into_iter().enumerate() {
                let id = match p.annotation("id") {
                    Some(id) if valid_policy_id(id) => id.to_owned(),
                    Some(id) => {
                        problems.push(format!(
                            "{file}: policy {}: `@id(\"{id}\")` must be 1 to 64 letters, digits, `-`, `_`, `.` or `:`",
                            n + 1
                        ));
                        continue;
                    }
                    None => format!("{file}:{}", n + 1),
                };
                if let Some(other) = info.get(&id) {
                    let other: &PolicyInfo = other;
                    problems.push(format!(
                        "{file}: policy id `{id}` is also used in {}",
                        other.file
                    ));
                    continue;
                }
                let text = p.to_string();
                named_groups.insert(id.clone(), group_literals(&text));
                let compact: String = text.split_whitespace().collect();
                uses.insert(
                    id.clone(),
                    USES.iter()
                        .filter(|(_, needles)| needles.iter().any(|n| compact.contains(n)))
                        .map(|(fact, _)| *fact)
                        .collect(),
                );
                info.insert(
                    id.clone(),
                    PolicyInfo {
                        id: id.clone(),
                        file: file.clone(),
                        effect: p.effect().to_string(),
                        reason: p.annotation("reason").map(str::to_owned),
                    },
                );
                if let Err(e) = set.add(p.new_id(PolicyId::new(&id))) {
                    problems.push(format!("{file}: {}", one_line(&e)));
                }
            }
        }
        // Validate what did parse even when another file did not: every problem is
        // named at once.
        if !info.is_empty() {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                let file = info.get(&id).map(|i| i.file.as_str()).unwrap_or("?");
                problems.push(format!("{file}: policy `{id}`: {}", one_line(e)));
            }
        }
        if !problems.is_empty() {
            return Err(AuthorityError { problems });
        }
        let deciders = deciders(&set);
        let by_step = by_step(&set);
        let auto_approves = set.policies().any(|p| {
            p.effect() == cedar_policy::Effect::Permit
                && p.to_json()
                    .map_or(true, |j| may_act(&j["action"], "auto_approve"))
        });
        Ok(Authority {
            by_step,
            auto_approves,
            set,
            schema: Some(schema),
            info,
            named_groups,
            uses,
            deciders,
        })
    }

    /// Everyone the `decide` permits could allow for a request's step with group
    /// `group`, from the organisation data; `None` when the policies do not restrict
    /// it (then everyone must be asked). Delegates of those people are included.
    pub fn possible_deciders(
        &self,
        org: &Org,
        s: &Submission,
        group: Option<&str>,
    ) -> Option<BTreeSet<Name>> {
        let sources = self.deciders.as_ref()?;
        let mut out = BTreeSet::new();
        for source in sources {
            match source {
                Source::Path(path) => out.extend(resolve(org, s, path)?),
                Source::Group(g) => out.extend(org.members_of(g).map(|i| i.name.clone())),
                Source::StepGroup => {
                    if let Some(g) = group {
                        out.extend(org.members_of(g).map(|i| i.name.clone()));
                    }
                }
                Source::Identity(id) => {
                    if let Ok(n) = Name::parse(id) {
                        out.insert(n);
                    }
                }
            }
        }
        let delegates: Vec<Name> = org
            .delegations
            .values()
            .filter(|d| out.contains(&d.delegator))
            .map(|d| d.delegate.clone())
            .collect();
        out.extend(delegates);
        Some(out)
    }

    pub fn policies(&self) -> impl Iterator<Item = &PolicyInfo> {
        self.info.values()
    }

    pub fn policy(&self, id: &str) -> Option<&PolicyInfo> {
        self.info.get(id)
    }

    /// Asks whether `principal` may take `action` on the request in `scene`.
    pub fn evaluate(
        &self,
        scene: &Scene,
        action: Action,
        principal: &Name,
        step: Option<&StepQuery<'_>>,
    ) -> Verdict {
        let context = match step {
            Some(q) => {
                let mut pairs = vec![
                    (
                        "step".to_owned(),
                        RestrictedExpression::new_string(step_kind(q.role).to_owned()),
                    ),
                    (
                        "step_index".to_owned(),
                        RestrictedExpression::new_long(i64::from(q.index)),
                    ),
                    (
                        "escalated".to_owned(),
                        RestrictedExpression::new_bool(q.escalated),
                    ),
                ];
                if let Some(g) = q.group {
                    match uid("Group", g) {
                        Ok(g) => pairs
                            .push(("group".to_owned(), RestrictedExpression::new_entity_uid(g))),
                        Err(e) => return Verdict::Error(e),
                    }
                }
                Context::from_pairs(pairs)
            }
            None => Ok(Context::empty()),
        };
        let context = match context {
            Ok(c) => c,
            Err(e) => return Verdict::Error(format!("context: {}", one_line(&e))),
        };
        let (who, what) = match (
            uid("Identity", principal.as_str()),
            uid("Action", action.id()),
        ) {
            (Ok(who), Ok(what)) => (who, what),
            (Err(e), _) | (_, Err(e)) => return Verdict::Error(e),
        };
        let request =
            match CedarRequest::new(who, what, scene.resource.clone(), context, self.checked()) {
                Ok(r) => r,
                Err(e) => return Verdict::Error(format!("request: {}", one_line(&e))),
            };
        let set = match (action, step) {
            (Action::Decide, Some(q)) => self.by_step.get(step_kind(q.role)).unwrap_or(&self.set),
            _ => &self.set,
        };
        let response = Authorizer::new().is_authorized(&request, set, &scene.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| one_line(e))
            .collect();
        if !errors.is_empty() {
            return Verdict::Error(errors.join("; "));
        }
        let mut ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        ids.sort();
        match response.decision() {
            CedarDecision::Allow => Verdict::Allow { policies: ids },
            CedarDecision::Deny => Verdict::Deny { forbidden_by: ids },
        }
    }

    /// The facts about `principal` the determining `policies` rested on, in words,
    /// from the organisation data and catalogue. Values that are personal data
    /// (a department's name, say) are named, not quoted.
    pub fn facts(
        &self,
        org: &Org,
        s: &Submission,
        principal: &Name,
        group: Option<&str>,
        policies: &[String],
    ) -> Vec<String> {
        let mut facts = Vec::new();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let mut groups: BTreeSet<&str> = BTreeSet::new();
        for id in policies {
            if let Some(u) = self.uses.get(id) {
                used.extend(u.iter().copied());
            }
            if let Some(named) = self.named_groups.get(id) {
                groups.extend(named.iter().map(String::as_str));
            }
        }
        let b = org.identity(&s.beneficiary);
        let requester = org.identity(&s.requester);
        if used.contains("beneficiary-manager") && b.and_then(Identity::manager) == Some(principal)
        {
            facts.push(format!("manager of `{}`", s.beneficiary));
        }
        if used.contains("nhi-owner") && b.and_then(Identity::owner) == Some(principal) {
            facts.push(format!("owner of NHI `{}`", s.beneficiary));
        }
        let relation = if b.and_then(Identity::manager) == Some(&s.requester) {
            Some("manager of")
        } else if b.and_then(Identity::owner) == Some(&s.requester) {
            Some("owner of NHI")
        } else {
            None
        };
        if used.contains("requester-manager")
            && requester.and_then(Identity::manager) == Some(principal)
        {
            facts.push(match relation {
                Some(rel) => format!(
                    "manager of `{}`, who is the requester and {rel} `{}` (skip-level)",
                    s.requester, s.beneficiary
                ),
                None => format!("manager of the requester `{}`", s.requester),
            });
        }
        if let Some(m) = b.and_then(Identity::manager)
            && used.contains("managers-manager")
            && org.identity(m).and_then(Identity::manager) == Some(principal)
        {
            facts.push(format!("manager of `{m}`, who manages `{}`", s.beneficiary));
        }
        let ent = org.entitlement(&s.entitlement);
        if used.contains("entitlement-owner")
            && ent.and_then(|e| e.owner.as_ref()) == Some(principal)
        {
            facts.push(format!("owner of entitlement `{}`", s.entitlement));
        }
        if let Some(sys) = org.system(&s.entitlement.system)
            && used.contains("system-owner")
            && &sys.owner == principal
        {
            if used.contains("entitlement-owner") && ent.is_some_and(|e| e.owner.is_none()) {
                facts.push(format!(
                    "owner of system `{}` (entitlement `{}` has no owner of its own)",
                    sys.name, s.entitlement
                ));
            } else {
                facts.push(format!("owner of system `{}`", sys.name));
            }
        }
        let who = org.identity(principal);
        if let Some(g) = group.filter(|_| used.contains("step-group")) {
            groups.insert(g);
        }
        for g in groups {
            if who.is_some_and(|i| i.groups.contains(g)) {
                facts.push(format!("member of group `{g}`"));
            }
        }
        for (token, words) in [
            ("principal-department", "department"),
            ("principal-employment", "employment type"),
        ] {
            if used.contains(token) {
                facts.push(format!("{words} of `{principal}`"));
            }
        }
        facts
    }

    /// The basis recorded with a decision: the facts, when they held, and the policies.
    pub fn basis(&self, facts: &[String], policies: &[String], at: Timestamp) -> String {
        let named: Vec<String> = policies
            .iter()
            .map(
                |id| match self.info.get(id).and_then(|i| i.reason.as_deref()) {
                    Some(r) => format!("`{id}` ({r})"),
                    None => format!("`{id}`"),
                },
            )
            .collect();
        let facts = if facts.is_empty() {
            "no relation to the request".to_owned()
        } else {
            facts.join("; ")
        };
        format!(
            "{facts}, per organisation data at {}; policy {}",
            at.to_rfc3339(),
            named.join(", ")
        )
    }
}

/// Where the principals every `decide` permit can allow come from; `None` as soon as
/// one permit does not restrict its principal.
fn deciders(set: &PolicySet) -> Option<Vec<Source>> {
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
        all.extend(from_scope.or_else(from_when)?);
    }
    Some(all)
}

/// The policies that can apply to a `decide` of each kind of step.
fn by_step(set: &PolicySet) -> BTreeMap<&'static str, PolicySet> {
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
fn step_kinds(policy: &serde_json::Value) -> Option<BTreeSet<String>> {
    policy["conditions"]
        .as_array()?
        .iter()
        .filter(|c| c["kind"] == "when")
        .filter_map(|c| step_literals(&c["body"]))
        .reduce(|a, b| a.intersection(&b).cloned().collect())
}

fn step_literals(e: &serde_json::Value) -> Option<BTreeSet<String>> {
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
fn may_act(action: &serde_json::Value, id: &str) -> bool {
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
fn restriction(e: &serde_json::Value) -> Option<Vec<Source>> {
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
fn resource_path(e: &serde_json::Value) -> Option<Vec<String>> {
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
fn resolve(org: &Org, s: &Submission, path: &[String]) -> Option<Vec<Name>> {
    enum At<'a> {
        Identity(Option<&'a Identity>),
        Entitlement(Option<&'a Entitlement>),
        System(Option<&'a crate::catalog::System>),
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

/// What a policy's text can read that becomes a recorded fact, with the text (without
/// spaces) that shows it reads it. A policy naming none of these records only group
/// memberships it names by literal.
const USES: &[(&str, &[&str])] = &[
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

/// The entities one request's evaluations need, built once.
pub struct Scene {
    entities: Entities,
    resource: EntityUid,
}

impl fmt::Debug for Scene {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scene")
            .field("resource", &self.resource.to_string())
            .finish()
    }
}

impl Scene {
    /// Entities for the request in `s`: the request, its entitlement and system, the
    /// requester, the beneficiary, the people those point at, and `principals`, each
    /// with their groups.
    pub fn new<'a>(
        authority: &Authority,
        org: &Org,
        s: &Submission,
        principals: impl IntoIterator<Item = &'a Name>,
    ) -> Result<Scene, String> {
        let mut names: BTreeSet<&Name> = principals.into_iter().collect();
        names.insert(&s.requester);
        names.insert(&s.beneficiary);
        for n in [&s.requester, &s.beneficiary] {
            if let Some(i) = org.identity(n) {
                names.extend(i.manager());
                names.extend(i.owner());
            }
        }
        let ent = org.entitlement(&s.entitlement);
        let sys = org.system(&s.entitlement.system);
        names.extend(ent.and_then(|e| e.owner.as_ref()));
        names.extend(sys.map(|s| &s.owner));
        let mut entities = Vec::with_capacity(names.len() + 8);
        let mut groups: HashSet<&str> = HashSet::new();
        for n in names {
            let Some(i) = org.identity(n) else { continue };
            groups.extend(i.groups.iter().map(String::as_str));
            entities.push(identity_entity(i)?);
        }
        for g in groups {
            entities.push(Entity::new_no_attrs(uid("Group", g)?, HashSet::new()));
        }
        let system_uid = uid("System", s.entitlement.system.as_str())?;
        if let Some(sys) = sys {
            let attrs = HashMap::from([
                ("owner".to_owned(), identity_ref(&sys.owner)?),
                ("kind".to_owned(), string(&sys.kind)),
            ]);
            entities.push(entity(system_uid.clone(), attrs, HashSet::new())?);
        }
        let ent_uid = uid("Entitlement", &s.entitlement.to_string())?;
        if let Some(e) = ent {
            entities.push(entitlement_entity(e, &ent_uid, &system_uid)?);
        }
        let resource = uid("Request", s.id.as_str())?;
        let attrs = HashMap::from([
            ("requester".to_owned(), identity_ref(&s.requester)?),
            ("beneficiary".to_owned(), identity_ref(&s.beneficiary)?),
            (
                "entitlement".to_owned(),
                RestrictedExpression::new_entity_uid(ent_uid),
            ),
            (
                "system".to_owned(),
                RestrictedExpression::new_entity_uid(system_uid),
            ),
            (
                "risk".to_owned(),
                RestrictedExpression::new_string(s.risk.to_string()),
            ),
            (
                "risk_level".to_owned(),
                RestrictedExpression::new_long(risk_level(s.risk)),
            ),
            (
                "privileged".to_owned(),
                RestrictedExpression::new_bool(s.privileged),
            ),
            ("kind".to_owned(), string(&s.kind)),
            (
                "has_ticket".to_owned(),
                RestrictedExpression::new_bool(s.ticket.is_some()),
            ),
            (
                "duration_seconds".to_owned(),
                RestrictedExpression::new_long(
                    i64::try_from(s.duration.seconds()).unwrap_or(i64::MAX),
                ),
            ),
        ]);
        entities.push(entity(resource.clone(), attrs, HashSet::new())?);
        let entities = Entities::from_entities(entities, authority.checked())
            .map_err(|e| format!("entities: {}", one_line(&e)))?;
        Ok(Scene { entities, resource })
    }
}

/// The `step` value policies see for a role.
pub fn step_kind(role: &StepRole) -> &'static str {
    match role {
        StepRole::Manager => "manager",
        StepRole::SystemOwner => "system_owner",
        StepRole::EntitlementOwner => "entitlement_owner",
        StepRole::Security => "security",
        StepRole::Group(_) => "group",
        StepRole::SodException => "sod_exception",
    }
}

fn risk_level(r: RiskTier) -> i64 {
    match r {
        RiskTier::Low => 1,
        RiskTier::Medium => 2,
        RiskTier::High => 3,
        RiskTier::Critical => 4,
    }
}

fn identity_entity(i: &Identity) -> Result<Entity, String> {
    let mut attrs = HashMap::from([
        (
            "kind".to_owned(),
            RestrictedExpression::new_string(if i.is_human() { "human" } else { "nhi" }.into()),
        ),
        (
            "active".to_owned(),
            RestrictedExpression::new_bool(i.is_active()),
        ),
        (
            "roles".to_owned(),
            RestrictedExpression::new_set(i.roles.iter().map(string)),
        ),
    ]);
    match &i.kind {
        IdentityKind::Human(h) => {
            if let Some(m) = &h.manager {
                attrs.insert("manager".into(), identity_ref(m)?);
            }
            if let Some(d) = &h.department {
                attrs.insert(
                    "department".into(),
                    RestrictedExpression::new_string(d.clone()),
                );
            }
            attrs.insert("employment_type".into(), string(&h.employment_type));
        }
        IdentityKind::Nhi(n) => {
            attrs.insert("owner".into(), identity_ref(&n.owner)?);
            attrs.insert(
                "environment".into(),
                RestrictedExpression::new_string(n.environment.clone()),
            );
        }
    }
    let parents = i
        .groups
        .iter()
        .map(|g| uid("Group", g))
        .collect::<Result<_, _>>()?;
    entity(uid("Identity", i.name.as_str())?, attrs, parents)
}

fn entitlement_entity(
    e: &Entitlement,
    id: &EntityUid,
    system: &EntityUid,
) -> Result<Entity, String> {
    let mut attrs = HashMap::from([
        (
            "system".to_owned(),
            RestrictedExpression::new_entity_uid(system.clone()),
        ),
        (
            "risk".to_owned(),
            RestrictedExpression::new_string(e.risk.to_string()),
        ),
        (
            "risk_level".to_owned(),
            RestrictedExpression::new_long(risk_level(e.risk)),
        ),
        (
            "privileged".to_owned(),
            RestrictedExpression::new_bool(e.privileged),
        ),
        ("kind".to_owned(), string(&e.kind)),
        (
            "break_glass".to_owned(),
            RestrictedExpression::new_bool(e.break_glass),
        ),
    ]);
    if let Some(o) = &e.owner {
        attrs.insert("owner".into(), identity_ref(o)?);
    }
    entity(id.clone(), attrs, HashSet::from([system.clone()]))
}

fn entity(
    id: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, String> {
    Entity::new(id, attrs, parents).map_err(|e| format!("entity: {}", one_line(&e)))
}

fn identity_ref(name: &Name) -> Result<RestrictedExpression, String> {
    Ok(RestrictedExpression::new_entity_uid(uid(
        "Identity",
        name.as_str(),
    )?))
}

/// The serde string of a unit enum (`"employee"`, `"database"`, …).
fn string<T: Serialize>(v: &T) -> RestrictedExpression {
    let s = match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("unencodable:{e}"),
    };
    RestrictedExpression::new_string(s)
}

/// Writ's entity type names, parsed once.
fn type_name(kind: &str) -> Result<EntityTypeName, String> {
    static TYPES: OnceLock<Result<BTreeMap<&'static str, EntityTypeName>, String>> =
        OnceLock::new();
    let types = TYPES.get_or_init(|| {
        [
            "Identity",
            "Group",
            "System",
            "Entitlement",
            "Request",
            "Action",
        ]
        .into_iter()
        .map(|k| {
            EntityTypeName::from_str(&format!("Writ::{k}"))
                .map(|t| (k, t))
                .map_err(|e| format!("Writ's Cedar entity type `{k}`: {}", one_line(&e)))
        })
        .collect()
    });
    match types {
        Ok(t) => t
            .get(kind)
            .cloned()
            .ok_or_else(|| format!("`{kind}` is not one of Writ's Cedar entity types")),
        Err(e) => Err(e.clone()),
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(kind)?,
        EntityId::new(id),
    ))
}

fn schema() -> Result<Schema, String> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(s, _warnings)| s)
        .map_err(|e| format!("Writ's Cedar schema: {}", one_line(&e)))
}

/// A Cedar diagnostic on one line, with its underlying causes.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !out.contains(&next) {
            out.push_str(": ");
            out.push_str(&next);
        }
        source = s.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn valid_policy_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// `Writ::Group::"name"` literals in a policy's text.
fn group_literals(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("Group::\"") {
        rest = &rest[i + "Group::\"".len()..];
        if let Some(end) = rest.find('"') {
            out.insert(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(files: &[(&str, &str)]) -> PolicySource {
        PolicySource {
            files: files
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_shipped_set_compiles_with_its_ids() {
        let a = Authority::compile(&PolicySource::shipped()).unwrap();
        let ids: Vec<&str> = a.policies().map(|p| p.id.as_str()).collect();
        assert!(ids.contains(&"manager-of-beneficiary"), "{ids:?}");
        assert!(ids.contains(&"group-member"), "{ids:?}");
    }

    #[test]
    fn schema_errors_syntax_errors_and_duplicate_ids_are_refused_with_file_names() {
        let typo = source(&[(
            "a.cedar",
            r#"permit(principal, action == Writ::Action::"decide", resource) when { principal.departmnt == "x" };"#,
        )]);
        let e = Authority::compile(&typo).unwrap_err();
        assert!(e.to_string().contains("a.cedar"), "{e}");
        assert!(e.to_string().contains("departmnt"), "{e}");

        let broken = source(&[("b.cedar", "permit(principal, action, resource) when {")]);
        let e = Authority::compile(&broken).unwrap_err();
        assert!(e.to_string().contains("b.cedar: does not parse"), "{e}");

        let twice = source(&[
            (
                "a.cedar",
                r#"@id("x") permit(principal, action == Writ::Action::"decide", resource);"#,
            ),
            (
                "b.cedar",
                r#"@id("x") permit(principal, action == Writ::Action::"decide", resource);"#,
            ),
        ]);
        let e = Authority::compile(&twice).unwrap_err();
        assert!(e.to_string().contains("`x` is also used in a.cedar"), "{e}");

        assert!(Authority::compile(&source(&[])).is_err());

        let both = source(&[
            ("broken.cedar", "permit(principal, action, resource) when {"),
            (
                "typo.cedar",
                r#"permit(principal, action == Writ::Action::"decide", resource) when { principal.departmnt == "x" };"#,
            ),
        ]);
        let e = Authority::compile(&both).unwrap_err().to_string();
        assert!(e.contains("broken.cedar: does not parse"), "{e}");
        assert!(e.contains("typo.cedar") && e.contains("departmnt"), "{e}");
    }

    #[test]
    fn who_a_decide_permit_can_allow_is_read_off_the_policies() {
        let shipped = Authority::compile(&PolicySource::shipped()).unwrap();
        let sources = shipped.deciders.clone().unwrap();
        assert!(sources.contains(&Source::Path(vec!["beneficiary".into(), "manager".into()])));
        assert!(sources.contains(&Source::Path(vec![
            "beneficiary".into(),
            "manager".into(),
            "manager".into()
        ])));
        assert!(sources.contains(&Source::Path(vec!["entitlement".into(), "owner".into()])));
        assert!(sources.contains(&Source::Path(vec!["system".into(), "owner".into()])));
        assert!(sources.contains(&Source::StepGroup));
        assert!(sources.contains(&Source::Group("security".into())));
        // The break-glass permit is about another action: it adds nobody.
        assert!(!sources.contains(&Source::Group("on-call".into())));

        // A permit on an attribute of the principal can allow anyone: ask everyone.
        let open = Authority::compile(&source(&[(
            "dept.cedar",
            r#"permit(principal, action == Writ::Action::"decide", resource)
               when { principal has department && principal.department == "Finance" };"#,
        )]))
        .unwrap();
        assert_eq!(open.deciders, None);
        // A disjunction restricts only when both sides do.
        let either = Authority::compile(&source(&[(
            "either.cedar",
            r#"permit(principal, action == Writ::Action::"decide", resource)
               when { resource.system.owner == principal || principal in Writ::Group::"sre" };
               permit(principal, action, resource) when { resource.system.owner == principal || principal.active };"#,
        )]))
        .unwrap();
        assert_eq!(either.deciders, None);
        let scoped = Authority::compile(&source(&[(
            "scoped.cedar",
            r#"permit(principal in Writ::Group::"sre", action, resource) when { principal.active };
               permit(principal == Writ::Identity::"ada", action == Writ::Action::"decide", resource);
               forbid(principal, action, resource) when { principal.kind == "nhi" };"#,
        )]))
        .unwrap();
        assert_eq!(
            scoped.deciders,
            Some(vec![
                Source::Group("sre".into()),
                Source::Identity("ada".into())
            ])
        );
    }

    #[test]
    fn a_step_is_judged_only_by_the_policies_that_can_apply_to_it() {
        let a = Authority::compile(&PolicySource::shipped()).unwrap();
        let ids = |kind: &str| -> Vec<String> {
            let mut ids: Vec<String> = a.by_step[kind]
                .policies()
                .map(|p| p.id().to_string())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            ids("system_owner"),
            ["escalated-to-security", "system-owner"]
        );
        assert_eq!(ids("security"), ["escalated-to-security", "group-member"]);
        assert_eq!(
            ids("manager"),
            [
                "escalated-to-next-manager",
                "escalated-to-security",
                "manager-of-beneficiary",
                "owner-of-nhi",
                "skip-level-manager",
                "skip-level-nhi-owner"
            ]
        );
        // A forbid without a step condition applies to every step.
        let f = Authority::compile(&source(&[(
            "f.cedar",
            r#"forbid(principal, action, resource) when { principal.kind == "nhi" };
               permit(principal, action == Writ::Action::"decide", resource)
               when { context.step == "manager" || context.step == "group" };"#,
        )]))
        .unwrap();
        assert_eq!(f.by_step["security"].policies().count(), 1);
        assert_eq!(f.by_step["group"].policies().count(), 2);
    }

    #[test]
    fn unannotated_policies_are_named_by_file_and_position() {
        let a = Authority::compile(&source(&[(
            "extra.cedar",
            r#"permit(principal in Writ::Group::"sre", action == Writ::Action::"decide", resource);
               forbid(principal, action == Writ::Action::"decide", resource) when { principal.kind == "nhi" };"#,
        )]))
        .unwrap();
        let ids: Vec<&str> = a.policies().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["extra.cedar:1", "extra.cedar:2"]);
        assert_eq!(
            a.named_groups["extra.cedar:1"],
            BTreeSet::from(["sre".to_owned()])
        );
    }
}
