//! Access reviews: campaigns that re-attest live grants and enforce their outcome.
//!
//! A campaign snapshots its population when it is launched: one review item per live
//! grant in scope, each assigned to a reviewer chosen by the campaign's strategy and
//! independent of the access it reviews (never the beneficiary, the requester or an
//! approver of the grant; otherwise the fallback reviewer). A reviewer certifies an
//! item (the grant's `review_by` moves forward) or revokes it (the grant is revoked
//! through the same path as any revocation, so a connected target deprovisions it).
//! The scheduler reminds, escalates overdue items to the fallback reviewer, applies
//! the campaign's explicit deadline action at the final deadline, and flags reviewers
//! whose decisions look like rubber-stamping.
//!
//! Everything here is pure: the store loads a [`ReviewCtx`] for the command, and
//! [`decide`](crate::decide) turns it into events.

mod apply;
mod assign;
mod deadlines;
mod decisions;
mod launch;
mod micro;
mod model;
mod rubber_stamp;
#[cfg(test)]
mod tests;

pub use launch::population_digest;
pub use micro::micro_review_applies;
pub use model::{
    Assignee, Campaign, CampaignSpec, DeadlineAction, DecisionStat, ITEMS_PER_EVENT, ItemCtx,
    ItemOpened, ItemStatus, MAX_BULK, MicroReviewPolicy, Occurrence, ReviewCtx, ReviewDecision,
    ReviewItem, ReviewNeeds, ReviewSubject, ReviewerStrategy, RubberStampRules, Scope, SubjectKind,
};

pub(crate) use deadlines::decide_deadlines;
pub(crate) use decisions::decide_items;
pub(crate) use launch::decide_launch;
pub(crate) use micro::micro_review;
pub(crate) use rubber_stamp::{decide_flag_reviewers, decide_rereview};
