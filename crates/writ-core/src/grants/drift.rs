//! Reconciliation's findings: recorded when found and when they no longer hold; a
//! grant whose access the target lost goes back to pending.

use crate::ctx::Ctx;
use crate::event::Event;
use crate::values::{Actor, Refusal};

use super::model::{Drift, GrantStatus};

pub(crate) fn decide_record_drift(
    ctx: &Ctx<'_>,
    actor: &Actor,
    drift: &Drift,
    found: bool,
    action: &str,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "reconciler-only",
            "only Writ's reconciliation records findings",
        ));
    }
    drift
        .validate()
        .map_err(|e| Refusal::invalid("invalid-finding", e))?;
    if let Some(grant) = &drift.grant {
        let g = ctx
            .grant
            .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
        if found && !(g.provision && g.status == GrantStatus::Active) {
            return Err(Refusal::conflict(
                "grant-not-active",
                format!(
                    "grant `{grant}` is {}: only an active, provisioned grant can miss its access",
                    g.status.as_str()
                ),
            ));
        }
    }
    if found && (action.trim().is_empty() || action.len() > 1024) {
        return Err(Refusal::invalid(
            "invalid-finding",
            "a finding says what Writ did about it (1-1024 bytes)",
        ));
    }
    Ok(vec![if found {
        Event::DriftFound {
            drift: drift.clone(),
            action: action.to_owned(),
        }
    } else {
        Event::DriftResolved {
            drift: drift.clone(),
        }
    }])
}
