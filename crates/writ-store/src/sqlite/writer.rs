//! The single writer: group commit of many commands per transaction.
//!
//! One thread owns the only writable connection. It takes every command that is
//! waiting (up to `MAX_BATCH`), decides and applies each in turn inside one
//! transaction — a refused command writes nothing — and commits them together with
//! one fsync. Callers hear back only after that commit: an acknowledged command is
//! durable. If storage fails mid-batch, the batch is rolled back and its commands are
//! retried one per transaction, so only the failing one fails.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};
use writ_core::{
    ActivePolicy, ApprovalPolicy, Clock, Command, Ctx, Event, IdGen, Name, Org, PairState,
    Recorded, Refusal, ReviewCtx, ReviewNeeds, Timestamp, decide, micro_review_applies,
};

use writ_ledger::{Checkpoint, LedgerKey};

use super::Shared;
use super::ledger;
use super::project::{self, Projector};
use super::rows::{self, DbResult};
use crate::{Envelope, ExecError, IdempotentRecord, Outcome, StoreError};

pub const MAX_BATCH: usize = 512;

/// Aggregates kept in memory between batches before the cache is dropped.
const PROJECTOR_CACHE: usize = 20_000;

pub enum Job {
    Execute {
        envelope: Box<Envelope>,
        reply: oneshot::Sender<Result<Outcome, ExecError>>,
    },
    SaveResponse {
        actor: String,
        key: String,
        status: u16,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// The provisioning worker's bookkeeping for a queued job (outside the ledger).
    Attempt {
        attempt: crate::JobAttempt,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Sets which systems a connector provisions, for the commands after it.
    Configure {
        provisioned_systems: BTreeSet<Name>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Moves a named delivery cursor forward (outside the ledger).
    Cursor {
        name: String,
        seq: u64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Takes or renews a scheduler lease (outside the ledger).
    Lease {
        name: String,
        holder: String,
        now: Timestamp,
        until: Timestamp,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Signs the tree as it stands after the jobs before it in the batch.
    Checkpoint {
        key: Arc<LedgerKey>,
        reply: oneshot::Sender<Result<Checkpoint, StoreError>>,
    },
}

/// What the writer knows between commands; cheap to snapshot (reference counted).
#[derive(Clone)]
pub struct State {
    pub org: Arc<Org>,
    pub policy: Arc<ActivePolicy>,
    pub active_policy: Option<String>,
    pub next_seq: u64,
    pub last_at: Timestamp,
    /// The largest tree size signed so far; a size is never signed twice.
    pub signed_size: Option<u64>,
    /// Systems a connector provisions (server configuration, not ledger state).
    pub provisioned_systems: Arc<BTreeSet<Name>>,
}

impl State {
    pub fn load(conn: &Connection) -> DbResult<State> {
        let org = rows::load_org(conn)?;
        let (policy, active_policy) = match rows::load_policy(conn)? {
            Some((p, v)) => (ActivePolicy::new(p), Some(v)),
            None => (ActivePolicy::new(ApprovalPolicy::default()), None),
        };
        let (max_seq, max_at): (Option<i64>, Option<i64>) =
            conn.query_row("SELECT MAX(seq), MAX(at) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let signed_size = ledger::latest_checkpoint(conn)?.map(|c| c.size);
        Ok(State {
            signed_size,
            provisioned_systems: Arc::default(),
            org: Arc::new(org),
            policy: Arc::new(policy),
            active_policy,
            next_seq: max_seq.unwrap_or(0) as u64 + 1,
            last_at: Timestamp(max_at.unwrap_or(i64::MIN)),
        })
    }

    fn absorb(&mut self, rec: &Recorded) {
        match &rec.event {
            Event::PolicyActivated {
                version, policy, ..
            } => {
                self.policy = Arc::new(ActivePolicy::new(policy.clone()));
                self.active_policy = Some(version.clone());
            }
            e @ (Event::IdentityUpserted { .. }
            | Event::SystemUpserted { .. }
            | Event::EntitlementUpserted { .. }
            | Event::DelegationGranted { .. }
            | Event::DelegationRevoked { .. }) => {
                Arc::make_mut(&mut self.org).apply(e);
            }
            _ => {}
        }
    }
}

pub struct Writer {
    pub conn: Connection,
    pub state: State,
    pub shared: Arc<Shared>,
    pub clock: Arc<dyn Clock>,
    pub ids: Box<dyn IdGen + Send>,
    pub projector: Projector,
}

/// What one job produced inside a batch, before the batch committed.
enum Done {
    Exec(Result<Outcome, ExecError>),
    Saved(Result<(), StoreError>),
    Signed(Result<Checkpoint, StoreError>),
    Leased(Result<bool, StoreError>),
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
    }

    /// Commits the batch as one transaction. Refusals write nothing, so they need no
    /// isolation; if storage fails, the whole transaction rolls back and each job is
    /// retried alone, so one bad command cannot take the others down with it.
    fn process(&mut self, batch: Vec<Job>) {
        match self.commit_batch(&batch) {
            Ok(done) => {
                for (job, result) in batch.into_iter().zip(done) {
                    match (job, result) {
                        (Job::Execute { reply, .. }, Done::Exec(r)) => {
                            let _ = reply.send(r);
                        }
                        (Job::SaveResponse { reply, .. }, Done::Saved(r))
                        | (Job::Attempt { reply, .. }, Done::Saved(r))
                        | (Job::Configure { reply, .. }, Done::Saved(r))
                        | (Job::Cursor { reply, .. }, Done::Saved(r)) => {
                            let _ = reply.send(r);
                        }
                        (Job::Checkpoint { reply, .. }, Done::Signed(r)) => {
                            let _ = reply.send(r);
                        }
                        (Job::Lease { reply, .. }, Done::Leased(r)) => {
                            let _ = reply.send(r);
                        }
                        (job, _) => fail(job, &StoreError::Other("writer mixed up replies".into())),
                    }
                }
            }
            Err(e) if batch.len() == 1 => {
                for job in batch {
                    fail(job, &e);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "batch failed; retrying its commands one by one");
                for job in batch {
                    self.process(vec![job]);
                }
            }
        }
    }

    fn commit_batch(&mut self, batch: &[Job]) -> Result<Vec<Done>, StoreError> {
        let start = self.state.clone();
        let result = self.try_batch(batch);
        // The projector's aggregates stay valid across batches (this thread is the only
        // writer), unless the batch rolled back or the cache grew large.
        if result.is_err() || self.projector.len() > PROJECTOR_CACHE {
            self.projector.forget();
        }
        match result {
            Ok((done, appended)) => {
                let shared = &self.shared;
                // Publish what readers see only after the commit.
                *shared.org.write().unwrap_or_else(PoisonError::into_inner) =
                    self.state.org.clone();
                *shared
                    .policy
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = self.state.policy.clone();
                shared
                    .events_appended
                    .fetch_add(appended, Ordering::Relaxed);
                shared.commits.fetch_add(1, Ordering::Relaxed);
                Ok(done)
            }
            Err(e) => {
                self.state = start;
                Err(e)
            }
        }
    }

    fn try_batch(&mut self, batch: &[Job]) -> Result<(Vec<Done>, u64), StoreError> {
        let Writer {
            conn,
            state,
            clock,
            ids,
            projector,
            ..
        } = self;
        let other = |e: rusqlite::Error| StoreError::Other(e.to_string());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::Unavailable(format!("cannot begin a transaction: {e}")))?;
        let mut done = Vec::with_capacity(batch.len());
        let mut appended = 0u64;
        for job in batch {
            match job {
                Job::Execute { envelope, .. } => {
                    match run_command(
                        &tx,
                        projector,
                        state,
                        clock.as_ref(),
                        ids.as_mut(),
                        envelope,
                    ) {
                        Err(ExecError::Store(e)) => return Err(e),
                        Ok(Outcome::Committed(events)) => {
                            appended += events.len() as u64;
                            done.push(Done::Exec(Ok(Outcome::Committed(events))));
                        }
                        other => done.push(Done::Exec(other)),
                    }
                }
                Job::Cursor { name, seq, .. } => {
                    tx.prepare_cached(
                        "INSERT INTO cursors (name, seq) VALUES (?1, ?2) \
                         ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)",
                    )
                    .and_then(|mut s| s.execute(params![name, *seq as i64]))
                    .map_err(other)?;
                    done.push(Done::Saved(Ok(())));
                }
                Job::SaveResponse {
                    actor,
                    key,
                    status,
                    body,
                    ..
                } => {
                    tx.prepare_cached("UPDATE idempotency SET status = ?1, body = ?2 WHERE actor = ?3 AND key = ?4")
                        .and_then(|mut s| s.execute(params![status, body, actor, key]))
                        .map_err(other)?;
                    done.push(Done::Saved(Ok(())));
                }
                Job::Attempt { attempt, .. } => {
                    // Only for a job still queued: a job closed meanwhile keeps no
                    // bookkeeping.
                    tx.prepare_cached(
                        "INSERT INTO job_attempts (grant_id, action, attempts, next_at, last_error) \
                         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS \
                           (SELECT 1 FROM jobs WHERE grant_id = ?1 AND action = ?2 AND state = 'queued') \
                         ON CONFLICT (grant_id, action) DO UPDATE SET \
                           attempts = excluded.attempts, next_at = excluded.next_at, last_error = excluded.last_error",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            attempt.grant.as_str(),
                            attempt.action.as_str(),
                            attempt.attempts,
                            attempt.next_at.millis(),
                            attempt.error,
                        ])
                    })
                    .map_err(other)?;
                    done.push(Done::Saved(Ok(())));
                }
                Job::Configure {
                    provisioned_systems,
                    ..
                } => {
                    state.provisioned_systems = Arc::new(provisioned_systems.clone());
                    done.push(Done::Saved(Ok(())));
                }
                Job::Checkpoint { key, .. } => {
                    done.push(Done::Signed(sign(&tx, state, clock.as_ref(), key)?));
                }
                Job::Lease {
                    name,
                    holder,
                    now,
                    until,
                    ..
                } => {
                    let taken = super::review::take_lease(&tx, name, holder, *now, *until)
                        .map_err(StoreError::from)?;
                    done.push(Done::Leased(Ok(taken)));
                }
            }
        }
        for job in batch {
            if let Job::Execute { envelope, .. } = job {
                crate::failpoint::hit(&format!("store.commit.{}", envelope.command.name()));
            }
        }
        tx.commit()
            .map_err(|e| StoreError::Other(format!("commit failed: {e}")))?;
        Ok((done, appended))
    }
}

fn fail(job: Job, err: &StoreError) {
    match job {
        Job::Execute { reply, .. } => {
            let _ = reply.send(Err(ExecError::Store(err.clone())));
        }
        Job::SaveResponse { reply, .. }
        | Job::Attempt { reply, .. }
        | Job::Cursor { reply, .. }
        | Job::Configure { reply, .. } => {
            let _ = reply.send(Err(err.clone()));
        }
        Job::Checkpoint { reply, .. } => {
            let _ = reply.send(Err(err.clone()));
        }
        Job::Lease { reply, .. } => {
            let _ = reply.send(Err(err.clone()));
        }
    }
}

/// Signs the current tree head unless that size is already signed, in which case the
/// stored checkpoint is returned: one size, one root, one signature.
fn sign(
    conn: &Connection,
    state: &mut State,
    clock: &dyn Clock,
    key: &LedgerKey,
) -> Result<Result<Checkpoint, StoreError>, StoreError> {
    let size = state.next_seq - 1;
    if state.signed_size == Some(size) {
        let latest = ledger::latest_checkpoint(conn)?
            .ok_or_else(|| StoreError::Corrupt("the latest checkpoint vanished".into()))?;
        return Ok(Ok(latest.checkpoint(key.origin())));
    }
    let root = ledger::root(conn, size)?;
    let note = match key.sign_checkpoint(size, root) {
        Ok(n) => n,
        Err(e) => {
            return Ok(Err(StoreError::Other(format!(
                "cannot sign a checkpoint: {e}"
            ))));
        }
    };
    let stored = ledger::StoredCheckpoint {
        size,
        root,
        note,
        signed_at: clock.now().millis(),
    };
    ledger::insert_checkpoint(conn, &stored)?;
    state.signed_size = Some(size);
    Ok(Ok(stored.checkpoint(key.origin())))
}

fn db(e: rows::DbError) -> ExecError {
    ExecError::Store(e.into())
}

fn run_command(
    conn: &Connection,
    projector: &mut Projector,
    state: &mut State,
    clock: &dyn Clock,
    ids: &mut dyn IdGen,
    envelope: &Envelope,
) -> Result<Outcome, ExecError> {
    let actor = envelope.actor.to_string();
    if let Some(k) = &envelope.idempotency {
        let seen = conn
            .prepare_cached(
                "SELECT fingerprint, subject, status, body FROM idempotency WHERE actor = ?1 AND key = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![actor, k.key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<u16>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                })
                .optional()
            })
            .map_err(|e| db(e.into()))?;
        if let Some((fingerprint, subject, status, body)) = seen {
            if fingerprint != k.fingerprint {
                return Err(ExecError::Refused(Refusal::invalid(
                    "idempotency-key-reused",
                    format!(
                        "Idempotency-Key `{}` was already used for a different request",
                        k.key
                    ),
                )));
            }
            return Ok(Outcome::Replayed(IdempotentRecord {
                subject,
                status,
                body,
            }));
        }
    }

