//! Submitting a request: who may ask for whom, the tier's rules, duration limits,
//! separation of duties, duplicates and renewals. A request a policy pre-approves,
//! or a break-glass one, is approved at once.

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::values::{
    Actor, Constraints, DurationSpec, EntitlementRef, IdGen, Justification, Name, Refusal,
    RequestId, TicketRef,
};

use super::approval::{approval_events, pre_approval};
use super::model::{RequestKind, StepRole, Submission};
use super::sod::separation_of_duties;

/// The shortest access Writ grants, in seconds: shorter requests are typos.
const MIN_DURATION_SECONDS: u64 = 60;

/// What a submission asks for: the fields of `Command::Submit`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ask<'a> {
    pub beneficiary: &'a Name,
    pub entitlement: &'a EntitlementRef,
    pub justification: &'a Justification,
    pub ticket: &'a Option<TicketRef>,
    pub duration: &'a DurationSpec,
    pub kind: &'a RequestKind,
    pub constraints: &'a Option<Constraints>,
    pub sod_exception: &'a Option<Justification>,
}

pub(crate) fn decide_submit(
    ctx: &Ctx<'_>,
    actor: &Actor,
    ask: Ask<'_>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    let Ask {
        beneficiary,
        entitlement,
        justification,
        ticket,
        duration,
        kind,
        constraints,
        sod_exception,
    } = ask;
    let requester = writer(ctx, actor)?;
    if !requester.is_human() {
        return Err(Refusal::forbidden(
            "nhi-cannot-request",
            format!(
                "`{}` is a non-human identity and cannot request access",
                requester.name
            ),
        ));
    }
    let b = ctx.org.identity(beneficiary).ok_or_else(|| {
        Refusal::invalid(
            "unknown-identity",
            format!("no identity named `{beneficiary}`"),
        )
    })?;
    if !b.is_active() {
        return Err(Refusal::invalid(
            "beneficiary-inactive",
            format!("`{beneficiary}` is inactive; access cannot be granted to them"),
        ));
    }
    let related = b.name == requester.name
        || b.manager() == Some(&requester.name)
        || b.owner() == Some(&requester.name);
    if !related {
        return Err(Refusal::forbidden(
            "not-your-beneficiary",
            format!(
                "`{}` may request access only for themself, a direct report or an NHI they own; `{beneficiary}` is none of these",
                requester.name
            ),
        ));
    }
    let ent = ctx.org.entitlement(entitlement).ok_or_else(|| {
        Refusal::invalid(
            "unknown-entitlement",
            format!("no entitlement `{entitlement}` in the catalogue"),
        )
    })?;
    let rule = ctx.policy.tier(ent.risk);
    let min_j = ctx.policy.min_justification.max(rule.min_justification);
    if justification.chars() < min_j {
        return Err(Refusal::invalid(
            "justification-too-short",
            format!(
                "justification must be at least {min_j} characters for {} risk `{entitlement}`, got {}",
                ent.risk,
                justification.chars()
            ),
        ));
    }
    let emergency = *kind == RequestKind::BreakGlass;
    if emergency {
        crate::breakglass::precheck(requester, b, ent, ticket.as_ref())?;
    }
    if rule.ticket_required && ticket.is_none() {
        return Err(Refusal::invalid(
            "ticket-required",
            format!(
                "a ticket reference is required for {} risk `{entitlement}`",
                ent.risk
            ),
        ));
    }
    let (mut max, mut why) = match rule.max_duration {
        Some(tier_max) if tier_max < ent.max_duration => {
            (tier_max, format!("the {} tier's limit", ent.risk))
        }
        _ => (ent.max_duration, format!("the limit of `{entitlement}`")),
    };
    if emergency {
        let cap = ctx.policy.break_glass.cap(entitlement);
        if cap < max {
            max = cap;
            why = format!("the break-glass cap of `{entitlement}`");
        }
    }
    let sod = separation_of_duties(
        ctx,
        beneficiary,
        entitlement,
        sod_exception.as_ref(),
        emergency,
    )?;
    if let Some((exception, exception_max)) = &sod
        && *exception_max < max
    {
        max = *exception_max;
        why = format!(
            "the limit of an exception to separation-of-duties rule `{}`",
            exception.rule
        );
    }
    if *duration > max {
        return Err(Refusal::invalid(
            "duration-too-long",
            format!("requested duration {duration} exceeds {max}, {why}"),
        ));
    }
    if duration.seconds() < MIN_DURATION_SECONDS {
        return Err(Refusal::invalid(
            "duration-too-short",
            "duration must be at least one minute",
        ));
    }
    let constraints = match constraints {
        Some(c) if !c.is_empty() => {
            c.validate()
                .map_err(|m| Refusal::invalid("invalid-constraints", m))?;
            Some(c.clone())
        }
        _ => None,
    };
    if let Some(open) = ctx.pair.open_request {
        let then = if emergency {
            "; cancel it, then break glass"
        } else {
            ""
        };
        return Err(Refusal::conflict(
            "duplicate-request",
            format!(
                "`{beneficiary}` already has pending request `{open}` for `{entitlement}`{then}"
            ),
        ));
    }
    let renews = match (kind, ctx.pair.active_grant) {
        (RequestKind::Standard, Some(g)) => {
            return Err(Refusal::conflict(
                "already-granted",
                format!(
                    "`{beneficiary}` already holds `{entitlement}` under grant `{}` until {}; ask for a renewal instead",
                    g.id, g.expires_at
                ),
            ));
        }
        (RequestKind::Renewal, None) => {
            return Err(Refusal::invalid(
                "nothing-to-renew",
                format!("`{beneficiary}` holds no active grant of `{entitlement}` to renew"),
            ));
        }
        (RequestKind::Renewal, Some(g)) => Some(g.id.clone()),
        (RequestKind::Standard | RequestKind::BreakGlass, None) => None,
        (RequestKind::BreakGlass, Some(g)) => Some(crate::breakglass::renewal(ctx, g, *duration)?),
    };
    // The id is drawn last: a refused submission consumes nothing.
    let mut submission = Submission {
        id: RequestId::parse("req_0000000000000000")
            .map_err(|e| Refusal::invalid("internal", e))?,
        requester: requester.name.clone(),
        beneficiary: beneficiary.clone(),
        entitlement: entitlement.clone(),
        risk: ent.risk,
        privileged: ent.privileged,
        justification: justification.clone(),
        ticket: ticket.clone(),
        duration: *duration,
        kind: *kind,
        renews,
        constraints,
        steps: {
            let mut steps = ctx.policy.steps_for(ent).to_vec();
            if sod.is_some() {
                steps.push(StepRole::SodException);
            }
            steps
        },
        policy_version: ctx.policy_version.to_owned(),
        submitted_at: ctx.now,
        sod_exception: sod.map(|(e, _)| e),
        pre_approved: None,
        emergency: None,
    };
    if emergency {
        submission.steps.clear();
        submission.emergency = Some(crate::breakglass::authority(ctx, &submission)?);
    } else if let Some(pre) = pre_approval(ctx, &submission, b) {
        submission.steps.clear();
        submission.pre_approved = Some(pre);
    }
    submission.id = RequestId::generate(ids);
    let digest = submission
        .digest()
        .map_err(|e| Refusal::invalid("unencodable", e.to_string()))?;
    let pre_approved = submission.pre_approved.is_some();
    let id = submission.id.clone();
    let mut events = vec![Event::RequestSubmitted {
        request: submission.clone(),
        digest,
    }];
    if emergency {
        let since = crate::breakglass::since(ctx, &submission);
        let (approved, grant) = approval_events(ctx, &id, &submission, ids, Some(since));
        events.extend(approved);
        let incident = ticket.clone().ok_or_else(|| {
            Refusal::invalid(
                "incident-required",
                "break-glass access needs an incident reference",
            )
        })?;
        events.push(crate::breakglass::used(ctx, &submission, grant, incident));
    } else if pre_approved {
        events.extend(approval_events(ctx, &id, &submission, ids, None).0);
    }
    Ok(events)
}
