//! The provisioning worker: runs the outbox's due jobs against each system's
//! connector and reports the outcome back to the ledger.
//!
//! A job stays in the outbox until the event that closes it commits, and connector
//! calls are idempotent, so a crash anywhere (before the call, after it, before the
//! confirmation commits) only means the call runs again after the restart. Jobs for one
//! account and entitlement run one at a time, in ledger order (`Store::due_jobs`), so
//! a removal can never overtake the addition it undoes.
//!
//! Failure points for crash tests (`WRIT_FAILPOINTS`): `provision.before_connector`,
//! `provision.after_connector` (the target changed, the confirmation is not written).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use writ_connect::{Assignment, Connector, ConnectorError, SystemConfig, Unexplained};
use writ_core::{
    Actor, Clock, Command, Event, GrantId, Identity, JobAction, Name, Receipt, Timestamp,
};
use writ_store::{
    Envelope, ExecError, JobAttempt, Outcome, ProvisioningJob, Store, StoreError, failpoint,
};

use crate::config::ProvisioningConfig;
use crate::metrics::Metrics;

/// The configured systems and their connectors, by system name.
#[derive(Debug, Default)]
pub struct Connectors {
    systems: BTreeMap<Name, (SystemConfig, Arc<dyn Connector>)>,
}

impl Connectors {
    /// Builds every configured connector; a bad one is an error naming the system and
    /// the field (nothing connects yet).
    pub fn build(systems: &[SystemConfig]) -> Result<Connectors, String> {
        let mut out = BTreeMap::new();
        for s in systems {
            let name = Name::parse(&s.name).map_err(|m| format!("system `{}`: {m}", s.name))?;
            let connector =
                writ_connect::connect(&s.name, &s.connector).map_err(|e| e.to_string())?;
            out.insert(name, (s.clone(), connector));
        }
        Ok(Connectors { systems: out })
    }

    pub fn names(&self) -> BTreeSet<Name> {
        self.systems.keys().cloned().collect()
    }

    pub fn get(&self, system: &Name) -> Option<&Arc<dyn Connector>> {
        self.systems.get(system).map(|(_, c)| c)
    }

    /// The system's credential rotation period, in days.
    pub fn rotation_days(&self, system: &Name) -> Option<u32> {
        self.systems.get(system).map(|(c, _)| c.rotation_days)
    }

    pub fn unexplained(&self, system: &Name) -> Option<Unexplained> {
        self.systems.get(system).map(|(c, _)| c.unexplained)
    }

    /// Whether Writ owns every member of the system's groups (see `owns_group`).
    pub fn owns_group(&self, system: &Name) -> bool {
        self.systems.get(system).is_some_and(|(c, _)| c.owns_group)
    }

    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }
}

/// What the check before provisioning came to.
enum Recheck {
    /// Every approver still has authority: provision.
    Holds,
    /// An approver lost authority: the grant is held (recorded), nothing to do.
    Held,
    /// The core refused to judge the job (it no longer waits, say).
    Refused(String),
}

/// Whether the core recorded what the worker reported.
enum Reported {
    Recorded,
    Refused(String),
}

/// Errors from target systems go into the ledger and the API: bounded.
const MAX_ERROR: usize = 1000;

fn bounded(message: &str) -> String {
    if message.len() <= MAX_ERROR {
        return message.to_owned();
    }
    let mut end = MAX_ERROR;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

#[derive(Debug, Clone)]
pub struct Provisioner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    connectors: Arc<Connectors>,
    config: ProvisioningConfig,
    metrics: Arc<Metrics>,
    in_flight: Arc<Mutex<HashSet<(GrantId, JobAction)>>>,
    permits: Arc<Semaphore>,
    /// Rung when a job finishes, so the worker looks for the next one at once.
    wake: Arc<Notify>,
}

