//! Writ's storage. The only crate that touches a database.
//!
//! [`Store::execute`] runs one command in one transaction: it loads what the
//! command needs, asks the pure core to `decide`, appends the resulting events to the
//! ledger table in their canonical encoding, and updates the projections — all or
//! nothing. Reads go to the projections. [`sqlite::SqliteStore`] is the embedded
//! backend; the PostgreSQL backend will implement the same trait and pass the same
//! conformance story (`tests/story.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use writ_core::{
    Actor, Command, Drift, EntitlementRef, Grant, GrantId, GrantStatus, JobAction, Name, Org,
    Recorded, Refusal, Request, RequestId, RequestStatus, Timestamp, Token, TokenId,
};
use writ_core::{Campaign, CampaignId, ItemStatus, ReviewItem};

pub mod failpoint;
pub mod sqlite;

pub use writ_ledger::{Checkpoint, Hash, LedgerKey};
mod system;

pub use system::{RandomIds, SystemClock};

/// A storage failure, free of any database type.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Other(String),
}

/// Why a command did not take effect.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    /// The rules refused it; nothing changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A command with who sent it and, optionally, the client's idempotency key.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub actor: Actor,
    pub command: Command,
    pub idempotency: Option<IdempotencyKey>,
    /// Judge the command and return the events it would append, appending nothing.
    pub dry_run: bool,
}

impl Envelope {
    pub fn new(actor: Actor, command: Command) -> Self {
        Envelope {
            actor,
            command,
            idempotency: None,
            dry_run: false,
        }
    }

    /// The command judged against the current state, with nothing written.
    pub fn dry_run(actor: Actor, command: Command) -> Self {
        Envelope {
            dry_run: true,
            ..Envelope::new(actor, command)
        }
    }
}

/// An `Idempotency-Key` and a fingerprint of the request it came with, so the same
/// key reused for a different request is refused rather than replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The command took effect; these events are durable.
    Committed(Vec<Recorded>),
    /// The key was seen before; nothing new was created.
    Replayed(IdempotentRecord),
    /// A dry run: the events the command would have appended; nothing was written.
    Preview(Vec<Recorded>),
}

/// What the first use of an idempotency key produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRecord {
    /// Subject of the first event the command appended (`request:req_…`), or empty.
    pub subject: String,
    /// The response first sent, once the server has saved it.
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
}

/// A position in a listing: the sort key of a row (a time, a sequence number, an
/// item number) and its tiebreaker (an id, or empty). Listings continue strictly
/// after it, in their own order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub at: i64,
    pub id: String,
}

/// One page of a listing: after which row, and at most how many (1-1000; 0 is 1000).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub after: Option<Position>,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Page {
        Page { after: None, limit }
    }

    /// The limit the store applies.
    pub fn size(&self) -> u32 {
        if self.limit == 0 {
            1000
        } else {
            self.limit.min(1000)
        }
    }

    pub(crate) fn at(&self) -> Option<i64> {
        self.after.as_ref().map(|p| p.at)
    }

    pub(crate) fn id(&self) -> Option<&str> {
        self.after.as_ref().map(|p| p.id.as_str())
    }
}

/// A row of a listing with its position, to continue after it.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    pub position: Position,
    pub item: T,
}

#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    /// Only requests this identity made or benefits from.
    pub involving: Option<Name>,
    /// Only requests these relations touch (a prefilter the caller then checks
    /// exactly); `None`: every request.
    pub touching: Option<Touching>,
    /// Newest first: by submission time, then id.
    pub page: Page,
}

/// The relations through which someone may see or decide a request, for narrowing a
/// listing in the database: a request matches when any one holds.
#[derive(Debug, Clone, Default)]
pub struct Touching {
    pub requesters: BTreeSet<Name>,
    pub beneficiaries: BTreeSet<Name>,
    pub entitlements: BTreeSet<EntitlementRef>,
    /// Someone here decided one of its steps.
    pub decided_by: BTreeSet<Name>,
    /// Pending, with an undecided step of one of these roles (`manager`, `group:x`, …).
    pub open_roles: BTreeSet<String>,
    /// Pending, with an undecided escalated step.
    pub any_escalated: bool,
    /// Of one of these kinds (`break_glass`, …).
    pub kinds: BTreeSet<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub beneficiary: Option<Name>,
    pub status: Option<GrantStatus>,
    /// Only grants of these beneficiaries (what the caller may see); `None`: all.
    pub beneficiaries: Option<BTreeSet<Name>>,
    /// Newest first: by grant time, then id.
    pub page: Page,
}

