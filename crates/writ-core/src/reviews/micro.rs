//! Micro-reviews: a manager or department change opens a review of the person's
//! grants for the new manager, when the policy asks for it.

use crate::ctx::Ctx;
use crate::event::Event;
use crate::organisation::Org;
use crate::values::{IdGen, Identity, IdentityKind};

use super::launch::launch_events;
use super::model::{CampaignSpec, ReviewerStrategy, Scope};

/// Whether upserting `new` opens a micro-review: the policy asks for them and an
/// active person's manager or department changes. The store loads the person's grants
/// only then.
pub fn micro_review_applies(org: &Org, policy: &crate::ApprovalPolicy, new: &Identity) -> bool {
    let Some(old) = org.identity(&new.name) else {
        return false;
    };
    let dept = |i: &Identity| match &i.kind {
        IdentityKind::Human(h) => h.department.clone(),
        IdentityKind::Nhi(_) => None,
    };
    policy.micro_review.is_some()
        && new.is_human()
        && new.is_active()
        && (old.manager() != new.manager() || dept(old) != dept(new))
}

/// A manager or department change opens a micro-review of the identity's live grants
/// for the new manager, when the policy asks for it.
pub(crate) fn micro_review(ctx: &Ctx<'_>, new: &Identity, ids: &mut dyn IdGen) -> Vec<Event> {
    let Some(policy) = &ctx.policy.micro_review else {
        return vec![];
    };
    if !micro_review_applies(ctx.org, ctx.policy, new) || ctx.review.population.is_empty() {
        return vec![];
    }
    let mut org = ctx.org.clone();
    org.apply(&Event::IdentityUpserted {
        identity: new.clone(),
    });
    let due_at = ctx.now.plus(policy.due_in);
    let spec = CampaignSpec {
        name: format!("micro-review: {} changed manager or department", new.name),
        scope: Scope {
            beneficiary: Some(new.name.clone()),
            ..Scope::default()
        },
        reviewers: ReviewerStrategy::Manager,
        fallback: policy.fallback.clone(),
        due_at,
        final_at: due_at.plus(policy.grace),
        remind_before: None,
        on_deadline: policy.on_deadline,
    };
    launch_events(&org, &spec, None, ctx.review, ctx.now, ids)
}
