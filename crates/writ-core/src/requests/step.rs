//! Deciding a step: who may decide it (judged now, by the same function that lists
//! them), what a denial needs, and the grant the last approval creates.

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::grants::GrantStatus;
use crate::values::{Actor, IdGen, Identity, Name, Refusal, RequestId};

use super::approval::approval_events;
use super::cancel::not_closed;
use super::eligibility::{Standing, StepEligibility, standing, step_eligibility};
use super::model::Decision;

pub(crate) fn decide_step(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &RequestId,
    step: Option<u32>,
    decision: Decision,
    comment: Option<crate::values::Comment>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let approver = writer(ctx, actor)?;
    not_closed(r)?;
    let s = &r.submission;
    if approver.name == s.requester {
        return Err(Refusal::forbidden(
            "self-approval",
            format!(
                "`{}` requested `{request}` and cannot decide it",
                approver.name
            ),
        ));
    }
    if approver.name == s.beneficiary {
        return Err(Refusal::forbidden(
            "beneficiary-approval",
            format!(
                "`{}` is the beneficiary of `{request}` and cannot decide it",
                approver.name
            ),
        ));
    }
    if let Some(done) = r.step_decided_by(&approver.name) {
        return Err(Refusal::forbidden(
            "one-step-per-identity",
            format!(
                "`{}` already decided step {} of `{request}`; one identity decides at most one step",
                approver.name, done.index
            ),
        ));
    }
    let rules = ctx.rules();
    let stand = |i: u32| standing(ctx.org, rules, r, i, &approver.name, ctx.now);
    let (index, role, candidate) = match step {
        Some(i) => {
            let st = r.steps.iter().find(|st| st.index == i).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-step",
                    format!("`{request}` has steps 1 to {}, not {i}", r.steps.len()),
                )
            })?;
            if let Some(d) = &st.decision {
                return Err(Refusal::conflict(
                    "step-decided",
                    format!(
                        "step {i} ({}) of `{request}` was already decided by `{}`",
                        st.role, d.approver
                    ),
                ));
            }
            match stand(i) {
                Standing::Eligible(c) => (i, st.role.clone(), c),
                Standing::Failed(e) => return Err(evaluation_failed(request, i, &e)),
                _ => {
                    let e = step_eligibility(ctx.org, rules, r, i, ctx.now);
                    return Err(not_eligible(&approver.name, request, &[e]));
                }
            }
        }
        None => {
            let mut found = None;
            for st in r.undecided_steps() {
                match stand(st.index) {
                    Standing::Eligible(c) => {
                        found = Some((st.index, st.role.clone(), c));
                        break;
                    }
                    Standing::Failed(e) => return Err(evaluation_failed(request, st.index, &e)),
                    _ => {}
                }
            }
            match found {
                Some(found) => found,
                None => {
                    // Someone else took the step this approver could have decided.
                    for st in r.steps.iter().filter(|st| st.decision.is_some()) {
                        if let (Standing::Eligible(_), Some(d)) = (stand(st.index), &st.decision) {
                            return Err(Refusal::conflict(
                                "step-decided",
                                format!(
                                    "step {} ({}) of `{request}` was already decided by `{}`",
                                    st.index, st.role, d.approver
                                ),
                            ));
                        }
                    }
                    let open: Vec<StepEligibility> = r
                        .undecided_steps()
                        .map(|st| step_eligibility(ctx.org, rules, r, st.index, ctx.now))
                        .collect();
                    return Err(not_eligible(&approver.name, request, &open));
                }
            }
        }
    };
    if decision == Decision::Deny && comment.is_none() {
        return Err(Refusal::invalid(
            "comment-required",
            "a denial needs a comment saying why",
        ));
    }
    if decision == Decision::Approve {
        // The organisation may have changed since submission: access is never granted
        // to someone who has left, nor does a renewal resurrect a revoked grant.
        if !ctx
            .org
            .identity(&s.beneficiary)
            .is_some_and(Identity::is_active)
        {
            return Err(Refusal::conflict(
                "beneficiary-inactive",
                format!(
                    "beneficiary `{}` is no longer active; `{request}` can only be denied",
                    s.beneficiary
                ),
            ));
        }
        if let Some(owner) = ctx.org.identity(&s.beneficiary).and_then(Identity::owner)
            && !ctx.org.identity(owner).is_some_and(Identity::is_active)
        {
            return Err(Refusal::conflict(
                "owner-left",
                format!(
                    "`{}`'s owner `{owner}` is no longer active: its access is held until an admin gives it a new owner; `{request}` can only be denied",
                    s.beneficiary
                ),
            ));
        }
        if let (Some(old), Some(g)) = (&s.renews, ctx.grant)
            && &g.id == old
            && matches!(g.status, GrantStatus::Revoked | GrantStatus::Revoking)
        {
            return Err(Refusal::conflict(
                "renewed-grant-revoked",
                format!(
                    "`{request}` renews grant `{old}`, which was revoked; submit a new request instead"
                ),
            ));
        }
    }
    let mut events = vec![Event::StepDecided {
        request: request.clone(),
        step: index,
        role,
        approver: approver.name.clone(),
        decision,
        comment,
        basis: candidate.basis,
        policy_version: ctx.policy_version.to_owned(),
        request_digest: r.digest.clone(),
        authority: Some(candidate.authority),
    }];
    match decision {
        Decision::Deny => events.push(Event::RequestDenied {
            request: request.clone(),
            step: index,
        }),
        Decision::Approve => {
            let others_approved = r.steps.iter().filter(|st| st.index != index).all(|st| {
                st.decision
                    .as_ref()
                    .is_some_and(|d| d.decision == Decision::Approve)
            });
            if others_approved {
                events.extend(approval_events(ctx, request, s, ids, None).0);
            }
        }
    }
    Ok(events)
}

/// Fail closed: a policy evaluation that errs refuses, with its diagnostics.
fn evaluation_failed(request: &RequestId, step: u32, diagnostics: &str) -> Refusal {
    Refusal::forbidden(
        "policy-evaluation-failed",
        format!(
            "the approval policy could not be evaluated for step {step} of `{request}`, so nothing is allowed: {diagnostics}"
        ),
    )
}

fn not_eligible(who: &Name, request: &RequestId, steps: &[StepEligibility]) -> Refusal {
    let parts: Vec<String> = steps
        .iter()
        .map(|e| {
            let names: Vec<String> = e
                .eligible
                .iter()
                .map(|c| format!("`{}`", c.identity))
                .collect();
            let whom = if names.is_empty() {
                e.note
                    .clone()
                    .unwrap_or_else(|| "nobody is eligible".into())
            } else {
                format!("eligible: {}", names.join(", "))
            };
            let why_not = e
                .excluded
                .iter()
                .find(|x| &x.identity == who)
                .map(|x| format!("; `{who}` {}", x.why))
                .unwrap_or_default();
            format!("step {} ({}): {whom}{why_not}", e.index, e.role)
        })
        .collect();
    Refusal::forbidden(
        "not-eligible",
        format!(
            "`{who}` is not eligible to decide an open step of `{request}` — {}",
            parts.join("; ")
        ),
    )
}
