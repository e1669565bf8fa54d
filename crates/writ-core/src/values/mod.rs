//! The bottom layer: values with no rules. Names, ids, time, the canonical encoding,
//! refusals, who acted, and the identity and catalogue types the organisation data
//! is made of. Nothing here imports anything above it.

mod actor;
mod canonical;
mod catalog;
mod clock;
mod cron;
mod identity;
mod ids;
mod names;
mod refusal;
mod time;

pub use actor::Actor;
pub use canonical::{CanonicalError, canonical_bytes, sha256_hex};
pub use catalog::{Entitlement, EntitlementKind, RiskTier, System, SystemKind};
pub use clock::{Clock, ManualClock};
pub use cron::Cron;
pub use identity::{
    EmploymentType, Human, Identity, IdentityKind, IdentityStatus, Nhi, NhiKind, Role,
};
pub use ids::{
    CampaignId, DelegationId, GrantId, IdGen, IdKind, RequestId, SequentialIds, TokenId, encode_id,
};
pub use names::{Comment, Constraints, EntitlementRef, Justification, Name, Reason, TicketRef};
pub(crate) use names::{truncate, within};
pub use refusal::{Refusal, RefusalKind};
pub use time::{DurationSpec, Timestamp};
