//! Tokens, the audit log, the ledger and the server's own status on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::Token;

use super::{IdentityBody, ts};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub identity: String,
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
    /// Lifetime, ISO 8601 or short form; none means until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 40)]
    pub expires_in: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub identity: String,
    pub label: String,
    pub issued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<&Token> for TokenView {
    fn from(t: &Token) -> Self {
        TokenView {
            id: t.id.to_string(),
            identity: t.identity.to_string(),
            label: t.label.clone(),
            issued_at: ts(t.issued_at),
            expires_at: t.expires_at.map(ts),
            revoked_at: t.revoked_at.map(ts),
        }
    }
}

/// A newly issued token. `secret` is shown this once and never again.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub token: TokenView,
    pub secret: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    /// The event type, e.g. `step_decided`.
    pub kind: String,
    /// The aggregate, e.g. `request:req_…`.
    pub subject: String,
    /// RFC 9162 leaf hash of the exact leaf bytes, base64: SHA-256(0x00 ‖ leaf).
    pub leaf_hash: String,
    /// The decoded event.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` to get the next page; absent at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
    /// The same, as the cursor every list takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub identity: IdentityBody,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// One leaf of the ledger's Merkle tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// Position in the tree, from 0 (the event's `seq` is `index + 1`).
    pub index: u64,
    /// The exact leaf bytes, base64: hash these, never a re-serialisation.
    pub leaf: String,
    /// RFC 9162 leaf hash, base64: SHA-256(0x00 ‖ leaf).
    pub leaf_hash: String,
    /// The salted personal values the leaf commits to (base64 of canonical JSON);
    /// absent once they were erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<String>,
    /// Personal fields whose values were erased; the leaf still commits to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erased: Vec<String>,
    pub event: AuditEvent,
}

/// RFC 9162 inclusion proof: the sibling hashes from the leaf up, base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub proof: Vec<String>,
}

/// RFC 9162 consistency proof between two tree sizes, base64 hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub old: u64,
    pub new: u64,
    pub proof: Vec<String>,
}
