//! The delegation commands: delegate, and end a delegation early.

use crate::ctx::{Ctx, require_admin, writer};
use crate::event::Event;
use crate::values::{Actor, DelegationId, IdGen, Name, Reason, Refusal, Role};

use super::model::{Delegation, DelegationSpec, MAX_LEAD, MAX_WINDOW};

pub(crate) fn decide_delegate(
    ctx: &Ctx<'_>,
    actor: &Actor,
    spec: &DelegationSpec,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    let me = writer(ctx, actor)?;
    let delegator = spec.delegator.clone().unwrap_or_else(|| me.name.clone());
    if delegator != me.name {
        require_admin(ctx, actor).map_err(|_| {
            Refusal::forbidden(
                "not-your-authority",
                format!(
                    "`{}` may delegate only their own authority, not `{delegator}`'s",
                    me.name
                ),
            )
        })?;
    }
    let person = |name: &Name, what: &str| -> Result<(), Refusal> {
        let i = ctx.org.identity(name).ok_or_else(|| {
            Refusal::invalid("unknown-identity", format!("no identity named `{name}`"))
        })?;
        if !i.is_active() || !i.is_human() || i.has_role(Role::Auditor) {
            return Err(Refusal::invalid(
                "not-a-decider",
                format!("the {what} `{name}` must be an active person who is not an auditor"),
            ));
        }
        Ok(())
    };
    if delegator != me.name && spec.delegate == me.name {
        return Err(Refusal::forbidden(
            "self-appointed-delegate",
            format!(
                "`{}` may record a delegation between other people, never one to themself: `{delegator}` delegates to `{}` only by asking for it",
                me.name, me.name
            ),
        ));
    }
    person(&delegator, "delegator")?;
    person(&spec.delegate, "delegate")?;
    if spec.delegate == delegator {
        return Err(Refusal::invalid(
            "self-delegation",
            format!("`{delegator}` cannot delegate to themself"),
        ));
    }
    // A scope names each system and tier once, in the order given.
    let mut systems: Vec<Name> = Vec::with_capacity(spec.systems.len());
    for s in &spec.systems {
        if !systems.contains(s) {
            systems.push(s.clone());
        }
    }
    let mut tiers = Vec::with_capacity(spec.tiers.len());
    for t in &spec.tiers {
        if !tiers.contains(t) {
            tiers.push(*t);
        }
    }
    let from = spec.from.unwrap_or(ctx.now).max(ctx.now);
    if spec.until <= from {
        return Err(Refusal::invalid(
            "empty-window",
            format!(
                "a delegation ends after it starts and in the future; until {} is not after {}",
                spec.until, from
            ),
        ));
    }
    if from > ctx.now.plus(MAX_LEAD) {
        return Err(Refusal::invalid(
            "delegation-too-far-ahead",
            format!("a delegation starts within {MAX_LEAD} of now; {from} is later"),
        ));
    }
    if spec.until > from.plus(MAX_WINDOW) {
        return Err(Refusal::invalid(
            "window-too-long",
            format!("a delegation lasts at most {MAX_WINDOW}"),
        ));
    }
    for s in &systems {
        if ctx.org.system(s).is_none() {
            return Err(Refusal::invalid(
                "unknown-system",
                format!("no system `{s}` in the catalogue"),
            ));
        }
    }
    let live = ctx
        .org
        .delegations
        .values()
        .filter(|d| d.overlaps(from, spec.until));
    for d in live {
        if d.delegator == delegator
            && d.delegate == spec.delegate
            && same_set(&d.systems, &systems)
            && same_set(&d.tiers, &tiers)
        {
            return Err(Refusal::conflict(
                "duplicate-delegation",
                format!(
                    "`{delegator}` already delegates the same authority to `{}` under `{}` from {} until {}; revoke it or change its scope",
                    d.delegate, d.id, d.from, d.until
                ),
            ));
        }
        if d.delegate == delegator {
            return Err(Refusal::conflict(
                "delegation-chain",
                format!(
                    "`{delegator}` is a delegate of `{}` under `{}` until {}; a delegate cannot delegate further",
                    d.delegator, d.id, d.until
                ),
            ));
        }
        if d.delegator == spec.delegate {
            return Err(Refusal::conflict(
                "delegation-chain",
                format!(
                    "`{}` delegates to `{}` under `{}` until {}; a delegation cannot feed another",
                    spec.delegate, d.delegate, d.id, d.until
                ),
            ));
        }
    }
    Ok(vec![Event::DelegationGranted {
        delegation: Delegation {
            id: DelegationId::generate(ids),
            delegate: spec.delegate.clone(),
            from,
            until: spec.until,
            systems,
            tiers,
            reason: spec.reason.clone(),
            revoked_at: None,
            recorded_by: (delegator != me.name).then(|| me.name.clone()),
            delegator,
        },
    }])
}

/// Whether two scopes name the same systems (or tiers), in whatever order.
fn same_set<T: Ord>(a: &[T], b: &[T]) -> bool {
    a.iter().collect::<std::collections::BTreeSet<_>>() == b.iter().collect()
}

pub(crate) fn decide_revoke(
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &DelegationId,
    reason: &Option<Reason>,
) -> Result<Vec<Event>, Refusal> {
    let me = writer(ctx, actor)?;
    let d =
        ctx.org.delegations.get(id).ok_or_else(|| {
            Refusal::not_found("unknown-delegation", format!("no delegation `{id}`"))
        })?;
    if d.delegator != me.name && !me.has_role(Role::Admin) {
        return Err(Refusal::forbidden(
            "not-your-delegation",
            format!("only `{}` or an admin may revoke `{id}`", d.delegator),
        ));
    }
    if d.revoked_at.is_some() || d.until <= ctx.now {
        return Err(Refusal::conflict(
            "delegation-ended",
            format!("delegation `{id}` has already ended"),
        ));
    }
    Ok(vec![Event::DelegationRevoked {
        delegation: id.clone(),
        revoked_at: ctx.now,
        reason: reason.clone(),
    }])
}
