//! Who reviews an item: the strategy's reviewer when independent of the access, else
//! the fallback, else nobody; and who may decide an item.

use crate::organisation::Org;
use crate::values::Name;

use super::model::{Assignee, CampaignSpec, ItemCtx, ReviewSubject, ReviewerStrategy};

/// The reviewer the strategy gives, before independence.
fn strategy_reviewer(
    org: &Org,
    strategy: &ReviewerStrategy,
    c: &ReviewSubject,
) -> Option<(Assignee, &'static str)> {
    let who = org.identity(&c.beneficiary)?;
    let person = |n: Option<&Name>, basis| n.map(|n| (Assignee::Identity(n.clone()), basis));
    match strategy {
        ReviewerStrategy::Manager | ReviewerStrategy::NhiOwner => {
            if who.is_human() {
                person(who.manager(), "manager")
            } else {
                person(who.owner(), "nhi_owner")
            }
        }
        ReviewerStrategy::EntitlementOwner => person(
            org.entitlement(&c.entitlement)
                .and_then(|e| e.owner.as_ref()),
            "entitlement_owner",
        ),
        ReviewerStrategy::SystemOwner => person(
            org.system(&c.entitlement.system).map(|s| &s.owner),
            "system_owner",
        ),
        ReviewerStrategy::Group(g) => Some((Assignee::Group(g.clone()), "group")),
    }
}

/// Whether `assignee` can review `c` independently, or why not.
pub(super) fn independent(org: &Org, assignee: &Assignee, c: &ReviewSubject) -> Result<(), String> {
    match assignee {
        Assignee::Identity(n) => {
            if let Some(why) = c.involves(n) {
                return Err(why.to_owned());
            }
            match org.identity(n) {
                Some(i) if i.is_active() && i.is_human() => Ok(()),
                _ => Err("reviewer-inactive".to_owned()),
            }
        }
        Assignee::Group(g) => {
            let any = org
                .members_of(g)
                .any(|m| m.is_active() && m.is_human() && c.involves(&m.name).is_none());
            if any {
                Ok(())
            } else {
                Err("group-conflicted".to_owned())
            }
        }
        Assignee::Nobody => Err("no-reviewer".to_owned()),
    }
}

/// Assigns one item: the strategy's reviewer if independent, else the fallback,
/// else nobody.
pub fn assign(org: &Org, spec: &CampaignSpec, c: &ReviewSubject) -> (Assignee, String) {
    let why = match strategy_reviewer(org, &spec.reviewers, c) {
        Some((a, basis)) => match independent(org, &a, c) {
            Ok(()) => return (a, basis.to_owned()),
            Err(why) => why,
        },
        None => "no-reviewer".to_owned(),
    };
    let fallback = Assignee::Identity(spec.fallback.clone());
    match independent(org, &fallback, c) {
        Ok(()) => (fallback, format!("fallback:{why}")),
        Err(_) => (Assignee::Nobody, format!("unassigned:{why}")),
    }
}

/// Whether `actor` may decide `item`: its assigned reviewer (or an independent member
/// of its group), or — for items with nobody assigned — nobody but the deadline.
pub fn may_decide(org: &Org, actor: &Name, item: &ItemCtx) -> Result<String, String> {
    if let Some(why) = item.parties.involves(actor) {
        return Err(format!(
            "`{actor}` may not review item {} ({why}): reviewers are independent of the access they review",
            item.item.item
        ));
    }
    match &item.item.reviewer {
        Assignee::Identity(n) if n == actor => Ok(format!(
            "assigned reviewer ({}) of campaign {}",
            item.item.basis, item.item.campaign
        )),
        Assignee::Group(g) if org.identity(actor).is_some_and(|i| i.groups.contains(g)) => {
            Ok(format!(
                "member of group `{g}`, reviewers of campaign {}",
                item.item.campaign
            ))
        }
        other => Err(format!(
            "item {} of campaign {} is assigned to `{other}`, not `{actor}`",
            item.item.item, item.item.campaign
        )),
    }
}
