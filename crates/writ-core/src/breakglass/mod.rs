//! Break-glass: emergency access an eligible person grants themself at once.
//!
//! The entitlement must allow it (its catalogue `break_glass` flag) and a Cedar
//! policy must permit the `break_glass` action for the requester. The request needs a
//! reason (its justification) and an incident or ticket reference, is capped (4 h by
//! default, per entitlement if configured, never above 24 h), and back-to-back
//! emergency renewals stop at a configured total. Security is notified at once (a
//! notification record and the server's hook), and a post-incident review opens for
//! security: it stays open until closed with a finding (legitimate, misuse or drill),
//! and escalates once overdue.

mod model;
mod rules;

pub use model::{Finding, IncidentReview};
pub(crate) use rules::{authority, decide_close, decide_escalate, precheck, renewal, since, used};
