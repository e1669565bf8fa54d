//! Rubber-stamp detection: reviewers who certify many items very fast or never
//! revoke are flagged, and their certifications can be sent back for re-review.

use std::collections::BTreeMap;

use crate::ctx::{Ctx, require_admin, writer};
use crate::event::Event;
use crate::values::{Actor, CampaignId, Name, Refusal, Timestamp};

use super::assign::independent;
use super::model::{
    Assignee, Campaign, DecisionStat, ItemStatus, ReviewCtx, ReviewDecision, RubberStampRules,
    campaign_of, is_scheduler,
};

/// The median of the gaps between a reviewer's consecutive decisions, in ms.
pub fn median_gap(times: &mut [Timestamp]) -> Option<i64> {
    times.sort_unstable();
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// Reviewers whose decisions in this campaign meet a rubber-stamp rule, not yet
/// flagged: `(reviewer, rule, decisions, certified, median gap)`.
pub fn rubber_stamps(ctx: &ReviewCtx, rules: &RubberStampRules) -> Vec<Event> {
    let Some(campaign) = &ctx.campaign else {
        return vec![];
    };
    let mut by: BTreeMap<&Name, Vec<&DecisionStat>> = BTreeMap::new();
    for d in &ctx.decisions {
        by.entry(&d.reviewer).or_default().push(d);
    }
    let mut out = Vec::new();
    for (reviewer, ds) in by {
        if ctx.flagged.contains(reviewer) {
            continue;
        }
        let certified = ds
            .iter()
            .filter(|d| d.decision == ReviewDecision::Certify)
            .count() as u32;
        let mut times: Vec<Timestamp> = ds.iter().map(|d| d.at).collect();
        let median = median_gap(&mut times);
        let total = ds.len() as u32;
        let rule = if certified > rules.fast_min_items
            && median.is_some_and(|m| m < rules.fast_median_ms)
        {
            Some(format!(
                "certified {certified} items at a median of {} ms apart (rule: more than {} under {} ms)",
                median.unwrap_or(0),
                rules.fast_min_items,
                rules.fast_median_ms
            ))
        } else if total >= rules.always_certify_min_items && certified == total {
            Some(format!(
                "certified all {total} items and revoked none (rule: 100% certify over at least {})",
                rules.always_certify_min_items
            ))
        } else {
            None
        };
        if let Some(rule) = rule {
            out.push(Event::ReviewerFlagged {
                campaign: campaign.id.clone(),
                reviewer: reviewer.clone(),
                rule,
                decisions: total,
                certified,
                median_gap_ms: median,
            });
        }
    }
    out
}
pub(crate) fn decide_flag_reviewers(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    rules: &RubberStampRules,
) -> Result<Vec<Event>, Refusal> {
    if !is_scheduler(actor) {
        require_owner(ctx, actor, campaign_of(ctx.review, campaign)?)?;
    }
    campaign_of(ctx.review, campaign)?;
    Ok(rubber_stamps(ctx.review, rules))
}

/// The campaign's owner, or an admin.
fn require_owner(ctx: &Ctx<'_>, actor: &Actor, c: &Campaign) -> Result<(), Refusal> {
    if c.owner == actor.to_string() {
        writer(ctx, actor)?;
        return Ok(());
    }
    require_admin(ctx, actor).map_err(|_| {
        Refusal::forbidden(
            "not-campaign-owner",
            format!(
                "only the campaign's owner (`{}`) or an admin may do this",
                c.owner
            ),
        )
    })
}

pub(crate) fn decide_rereview(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    reviewer: &Name,
) -> Result<Vec<Event>, Refusal> {
    let c = campaign_of(ctx.review, campaign)?;
    require_owner(ctx, actor, c)?;
    if ctx.now >= c.spec.final_at {
        return Err(Refusal::conflict(
            "campaign-past-final",
            format!(
                "campaign `{campaign}` passed its final deadline ({}); review these grants in a new campaign",
                c.spec.final_at
            ),
        ));
    }
    if !ctx.review.flagged.contains(reviewer) {
        return Err(Refusal::conflict(
            "not-flagged",
            format!("`{reviewer}` is not flagged in campaign `{campaign}`"),
        ));
    }
    let fallback = Assignee::Identity(c.spec.fallback.clone());
    let (mut to_fallback, mut to_nobody) = (Vec::new(), Vec::new());
    for it in &ctx.review.items {
        let certified_by_them = it.item.status == ItemStatus::Certified
            && it.item.decided_by.as_deref() == Some(reviewer.as_str());
        if !certified_by_them || !it.grant.is_live() {
            continue;
        }
        if independent(ctx.org, &fallback, &it.parties).is_ok() && &c.spec.fallback != reviewer {
            to_fallback.push(it.item.item);
        } else {
            to_nobody.push(it.item.item);
        }
    }
    if to_fallback.is_empty() && to_nobody.is_empty() {
        return Err(Refusal::conflict(
            "nothing-to-rereview",
            format!("`{reviewer}` certified no live grant in campaign `{campaign}`"),
        ));
    }
    let why = format!("re-review: `{reviewer}` was flagged as a rubber-stamper");
    let mut events = Vec::new();
    for (items, to) in [(to_fallback, fallback), (to_nobody, Assignee::Nobody)] {
        if !items.is_empty() {
            events.push(Event::ReviewItemsReassigned {
                campaign: c.id.clone(),
                items,
                to,
                why: why.clone(),
                reopen: true,
            });
        }
    }
    Ok(events)
}
