//! Fixtures shared by the storage tests: a small organisation, command builders,
//! helpers that insist on an outcome, and a snapshot of everything a store can read.
//!
//! Nothing here knows which backend it talks to, except [`open_sqlite`] and
//! [`reopen_sqlite`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use writ_core::{
    Actor, ApprovalPolicy, Command, Comment, Decision, DurationSpec, EmploymentType, Entitlement,
    EntitlementKind, EntitlementRef, Grant, GrantId, Human, IdGen, IdKind, Identity, IdentityKind,
    IdentityStatus, Justification, ManualClock, Name, Nhi, NhiKind, Org, Reason, Recorded, Refusal,
    Request, RequestId, RequestKind, RiskTier, Role, System, SystemKind, TicketRef, Timestamp,
    Token,
};
use writ_store::sqlite::SqliteStore;
use writ_store::{
    Envelope, ExecError, GrantFilter, IdempotencyKey, Outcome, RequestFilter, Stats, Store,
    StoredEvent,
};

// ---- backends ------------------------------------------------------------------------

/// A store under test, the clock it was given, and whatever keeps its database alive.
/// Fields drop in order: the store (which stops its writer) before the database.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    _guard: Box<dyn Any + Send>,
}

impl Backend {
    /// `guard` is whatever must outlive the store: a temporary directory, a database
    /// dropped on exit.
    pub fn new(store: Arc<dyn Store>, clock: Arc<ManualClock>, guard: impl Any + Send) -> Self {
        Backend {
            store,
            clock,
            _guard: Box::new(guard),
        }
    }
}

/// A fresh SQLite database in its own temporary directory.
pub struct SqliteBackend {
    pub store: Arc<SqliteStore>,
    pub clock: Arc<ManualClock>,
    pub path: PathBuf,
    pub dir: tempfile::TempDir,
}

pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-03-02T09:00:00Z").unwrap()
}

/// Deterministic identifiers with a prefix, so that two stores opened on the same
/// database (a restart) never mint the same id.
#[derive(Debug)]
pub struct TestIds {
    prefix: &'static str,
    n: u64,
}

impl TestIds {
    pub fn new(prefix: &'static str) -> Self {
        TestIds { prefix, n: 0 }
    }
}

impl IdGen for TestIds {
    fn next_body(&mut self, _kind: IdKind) -> String {
        self.n += 1;
        format!("{}{:08}", self.prefix, self.n)
    }
}

pub fn open_sqlite() -> SqliteBackend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writ.db");
    let clock = Arc::new(ManualClock::new(t0()));
    let store = reopen_sqlite(&path, clock.clone(), "a");
    SqliteBackend {
        store,
        clock,
        path,
        dir,
    }
}

pub fn reopen_sqlite(
    path: &Path,
    clock: Arc<ManualClock>,
    prefix: &'static str,
) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(path, clock, Box::new(TestIds::new(prefix))).unwrap())
}

/// The SQLite backend for the conformance suite.
pub async fn sqlite_backend() -> Backend {
    let b = open_sqlite();
    Backend::new(b.store, b.clock, b.dir)
}

// ---- names and the organisation -----------------------------------------------------

pub fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn eref(s: &str) -> EntitlementRef {
    EntitlementRef::parse(s).unwrap()
}

pub fn human(name: &str, manager: Option<&str>, groups: &[&str], roles: &[Role]) -> Identity {
    Identity {
        name: n(name),
        display_name: format!("{name} (test)"),
        status: IdentityStatus::Active,
        groups: groups
            .iter()
            .map(|g| g.to_string())
            .collect::<BTreeSet<_>>(),
        roles: roles.iter().copied().collect(),
        kind: IdentityKind::Human(Human {
            email: format!("{name}@example.com"),
            manager: manager.map(n),
            department: Some("engineering".into()),
            employment_type: EmploymentType::Employee,
        }),
    }
}

pub fn nhi(name: &str, owner: &str) -> Identity {
    Identity {
        name: n(name),
        display_name: format!("{name} (service account)"),
        status: IdentityStatus::Active,
        groups: BTreeSet::new(),
        roles: BTreeSet::new(),
        kind: IdentityKind::Nhi(Nhi {
            nhi_kind: NhiKind::ServiceAccount,
            owner: n(owner),
            purpose: "deploys the billing service".into(),
            environment: "prod".into(),
            rotation_period: DurationSpec::days(90),
        }),
    }
}

pub fn system(name: &str, owner: &str) -> System {
    System {
        name: n(name),
        display_name: format!("{name} system"),
        kind: SystemKind::Database,
        owner: n(owner),
        description: String::new(),
    }
}

