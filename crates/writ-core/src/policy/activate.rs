//! Activating an approval policy (admins): validated whole, a no-op when unchanged.

use crate::ctx::{Ctx, require_admin};
use crate::event::Event;
use crate::values::{Actor, Refusal};

use super::ApprovalPolicy;

pub(crate) fn decide_activate(
    ctx: &Ctx<'_>,
    actor: &Actor,
    policy: &ApprovalPolicy,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    policy
        .validate()
        .map_err(|e| Refusal::invalid("invalid-policy", e.to_string()))?;
    let version = policy.version();
    if ctx.active_policy_version == Some(version.as_str()) {
        return Ok(vec![]);
    }
    Ok(vec![Event::PolicyActivated {
        version,
        policy: policy.clone(),
        previous: ctx.active_policy_version.map(str::to_owned),
    }])
}
