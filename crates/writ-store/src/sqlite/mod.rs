//! The embedded SQLite backend: one writer thread (group commit), a pool of readers.
//!
//! SQLite is driven through `rusqlite` rather than `sqlx`: on this write path (many
//! small statements per transaction) `sqlx`'s per-statement hand-off to its worker
//! thread cost 6× the throughput. See ARCHITECTURE.md for the figures.

pub mod baseline;
mod erase;
mod ledger;
mod project;
mod rebuild;
mod review;
mod rows;
mod schema;
mod verify;
mod writer;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::{Semaphore, mpsc, oneshot};
use writ_core::{
    ActivePolicy, Actor, Clock, Grant, GrantId, IdGen, Name, Org, Recorded, Request, RequestId,
    Timestamp, Token, TokenId,
};
use writ_core::{Campaign, CampaignId};

pub use erase::{EraseReport, erase_identity};
pub use rebuild::{
    Dump, ProjectionCheck, RebuildReport, check_projections, dump_projections, rebuild,
};
use rows::{CREDENTIAL_COLUMNS, DbError, DbResult, GRANT_COLUMNS, JOB_COLUMNS};
pub use schema::PROJECTION_TABLES;
pub use verify::{Divergence, Phase, Verdict, VerifyOptions, VerifyReport, verify};

use crate::{
    Checkpoint, CredentialRecord, Envelope, ExecError, Finding, GrantFilter, Hash, ItemFilter,
    ItemRow, JobAttempt, JobFilter, JobState, Keyed, LedgerKey, Outcome, Page, ProvisioningJob,
    RequestFilter, ReviewReport, Stats, Store, StoreError, StoredEvent,
};

const READERS: usize = 4;

/// State the writer publishes after each commit, read without touching the database.
#[derive(Debug)]
pub struct Shared {
    pub org: RwLock<Arc<Org>>,
    pub policy: RwLock<Arc<ActivePolicy>>,
    pub events_appended: AtomicU64,
    pub commits: AtomicU64,
}

#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    fn take(&self) -> DbResult<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => open_connection(&self.path, false),
        }
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    readers: Arc<Readers>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn open_connection(path: &Path, writable: bool) -> DbResult<Connection> {
    let conn = Connection::open(path)?;
    schema::configure(&conn, writable)?;
    Ok(conn)
}

/// Copies committed WAL frames back into the database every quarter second, on a
/// connection of its own, so the writer never pauses a commit to checkpoint.
fn spawn_checkpointer(
    path: &Path,
) -> Result<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>), StoreError> {
    let conn = open_connection(path, true).map_err(StoreError::from)?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("writ-store-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(std::time::Duration::from_millis(250))
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
            // A final full checkpoint keeps the WAL small between runs.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))?;
    Ok((stop, handle))
}

/// Opens (creating and migrating if needed) the database file for offline work.
pub fn open_offline(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_connection(path, true).map_err(StoreError::from)?;
    schema::migrate(&mut conn).map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(conn)
}

/// Opens an existing database read-only, without migrating it, for verification.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::NotFound(format!(
            "no database at `{}`",
            path.display()
        )));
    }
    let conn = open_connection(path, false).map_err(StoreError::from)?;
    // Verification streams the whole file: map it rather than copy every page.
    conn.pragma_update(None, "mmap_size", 1i64 << 34)
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| StoreError::Other(e.to_string()))?;
    if version < schema::LEDGER_SCHEMA {
        return Err(StoreError::Other(format!(
            "the database has schema version {version}, older than the verifiable ledger \
             ({}); start Writ on it once to migrate",
            schema::LEDGER_SCHEMA
        )));
    }
    Ok(conn)
}