pub fn entitlement(system: &str, name: &str, risk: RiskTier, max_days: u64) -> Entitlement {
    Entitlement {
        system: n(system),
        name: n(name),
        display_name: format!("{system}/{name}"),
        kind: EntitlementKind::Role,
        external_ref: format!("role_{name}"),
        risk,
        privileged: risk >= RiskTier::High,
        max_duration: DurationSpec::days(max_days),
        owner: None,
        break_glass: false,
        description: String::new(),
    }
}

/// People in the fixture organisation, in the order they must be created (managers first).
pub const MANAGER: &str = "mia";
pub const OWNER: &str = "olga";
pub const SECURITY: [&str; 6] = ["sec1", "sec2", "sec3", "sec4", "sec5", "sec6"];

/// `pg-prod/read-only` is medium risk: manager, then system owner (`olga`).
pub const MEDIUM: &str = "pg-prod/read-only";
/// `wiki/editor` is low risk: manager only (under the default policy).
pub const LOW: &str = "wiki/editor";

/// The commands that build the fixture organisation, as Writ itself would send them.
pub fn seed_commands() -> Vec<Command> {
    let mut identities = vec![
        human(MANAGER, None, &[], &[]),
        human(OWNER, None, &[], &[]),
        human("ada", None, &[], &[Role::Admin]),
        human("audrey", None, &[], &[Role::Auditor]),
        human("alice", Some(MANAGER), &[], &[]),
        human("bob", Some(MANAGER), &[], &[]),
        nhi("ci-bot", "alice"),
    ];
    for s in SECURITY {
        identities.push(human(s, None, &["security"], &[]));
    }
    let mut carl = human("carl", Some(MANAGER), &[], &[]);
    carl.status = IdentityStatus::Inactive;
    identities.push(carl);

    let mut out = vec![Command::ActivatePolicy {
        policy: ApprovalPolicy::default(),
    }];
    out.extend(
        identities
            .into_iter()
            .map(|identity| Command::UpsertIdentity { identity }),
    );
    out.push(Command::UpsertSystem {
        system: system("pg-prod", OWNER),
    });
    out.push(Command::UpsertSystem {
        system: system("wiki", OWNER),
    });
    out.push(Command::UpsertEntitlement {
        entitlement: entitlement("pg-prod", "read-only", RiskTier::Medium, 30),
    });
    out.push(Command::UpsertEntitlement {
        entitlement: entitlement("wiki", "editor", RiskTier::Low, 90),
    });
    out
}

/// Seeds the fixture organisation, one command at a time; returns what was recorded.
pub async fn seed(store: &dyn Store) -> Vec<Recorded> {
    let mut all = Vec::new();
    for command in seed_commands() {
        all.extend(exec(store, sys(command)).await);
    }
    all
}

// ---- envelopes and commands ---------------------------------------------------------

pub fn sys(command: Command) -> Envelope {
    Envelope::new(Actor::system("test"), command)
}

pub fn by(who: &str, command: Command) -> Envelope {
    Envelope::new(Actor::Identity(n(who)), command)
}

pub fn keyed(mut env: Envelope, key: &str, fingerprint: &str) -> Envelope {
    env.idempotency = Some(IdempotencyKey {
        key: key.into(),
        fingerprint: fingerprint.into(),
    });
    env
}

pub fn submit(beneficiary: &str, entitlement: &str, duration: DurationSpec) -> Command {
    Command::Submit {
        beneficiary: n(beneficiary),
        entitlement: eref(entitlement),
        justification: Justification::parse("month-end reconciliation of the ledger").unwrap(),
        ticket: Some(TicketRef::parse("INC-4411").unwrap()),
        duration,
        kind: RequestKind::Standard,
        constraints: None,
        sod_exception: None,
    }
}

/// A renewal of the beneficiary's active grant of `entitlement`.
pub fn renew(beneficiary: &str, entitlement: &str, duration: DurationSpec) -> Command {
    match submit(beneficiary, entitlement, duration) {
        Command::Submit {
            beneficiary,
            entitlement,
            justification,
            ticket,
            duration,
            constraints,
            ..
        } => Command::Submit {
            beneficiary,
            entitlement,
            justification,
            ticket,
            duration,
            kind: RequestKind::Renewal,
            constraints,
            sod_exception: None,
        },
        _ => unreachable!(),
    }
}

pub fn approve(request: &RequestId, step: Option<u32>) -> Command {
    Command::Decide {
        request: request.clone(),
        step,
        decision: Decision::Approve,
        comment: None,
    }
}

pub fn deny(request: &RequestId, comment: &str) -> Command {
    Command::Decide {
        request: request.clone(),
        step: None,
        decision: Decision::Deny,
        comment: Some(Comment::parse(comment).unwrap()),
    }
}

pub fn cancel(request: &RequestId) -> Command {
    Command::Cancel {
        request: request.clone(),
        reason: Some(Reason::parse("no longer needed").unwrap()),
    }
}

