//! API tokens: only their keyed hash is ever stored.

mod model;
mod rules;

pub use model::Token;
pub(crate) use rules::{decide_issue, decide_revoke};
