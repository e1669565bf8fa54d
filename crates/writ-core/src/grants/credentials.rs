//! NHI credentials: set by the NHI's owner (only a fingerprint is recorded), disabled
//! with the access or when the owner leaves, and noted when a rotation is due.

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::values::{Actor, EntitlementKind, GrantId, Identity, Refusal, Timestamp};

use super::model::Grant;

pub(crate) fn decide_issue_credential(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    fingerprint: &str,
    expires_at: Timestamp,
    rotate_by: Timestamp,
) -> Result<Vec<Event>, Refusal> {
    let g = credential_grant(ctx, actor, grant)?;
    if !valid_fingerprint(fingerprint) {
        return Err(Refusal::invalid(
            "invalid-fingerprint",
            "a credential fingerprint is `sha256:` and 32 hex digits",
        ));
    }
    if expires_at <= ctx.now || expires_at > g.expires_at {
        return Err(Refusal::invalid(
            "invalid-expiry",
            format!(
                "a credential expires after now and no later than its grant ({})",
                g.expires_at
            ),
        ));
    }
    if rotate_by <= ctx.now || rotate_by > expires_at {
        return Err(Refusal::invalid(
            "invalid-rotation",
            "a credential is rotated after now and before it expires",
        ));
    }
    if g.credential.as_deref() == Some(fingerprint) {
        return Err(Refusal::conflict(
            "credential-reused",
            "a new credential must differ from the one it replaces",
        ));
    }
    Ok(vec![Event::CredentialIssued {
        grant: grant.clone(),
        fingerprint: fingerprint.to_owned(),
        expires_at,
        rotate_by,
        replaces: g.credential.clone(),
    }])
}

pub(crate) fn decide_revoke_credential(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    fingerprint: &str,
) -> Result<Vec<Event>, Refusal> {
    current_credential(ctx, actor, grant, fingerprint)?;
    Ok(vec![Event::CredentialRevoked {
        grant: grant.clone(),
        fingerprint: fingerprint.to_owned(),
    }])
}

pub(crate) fn decide_note_rotation_due(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    fingerprint: &str,
) -> Result<Vec<Event>, Refusal> {
    current_credential(ctx, actor, grant, fingerprint)?;
    Ok(vec![Event::CredentialRotationDue {
        grant: grant.clone(),
        fingerprint: fingerprint.to_owned(),
    }])
}

/// The grant an NHI owner sets a credential for: active, on a connected system, for
/// an entitlement that issues credentials, and the actor owns its NHI.
fn credential_grant<'a>(
    ctx: &Ctx<'a>,
    actor: &Actor,
    grant: &GrantId,
) -> Result<&'a Grant, Refusal> {
    let who = writer(ctx, actor)?;
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    let nhi = ctx.org.identity(&g.beneficiary);
    if nhi.and_then(Identity::owner) != Some(&who.name) {
        return Err(Refusal::forbidden(
            "not-owner",
            format!(
                "only the owner of NHI `{}` receives its credentials",
                g.beneficiary
            ),
        ));
    }
    let issues = ctx
        .org
        .entitlement(&g.entitlement)
        .is_some_and(|e| matches!(e.kind, EntitlementKind::Account | EntitlementKind::Secret));
    if !issues || !g.provision {
        return Err(Refusal::conflict(
            "no-credential",
            format!(
                "`{}` does not issue credentials (an account or secret entitlement on a system with a connector does)",
                g.entitlement
            ),
        ));
    }
    if !g.is_active() {
        return Err(Refusal::conflict(
            "grant-not-active",
            format!("grant `{grant}` is {}", g.status.as_str()),
        ));
    }
    Ok(g)
}

/// Writ itself (scheduler, worker) acting on the credential in force on `grant`.
fn current_credential(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    fingerprint: &str,
) -> Result<(), Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "only Writ itself notes rotation deadlines or disables a credential outside a revocation",
        ));
    }
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if g.credential.as_deref() != Some(fingerprint) {
        return Err(Refusal::conflict(
            "credential-not-current",
            format!("`{fingerprint}` is not the credential in force on `{grant}`"),
        ));
    }
    Ok(())
}

fn valid_fingerprint(f: &str) -> bool {
    f.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}
