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

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};
use writ_core::Timestamp;

/// A nested body only from a JSON object: serde's derive would also take a
/// positional array, which no client means and which the schema does not describe.
pub(crate) fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    T::deserialize(Value::Object(Map::deserialize(d)?)).map_err(D::Error::custom)
}

/// [`object`] for an optional field.
pub(crate) fn optional_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Option::<Map<String, Value>>::deserialize(d)? {
        Some(m) => T::deserialize(Value::Object(m))
            .map(Some)
            .map_err(D::Error::custom),
        None => Ok(None),
    }
}

pub(crate) fn ts(t: Timestamp) -> String {
    t.to_rfc3339()
}
