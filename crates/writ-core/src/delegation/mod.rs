//! Delegation of approval authority: an approver lets another person decide in their
//! place for a window, optionally only for some systems or risk tiers, with a reason.
//!
//! A delegate's decision is judged on the delegator's own authority (the Cedar
//! policies, evaluated for the delegator) and recorded as made "on behalf of X under
//! delegation D". The rules that hold whatever the policy say: no delegation to
//! oneself; no chains (a delegate's delegated authority is never delegated again, and
//! someone who is a delegate cannot delegate while it lasts); a delegate never decides
//! a request they made or benefit from, nor does the delegator; an expired or revoked
//! delegation gives nothing.

mod model;
mod rules;

pub use model::{Delegation, DelegationSpec, MAX_WINDOW};
pub(crate) use rules::{decide_delegate, decide_revoke};