/// One ledger entry: its exact leaf bytes, the personal values the leaf commits to
/// (absent once erased), and what they decode to.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub leaf: Vec<u8>,
    pub personal: Option<Vec<u8>>,
    pub recorded: Recorded,
    /// Paths of personal fields whose values were erased; the leaf still commits to them.
    pub erased: Vec<String>,
}

impl StoredEvent {
    /// The entry's position in the Merkle tree (0-based; `seq` starts at 1).
    pub fn index(&self) -> u64 {
        self.recorded.seq - 1
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub grants_by_status: Vec<(String, u64)>,
    pub requests_by_status: Vec<(String, u64)>,
    /// Provisioning jobs by state (`queued`, `done`, `dead`).
    pub jobs_by_state: Vec<(String, u64)>,
    /// Campaigns not yet closed, and their items still open.
    pub open_campaigns: u64,
    pub open_review_items: u64,
    /// Grants held before provisioning: an approver lost authority.
    pub held_grants: u64,
    /// Post-incident reviews of break-glass access not yet closed.
    pub open_incident_reviews: u64,
}

/// Where a provisioning job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for the worker (perhaps after failed attempts).
    Queued,
    /// The target confirmed.
    Done,
    /// Given up: a permanent error or every attempt spent; waits for an admin's retry.
    Dead,
    /// Never run: the grant ended (or was renewed) before its access was added, so
    /// only its removal runs.
    Superseded,
    /// A removal an admin made by other means and closed by hand, with a reason.
    Resolved,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Superseded => "superseded",
            JobState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Result<JobState, String> {
        match text {
            "queued" => Ok(JobState::Queued),
            "done" => Ok(JobState::Done),
            "dead" => Ok(JobState::Dead),
            "superseded" => Ok(JobState::Superseded),
            "resolved" => Ok(JobState::Resolved),
            other => Err(format!(
                "`{other}` is not a job state: use queued, done, dead, superseded or resolved"
            )),
        }
    }
}

/// A post-incident review of break-glass access, with what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentReviewRow {
    pub request: RequestId,
    pub grant: GrantId,
    pub beneficiary: String,
    pub entitlement: String,
    pub incident: String,
    pub review: writ_core::IncidentReview,
}

/// A notification record: who was told what, from which ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub seq: u64,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    pub message: String,
    pub at: Timestamp,
}

/// One row of the provisioning outbox, with the worker's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningJob {
    pub grant: GrantId,
    pub action: JobAction,
    /// The ledger entry that opened the job; jobs for one account and entitlement run
    /// in this order.
    pub created_seq: u64,
    pub system: Name,
    pub entitlement: EntitlementRef,
    pub beneficiary: Name,
    /// The entitlement's external reference when the grant was created.
    pub target: String,
    pub state: JobState,
    /// The ledger entry that closed (or dead-lettered) it.
    pub finished_seq: Option<u64>,
    /// Why it was dead-lettered.
    pub error: Option<String>,
    pub attempts: u32,
    /// When the worker may try again (none before the first failure).
    pub next_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The worker's bookkeeping after a failed attempt that will be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAttempt {
    pub grant: GrantId,
    pub action: JobAction,
    pub attempts: u32,
    pub next_at: Timestamp,
    pub error: String,
}

/// A credential issued to an NHI, as the store keeps it: a fingerprint, never the
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub fingerprint: String,
    pub grant: GrantId,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub rotate_by: Timestamp,
    pub replaces: Option<String>,
    /// When it stopped working (replaced by a rotation, or revoked with its access).
    pub ended_at: Option<Timestamp>,
    pub ended_how: Option<String>,
    pub rotation_due_noted: bool,
}

/// A reconciliation finding that still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub drift: Drift,
    /// What Writ did about it when it was found.
    pub action: String,
    /// The ledger entry that recorded it.
    pub found_seq: u64,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub grant: Option<GrantId>,
    /// Newest first: by the ledger entry that opened the job.
    pub page: Page,
}

