//! How a grant ends early or on time: revoked (an admin, the beneficiary's manager or
//! NHI owner) or expired (the scheduler). A connected grant then waits for its target
//! to confirm the removal.

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::values::{Actor, GrantId, Identity, Reason, Refusal, Role};

pub(crate) fn decide_revoke(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    reason: &Reason,
) -> Result<Vec<Event>, Refusal> {
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    let who = writer(ctx, actor)?;
    let at = ctx.now.to_rfc3339();
    let b = ctx.org.identity(&g.beneficiary);
    let basis = if who.has_role(Role::Admin) {
        "admin of Writ".to_owned()
    } else if b.and_then(Identity::manager) == Some(&who.name) {
        format!(
            "manager of `{}`, per organisation data at {at}",
            g.beneficiary
        )
    } else if b.and_then(Identity::owner) == Some(&who.name) {
        format!(
            "owner of NHI `{}`, per organisation data at {at}",
            g.beneficiary
        )
    } else {
        return Err(Refusal::forbidden(
            "not-authorised",
            format!(
                "`{}` may not revoke `{grant}`: only an admin or the manager (or NHI owner) of `{}` may",
                who.name, g.beneficiary
            ),
        ));
    };
    if !g.is_live() {
        return Err(Refusal::conflict(
            "grant-not-active",
            format!("grant `{grant}` is already {}", g.status.as_str()),
        ));
    }
    Ok(vec![Event::GrantRevoked {
        grant: grant.clone(),
        reason: reason.clone(),
        basis,
    }])
}

pub(crate) fn decide_expire(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            format!("only Writ's scheduler expires grants; `{actor}` may revoke `{grant}` instead"),
        ));
    }
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if !g.is_live() {
        return Err(Refusal::conflict(
            "grant-not-active",
            format!("grant `{grant}` is already {}", g.status.as_str()),
        ));
    }
    if g.expires_at > ctx.now {
        return Err(Refusal::conflict(
            "not-due",
            format!("grant `{grant}` expires at {}, not yet", g.expires_at),
        ));
    }
    Ok(vec![Event::GrantExpired {
        grant: grant.clone(),
    }])
}
