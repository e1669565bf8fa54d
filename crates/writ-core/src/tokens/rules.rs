//! API tokens: issued by an admin (only a keyed hash of the secret is recorded),
//! revoked by an admin or their holder.

use crate::ctx::{Ctx, require_admin};
use crate::event::Event;
use crate::values::{Actor, IdGen, Name, Refusal, Timestamp, TokenId};

use super::model::Token;

pub(crate) fn decide_issue(
    ctx: &Ctx<'_>,
    actor: &Actor,
    identity: &Name,
    label: &str,
    hash: &str,
    expires_at: &Option<Timestamp>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    let holder = ctx.org.identity(identity).ok_or_else(|| {
        Refusal::invalid(
            "unknown-identity",
            format!("no identity named `{identity}`"),
        )
    })?;
    if !holder.is_active() {
        return Err(Refusal::invalid(
            "identity-inactive",
            format!("`{identity}` is inactive and cannot hold a token"),
        ));
    }
    let n = label.trim().chars().count();
    if n == 0 || n > 100 {
        return Err(Refusal::invalid(
            "invalid-label",
            "token label must be 1-100 characters",
        ));
    }
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Refusal::invalid(
            "invalid-hash",
            "token hash must be 64 hex characters",
        ));
    }
    if expires_at.is_some_and(|t| t <= ctx.now) {
        return Err(Refusal::invalid(
            "expiry-in-past",
            "token expiry must be in the future",
        ));
    }
    Ok(vec![Event::TokenIssued {
        token: Token {
            id: TokenId::generate(ids),
            identity: identity.clone(),
            label: label.trim().to_owned(),
            hash: hash.to_ascii_lowercase(),
            issued_at: ctx.now,
            expires_at: *expires_at,
            revoked_at: None,
        },
    }])
}

pub(crate) fn decide_revoke(
    ctx: &Ctx<'_>,
    actor: &Actor,
    token: &TokenId,
) -> Result<Vec<Event>, Refusal> {
    let t = ctx
        .token
        .ok_or_else(|| Refusal::not_found("unknown-token", format!("no token `{token}`")))?;
    let is_admin = require_admin(ctx, actor).is_ok();
    let is_holder = actor.identity() == Some(&t.identity);
    if !is_admin && !is_holder {
        return Err(Refusal::forbidden(
            "not-authorised",
            format!(
                "only an admin or `{}` may revoke token `{token}`",
                t.identity
            ),
        ));
    }
    if t.revoked_at.is_some() {
        return Err(Refusal::conflict(
            "token-revoked",
            format!("token `{token}` is already revoked"),
        ));
    }
    Ok(vec![Event::TokenRevoked {
        token: t.id.clone(),
    }])
}
