//! A reviewer's decisions: certify (the grant's review date moves) or revoke (the
//! grant is revoked the ordinary way), one item or many at once.

use std::collections::BTreeSet;

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::grants::Grant;
use crate::values::{Actor, CampaignId, Reason, Refusal, RiskTier, Timestamp};

use super::assign::may_decide;
use super::model::{Campaign, ItemStatus, MAX_BULK, ReviewDecision, campaign_of};

/// The grant's next review date once certified.
fn next_review(ctx: &Ctx<'_>, grant: &Grant) -> Timestamp {
    grant.expires_at.min(ctx.now.plus(ctx.policy.review_period))
}

pub(super) fn closing(c: &Campaign, decided: &[ReviewDecision]) -> Option<Event> {
    (c.open == decided.len() as u64).then(|| {
        let count = |d| decided.iter().filter(|x| **x == d).count() as u64;
        Event::CampaignClosed {
            campaign: c.id.clone(),
            certified: c.certified + count(ReviewDecision::Certify),
            revoked: c.revoked + count(ReviewDecision::Revoke),
            kept: c.kept + count(ReviewDecision::Keep),
        }
    })
}

pub(crate) fn decide_items(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    items: &[u32],
    decision: ReviewDecision,
    reason: &Option<Reason>,
) -> Result<Vec<Event>, Refusal> {
    let who = writer(ctx, actor)?;
    let c = campaign_of(ctx.review, campaign)?;
    if c.is_closed() {
        return Err(Refusal::conflict(
            "campaign-closed",
            format!("campaign `{campaign}` is closed"),
        ));
    }
    if decision == ReviewDecision::Keep {
        return Err(Refusal::invalid(
            "invalid-decision",
            "a reviewer certifies or revokes; only the deadline keeps access undecided",
        ));
    }
    if items.is_empty() || items.len() > MAX_BULK {
        return Err(Refusal::invalid(
            "invalid-items",
            format!("name 1-{MAX_BULK} items to decide"),
        ));
    }
    if items.iter().collect::<BTreeSet<_>>().len() != items.len() {
        return Err(Refusal::invalid("invalid-items", "an item is named twice"));
    }
    if decision == ReviewDecision::Revoke && reason.is_none() {
        return Err(Refusal::invalid(
            "reason-required",
            "a revocation needs a reason",
        ));
    }
    let bulk = items.len() > 1;
    let mut events = Vec::with_capacity(items.len() * 2 + 1);
    let mut decided = Vec::with_capacity(items.len());
    for n in items {
        let it = ctx
            .review
            .items
            .iter()
            .find(|i| i.item.item == *n)
            .ok_or_else(|| {
                Refusal::not_found(
                    "unknown-item",
                    format!("campaign `{campaign}` has no item {n}"),
                )
            })?;
        if it.item.status != ItemStatus::Open {
            return Err(Refusal::conflict(
                "item-decided",
                format!(
                    "item {n} of campaign `{campaign}` is already {}",
                    it.item.status.as_str()
                ),
            ));
        }
        let basis = may_decide(ctx.org, &who.name, it)
            .map_err(|m| Refusal::forbidden("not-the-reviewer", m))?;
        let tier = ctx.org.entitlement(&it.grant.entitlement).map(|e| e.risk);
        if decision == ReviewDecision::Certify
            && reason.is_none()
            && matches!(tier, Some(RiskTier::High | RiskTier::Critical))
        {
            return Err(Refusal::invalid(
                "reason-required",
                format!(
                    "item {n} is {} access: certifying it needs a reason",
                    tier.map(RiskTier::as_str).unwrap_or("high")
                ),
            ));
        }
        let live = it.grant.is_live();
        if decision == ReviewDecision::Certify && !live {
            return Err(Refusal::conflict(
                "grant-ended",
                format!(
                    "item {n}: grant `{}` is already {}; there is nothing to certify",
                    it.grant.id,
                    it.grant.status.as_str()
                ),
            ));
        }
        events.push(Event::ReviewDecided {
            campaign: campaign.clone(),
            item: *n,
            grant: it.grant.id.clone(),
            decision,
            reason: reason.clone(),
            bulk,
            defaulted: false,
            basis: basis.clone(),
            review_by: (decision == ReviewDecision::Certify).then(|| next_review(ctx, &it.grant)),
        });
        if decision == ReviewDecision::Revoke && live {
            events.push(Event::GrantRevoked {
                grant: it.grant.id.clone(),
                reason: reason.clone().unwrap_or_else(default_reason),
                basis: format!("review decision of `{}`: {basis}", who.name),
            });
        }
        decided.push(decision);
    }
    events.extend(closing(c, &decided));
    Ok(events)
}

pub(super) fn default_reason() -> Reason {
    Reason::parse("revoked by access review").unwrap_or_else(|_| unreachable!("valid reason"))
}