    let needs = envelope.command.needs();
    let request = match &needs.request {
        Some(id) => projector.request(conn, id.as_str()).map_err(db)?,
        None => None,
    };
    let grant_id = needs
        .grant
        .clone()
        .or_else(|| request.as_ref().and_then(|r| r.submission.renews.clone()));
    let grant = match grant_id {
        Some(id) => projector.grant(conn, id.as_str()).map_err(db)?,
        None => None,
    };
    let token = match &needs.token {
        Some(id) => rows::load_token(conn, id).map_err(db)?,
        None => None,
    };
    let (open, active) = match &needs.pair {
        Some((b, e)) => (
            rows::open_request_for(conn, b, e).map_err(db)?,
            rows::active_grant_for(conn, b, e).map_err(db)?,
        ),
        None => (None, None),
    };
    let review = match (&needs.review, &envelope.command) {
        // An identity's grants matter only when the change opens a micro-review.
        (Some(ReviewNeeds::Beneficiary(_)), Command::UpsertIdentity { identity })
            if !micro_review_applies(&state.org, &state.policy.policy, identity) =>
        {
            ReviewCtx::default()
        }
        (Some(n), _) => super::review::load_ctx(conn, projector, n).map_err(db)?,
        (None, _) => ReviewCtx::default(),
    };
    // Separation of duties counts the beneficiary's live grants and pending requests,
    // read only when a toxic rule names the entitlement asked for.
    let holdings = match &envelope.command {
        Command::Submit {
            beneficiary,
            entitlement,
            ..
        } if state
            .policy
            .policy
            .toxic
            .iter()
            .any(|r| r.partner(entitlement).is_some()) =>
        {
            rows::holdings_of(conn, beneficiary).map_err(db)?
        }
        _ => Vec::new(),
    };
    // Ledger time never runs backwards, whatever the wall clock does.
    let now = clock.now().max(state.last_at);
    // Borrowed, not cloned: with no second handle on the organisation, applying an
    // identity change below updates it in place instead of copying it
    // (`Arc::make_mut`), which made bulk identity imports quadratic.
    let events = {
        let ctx = Ctx {
            org: &state.org,
            policy: &state.policy.policy,
            policy_version: &state.policy.version,
            authority: &state.policy.authority,
            active_policy_version: state.active_policy.as_deref(),
            now,
            request: request.as_ref(),
            grant: grant.as_ref(),
            token: token.as_ref(),
            pair: PairState {
                open_request: open.as_ref(),
                active_grant: active.as_ref(),
            },
            provisioned_systems: &state.provisioned_systems,
            review: &review,
            holdings: &holdings,
        };
        decide(&ctx, &envelope.actor, &envelope.command, ids)?
    };
    if envelope.dry_run {
        let preview = events
            .into_iter()
            .zip(state.next_seq..)
            .map(|(event, seq)| Recorded {
                seq,
                at: now,
                actor: envelope.actor.clone(),
                event,
            })
            .collect();
        return Ok(Outcome::Preview(preview));
    }

