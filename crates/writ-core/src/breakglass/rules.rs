//! The break-glass rules: who may, for how long, and the post-incident review.

use crate::authority::{Action, Scene, Verdict};
use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::grants::Grant;
use crate::requests::{StepAuthority, Submission};
use crate::values::{
    Actor, DurationSpec, Entitlement, GrantId, Identity, Name, Reason, Refusal, RequestId, Role,
    TicketRef, Timestamp,
};

use super::model::Finding;

/// What holds before anything else is judged: a person, for themself, on an
/// entitlement that allows emergency access, with an incident reference.
pub(crate) fn precheck(
    requester: &Identity,
    beneficiary: &Identity,
    entitlement: &Entitlement,
    incident: Option<&TicketRef>,
) -> Result<(), Refusal> {
    if requester.name != beneficiary.name {
        return Err(Refusal::forbidden(
            "break-glass-for-oneself",
            format!(
                "break-glass access is granted only to oneself; `{}` asked for `{}`",
                requester.name, beneficiary.name
            ),
        ));
    }
    if !entitlement.break_glass {
        return Err(Refusal::forbidden(
            "break-glass-not-allowed",
            format!(
                "`{}` does not allow break-glass access; ask through the normal approval",
                entitlement.reference()
            ),
        ));
    }
    if incident.is_none() {
        return Err(Refusal::invalid(
            "incident-required",
            "break-glass access needs an incident or ticket reference",
        ));
    }
    Ok(())
}

/// A break-glass request while an emergency grant of the same entitlement is live
/// renews it, until the run reaches the policy's total.
pub(crate) fn renewal(
    ctx: &Ctx<'_>,
    live: &Grant,
    duration: DurationSpec,
) -> Result<GrantId, Refusal> {
    let Some(since) = live.emergency_since else {
        return Err(Refusal::conflict(
            "already-granted",
            format!(
                "`{}` already holds `{}` under grant `{}` until {}",
                live.beneficiary, live.entitlement, live.id, live.expires_at
            ),
        ));
    };
    let total = ctx.policy.break_glass.max_total;
    let until = ctx.now.plus(duration);
    if until.millis() - since.millis() > total.seconds() as i64 * 1000 {
        return Err(Refusal::forbidden(
            "break-glass-total-exceeded",
            format!(
                "back-to-back break-glass access to `{}` began at {since}; renewing for {duration} would exceed the total of {total}; ask through the normal approval",
                live.entitlement
            ),
        ));
    }
    Ok(live.id.clone())
}

/// The Cedar policies that let the requester break glass; fail closed.
pub(crate) fn authority(ctx: &Ctx<'_>, s: &Submission) -> Result<StepAuthority, Refusal> {
    let scene = Scene::new(ctx.authority, ctx.org, s, [&s.requester]).map_err(|e| {
        Refusal::forbidden(
            "policy-evaluation-failed",
            format!("the break-glass policy could not be evaluated, so nothing is allowed: {e}"),
        )
    })?;
    match ctx
        .authority
        .evaluate(&scene, Action::BreakGlass, &s.requester, None)
    {
        Verdict::Allow { policies } => Ok(StepAuthority {
            facts: ctx
                .authority
                .facts(ctx.org, s, &s.requester, None, &policies),
            policies,
            on_behalf_of: None,
            delegation: None,
        }),
        Verdict::Deny { .. } => Err(Refusal::forbidden(
            "not-eligible-for-break-glass",
            format!(
                "no break-glass policy permits `{}` to grant themself `{}`",
                s.requester, s.entitlement
            ),
        )),
        Verdict::Error(e) => Err(Refusal::forbidden(
            "policy-evaluation-failed",
            format!("the break-glass policy could not be evaluated, so nothing is allowed: {e}"),
        )),
    }
}

/// When the run of emergency grants this one joins began.
pub(crate) fn since(ctx: &Ctx<'_>, s: &Submission) -> Timestamp {
    match (&s.renews, ctx.pair.active_grant) {
        (Some(old), Some(g)) if &g.id == old => g.emergency_since.unwrap_or(ctx.now),
        _ => ctx.now,
    }
}

fn security(ctx: &Ctx<'_>) -> Vec<Name> {
    ctx.org
        .members_of(&ctx.policy.security_group)
        .filter(|i| i.is_active())
        .map(|i| i.name.clone())
        .collect()
}

/// The record that security was told and the post-incident review opened.
pub(crate) fn used(ctx: &Ctx<'_>, s: &Submission, grant: GrantId, incident: TicketRef) -> Event {
    Event::BreakGlassUsed {
        request: s.id.clone(),
        grant,
        incident,
        review_due: ctx.now.plus(ctx.policy.break_glass.review_within),
        notified: security(ctx),
    }
}

/// Security closes a post-incident review with its finding.
pub(crate) fn decide_close(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &RequestId,
    finding: Finding,
    notes: &Reason,
) -> Result<Vec<Event>, Refusal> {
    let me = writer(ctx, actor)?;
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let review = r.incident_review.as_ref().ok_or_else(|| {
        Refusal::invalid(
            "not-break-glass",
            format!("`{request}` was not break-glass access; it has no post-incident review"),
        )
    })?;
    if !me.groups.contains(&ctx.policy.security_group) {
        return Err(Refusal::forbidden(
            "security-only",
            format!(
                "only members of group `{}` close post-incident reviews",
                ctx.policy.security_group
            ),
        ));
    }
    if me.name == r.submission.requester {
        return Err(Refusal::forbidden(
            "self-review",
            format!("`{}` used the access and cannot review it", me.name),
        ));
    }
    if review.finding.is_some() {
        return Err(Refusal::conflict(
            "review-closed",
            format!("the post-incident review of `{request}` is already closed"),
        ));
    }
    Ok(vec![Event::IncidentReviewClosed {
        request: request.clone(),
        finding,
        notes: notes.clone(),
    }])
}

/// The scheduler escalates a post-incident review left open past its due date, once.
pub(crate) fn decide_escalate(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &RequestId,
) -> Result<Vec<Event>, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "overdue post-incident reviews are escalated by Writ's scheduler",
        ));
    }
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let Some(review) = &r.incident_review else {
        return Err(Refusal::invalid(
            "not-break-glass",
            format!("`{request}` has no post-incident review"),
        ));
    };
    if review.finding.is_some() || review.escalated_at.is_some() || ctx.now < review.due {
        return Ok(Vec::new());
    }
    let mut notified = security(ctx);
    notified.extend(
        ctx.org
            .identities
            .values()
            .filter(|i| i.is_active() && i.has_role(Role::Admin))
            .map(|i| i.name.clone()),
    );
    notified.sort();
    notified.dedup();
    Ok(vec![Event::IncidentReviewEscalated {
        request: request.clone(),
        notified,
    }])
}