pub fn revoke(grant: &GrantId) -> Command {
    Command::RevokeGrant {
        grant: grant.clone(),
        reason: Reason::parse("left the project").unwrap(),
    }
}

pub fn expire(grant: &GrantId) -> Command {
    Command::ExpireGrant {
        grant: grant.clone(),
    }
}

/// 64 hex characters derived from `seed`, as the server's keyed hash would be.
pub fn token_hash(seed: u8) -> String {
    format!("{seed:02x}").repeat(32)
}

pub fn issue_token(identity: &str, seed: u8) -> Command {
    Command::IssueToken {
        identity: n(identity),
        label: format!("laptop {seed}"),
        hash: token_hash(seed),
        expires_at: None,
    }
}

// ---- outcomes ------------------------------------------------------------------------

/// Executes a command that must take effect, and checks that the ledger now ends with
/// exactly what `execute` returned (read-your-writes). Only for sequential use.
pub async fn exec(store: &dyn Store, env: Envelope) -> Vec<Recorded> {
    let what = format!("{} by {}", env.command.name(), env.actor);
    let before = last_seq(store).await;
    let recs = match store.execute(env).await {
        Ok(Outcome::Committed(recs)) => recs,
        other => panic!("{what}: expected a commit, got {other:?}"),
    };
    let after: Vec<Recorded> = store
        .events(before, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.recorded)
        .collect();
    assert_eq!(
        after, recs,
        "{what}: the ledger must end with what execute returned"
    );
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, before + 1 + i as u64, "{what}: sequence numbers");
    }
    recs
}

/// Executes a command that must be refused; returns the refusal.
pub async fn refuse(store: &dyn Store, env: Envelope) -> Refusal {
    let what = format!("{} by {}", env.command.name(), env.actor);
    match store.execute(env).await {
        Err(ExecError::Refused(r)) => r,
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

pub fn committed(result: Result<Outcome, ExecError>) -> Vec<Recorded> {
    match result {
        Ok(Outcome::Committed(recs)) => recs,
        other => panic!("expected a commit, got {other:?}"),
    }
}

pub fn kinds(recs: &[Recorded]) -> Vec<&'static str> {
    recs.iter().map(|r| r.event.kind()).collect()
}

pub fn stored_kinds(events: &[StoredEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.recorded.event.kind()).collect()
}

pub fn request_id(recs: &[Recorded]) -> RequestId {
    recs.iter()
        .find_map(|r| match &r.event {
            writ_core::Event::RequestSubmitted { request, .. } => Some(request.id.clone()),
            _ => None,
        })
        .expect("a request_submitted event")
}

pub fn grant_id(recs: &[Recorded]) -> GrantId {
    recs.iter()
        .find_map(|r| match &r.event {
            writ_core::Event::GrantCreated { grant, .. } => Some(grant.clone()),
            _ => None,
        })
        .expect("a grant_created event")
}

// ---- reading everything -------------------------------------------------------------

pub async fn all_events(store: &dyn Store) -> Vec<StoredEvent> {
    let mut out: Vec<StoredEvent> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.recorded.seq);
        let page = store.events(after, 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn last_seq(store: &dyn Store) -> u64 {
    all_events(store).await.last().map_or(0, |e| e.recorded.seq)
}

/// Asserts that the ledger is exactly entries 1..=n, in order, each decoding to itself.
pub fn assert_contiguous(events: &[StoredEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.recorded.seq,
            i as u64 + 1,
            "ledger entry {} is at position {}",
            e.recorded.seq,
            i + 1
        );
    }
}

pub fn all_requests() -> RequestFilter {
    RequestFilter {
        page: writ_store::Page::first(1000),
        ..RequestFilter::default()
    }
}

pub fn all_grants() -> GrantFilter {
    GrantFilter {
        page: writ_store::Page::first(1000),
        ..GrantFilter::default()
    }
}

/// The rows of a listing, without their positions.
pub fn items<T>(rows: Vec<writ_store::Keyed<T>>) -> Vec<T> {
    rows.into_iter().map(|r| r.item).collect()
}

/// Everything a store lets a client read, to prove that something changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub leaves: Vec<Vec<u8>>,
    pub stats: Stats,
    pub org: Org,
    pub policy: (ApprovalPolicy, String),
    pub requests: Vec<Request>,
    pub grants: Vec<Grant>,
    pub tokens: Vec<Token>,
    pub due: Vec<GrantId>,
}

