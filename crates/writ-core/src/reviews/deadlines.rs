//! A campaign's deadlines, applied by the scheduler: reminders before the due date,
//! escalation to the fallback after it, the deadline action at the final deadline.

use std::collections::BTreeMap;

use crate::ctx::Ctx;
use crate::event::Event;
use crate::values::{Actor, CampaignId, Reason, Refusal};

use super::assign::independent;
use super::decisions::{closing, default_reason};
use super::model::{
    Assignee, DeadlineAction, ItemCtx, ItemStatus, ReviewDecision, campaign_of, is_scheduler,
};

pub(crate) fn decide_deadlines(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
) -> Result<Vec<Event>, Refusal> {
    if !is_scheduler(actor) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "only Writ's scheduler applies a campaign's deadlines",
        ));
    }
    let c = campaign_of(ctx.review, campaign)?;
    if c.is_closed() {
        return Ok(vec![]);
    }
    let spec = &c.spec;
    let open: Vec<&ItemCtx> = ctx
        .review
        .items
        .iter()
        .filter(|i| i.item.status == ItemStatus::Open)
        .collect();
    let mut events = Vec::new();
    if ctx.now >= spec.final_at {
        let basis = format!(
            "deadline action `{}` of campaign {} (final deadline {} passed)",
            spec.on_deadline.as_str(),
            c.id,
            spec.final_at
        );
        let mut decided = Vec::with_capacity(open.len());
        for it in &open {
            let decision = match spec.on_deadline {
                DeadlineAction::Revoke => ReviewDecision::Revoke,
                DeadlineAction::Keep => ReviewDecision::Keep,
            };
            events.push(Event::ReviewDecided {
                campaign: c.id.clone(),
                item: it.item.item,
                grant: it.grant.id.clone(),
                decision,
                reason: None,
                bulk: false,
                defaulted: true,
                basis: basis.clone(),
                review_by: None,
            });
            if decision == ReviewDecision::Revoke && it.grant.is_live() {
                events.push(Event::GrantRevoked {
                    grant: it.grant.id.clone(),
                    reason: Reason::parse("access review not decided by its final deadline")
                        .unwrap_or_else(|_| default_reason()),
                    basis: basis.clone(),
                });
            }
            decided.push(decision);
        }
        if spec.on_deadline == DeadlineAction::Keep && !open.is_empty() {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: Assignee::Identity(spec.fallback.clone()),
                notice: "kept-at-deadline".into(),
                items: open.len() as u64,
            });
        }
        let mut closed = c.clone();
        closed.open = open.len() as u64;
        events.extend(closing(&closed, &decided));
        return Ok(events);
    }
    if ctx.now >= spec.due_at {
        if !c.escalated {
            let fallback = Assignee::Identity(spec.fallback.clone());
            let moving: Vec<u32> = open
                .iter()
                .filter(|i| {
                    i.item.reviewer != fallback
                        && independent(ctx.org, &fallback, &i.parties).is_ok()
                })
                .map(|i| i.item.item)
                .collect();
            let n = moving.len() as u64;
            if !moving.is_empty() {
                events.push(Event::ReviewItemsReassigned {
                    campaign: c.id.clone(),
                    items: moving,
                    to: fallback.clone(),
                    why: format!("overdue: not decided by {}", spec.due_at),
                    reopen: false,
                });
            }
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: fallback,
                notice: "escalation".into(),
                items: n,
            });
        }
        return Ok(events);
    }
    let remind = spec
        .remind_before
        .is_some_and(|d| ctx.now.plus(d) >= spec.due_at);
    if remind && !c.reminded {
        let mut per: BTreeMap<&Assignee, u64> = BTreeMap::new();
        for it in &open {
            if it.item.reviewer != Assignee::Nobody {
                *per.entry(&it.item.reviewer).or_default() += 1;
            }
        }
        for (to, items) in per {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: to.clone(),
                notice: "reminder".into(),
                items,
            });
        }
        if events.is_empty() {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: Assignee::Nobody,
                notice: "reminder".into(),
                items: 0,
            });
        }
    }
    Ok(events)
}
