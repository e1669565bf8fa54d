//! The organisation data decisions read: identities, systems, entitlements and
//! delegations (`Org`), and the rules for changing identities and the catalogue.
//!
//! `Org` sits one step above the values because it also holds the delegations.

mod apply;
mod model;
mod rules;

pub use model::Org;

pub(crate) use rules::{decide_upsert_entitlement, decide_upsert_identity, decide_upsert_system};