    let mut recorded = Vec::with_capacity(events.len());
    // Salts for the personal values each leaf commits to: from the OS's CSPRNG, so a
    // guess at an erased value can never be confirmed against its commitment.
    let rng_failed = std::cell::Cell::new(false);
    let mut salt = || {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_err() {
            rng_failed.set(true);
        }
        b
    };
    for event in events {
        let rec = Recorded {
            seq: state.next_seq,
            at: now,
            actor: envelope.actor.clone(),
            event,
        };
        let sealed = rec
            .seal(&mut salt)
            .map_err(|e| ExecError::Store(StoreError::Other(e.to_string())))?;
        if rng_failed.get() {
            return Err(ExecError::Store(StoreError::Unavailable(
                "the operating system's random number generator failed".into(),
            )));
        }
        project::append(conn, &rec, &sealed.leaf, &sealed.personal).map_err(db)?;
        ledger::append_leaf(conn, rec.seq - 1, &sealed.leaf).map_err(db)?;
        projector.project(conn, &rec).map_err(db)?;
        state.absorb(&rec);
        state.next_seq += 1;
        state.last_at = now;
        recorded.push(rec);
    }
    if let Some(k) = &envelope.idempotency {
        let subject = recorded
            .first()
            .map(|r| r.event.subject())
            .unwrap_or_default();
        conn.prepare_cached(
            "INSERT INTO idempotency (actor, key, fingerprint, subject, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![actor, k.key, k.fingerprint, subject, now.millis()]))
        .map_err(|e| db(e.into()))?;
    }
    Ok(Outcome::Committed(recorded))
}