impl Provisioner {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        connectors: Arc<Connectors>,
        config: ProvisioningConfig,
        metrics: Arc<Metrics>,
    ) -> Provisioner {
        let permits = Arc::new(Semaphore::new(config.concurrency));
        Provisioner {
            store,
            clock,
            connectors,
            config,
            metrics,
            in_flight: Arc::default(),
            permits,
            wake: Arc::default(),
        }
    }

    /// Starts every due job that is not already running, up to the concurrency limit;
    /// returns how many it started. Does not wait for them.
    pub async fn pass(&self) -> Result<usize, StoreError> {
        let free = self.permits.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let due = self
            .store
            .due_jobs(self.clock.now(), (free + self.running()) as u32)
            .await?;
        let mut started = 0;
        for job in due {
            let key = (job.grant.clone(), job.action);
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            {
                // One job of a grant at a time: a removal that superseded an addition
                // still in flight waits for that call to return, so the two never
                // race in the target.
                let mut in_flight = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if in_flight.iter().any(|(g, _)| g == &job.grant) {
                    continue;
                }
                in_flight.insert(key.clone());
            }
            started += 1;
            let me = self.clone();
            tokio::spawn(async move {
                let recorded = me.run(job).await;
                me.in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
                drop(permit);
                // Keep the pipeline full: a finished job makes room for the next one
                // now, not at the next poll. A job whose outcome could not be
                // recorded waits for the poll instead, so a failing store is not
                // hammered.
                if recorded {
                    me.wake.notify_one();
                }
            });
        }
        Ok(started)
    }

    fn running(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Runs one job: the connector call, then the ledger entry (or, for a failure to
    /// be retried, the bookkeeping) that says what happened. Every way out leaves the
    /// job closed or waiting for a later attempt, never due again at once; returns
    /// whether that outcome was recorded.
    async fn run(&self, job: ProvisioningJob) -> bool {
        if job.action == JobAction::Provision {
            match self.authority_holds(&job).await {
                Ok(Recheck::Holds) => {}
                Ok(Recheck::Held) => return true,
                Ok(Recheck::Refused(why)) => {
                    // The core would not judge the job (it no longer waits, say): a
                    // failure like any other, retried with backoff, never a spin.
                    self.metrics.attempt(job.system.as_str(), "refused");
                    let error = format!("authority recheck refused: {why}");
                    return self.failed(&job, error, true).await;
                }
                Err(e) => {
                    tracing::error!(grant = %job.grant, error = %e, "could not recheck the approvers' authority");
                    return false;
                }
            }
        }
        failpoint::hit("provision.before_connector");
        let outcome = match self.connectors.get(&job.system) {
            Some(connector) => {
                let assignment = Assignment {
                    grant: job.grant.to_string(),
                    account: job.beneficiary.to_string(),
                    target: job.target.clone(),
                    entitlement: job.entitlement.to_string(),
                };
                let result = match job.action {
                    JobAction::Provision => connector.grant(&assignment).await,
                    JobAction::Deprovision => {
                        self.deprovision(connector.as_ref(), &job, &assignment)
                            .await
                    }
                };
                result.map(|r| (connector.kind(), r))
            }
            None => Err(ConnectorError::Transient(format!(
                "no connector is configured for system `{}`",
                job.system
            ))),
        };
        let system = job.system.as_str();
        match outcome {
            Ok((kind, r)) => {
                failpoint::hit("provision.after_connector");
                let receipt = Receipt {
                    connector: kind.to_owned(),
                    change: r.change.as_str().to_owned(),
                    account_ref: bounded(&r.account_ref),
                    target_ref: bounded(&r.target_ref),
                    detail: bounded(&r.detail),
                };
                tracing::info!(grant = %job.grant, action = job.action.as_str(), system,
                    change = %receipt.change, "target confirmed");
                self.metrics.attempt(system, "confirmed");
                let confirm = Command::ConfirmProvisioning {
                    grant: job.grant.clone(),
                    action: job.action,
                    receipt,
                };
                match self.report(confirm).await {
                    Ok(Reported::Recorded) => true,
                    // The grant moved on meanwhile; the call is idempotent, so the
                    // job is simply tried again later, by then superseded or done.
                    Ok(Reported::Refused(why)) => {
                        self.failed(&job, format!("confirmation refused: {why}"), true)
                            .await
                    }
                    Err(e) => {
                        tracing::error!(grant = %job.grant, error = %e, "could not record a provisioning outcome");
                        false
                    }
                }
            }
            Err(e) => {
                let error = bounded(&e.to_string());
                self.failed(&job, error, e.is_transient()).await
            }
        }
    }

    /// A failed attempt: retried later with backoff while attempts remain and the
    /// error may pass, else dead-lettered. A dead letter the core refuses (the job is
    /// no longer open) still waits the longest backoff before it is looked at again.
    async fn failed(&self, job: &ProvisioningJob, error: String, transient: bool) -> bool {
        let system = job.system.as_str();
        let attempts = job.attempts + 1;
        if transient && attempts < self.config.max_attempts {
            let delay = self.backoff(attempts);
            tracing::warn!(grant = %job.grant, action = job.action.as_str(), system,
                attempts, retry_in_ms = delay.as_millis() as u64, error = %error,
                "provisioning attempt failed; will retry");
            self.metrics.attempt(system, "retry");
            return self.wait(job, attempts, delay, error).await;
        }
        tracing::error!(grant = %job.grant, action = job.action.as_str(), system,
            attempts, error = %error, "provisioning job dead-lettered");
        self.metrics.attempt(system, "dead");
        let fail = Command::FailProvisioning {
            grant: job.grant.clone(),
            action: job.action,
            attempts,
            error: error.clone(),
        };
        match self.report(fail).await {
            Ok(Reported::Recorded) => true,
            Ok(Reported::Refused(why)) => {
                let delay = Duration::from_millis(self.config.backoff_max_ms);
                self.wait(
                    job,
                    attempts,
                    delay,
                    format!("{error}; dead letter refused: {why}"),
                )
                .await
            }
            Err(e) => {
                tracing::error!(grant = %job.grant, error = %e, "could not record a provisioning outcome");
                false
            }
        }
    }

    /// Records that `job` waits `delay` before its next attempt.
    async fn wait(
        &self,
        job: &ProvisioningJob,
        attempts: u32,
        delay: Duration,
        error: String,
    ) -> bool {
        let next_at = Timestamp(self.clock.now().millis() + delay.as_millis() as i64);
        let attempt = JobAttempt {
            grant: job.grant.clone(),
            action: job.action,
            attempts,
            next_at,
            error: bounded(&error),
        };
        match self.store.record_attempt(attempt).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(grant = %job.grant, error = %e, "could not record a provisioning attempt");
                false
            }
        }
    }

    /// Removes the access and, when the grant carries a credential, disables it.
    async fn deprovision(
        &self,
        connector: &dyn Connector,
        job: &ProvisioningJob,
        assignment: &Assignment,
    ) -> Result<writ_connect::Receipt, ConnectorError> {
        let mut receipt = connector.revoke(assignment).await?;
        let credential = match self.store.grant(&job.grant).await {
            Ok(g) => g.and_then(|g| g.credential),
            Err(e) => return Err(ConnectorError::Transient(format!("reading the grant: {e}"))),
        };
        if credential.is_some() {
            let disabled = connector.disable_credential(assignment).await?;
            receipt.detail = format!("{}; {}", receipt.detail, disabled.detail);
        }
        Ok(receipt)
    }

    /// Disables, in their targets, the credentials in force of NHIs whose owner is no
    /// longer active: the leaver's copy stops working at once, and the NHI's next
    /// owner issues a fresh one (`writ grant credential`). Returns how many it disabled;
    /// a target that fails is tried again on the next pass.
    pub async fn lock_orphaned_credentials(&self) -> Result<usize, StoreError> {
        let org = self.store.org().await?;
        let mut disabled = 0;
        for c in self.store.credentials(None, true).await? {
            let owner = org.identity(&c.beneficiary).and_then(Identity::owner);
            let left = owner.is_some_and(|o| !org.identity(o).is_some_and(Identity::is_active));
            let Some(connector) = self.connectors.get(&c.entitlement.system) else {
                continue;
            };
            if !left {
                continue;
            }
            let assignment = Assignment {
                grant: c.grant.to_string(),
                account: c.beneficiary.to_string(),
                target: org
                    .entitlement(&c.entitlement)
                    .map(|e| e.external_ref.clone())
                    .unwrap_or_default(),
                entitlement: c.entitlement.to_string(),
            };
            match connector.disable_credential(&assignment).await {
                Ok(_) => {
                    tracing::warn!(grant = %c.grant, nhi = %c.beneficiary, fingerprint = %c.fingerprint,
                        "owner left: credential disabled");
                    self.report(Command::RevokeCredential {
                        grant: c.grant.clone(),
                        fingerprint: c.fingerprint.clone(),
                    })
                    .await?;
                    disabled += 1;
                }
                Err(e) => tracing::error!(grant = %c.grant, error = %e,
                    "owner left but the credential could not be disabled; will retry"),
            }
        }
        Ok(disabled)
    }

    /// Judges the grant's approvers again just before provisioning; the connector is
    /// called only when their authority holds.
    async fn authority_holds(&self, job: &ProvisioningJob) -> Result<Recheck, StoreError> {
        let Some(grant) = self.store.grant(&job.grant).await? else {
            return Ok(Recheck::Refused(format!("no grant `{}`", job.grant)));
        };
        let command = Command::RecheckAuthority {
            grant: job.grant.clone(),
            request: grant.request,
        };
        match self
            .store
            .execute(Envelope::new(Actor::system("provisioner"), command))
            .await
        {
            Ok(Outcome::Committed(events)) => {
                let held = events.iter().any(|e| {
                    matches!(&e.event, Event::AuthorityRechecked { lost, .. } if !lost.is_empty())
                });
                if held {
                    tracing::warn!(grant = %job.grant, "grant held: an approver lost authority before provisioning");
                    self.metrics.attempt(job.system.as_str(), "held");
                    return Ok(Recheck::Held);
                }
                Ok(Recheck::Holds)
            }
            Ok(_) => Ok(Recheck::Refused("the recheck was not recorded".into())),
            Err(ExecError::Refused(r)) => {
                tracing::warn!(grant = %job.grant, reason = %r, "authority recheck refused; not provisioning");
                Ok(Recheck::Refused(r.to_string()))
            }
            Err(ExecError::Store(e)) => Err(e),
        }
    }

    async fn report(&self, command: Command) -> Result<Reported, StoreError> {
        match self
            .store
            .execute(Envelope::new(Actor::system("provisioner"), command))
            .await
        {
            Ok(_) => Ok(Reported::Recorded),
            Err(ExecError::Refused(r)) => {
                tracing::warn!(reason = %r, "provisioning outcome refused");
                Ok(Reported::Refused(r.to_string()))
            }
            Err(ExecError::Store(e)) => Err(e),
        }
    }

    /// Exponential backoff with jitter: base·2^(attempt-1), capped, then a random
    /// point in its upper half so that jobs failing together do not retry together.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .config
            .backoff_base_ms
            .saturating_mul(1u64 << (attempts - 1).min(30))
            .min(self.config.backoff_max_ms);
        let mut b = [0u8; 8];
        let r = match getrandom::fill(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => 0,
        };
        let half = exp / 2;
        Duration::from_millis(half + r % (exp - half + 1))
    }
}

/// Runs the worker until `stop` changes: a pass at every poll interval and whenever
/// a job finishes.
pub fn spawn(
    provisioner: Provisioner,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_millis(provisioner.config.poll_interval_ms);
    // Orphaned credentials are looked for about every ten seconds.
    let lock_every = Duration::from_secs(10);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut locked_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = provisioner.wake.notified() => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = provisioner.pass().await {
                tracing::error!(error = %e, "provisioning pass failed; will retry");
            }
            if locked_at.is_none_or(|t| t.elapsed() >= lock_every) {
                locked_at = Some(tokio::time::Instant::now());
                if let Err(e) = provisioner.lock_orphaned_credentials().await {
                    tracing::error!(error = %e, "orphaned-credential pass failed; will retry");
                }
            }
        }
    })
}
