//! The provisioning worker's reports (confirmed, failed for good) and an admin's
//! retry of a dead-lettered or held job.

use crate::ctx::{Ctx, require_admin};
use crate::event::Event;
use crate::values::{Actor, GrantId, Reason, Refusal};

use super::model::{Grant, GrantStatus, JobAction, Receipt};

/// The grant a provisioning worker reports on: only Writ itself reports, and only on
/// grants a connector provisions.
pub(super) fn provisioned_grant<'a>(
    ctx: &Ctx<'a>,
    actor: &Actor,
    grant: &GrantId,
) -> Result<&'a Grant, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "provisioner-only",
            format!("only Writ's provisioning worker reports on `{grant}`'s target system"),
        ));
    }
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if !g.provision {
        return Err(Refusal::conflict(
            "not-provisioned",
            format!("grant `{grant}` is not provisioned by a connector"),
        ));
    }
    Ok(g)
}

/// Refuses unless `action` is the job `g` has open.
fn open_job(g: &Grant, action: JobAction) -> Result<(), Refusal> {
    if g.open_job() == Some(action) {
        return Ok(());
    }
    Err(Refusal::conflict(
        "no-open-job",
        format!(
            "grant `{}` ({}) has no open {} job",
            g.id,
            g.status.as_str(),
            action.as_str()
        ),
    ))
}

pub(crate) fn decide_confirm(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    action: JobAction,
    receipt: &Receipt,
) -> Result<Vec<Event>, Refusal> {
    let g = provisioned_grant(ctx, actor, grant)?;
    receipt
        .validate()
        .map_err(|e| Refusal::invalid("invalid-receipt", e))?;
    match action {
        // The access can be confirmed even after the grant was revoked: the target
        // holds it until the deprovision job, queued behind this one, removes it.
        JobAction::Provision => {
            // A held grant waits for nothing: its approvers lost authority.
            let waiting = g.provisioned_at.is_none()
                && g.deprovisioned_at.is_none()
                && g.failed != Some(JobAction::Provision)
                && g.held.is_none();
            if !waiting {
                return Err(Refusal::conflict(
                    "no-open-job",
                    format!(
                        "grant `{grant}` ({}) is not waiting for its target to confirm the access",
                        g.status.as_str()
                    ),
                ));
            }
            Ok(vec![Event::GrantProvisioned {
                grant: grant.clone(),
                receipt: receipt.clone(),
            }])
        }
        JobAction::Deprovision => {
            open_job(g, JobAction::Deprovision)?;
            let mut events = vec![Event::GrantDeprovisioned {
                grant: grant.clone(),
                receipt: receipt.clone(),
            }];
            // The worker disables the credential with the access it belongs to.
            if let Some(fingerprint) = &g.credential {
                events.push(Event::CredentialRevoked {
                    grant: grant.clone(),
                    fingerprint: fingerprint.clone(),
                });
            }
            Ok(events)
        }
    }
}

pub(crate) fn decide_fail(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    action: JobAction,
    attempts: u32,
    error: &str,
) -> Result<Vec<Event>, Refusal> {
    let g = provisioned_grant(ctx, actor, grant)?;
    open_job(g, action)?;
    if error.trim().is_empty() || error.len() > 2000 {
        return Err(Refusal::invalid(
            "invalid-error",
            "a failed job's error must be 1-2000 bytes",
        ));
    }
    Ok(vec![Event::ProvisioningFailed {
        grant: grant.clone(),
        action,
        attempts,
        error: error.to_owned(),
    }])
}

/// An admin's way out of a job: a dead-lettered or held job goes back to the worker,
/// and a job waiting for its next attempt (after transient failures) runs now.
pub(crate) fn decide_retry(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    action: JobAction,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    let held = g.held.is_some() && action == JobAction::Provision;
    let open = g.open_job() == Some(action);
    if g.failed != Some(action) && !held && !open {
        return Err(Refusal::conflict(
            "no-job-to-retry",
            format!(
                "grant `{grant}` ({}) has no {} job to retry: {}",
                g.status.as_str(),
                action.as_str(),
                no_job_because(g, action)
            ),
        ));
    }
    Ok(vec![Event::ProvisioningRetried {
        grant: grant.clone(),
        action,
    }])
}

/// An admin closes a removal the worker could not make, after removing the access in
/// the target by other means. Only a removal: an addition is retried, or the grant is
/// revoked (which supersedes it), so no access ever rests on someone's word.
pub(crate) fn decide_resolve(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    action: JobAction,
    reason: &Reason,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(actor, Actor::Identity(_)) {
        return Err(Refusal::forbidden(
            "admin-only",
            "only an admin, by name, resolves a job by hand",
        ));
    }
    require_admin(ctx, actor)?;
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if action != JobAction::Deprovision {
        return Err(Refusal::invalid(
            "only-removals-resolve",
            "only a removal can be resolved by hand; retry an addition, or revoke the grant",
        ));
    }
    let waiting = g.failed == Some(action) || g.open_job() == Some(action);
    if !g.provision || !waiting {
        return Err(Refusal::conflict(
            "no-job-to-resolve",
            format!(
                "grant `{grant}` ({}) has no removal waiting: {}",
                g.status.as_str(),
                no_job_because(g, action)
            ),
        ));
    }
    let mut events = vec![Event::ProvisioningResolved {
        grant: grant.clone(),
        action,
        reason: reason.clone(),
    }];
    if let Some(fingerprint) = &g.credential {
        events.push(Event::CredentialRevoked {
            grant: grant.clone(),
            fingerprint: fingerprint.clone(),
        });
    }
    Ok(events)
}

/// Why a grant has no `action` job an admin could act on, in words.
fn no_job_because(g: &Grant, action: JobAction) -> &'static str {
    match (action, g.status) {
        _ if !g.provision => "its system has no connector",
        (JobAction::Provision, GrantStatus::Active) => "the target already holds the access",
        (JobAction::Provision, _) => "the grant has ended, so its access is not added",
        (JobAction::Deprovision, GrantStatus::Pending | GrantStatus::Active) => {
            "the grant has not ended"
        }
        (JobAction::Deprovision, _) => "the target already confirmed the removal",
    }
}
