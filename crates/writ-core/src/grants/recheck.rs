//! Authority judged again just before provisioning: a grant whose approver (or, for
//! access approved at submission, whose policy) lost authority is held.

use crate::ctx::Ctx;
use crate::event::Event;
use crate::requests::{Decision, Standing, pre_approval, standing};
use crate::values::{Actor, GrantId, Refusal, RequestId};

use super::model::{JobAction, LostAuthority};
use super::provisioning::provisioned_grant;

/// Judges every approver of the grant's request again, with the function decisions
/// use, under the policy in force: a grant whose approver lost authority since is
/// held, not provisioned.
pub(crate) fn decide_recheck(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    request: &RequestId,
) -> Result<Vec<Event>, Refusal> {
    let g = provisioned_grant(ctx, actor, grant)?;
    let r = ctx
        .request
        .filter(|r| r.id() == request && r.grant.as_ref() == Some(grant))
        .ok_or_else(|| {
            Refusal::invalid(
                "wrong-request",
                format!("grant `{grant}` was not created by request `{request}`"),
            )
        })?;
    if g.open_job() != Some(JobAction::Provision) {
        return Err(Refusal::conflict(
            "not-awaiting-provisioning",
            format!("grant `{grant}` is not waiting to be provisioned"),
        ));
    }
    let mut lost = Vec::new();
    for step in &r.steps {
        let Some(d) = step
            .decision
            .as_ref()
            .filter(|d| d.decision == Decision::Approve)
        else {
            continue;
        };
        let why = match standing(ctx.org, ctx.rules(), r, step.index, &d.approver, ctx.now) {
            Standing::Eligible(_) => continue,
            Standing::Excluded(why) => why,
            Standing::NotPermitted(forbid) if forbid.is_empty() => {
                "no longer has authority: no policy in force permits them".to_owned()
            }
            Standing::NotPermitted(forbid) => format!(
                "no longer has authority: forbidden by {}",
                forbid.join(", ")
            ),
            Standing::Failed(e) => format!("could not be judged (fail closed): {e}"),
        };
        lost.push(LostAuthority {
            step: step.index,
            approver: d.approver.clone(),
            why,
        });
    }
    // Access approved at submission rested on a policy, not a person: ask it again.
    let s = &r.submission;
    if s.emergency.is_some()
        && let Err(refusal) = crate::breakglass::authority(ctx, s)
    {
        lost.push(LostAuthority {
            step: 0,
            approver: s.requester.clone(),
            why: format!("may no longer break glass: {}", refusal.message),
        });
    }
    if s.pre_approved.is_some() {
        let beneficiary = ctx.org.identity(&s.beneficiary);
        if beneficiary.and_then(|b| pre_approval(ctx, s, b)).is_none() {
            lost.push(LostAuthority {
                step: 0,
                approver: s.beneficiary.clone(),
                why: "is no longer pre-approved by any policy in force".to_owned(),
            });
        }
    }
    Ok(vec![Event::AuthorityRechecked {
        grant: grant.clone(),
        policy_version: ctx.policy_version.to_owned(),
        lost,
    }])
}
