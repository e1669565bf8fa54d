//! An API token as the ledger and the store hold it.

use serde::{Deserialize, Serialize};

use crate::values::{Name, Timestamp, TokenId};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    pub identity: Name,
    pub label: String,
    /// Hex HMAC-SHA256 of the secret under the server's pepper. Not the secret.
    pub hash: String,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .field("identity", &self.identity)
            .field("label", &self.label)
            .field("hash", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

impl Token {
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}
