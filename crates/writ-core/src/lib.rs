//! Writ's domain core: the rules of governed access, with no I/O.
//!
//! Everything that can change Writ's state is a [`Command`]. [`decide`] turns a
//! command, checked against a [`Ctx`] (the organisation, the approval policy, the
//! aggregate the command touches, and the time), into [`Event`]s or a typed
//! [`Refusal`]. Aggregates change only by applying events ([`Request::apply`],
//! [`Grant::apply`], [`Org::apply`]), so the store can rebuild every projection by
//! replaying the ledger.
//!
//! The clock and the ID generator are injected; nothing here reads the wall clock,
//! the disk or the network.
//!
//! The ledger's leaves are written by [`Recorded::seal`], which keeps personal data
//! out of them so it can be erased later; see [`personal`].

pub mod authority;
mod breakglass;
mod canonical;
mod catalog;
mod clock;
mod command;
mod cron;
mod deadlines;
mod decide;
pub mod delegation;
mod eligibility;
mod event;
mod grant;
mod identity;
mod ids;
mod names;
mod org;
pub mod personal;
mod policy;
mod refusal;
mod request;
mod review;
mod time;
mod token;

pub use authority::{Authority, PolicySource};
pub use catalog::{Entitlement, EntitlementKind, RiskTier, System, SystemKind};
pub use clock::{Clock, ManualClock};
pub use command::{Actor, Command, Needs};
pub use cron::Cron;
pub use decide::{Ctx, Holding, PairState, decide};
pub use delegation::{Delegation, DelegationSpec};
pub use eligibility::{
    Candidate, Excluded, Rules, Standing, StepEligibility, eligibility, standing, step_eligibility,
};
pub use event::{
    CURRENT_ENCODING, DecodeError, Event, LostAuthority, Opened, PLAIN_ENCODING, Recorded, Sealed,
};
pub use grant::{Drift, DriftKind, Grant, GrantStatus, JobAction, Receipt};
pub use identity::{
    EmploymentType, Human, Identity, IdentityKind, IdentityStatus, Nhi, NhiKind, Role,
};
pub use ids::{
    CampaignId, DelegationId, GrantId, IdGen, IdKind, RequestId, SequentialIds, TokenId, encode_id,
};
pub use names::{Comment, Constraints, EntitlementRef, Justification, Name, Reason, TicketRef};
pub use org::Org;
pub use personal::{ERASED, PERSONAL_FIELDS, Personal, PersonalField};
pub use policy::{
    ActivePolicy, ApprovalPolicy, BreakGlassPolicy, Deadlines, PolicyError, StepRole, TierRule,
    ToxicRule,
};
pub use refusal::{Refusal, RefusalKind};
pub use request::{
    Decision, Finding, IncidentReview, Request, RequestKind, RequestStatus, SodException, Step,
    StepAuthority, StepDecision, Submission, TIMED_OUT,
};
pub use review::{
    Assignee, Campaign, CampaignSpec, DeadlineAction, DecisionStat, ITEMS_PER_EVENT, ItemCtx,
    ItemOpened, ItemStatus, MAX_BULK, MicroReviewPolicy, Occurrence, ReviewCtx, ReviewDecision,
    ReviewItem, ReviewNeeds, ReviewSubject, ReviewerStrategy, RubberStampRules, Scope, SubjectKind,
    micro_review_applies, population_digest,
};
pub use time::{DurationSpec, Timestamp};
pub use token::Token;

/// Canonical bytes and their SHA-256, shared by the ledger encoding and digests.
pub use canonical::{CanonicalError, canonical_bytes, sha256_hex};
