//! A request approved: its grant, and automated fulfilment (approval at submission
//! by a Cedar `auto_approve` policy).

use crate::authority::{Action, Scene, Verdict};
use crate::ctx::Ctx;
use crate::event::Event;
use crate::values::{GrantId, IdGen, Identity, RequestId, Timestamp};

use super::model::{StepAuthority, Submission};

/// The request approved: its grant, whose clock starts now (at the final approval,
/// not at the request), and the end of the grant it renews.
pub(super) fn approval_events(
    ctx: &Ctx<'_>,
    request: &RequestId,
    s: &Submission,
    ids: &mut dyn IdGen,
    emergency_since: Option<Timestamp>,
) -> (Vec<Event>, GrantId) {
    let grant = GrantId::generate(ids);
    let expires_at = ctx.now.plus(s.duration);
    let review_by = expires_at.min(ctx.now.plus(ctx.policy.review_period));
    let mut events = vec![
        Event::RequestApproved {
            request: request.clone(),
            grant: grant.clone(),
        },
        Event::GrantCreated {
            grant: grant.clone(),
            request: request.clone(),
            beneficiary: s.beneficiary.clone(),
            entitlement: s.entitlement.clone(),
            expires_at,
            review_by,
            renews: s.renews.clone(),
            emergency_since,
            provision: ctx.provisioned_systems.contains(&s.entitlement.system),
        },
    ];
    // Approved at submission (automated or break-glass), the renewed grant is the
    // pair's live one; approved by a decision, the store loaded it as `grant`.
    if let (Some(old), Some(g)) = (&s.renews, ctx.grant.or(ctx.pair.active_grant))
        && &g.id == old
        && g.is_live()
    {
        events.push(Event::GrantRenewed {
            grant: old.clone(),
            successor: grant.clone(),
        });
    }
    (events, grant)
}

/// Automated fulfilment: whether a Cedar `auto_approve` policy pre-approves the
/// request for its beneficiary. Never for a separation-of-duties exception, never
/// for an NHI whose owner has left; an evaluation error means no (people decide).
pub(crate) fn pre_approval(
    ctx: &Ctx<'_>,
    s: &Submission,
    beneficiary: &Identity,
) -> Option<StepAuthority> {
    if s.sod_exception.is_some() || !ctx.authority.auto_approves() {
        return None;
    }
    if let Some(owner) = beneficiary.owner()
        && !ctx.org.identity(owner).is_some_and(Identity::is_active)
    {
        return None;
    }
    let scene = Scene::new(ctx.authority, ctx.org, s, [&s.beneficiary]).ok()?;
    match ctx
        .authority
        .evaluate(&scene, Action::AutoApprove, &s.beneficiary, None)
    {
        Verdict::Allow { policies } => {
            let facts = ctx
                .authority
                .facts(ctx.org, s, &s.beneficiary, None, &policies);
            Some(StepAuthority {
                policies: policies.iter().map(|p| format!("automatic:{p}")).collect(),
                facts,
                on_behalf_of: None,
                delegation: None,
            })
        }
        Verdict::Deny { .. } | Verdict::Error(_) => None,
    }
}
