//! JSON wire types of the HTTP API. Domain types never cross the wire directly:
//! each view is built here from the domain, so the API can evolve without touching
//! the ledger's encoding, and the domain can evolve without breaking clients.

mod audit;
mod catalog;
mod delegation;
mod grants;
mod policy;
mod requests;
mod review;

pub use audit::*;
pub use catalog::*;
pub use delegation::*;
pub use grants::*;
pub use policy::*;
pub use requests::*;
pub use review::*;

use writ_core::Timestamp;

pub(crate) fn ts(t: Timestamp) -> String {
    t.to_rfc3339()
}
