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
//!
//! # Layout: arrows point down
//!
//! - `values` — the bottom layer, values with no rules: names, ids, time, the
//!   canonical encoding, refusals, actors, identity and catalogue types.
//! - one module per capability, each holding its types (`model`), how its events
//!   change its aggregate (`apply`) and its commands' rules (`decide_*`, each taking
//!   a [`Ctx`]): `requests` (and their steps), `grants` (and provisioning),
//!   [`authority`] (Cedar), [`delegation`], `breakglass`, `deadlines`, `reviews`,
//!   `organisation` (identities and the catalogue), `tokens`, and `policy` (the
//!   approval policy and its activation).
//! - `command` and `event`: the single vocabulary; the ledger's encoding lives
//!   with [`Event`].
//! - `ctx`: what a decision may look at, and the actor checks every capability
//!   makes; it imports no capability's rules.
//! - [`decide()`]: the dispatch, one call per command.
//!
//! `tests/layers.rs` checks that the file-level imports have no cycle and that the
//! values import nothing above them.

pub mod authority;
mod breakglass;
mod command;
mod ctx;
mod deadlines;
mod decide;
pub mod delegation;
mod event;
mod grants;
mod organisation;
mod policy;
mod requests;
mod reviews;
mod tokens;
mod values;

pub use authority::{Authority, PolicySource, Reach};
pub use breakglass::{Finding, IncidentReview};
pub use command::{Command, Needs};
pub use ctx::{Ctx, Holding, PairState};
pub use decide::decide;
pub use delegation::{Delegation, DelegationSpec};
pub use event::personal;
pub use event::{CURRENT_ENCODING, DecodeError, Event, Opened, PLAIN_ENCODING, Recorded, Sealed};
pub use grants::{Drift, DriftKind, Grant, GrantStatus, JobAction, LostAuthority, Receipt};
pub use organisation::Org;
pub use personal::{ERASED, PERSONAL_FIELDS, Personal, PersonalField};
pub use policy::{
    ActivePolicy, ApprovalPolicy, BreakGlassPolicy, Deadlines, PolicyError, Rules, TierRule,
    ToxicRule,
};
pub use requests::{
    Candidate, Decision, Excluded, Request, RequestKind, RequestStatus, SodException, Standing,
    Step, StepAuthority, StepDecision, StepEligibility, StepRole, Submission, TIMED_OUT,
    eligibility, standing, step_eligibility,
};
pub use reviews::{
    Assignee, Campaign, CampaignSpec, DeadlineAction, DecisionStat, ITEMS_PER_EVENT, ItemCtx,
    ItemOpened, ItemStatus, MAX_BULK, MicroReviewPolicy, Occurrence, ReviewCtx, ReviewDecision,
    ReviewItem, ReviewNeeds, ReviewSubject, ReviewerStrategy, RubberStampRules, Scope, SubjectKind,
    micro_review_applies, population_digest,
};
pub use tokens::Token;
pub use values::{
    Actor, CampaignId, CanonicalError, Clock, Comment, Constraints, Cron, DelegationId,
    DurationSpec, EmploymentType, Entitlement, EntitlementKind, EntitlementRef, GrantId, Human,
    IdGen, IdKind, Identity, IdentityKind, IdentityStatus, Justification, ManualClock, Name, Nhi,
    NhiKind, Reason, Refusal, RefusalKind, RequestId, RiskTier, Role, SequentialIds, System,
    SystemKind, TicketRef, Timestamp, TokenId, canonical_bytes, encode_id, sha256_hex,
};
