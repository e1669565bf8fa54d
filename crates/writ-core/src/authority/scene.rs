//! The Cedar entities one request's evaluations need, built from the organisation
//! data and the request.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, Request as CedarRequest, RestrictedExpression,
};
use serde::Serialize;

use crate::organisation::Org;
use crate::requests::{StepRole, Submission};
use crate::values::{Entitlement, Identity, IdentityKind, Name, RiskTier};

use super::{Action, Authority, StepQuery, Verdict, one_line};

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

pub(super) fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(kind)?,
        EntityId::new(id),
    ))
}

impl Authority {
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
}
