//! Launching a campaign: the population snapshot, its digest and its items.

use crate::ctx::{Ctx, require_admin};
use crate::event::Event;
use crate::organisation::Org;
use crate::values::{Actor, CampaignId, DurationSpec, GrantId, IdGen, Refusal, Timestamp};

use super::assign::assign;
use super::model::{
    CampaignSpec, ITEMS_PER_EVENT, ItemOpened, Occurrence, ReviewCtx, ReviewSubject,
    ReviewerStrategy, is_scheduler,
};

/// Digest of the population: SHA-256 over the sorted grant ids, one per line.
pub fn population_digest<'a>(grants: impl Iterator<Item = &'a GrantId>) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = grants.map(GrantId::as_str).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The events of a launch: the campaign, then its items in chunks, then (for an empty
/// population) its closing.
pub fn launch_events(
    org: &Org,
    spec: &CampaignSpec,
    schedule: Option<Occurrence>,
    ctx: &ReviewCtx,
    now: Timestamp,
    ids: &mut dyn IdGen,
) -> Vec<Event> {
    let campaign = CampaignId::generate(ids);
    let in_scope: Vec<&ReviewSubject> = ctx
        .population
        .iter()
        .filter(|c| spec.scope.contains(org, c, now))
        .collect();
    let digest = population_digest(in_scope.iter().map(|c| &c.grant));
    let mut events = Vec::with_capacity(2 + in_scope.len() / ITEMS_PER_EVENT);
    events.push(Event::CampaignLaunched {
        campaign: campaign.clone(),
        spec: spec.clone(),
        schedule,
        population: in_scope.len() as u64,
        live_grants: ctx.live_grants,
        digest,
    });
    for (n, chunk) in in_scope.chunks(ITEMS_PER_EVENT).enumerate() {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (reviewer, basis) = assign(org, spec, c);
                ItemOpened {
                    item: (n * ITEMS_PER_EVENT + i + 1) as u32,
                    grant: c.grant.clone(),
                    reviewer,
                    basis,
                }
            })
            .collect();
        events.push(Event::ReviewItemsOpened {
            campaign: campaign.clone(),
            items,
        });
    }
    if in_scope.is_empty() {
        events.push(Event::CampaignClosed {
            campaign,
            certified: 0,
            revoked: 0,
            kept: 0,
        });
    }
    events
}

/// Checks what an admin (or a schedule) asks for before anything is snapshotted.
fn validate_spec(ctx: &Ctx<'_>, spec: &CampaignSpec) -> Result<(), Refusal> {
    let n = spec.name.trim().chars().count();
    if n == 0 || n > 200 || spec.name.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "invalid-campaign",
            "campaign name must be 1-200 characters without control characters",
        ));
    }
    match ctx.org.identity(&spec.fallback) {
        Some(f) if f.is_human() && f.is_active() => {}
        Some(_) => {
            return Err(Refusal::invalid(
                "invalid-fallback",
                format!(
                    "fallback reviewer `{}` must be an active person",
                    spec.fallback
                ),
            ));
        }
        None => {
            return Err(Refusal::invalid(
                "unknown-identity",
                format!("fallback reviewer `{}` is not an identity", spec.fallback),
            ));
        }
    }
    if spec.due_at <= ctx.now {
        return Err(Refusal::invalid(
            "due-in-past",
            "the due date must be in the future",
        ));
    }
    if spec.final_at < spec.due_at {
        return Err(Refusal::invalid(
            "final-before-due",
            "the final deadline cannot come before the due date",
        ));
    }
    if spec.final_at > ctx.now.plus(DurationSpec::days(366)) {
        return Err(Refusal::invalid(
            "deadline-too-far",
            "a campaign's final deadline is at most a year away",
        ));
    }
    if let ReviewerStrategy::Group(g) = &spec.reviewers
        && !ctx.org.members_of(g).any(|m| m.is_active() && m.is_human())
    {
        return Err(Refusal::invalid(
            "empty-group",
            format!("reviewer group `{g}` has no active person in it"),
        ));
    }
    for s in &spec.scope.systems {
        if ctx.org.system(s).is_none() {
            return Err(Refusal::invalid(
                "unknown-system",
                format!("scope names system `{s}`, which is not in the catalogue"),
            ));
        }
    }
    for e in &spec.scope.entitlements {
        if ctx.org.entitlement(e).is_none() {
            return Err(Refusal::invalid(
                "unknown-entitlement",
                format!("scope names entitlement `{e}`, which is not in the catalogue"),
            ));
        }
    }
    if spec.scope.departments.iter().any(|d| d.trim().is_empty()) {
        return Err(Refusal::invalid(
            "invalid-scope",
            "a scope department cannot be empty",
        ));
    }
    Ok(())
}

pub(crate) fn decide_launch(
    ctx: &Ctx<'_>,
    actor: &Actor,
    spec: &CampaignSpec,
    schedule: &Option<Occurrence>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    if schedule.is_some() {
        if !is_scheduler(actor) {
            return Err(Refusal::forbidden(
                "scheduler-only",
                "only Writ's scheduler launches a schedule's occurrence",
            ));
        }
    } else {
        require_admin(ctx, actor)?;
    }
    validate_spec(ctx, spec)?;
    if let Some(o) = schedule
        && ctx.review.occurrence_launched
    {
        return Err(Refusal::conflict(
            "occurrence-launched",
            format!(
                "schedule `{}` already launched its occurrence of {}",
                o.schedule, o.at
            ),
        ));
    }
    Ok(launch_events(
        ctx.org,
        spec,
        schedule.clone(),
        ctx.review,
        ctx.now,
        ids,
    ))
}