#[derive(Debug, Clone)]
pub struct ItemFilter {
    pub campaign: CampaignId,
    pub status: Option<ItemStatus>,
    /// Items assigned to this identity, or to one of `groups`.
    pub reviewer: Option<Name>,
    pub groups: Vec<String>,
    pub item: Option<u32>,
    /// Only items numbered above this.
    pub after: Option<u32>,
    /// 0: no limit.
    pub limit: u32,
}

impl ItemFilter {
    /// Every item of `campaign`.
    pub fn all(campaign: &CampaignId) -> ItemFilter {
        ItemFilter {
            campaign: campaign.clone(),
            status: None,
            reviewer: None,
            groups: Vec::new(),
            item: None,
            after: None,
            limit: 0,
        }
    }
}

/// A review item with its grant and its ledger references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub item: ReviewItem,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub grant_status: String,
    pub request: RequestId,
    pub review_by: Timestamp,
    pub opened_seq: u64,
    pub decided_seq: Option<u64>,
    pub decision_basis: Option<String>,
    pub reason: Option<String>,
    pub reassigned_why: Option<String>,
    /// A decision this item had before it was reopened for re-review.
    pub prior: Option<String>,
}

/// One line of a campaign's report: the item, the grant's provenance, the follow-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    pub row: ItemRow,
    pub requester: Name,
    pub approvers: Vec<(Name, String)>,
    pub justification: String,
    pub ticket: Option<String>,
    /// The last certification of this grant in an earlier campaign.
    pub last_review: Option<Timestamp>,
    pub revoked_seq: Option<u64>,
    /// The target's confirmation that the access is gone (connected systems).
    pub deprovisioned_seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewNotice {
    pub seq: u64,
    pub to: String,
    pub notice: String,
    pub items: u64,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewerFlag {
    pub reviewer: Name,
    pub rule: String,
    pub decisions: u32,
    pub certified: u32,
    pub median_gap_ms: Option<i64>,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewReport {
    pub campaign: Campaign,
    pub launched_seq: u64,
    pub closed_seq: Option<u64>,
    pub lines: Vec<ReportLine>,
    pub notices: Vec<ReviewNotice>,
    pub flags: Vec<ReviewerFlag>,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Decides and, if accepted, durably applies one command. Returns once committed.
    async fn execute(&self, envelope: Envelope) -> Result<Outcome, ExecError>;

    /// Remembers the response sent for an idempotency key, for exact replays.
    async fn save_response(
        &self,
        actor: &Actor,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError>;

    /// The organisation as of the last commit.
    async fn org(&self) -> Result<Arc<Org>, StoreError>;

    /// The approval policy in force and its version (the default until one is activated).
    async fn policy(&self) -> Result<Arc<writ_core::ActivePolicy>, StoreError>;

    async fn request(&self, id: &RequestId) -> Result<Option<Request>, StoreError>;
    async fn requests(&self, filter: RequestFilter) -> Result<Vec<Keyed<Request>>, StoreError>;
    async fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError>;
    async fn grants(&self, filter: GrantFilter) -> Result<Vec<Keyed<Grant>>, StoreError>;
    /// Live (pending or active) grants whose `expires_at` is at or before `now`,
    /// soonest first.
    async fn due_grants(&self, now: Timestamp, limit: u32) -> Result<Vec<GrantId>, StoreError>;
    async fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError>;
    async fn token(&self, id: &TokenId) -> Result<Option<Token>, StoreError>;
    async fn tokens(&self, identity: Option<&Name>) -> Result<Vec<Token>, StoreError>;
    /// Ledger entries with `seq > after`, in order.
    async fn events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;
    /// Ledger entries about one subject (`request:req_…`), in order.
    async fn events_of(&self, subject: &str) -> Result<Vec<StoredEvent>, StoreError>;
    async fn stats(&self) -> Result<Stats, StoreError>;

    /// Tells the store which systems a connector provisions: grants on them are
    /// created pending and open provisioning jobs.
    async fn set_provisioned_systems(&self, systems: BTreeSet<Name>) -> Result<(), StoreError>;
    /// Queued jobs the worker may run now: due (no retry waiting), and first in line
    /// for their account and entitlement (an earlier queued job for the same pair
    /// runs first), in ledger order.
    async fn due_jobs(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<ProvisioningJob>, StoreError>;
    async fn jobs(&self, filter: JobFilter) -> Result<Vec<ProvisioningJob>, StoreError>;
    /// Records a failed attempt that will be retried at `next_at`.
    async fn record_attempt(&self, attempt: JobAttempt) -> Result<(), StoreError>;
    /// Credentials, newest first: of one grant, or all; `in_force` keeps only those
    /// still working.
    async fn credentials(
        &self,
        grant: Option<&GrantId>,
        in_force: bool,
    ) -> Result<Vec<CredentialRecord>, StoreError>;
    /// Credentials in force whose rotation deadline passed and whose owner was not yet
    /// told.
    async fn rotation_due(&self, now: Timestamp) -> Result<Vec<CredentialRecord>, StoreError>;
    /// Who approved each of `requests` (in step order) and under which authority, as
    /// `(approver, basis)`: one read for many requests (reports over whole systems).
    async fn approvals(
        &self,
        requests: Vec<RequestId>,
    ) -> Result<std::collections::HashMap<RequestId, Vec<(Name, String)>>, StoreError>;
    /// Every live grant (pending, active, revoking, expiring) on `system`.
    async fn live_grants(&self, system: &Name) -> Result<Vec<Grant>, StoreError>;
    /// Reconciliation findings that still hold, for one system or all.
    async fn findings(&self, system: Option<&Name>) -> Result<Vec<Finding>, StoreError>;

    async fn campaign(&self, id: &CampaignId) -> Result<Option<Campaign>, StoreError>;
    async fn campaigns(&self, open_only: bool) -> Result<Vec<Campaign>, StoreError>;
    async fn review_items(&self, filter: ItemFilter) -> Result<Vec<ItemRow>, StoreError>;
    async fn review_report(&self, id: &CampaignId) -> Result<Option<ReviewReport>, StoreError>;
    /// Ledger sequence numbers of the review decisions about a grant, in order.
    async fn review_decisions_of(&self, grant: &GrantId) -> Result<Vec<u64>, StoreError>;
    /// Live grants past their `review_by`, oldest first.
    async fn overdue_reviews(
        &self,
        now: Timestamp,
        page: Page,
    ) -> Result<Vec<Keyed<Grant>>, StoreError>;
    /// Notification records, newest first: one recipient's, or everyone's.
    async fn notifications(
        &self,
        recipient: Option<Name>,
        page: Page,
    ) -> Result<Vec<Keyed<Notification>>, StoreError>;
    /// Notification records after ledger entry `seq`, oldest first.
    async fn notifications_after(
        &self,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;
    /// A named delivery cursor (0 when never set).
    async fn cursor(&self, name: &str) -> Result<u64, StoreError>;
    /// Moves a named delivery cursor forward (never back).
    async fn set_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError>;
    /// Post-incident reviews of break-glass access: all, open ones, or those overdue
    /// at `overdue_at` and not yet escalated; newest first.
    async fn incident_reviews(
        &self,
        open: bool,
        overdue_at: Option<Timestamp>,
        page: Page,
    ) -> Result<Vec<Keyed<IncidentReviewRow>>, StoreError>;
    /// Pending requests with a deadline due, oldest first: submitted at or before
    /// `time_out` (any), at or before `escalate` with an open step not yet escalated,
    /// or at or before `remind` with an open step neither reminded nor escalated.
    async fn deadline_due(
        &self,
        remind: Option<Timestamp>,
        escalate: Timestamp,
        time_out: Timestamp,
        limit: u32,
    ) -> Result<Vec<RequestId>, StoreError>;
    /// Takes or renews a named lease for `holder` until `until`; false while another
    /// holder's lease runs.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// The number of leaves in the ledger's Merkle tree (= events).
    async fn ledger_size(&self) -> Result<u64, StoreError>;
    /// The leaf at `index` (0-based).
    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEvent>, StoreError>;
    /// The root of the tree over the first `size` leaves; `size` must not exceed the ledger.
    async fn ledger_root(&self, size: u64) -> Result<Hash, StoreError>;
    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError>;
    /// RFC 9162 consistency proof from the tree of `old` leaves to the tree of `new`.
    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError>;
    /// The most recent signed checkpoint note, if any was signed.
    async fn latest_checkpoint(&self) -> Result<Option<String>, StoreError>;
    /// Signs the current tree head with `key` and stores the checkpoint, unless that
    /// size is already signed — then the stored one is returned. Never two roots for
    /// one size.
    async fn sign_checkpoint(&self, key: Arc<LedgerKey>) -> Result<Checkpoint, StoreError>;
}