impl SqliteStore {
    /// Opens the database at `path` (created if absent) and starts the writer thread.
    pub fn open(
        path: &Path,
        clock: Arc<dyn Clock>,
        ids: Box<dyn IdGen + Send>,
    ) -> Result<SqliteStore, StoreError> {
        let conn = open_offline(path)?;
        let state = writer::State::load(&conn).map_err(StoreError::from)?;
        let shared = Arc::new(Shared {
            org: RwLock::new(state.org.clone()),
            policy: RwLock::new(state.policy.clone()),
            events_appended: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(writer::MAX_BATCH * 4);
        let w = writer::Writer {
            conn,
            state,
            shared: shared.clone(),
            clock,
            ids,
            projector: Default::default(),
        };
        let handle = std::thread::Builder::new()
            .name("writ-store-writer".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StoreError::Other(format!("cannot start the writer thread: {e}")))?;
        let checkpointer = spawn_checkpointer(path)?;
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(open_connection(path, false).map_err(StoreError::from)?);
        }
        Ok(SqliteStore {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some(checkpointer)),
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(idle),
                permits: Semaphore::new(READERS),
            }),
            shared,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events appended by this process since it opened the store.
    pub fn events_appended(&self) -> u64 {
        self.shared
            .events_appended
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Transactions committed by the writer since the store opened.
    pub fn commits(&self) -> u64 {
        self.shared
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn sender(&self) -> Result<mpsc::Sender<writer::Job>, StoreError> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = f(&conn);
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Other(format!("reader task failed: {e}")))?
        .map_err(StoreError::from)
    }

    /// Stops accepting commands, lets the writer finish what it has, and waits for it.
    pub fn shutdown(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(handle) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = handle.join();
        }
        if let Some((stop, handle)) = self
            .checkpointer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            drop(stop);
            let _ = handle.join();
        }
        self.readers
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn stored(seq: i64, leaf: Vec<u8>, personal: Option<Vec<u8>>) -> DbResult<StoredEvent> {
    let opened = Recorded::open(&leaf, personal.as_deref())
        .map_err(|e| DbError::Corrupt(format!("ledger entry {seq}: {e}")))?;
    let recorded = opened.recorded;
    if recorded.seq != seq as u64 {
        return Err(DbError::Corrupt(format!(
            "ledger entry {seq} says it is entry {}",
            recorded.seq
        )));
    }
    Ok(StoredEvent {
        leaf,
        personal,
        recorded,
        erased: opened.erased,
    })
}

fn collect_events(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> DbResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(p)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(stored(r.get(0)?, r.get(1)?, r.get(2)?)?);
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn execute(&self, envelope: Envelope) -> Result<Outcome, ExecError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(writer::Job::Execute {
                envelope: Box::new(envelope),
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn save_response(
        &self,
        actor: &Actor,
        key: &str,
        status: u16,
        body: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(writer::Job::SaveResponse {
                actor: actor.to_string(),
                key: key.to_owned(),
                status,
                body,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn org(&self) -> Result<Arc<Org>, StoreError> {
        Ok(self
            .shared
            .org
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn policy(&self) -> Result<Arc<ActivePolicy>, StoreError> {
        Ok(self
            .shared
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn request(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        let id = id.to_string();
        self.read(move |c| rows::load_request(c, &id)).await
    }

    async fn requests(&self, filter: RequestFilter) -> Result<Vec<Keyed<Request>>, StoreError> {
        self.read(move |c| rows::list_requests(c, &filter)).await
    }

    async fn grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let id = id.to_string();
        self.read(move |c| rows::load_grant(c, &id)).await
    }

    async fn grants(&self, filter: GrantFilter) -> Result<Vec<Keyed<Grant>>, StoreError> {
        self.read(move |c| rows::list_grants(c, &filter)).await
    }

    async fn due_grants(&self, now: Timestamp, limit: u32) -> Result<Vec<GrantId>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM grants WHERE status IN ('pending', 'active') AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
            )?;
            let ids: Vec<String> = stmt
                .query_map(params![now.millis(), limit], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.iter()
                .map(|id| GrantId::parse(id).map_err(DbError::Corrupt))
                .collect()
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |c| rows::load_token_by_hash(c, &hash)).await
    }

    async fn token(&self, id: &TokenId) -> Result<Option<Token>, StoreError> {
        let id = id.clone();
        self.read(move |c| rows::load_token(c, &id)).await
    }

    async fn tokens(&self, identity: Option<&Name>) -> Result<Vec<Token>, StoreError> {
        let identity = identity.cloned();
        self.read(move |c| rows::load_tokens(c, identity.as_ref()))
            .await
    }

    async fn events(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| {
            collect_events(
                c,
                "SELECT seq, leaf, personal FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![after as i64, limit.clamp(1, 10_000)],
            )
        })
        .await
    }

    async fn events_of(&self, subject: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let subject = subject.to_owned();
        self.read(move |c| {
            collect_events(
                c,
                "SELECT seq, leaf, personal FROM events WHERE subject = ?1 ORDER BY seq",
                params![subject],
            )
        })
        .await
    }

    async fn ledger_size(&self) -> Result<u64, StoreError> {
        self.read(ledger::size).await
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.read(move |c| {
            Ok(collect_events(
                c,
                "SELECT seq, leaf, personal FROM events WHERE seq = ?1",
                params![index as i64 + 1],
            )?
            .pop())
        })
        .await
    }

    async fn ledger_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.read(move |c| ledger::root(c, size)).await
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| ledger::inclusion_proof(c, index, size))
            .await
    }

    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.read(move |c| ledger::consistency_proof(c, old, new))
            .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| Ok(ledger::latest_checkpoint(c)?.map(|c| c.note)))
            .await
    }

    async fn sign_checkpoint(&self, key: Arc<LedgerKey>) -> Result<Checkpoint, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(writer::Job::Checkpoint { key, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        self.read(|c| {
            let events: i64 =
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
            // From the campaigns' counters, not by counting items.
            let (open_campaigns, open_review_items): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(open), 0) FROM campaigns WHERE closed_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (open_campaigns, open_review_items) =
                (open_campaigns as u64, open_review_items as u64);
            let held_grants: i64 = c.query_row(
                "SELECT COUNT(*) FROM grants WHERE held IS NOT NULL AND status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            let open_incident_reviews: i64 = c.query_row(
                "SELECT COUNT(*) FROM incident_reviews WHERE finding IS NULL",
                [],
                |r| r.get(0),
            )?;
            let by = |sql: &str| -> DbResult<Vec<(String, u64)>> {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            };
            Ok(Stats {
                events: events as u64,
                grants_by_status: by(
                    "SELECT status, COUNT(*) FROM grants GROUP BY status ORDER BY status",
                )?,
                requests_by_status: by(
                    "SELECT status, COUNT(*) FROM requests GROUP BY status ORDER BY status",
                )?,
                jobs_by_state: by(
                    "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state",
                )?,
                open_campaigns,
                open_review_items,
                held_grants: held_grants as u64,
                open_incident_reviews: open_incident_reviews as u64,
            })
        })
        .await
    }

    async fn set_provisioned_systems(&self, systems: BTreeSet<Name>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(writer::Job::Configure {
            provisioned_systems: systems,
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn due_jobs(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<ProvisioningJob>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN job_attempts a USING (grant_id, action) \
                 WHERE j.state = 'queued' AND COALESCE(a.next_at, 0) <= ?1 \
                   AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.entitlement = j.entitlement \
                       AND e.beneficiary = j.beneficiary AND e.state = 'queued' \
                       AND e.created_seq < j.created_seq) \
                 ORDER BY j.created_seq LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![now.millis(), limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::job_from(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn jobs(&self, filter: JobFilter) -> Result<Vec<ProvisioningJob>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN job_attempts a USING (grant_id, action) \
                 WHERE (?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.grant_id = ?2) \
                   AND (?4 IS NULL OR j.created_seq < ?4) \
                 ORDER BY j.created_seq DESC LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![
                filter.state.map(JobState::as_str),
                filter.grant.as_ref().map(GrantId::as_str),
                filter.page.size(),
                filter.page.at(),
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::job_from(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn credentials(
        &self,
        grant: Option<&GrantId>,
        in_force: bool,
    ) -> Result<Vec<CredentialRecord>, StoreError> {
        let grant = grant.map(|g| g.to_string());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN grants g ON g.id = c.grant_id \
                 WHERE (?1 IS NULL OR c.grant_id = ?1) AND (?2 = 0 OR c.ended_at IS NULL) \
                 ORDER BY c.issued_seq DESC LIMIT 10000"
            ))?;
            let mut rows = stmt.query(params![grant, in_force])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::credential_from(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn rotation_due(&self, now: Timestamp) -> Result<Vec<CredentialRecord>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials c JOIN grants g ON g.id = c.grant_id \
                 WHERE c.ended_at IS NULL AND c.due_noted = 0 AND c.rotate_by <= ?1 \
                 ORDER BY c.rotate_by LIMIT 1000"
            ))?;
            let mut rows = stmt.query(params![now.millis()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::credential_from(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn approvals(
        &self,
        requests: Vec<RequestId>,
    ) -> Result<std::collections::HashMap<RequestId, Vec<(Name, String)>>, StoreError> {
        self.read(move |c| {
            let mut out: std::collections::HashMap<RequestId, Vec<(Name, String)>> =
                std::collections::HashMap::with_capacity(requests.len());
            let mut stmt = c.prepare_cached(
                "SELECT approver, basis FROM request_steps \
                 WHERE request_id = ?1 AND decision = 'approve' ORDER BY idx",
            )?;
            for id in requests {
                let mut rows = stmt.query(params![id.as_str()])?;
                let mut steps = Vec::new();
                while let Some(r) = rows.next()? {
                    let approver: String = r.get(0)?;
                    let approver = Name::parse(&approver).map_err(DbError::Corrupt)?;
                    steps.push((approver, r.get::<_, Option<String>>(1)?.unwrap_or_default()));
                }
                out.insert(id, steps);
            }
            Ok(out)
        })
        .await
    }

    async fn live_grants(&self, system: &Name) -> Result<Vec<Grant>, StoreError> {
        // Entitlement references are `system/name`: the range [`system/`, `system0`)
        // holds exactly this system's.
        let from = format!("{system}/");
        let to = format!("{system}0");
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE entitlement >= ?1 AND entitlement < ?2 \
                 AND status IN ('pending', 'active', 'revoking', 'expiring')"
            ))?;
            let mut rows = stmt.query(params![from, to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::grant_from(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn findings(&self, system: Option<&Name>) -> Result<Vec<Finding>, StoreError> {
        let system = system.map(|s| s.to_string());
        self.read(move |c| rows::load_findings(c, system.as_deref()))
            .await
    }

    async fn record_attempt(&self, attempt: JobAttempt) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(writer::Job::Attempt { attempt, reply }).await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn campaign(&self, id: &CampaignId) -> Result<Option<Campaign>, StoreError> {
        let id = id.to_string();
        self.read(move |c| review::load_campaign(c, &id)).await
    }

    async fn campaigns(&self, open_only: bool) -> Result<Vec<Campaign>, StoreError> {
        self.read(move |c| review::load_campaigns(c, open_only))
            .await
    }

    async fn review_items(&self, filter: ItemFilter) -> Result<Vec<ItemRow>, StoreError> {
        self.read(move |c| review::load_items(c, &filter)).await
    }

    async fn review_report(&self, id: &CampaignId) -> Result<Option<ReviewReport>, StoreError> {
        let id = id.clone();
        self.read(move |c| review::report(c, &id)).await
    }

    async fn review_decisions_of(&self, grant: &GrantId) -> Result<Vec<u64>, StoreError> {
        let grant = grant.clone();
        self.read(move |c| review::decisions_of(c, &grant)).await
    }

    async fn overdue_reviews(
        &self,
        now: Timestamp,
        page: Page,
    ) -> Result<Vec<Keyed<Grant>>, StoreError> {
        self.read(move |c| review::overdue(c, now, &page)).await
    }

    async fn notifications(
        &self,
        recipient: Option<Name>,
        page: Page,
    ) -> Result<Vec<Keyed<crate::Notification>>, StoreError> {
        self.read(move |c| rows::load_notifications(c, recipient.as_ref(), &page))
            .await
    }

    async fn notifications_after(
        &self,
        seq: u64,
        limit: u32,
    ) -> Result<Vec<crate::Notification>, StoreError> {
        self.read(move |c| rows::notifications_after(c, seq, limit))
            .await
    }

    async fn cursor(&self, name: &str) -> Result<u64, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            let seq: Option<i64> = c
                .prepare_cached("SELECT seq FROM cursors WHERE name = ?1")?
                .query_row(rusqlite::params![name], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            Ok(seq.unwrap_or(0) as u64)
        })
        .await
    }

    async fn set_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(writer::Job::Cursor {
            name: name.to_owned(),
            seq,
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    async fn incident_reviews(
        &self,
        open: bool,
        overdue_at: Option<Timestamp>,
        page: Page,
    ) -> Result<Vec<Keyed<crate::IncidentReviewRow>>, StoreError> {
        self.read(move |c| rows::incident_reviews(c, open, overdue_at, &page))
            .await
    }

    async fn deadline_due(
        &self,
        remind: Option<Timestamp>,
        escalate: Timestamp,
        time_out: Timestamp,
        limit: u32,
    ) -> Result<Vec<RequestId>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id FROM requests r WHERE r.status = 'pending' AND (
                    r.submitted_at <= ?3
                    OR (r.submitted_at <= ?2 AND EXISTS (SELECT 1 FROM request_steps s
                        WHERE s.request_id = r.id AND s.approver IS NULL AND s.escalated = 0))
                    OR (?1 IS NOT NULL AND r.submitted_at <= ?1 AND EXISTS (SELECT 1 FROM request_steps s
                        WHERE s.request_id = r.id AND s.approver IS NULL AND s.escalated = 0 AND s.reminded = 0)))
                 ORDER BY r.submitted_at LIMIT ?4",
            )?;
            let ids = stmt
                .query_map(
                    rusqlite::params![
                        remind.map(Timestamp::millis),
                        escalate.millis(),
                        time_out.millis(),
                        limit
                    ],
                    |r| r.get::<_, String>(0),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            ids.iter()
                .map(|id| {
                    RequestId::parse(id)
                        .map_err(|e| rows::DbError::Corrupt(format!("request id `{id}`: {e}")))
                })
                .collect()
        })
        .await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(writer::Job::Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            now,
            until,
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }
}

impl SqliteStore {
    async fn send(&self, job: writer::Job) -> Result<(), StoreError> {
        self.sender()?
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))
    }
}
