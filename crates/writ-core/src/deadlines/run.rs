//! The scheduler's pass over one pending request's deadlines.

use crate::ctx::Ctx;
use crate::event::Event;
use crate::policy::Rules;
use crate::requests::{Request, RequestStatus, step_eligibility};
use crate::values::{Actor, Name, Refusal};

pub(crate) fn decide_run(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &crate::values::RequestId,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "request deadlines are applied by Writ's scheduler",
        ));
    }
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let Some(d) = &ctx.policy.deadlines else {
        return Ok(Vec::new());
    };
    if r.status != RequestStatus::Pending {
        return Ok(Vec::new());
    }
    let at = r.submission.submitted_at;
    if ctx.now >= at.plus(d.time_out_after) {
        return Ok(vec![Event::RequestTimedOut {
            request: request.clone(),
            notified: vec![r.submission.requester.clone()],
        }]);
    }
    let rules = ctx.rules();
    let mut events = Vec::new();
    let escalate_at = at.plus(d.escalate_after);
    for step in r.undecided_steps().filter(|s| !s.escalated) {
        if ctx.now >= escalate_at {
            // Who may decide once it has escalated: the request as it will stand.
            let mut after = r.clone();
            if let Some(s) = after.steps.iter_mut().find(|s| s.index == step.index) {
                s.escalated = true;
            }
            events.push(Event::StepEscalated {
                request: request.clone(),
                step: step.index,
                notified: eligible(ctx, rules, &after, step.index),
            });
        } else if let Some(before) = d.remind_before
            && !step.reminded
            && ctx.now.millis() >= escalate_at.millis() - before.seconds() as i64 * 1000
        {
            events.push(Event::ApprovalReminded {
                request: request.clone(),
                step: step.index,
                notified: eligible(ctx, rules, r, step.index),
            });
        }
    }
    Ok(events)
}

fn eligible(ctx: &Ctx<'_>, rules: Rules<'_>, r: &Request, index: u32) -> Vec<Name> {
    step_eligibility(ctx.org, rules, r, index, ctx.now)
        .eligible
        .into_iter()
        .map(|c| c.identity)
        .collect()
}