pub async fn snapshot(store: &dyn Store) -> Snapshot {
    Snapshot {
        leaves: all_events(store)
            .await
            .into_iter()
            .map(|e| e.leaf)
            .collect(),
        stats: store.stats().await.unwrap(),
        org: (*store.org().await.unwrap()).clone(),
        policy: {
            let p = store.policy().await.unwrap();
            (p.policy.clone(), p.version.clone())
        },
        requests: items(store.requests(all_requests()).await.unwrap()),
        grants: items(store.grants(all_grants()).await.unwrap()),
        tokens: store.tokens(None).await.unwrap(),
        due: store.due_grants(Timestamp(i64::MAX), 1000).await.unwrap(),
    }
}

// ---- a varied workload ---------------------------------------------------------------

/// What [`varied_workload`] produced, for tests that tamper with it afterwards.
#[derive(Debug)]
pub struct Workload {
    /// Approved by `mia` (step 1) and `olga` (step 2); its grant later expired.
    pub approved: RequestId,
    pub expired_grant: GrantId,
    /// Denied by `mia`.
    pub denied: RequestId,
    /// Cancelled by its requester.
    pub cancelled: RequestId,
    /// Approved; its grant (to the NHI `ci-bot`) was revoked by its owner `alice`.
    pub revoked_grant: GrantId,
    /// Approved, then replaced by `active_grant` through a renewal.
    pub renewed_grant: GrantId,
    /// The renewal's grant, still active.
    pub active_grant: GrantId,
    /// Pending, with step 1 decided.
    pub pending: RequestId,
}

/// Touches every projection table: policy, identities (including an update), systems,
/// entitlements, tokens (issued and revoked), requests in every status, grants active,
/// expired, revoked and renewed.
pub async fn varied_workload(store: &dyn Store, clock: &ManualClock) -> Workload {
    seed(store).await;
    let tick = || clock.advance_millis(61_000);
    tick();
    let mut bob = human("bob", Some(MANAGER), &[], &[]);
    bob.display_name = "Bob, renamed".into();
    exec(store, sys(Command::UpsertIdentity { identity: bob })).await;
    exec(store, sys(issue_token("alice", 1))).await;
    let t2 = exec(store, sys(issue_token("bob", 2))).await;
    let t2 = match &t2[0].event {
        writ_core::Event::TokenIssued { token } => token.id.clone(),
        e => panic!("unexpected {e:?}"),
    };
    exec(store, by("bob", Command::RevokeToken { token: t2 })).await;

    tick();
    let approved = request_id(
        &exec(
            store,
            by("alice", submit("alice", MEDIUM, DurationSpec::days(7))),
        )
        .await,
    );
    tick();
    exec(store, by(MANAGER, approve(&approved, None))).await;
    tick();
    let expired_grant = grant_id(&exec(store, by(OWNER, approve(&approved, Some(2)))).await);

    tick();
    let denied = request_id(
        &exec(
            store,
            by("bob", submit("bob", MEDIUM, DurationSpec::days(3))),
        )
        .await,
    );
    exec(
        store,
        by(MANAGER, deny(&denied, "use the reporting replica instead")),
    )
    .await;

    tick();
    let cancelled =
        request_id(&exec(store, by("bob", submit("bob", LOW, DurationSpec::days(1)))).await);
    exec(store, by("bob", cancel(&cancelled))).await;

    tick();
    let r = request_id(
        &exec(
            store,
            by("alice", submit("ci-bot", LOW, DurationSpec::days(30))),
        )
        .await,
    );
    // The NHI's owner requested it, so the owner's manager decides (skip-level).
    let revoked_grant = grant_id(&exec(store, by(MANAGER, approve(&r, None))).await);
    tick();
    // Revoked by the NHI's owner.
    exec(store, by("alice", revoke(&revoked_grant))).await;

    tick();
    let r = request_id(&exec(store, by("bob", submit("bob", LOW, DurationSpec::days(60)))).await);
    let renewed_grant = grant_id(&exec(store, by(MANAGER, approve(&r, None))).await);
    tick();
    let r = request_id(&exec(store, by("bob", renew("bob", LOW, DurationSpec::days(60)))).await);
    let active_grant = grant_id(&exec(store, by(MANAGER, approve(&r, None))).await);

    tick();
    // Requested by alice's manager, who has no manager: nobody can decide it (yet).
    exec(
        store,
        by(MANAGER, submit("alice", LOW, DurationSpec::days(2))),
    )
    .await;
    let pending = request_id(
        &exec(
            store,
            by("bob", submit("bob", MEDIUM, DurationSpec::days(2))),
        )
        .await,
    );
    exec(store, by(MANAGER, approve(&pending, Some(1)))).await;

    clock.advance(DurationSpec::days(8));
    exec(
        store,
        Envelope::new(Actor::system("scheduler"), expire(&expired_grant)),
    )
    .await;
    Workload {
        approved,
        expired_grant,
        denied,
        cancelled,
        revoked_grant,
        renewed_grant,
        active_grant,
        pending,
    }
}
