//! Rows to domain values and back. Shared by the writer, the readers and rebuild.

use crate::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Corrupt(String),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        match e {
            DbError::Sql(e) => StoreError::Other(e.to_string()),
            DbError::Corrupt(m) => StoreError::Corrupt(m),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> DbResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt("encode", e))
}

mod grants;
mod incidents;
mod jobs;
mod org;
mod requests;
mod tokens;

pub use grants::*;
pub use incidents::*;
pub use jobs::*;
pub use org::*;
pub use requests::*;
pub use tokens::*;
