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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use serde::{Deserialize, Serialize};
use syntax::{Decider, Source, USES, by_step, deciders, may_act, resolve};

use crate::organisation::Org;
use crate::requests::{StepRole, Submission};
use crate::values::{Name, sha256_hex};

mod facts;
mod reach;
mod scene;
mod syntax;
#[cfg(test)]
mod tests;

pub use reach::Reach;
pub use scene::{Scene, step_kind};

/// The Cedar schema policies are validated against.
pub const SCHEMA: &str = include_str!("../../policy/writ.cedarschema");

/// The policy set Writ ships: the approval chains of the README, as Cedar.
pub const SHIPPED: &[(&str, &str)] = &[(
    "approvers.cedar",
    include_str!("../../policy/default/approvers.cedar"),
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
    deciders: Option<Vec<Decider>>,
    /// Whether any permit can pre-approve (`auto_approve`): without one, submissions
    /// skip the question.
    auto_approves: bool,
    /// For each kind of step, the policies that can apply to a `decide` of it: a
    /// policy whose conditions require `context.step` to be another kind cannot, and
    /// leaving it out saves evaluating it (see [`step_kinds`]).
    by_step: BTreeMap<&'static str, PolicySet>,
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
        for d in sources {
            match &d.source {
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
