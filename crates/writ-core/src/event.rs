//! Events and their canonical, versioned byte encoding.
//!
//! The ledger stores and hashes exactly the bytes of [`Recorded::encode`]: canonical
//! JSON with sorted keys, integers only (times in milliseconds, durations in
//! seconds), and a format version `v`. The API's JSON is a different thing and may
//! change freely; this encoding changes only with a new `v`.

use serde::{Deserialize, Serialize};

use crate::canonical::{CanonicalError, canonical_bytes};
use crate::catalog::{Entitlement, System};
use crate::command::Actor;
use crate::identity::Identity;
use crate::ids::{GrantId, RequestId, TokenId};
use crate::names::{Comment, EntitlementRef, Name, Reason};
use crate::policy::{ApprovalPolicy, StepRole};
use crate::request::{Decision, Submission};
use crate::time::Timestamp;
use crate::token::Token;

/// The encoding version written into every leaf.
pub const CURRENT_ENCODING: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The approval policy in force from now on.
    PolicyActivated {
        version: String,
        policy: ApprovalPolicy,
    },
    IdentityUpserted {
        identity: Identity,
    },
    SystemUpserted {
        system: System,
    },
    EntitlementUpserted {
        entitlement: Entitlement,
    },
    TokenIssued {
        token: Token,
    },
    TokenRevoked {
        token: TokenId,
    },
    RequestSubmitted {
        request: Submission,
        digest: String,
    },
    StepDecided {
        request: RequestId,
        step: u32,
        role: StepRole,
        approver: Name,
        decision: Decision,
        comment: Option<Comment>,
        basis: String,
        policy_version: String,
        /// The digest of the submission the approver saw and decided.
        request_digest: String,
    },
    RequestApproved {
        request: RequestId,
        grant: GrantId,
    },
    RequestDenied {
        request: RequestId,
        step: u32,
    },
    RequestCancelled {
        request: RequestId,
        reason: Option<Reason>,
    },
    GrantCreated {
        grant: GrantId,
        request: RequestId,
        beneficiary: Name,
        entitlement: EntitlementRef,
        expires_at: Timestamp,
        review_by: Timestamp,
        renews: Option<GrantId>,
    },
    GrantRenewed {
        grant: GrantId,
        successor: GrantId,
    },
    GrantRevoked {
        grant: GrantId,
        reason: Reason,
        basis: String,
    },
    GrantExpired {
        grant: GrantId,
    },
}

impl Event {
    /// The event's type name as it appears in the encoding.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PolicyActivated { .. } => "policy_activated",
            Event::IdentityUpserted { .. } => "identity_upserted",
            Event::SystemUpserted { .. } => "system_upserted",
            Event::EntitlementUpserted { .. } => "entitlement_upserted",
            Event::TokenIssued { .. } => "token_issued",
            Event::TokenRevoked { .. } => "token_revoked",
            Event::RequestSubmitted { .. } => "request_submitted",
            Event::StepDecided { .. } => "step_decided",
            Event::RequestApproved { .. } => "request_approved",
            Event::RequestDenied { .. } => "request_denied",
            Event::RequestCancelled { .. } => "request_cancelled",
            Event::GrantCreated { .. } => "grant_created",
            Event::GrantRenewed { .. } => "grant_renewed",
            Event::GrantRevoked { .. } => "grant_revoked",
            Event::GrantExpired { .. } => "grant_expired",
        }
    }

    /// The aggregate the event belongs to, e.g. `request:req_…`, `identity:alice`.
    pub fn subject(&self) -> String {
        match self {
            Event::PolicyActivated { version, .. } => format!("policy:{version}"),
            Event::IdentityUpserted { identity } => format!("identity:{}", identity.name),
            Event::SystemUpserted { system } => format!("system:{}", system.name),
            Event::EntitlementUpserted { entitlement } => {
                format!("entitlement:{}", entitlement.reference())
            }
            Event::TokenIssued { token } => format!("token:{}", token.id),
            Event::TokenRevoked { token } => format!("token:{token}"),
            Event::RequestSubmitted { request, .. } => format!("request:{}", request.id),
            Event::StepDecided { request, .. }
            | Event::RequestApproved { request, .. }
            | Event::RequestDenied { request, .. }
            | Event::RequestCancelled { request, .. } => format!("request:{request}"),
            Event::GrantCreated { grant, .. }
            | Event::GrantRenewed { grant, .. }
            | Event::GrantRevoked { grant, .. }
            | Event::GrantExpired { grant } => format!("grant:{grant}"),
        }
    }
}

/// An event as the ledger holds it: position, time, who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub event: Event,
}

#[derive(Serialize)]
struct EncodedRef<'a> {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: &'a Actor,
    event: &'a Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Encoded {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: Actor,
    event: Event,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("leaf is not a Writ event: {0}")]
    Malformed(String),
    #[error("leaf has encoding version {0}; this build reads version {CURRENT_ENCODING}")]
    Version(u32),
    #[error("leaf is not in canonical form")]
    NotCanonical,
}

impl Recorded {
    /// The canonical leaf bytes.
    pub fn encode(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical_bytes(&EncodedRef {
            v: CURRENT_ENCODING,
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            event: &self.event,
        })
    }

    /// Reads leaf bytes and checks that they are exactly the canonical encoding of what
    /// they say, so two different byte strings can never mean the same event.
    pub fn decode(bytes: &[u8]) -> Result<Recorded, DecodeError> {
        let e: Encoded =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if e.v != CURRENT_ENCODING {
            return Err(DecodeError::Version(e.v));
        }
        let recorded = Recorded {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            event: e.event,
        };
        match recorded.encode() {
            Ok(again) if again == bytes => Ok(recorded),
            _ => Err(DecodeError::NotCanonical),
        }
    }
}
