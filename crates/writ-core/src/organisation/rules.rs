//! Changes to the organisation data: identities, systems and entitlements (admins,
//! or Writ itself at start-up).

use crate::ctx::{Ctx, require_admin};
use crate::event::Event;
use crate::values::{Actor, Entitlement, IdGen, Identity, IdentityKind, Refusal, System};

pub(crate) fn decide_upsert_system(
    ctx: &Ctx<'_>,
    actor: &Actor,
    system: &System,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    let owner = ctx.org.identity(&system.owner).ok_or_else(|| {
        Refusal::invalid(
            "unknown-identity",
            format!("owner `{}` is not an identity", system.owner),
        )
    })?;
    if !owner.is_human() {
        return Err(Refusal::invalid(
            "owner-not-human",
            format!(
                "owner `{}` of system `{}` must be a person",
                owner.name, system.name
            ),
        ));
    }
    if system.display_name.trim().is_empty() || system.display_name.chars().count() > 200 {
        return Err(Refusal::invalid(
            "invalid-system",
            format!(
                "display name of system `{}` must be 1-200 characters",
                system.name
            ),
        ));
    }
    crate::values::within("description", &system.description, 2000).map_err(|m| {
        Refusal::invalid("invalid-system", format!("system `{}`: {m}", system.name))
    })?;
    if ctx.org.system(&system.name) == Some(system) {
        return Ok(vec![]);
    }
    Ok(vec![Event::SystemUpserted {
        system: system.clone(),
    }])
}

pub(crate) fn decide_upsert_entitlement(
    ctx: &Ctx<'_>,
    actor: &Actor,
    entitlement: &Entitlement,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    entitlement
        .validate()
        .map_err(|m| Refusal::invalid("invalid-entitlement", m))?;
    if ctx.org.system(&entitlement.system).is_none() {
        return Err(Refusal::invalid(
            "unknown-system",
            format!("system `{}` is not in the catalogue", entitlement.system),
        ));
    }
    if let Some(owner) = &entitlement.owner {
        match ctx.org.identity(owner) {
            Some(i) if i.is_human() => {}
            Some(_) => {
                return Err(Refusal::invalid(
                    "owner-not-human",
                    format!(
                        "owner `{owner}` of `{}` must be a person",
                        entitlement.reference()
                    ),
                ));
            }
            None => {
                return Err(Refusal::invalid(
                    "unknown-identity",
                    format!("owner `{owner}` is not an identity"),
                ));
            }
        }
    }
    if ctx.org.entitlement(&entitlement.reference()) == Some(entitlement) {
        return Ok(vec![]);
    }
    Ok(vec![Event::EntitlementUpserted {
        entitlement: entitlement.clone(),
    }])
}

pub(crate) fn decide_upsert_identity(
    ctx: &Ctx<'_>,
    actor: &Actor,
    identity: &Identity,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    identity
        .validate()
        .map_err(|m| Refusal::invalid("invalid-identity", m))?;
    let existing = ctx.org.identity(&identity.name);
    if let Some(old) = existing {
        if old == identity {
            return Ok(vec![]);
        }
        if old.is_human() != identity.is_human() {
            return Err(Refusal::invalid(
                "kind-change",
                format!(
                    "`{}` is a {}; an identity cannot change kind",
                    old.name,
                    old.kind_label()
                ),
            ));
        }
    }
    match &identity.kind {
        IdentityKind::Human(h) => {
            if let Some(m) = &h.manager {
                let manager = ctx.org.identity(m).ok_or_else(|| {
                    Refusal::invalid(
                        "unknown-manager",
                        format!("manager `{m}` is not an identity"),
                    )
                })?;
                if !manager.is_human() {
                    return Err(Refusal::invalid(
                        "manager-not-human",
                        format!("manager `{m}` must be a person"),
                    ));
                }
                if ctx.org.manages_transitively(&identity.name, m) {
                    return Err(Refusal::invalid(
                        "manager-cycle",
                        format!(
                            "`{m}` reports to `{}`; making them `{}`'s manager would form a cycle",
                            identity.name, identity.name
                        ),
                    ));
                }
            }
        }
        IdentityKind::Nhi(n) => {
            let owner = ctx.org.identity(&n.owner).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-owner",
                    format!("owner `{}` is not an identity", n.owner),
                )
            })?;
            if !owner.is_human() {
                return Err(Refusal::invalid(
                    "owner-not-human",
                    format!("owner `{}` must be a person", n.owner),
                ));
            }
        }
    }
    let mut events = vec![Event::IdentityUpserted {
        identity: identity.clone(),
    }];
    events.extend(crate::reviews::micro_review(ctx, identity, ids));
    Ok(events)
}
