//! Background work on a timer: expiring grants at `expires_at`, and noting
//! credentials past their rotation deadline.

use std::sync::Arc;
use std::time::Duration;

use writ_core::{Actor, Clock, Command, Timestamp};
use writ_store::{Envelope, ExecError, Outcome, Store, StoreError};

/// Expires every active grant that is due at the clock's current time. Returns how
/// many were expired. A grant that another writer ended first is skipped.
pub async fn expire_due(store: &dyn Store, clock: &dyn Clock) -> Result<usize, StoreError> {
    let mut expired = 0;
    loop {
        let due = store.due_grants(clock.now(), 200).await?;
        if due.is_empty() {
            return Ok(expired);
        }
        let mut progressed = false;
        for grant in due {
            let cmd = Command::ExpireGrant {
                grant: grant.clone(),
            };
            match store
                .execute(Envelope::new(Actor::system("scheduler"), cmd))
                .await
            {
                Ok(_) => {
                    expired += 1;
                    progressed = true;
                    tracing::info!(%grant, "grant expired");
                }
                Err(ExecError::Refused(r)) => {
                    tracing::debug!(%grant, reason = %r, "grant not expired")
                }
                Err(ExecError::Store(e)) => return Err(e),
            }
        }
        if !progressed {
            return Ok(expired);
        }
    }
}

/// Notes every credential whose rotation deadline passed (once each): a
/// `credential_rotation_due` entry, the owner's notice. Returns how many.
pub async fn note_rotations_due(store: &dyn Store, clock: &dyn Clock) -> Result<usize, StoreError> {
    let mut noted = 0;
    for c in store.rotation_due(clock.now()).await? {
        let cmd = Command::NoteRotationDue {
            grant: c.grant.clone(),
            fingerprint: c.fingerprint.clone(),
        };
        match store
            .execute(Envelope::new(Actor::system("scheduler"), cmd))
            .await
        {
            Ok(_) => {
                noted += 1;
                tracing::warn!(grant = %c.grant, fingerprint = %c.fingerprint,
                    "credential past its rotation deadline");
            }
            Err(ExecError::Refused(r)) => tracing::debug!(reason = %r, "rotation not noted"),
            Err(ExecError::Store(e)) => return Err(e),
        }
    }
    Ok(noted)
}

/// Applies the request deadlines that are due (`[approval.deadlines]`): reminders,
/// escalation of open steps, denial of requests that timed out. Returns how many
/// ledger entries it wrote. Driven by the injected clock.
pub async fn request_deadlines(store: &dyn Store, clock: &dyn Clock) -> Result<usize, StoreError> {
    let policy = store.policy().await?;
    let Some(d) = policy.policy.deadlines.clone() else {
        return Ok(0);
    };
    let now = clock.now();
    let before = |d: writ_core::DurationSpec| {
        Timestamp(now.millis().saturating_sub(d.seconds() as i64 * 1000))
    };
    let escalate = before(d.escalate_after);
    let remind = d
        .remind_before
        .map(|b| Timestamp(escalate.millis().saturating_add(b.seconds() as i64 * 1000)));
    let time_out = before(d.time_out_after);
    let mut written = 0;
    // Each pass acts on every request due; a request acted on leaves the query (its
    // steps are marked, or it closed), so the loop ends.
    loop {
        let due = store.deadline_due(remind, escalate, time_out, 200).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for id in due {
            let cmd = Command::RunRequestDeadlines {
                request: id.clone(),
            };
            match store
                .execute(Envelope::new(Actor::system("scheduler"), cmd))
                .await
            {
                Ok(Outcome::Committed(events)) => {
                    for e in &events {
                        tracing::info!(request = %id, event = e.event.kind(), "request deadline applied");
                    }
                    progressed |= !events.is_empty();
                    written += events.len();
                }
                Ok(_) => {}
                Err(ExecError::Refused(r)) => {
                    tracing::debug!(request = %id, reason = %r, "deadline not applied")
                }
                Err(ExecError::Store(e)) => return Err(e),
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(written)
}

/// Escalates every post-incident review of break-glass access left open past its due
/// date (once each). Returns how many.
pub async fn escalate_incident_reviews(
    store: &dyn Store,
    clock: &dyn Clock,
) -> Result<usize, StoreError> {
    let mut escalated = 0;
    let due = store
        .incident_reviews(true, Some(clock.now()), writ_store::Page::first(200))
        .await?;
    for row in due.into_iter().map(|r| r.item) {
        let cmd = Command::EscalateIncidentReview {
            request: row.request.clone(),
        };
        match store
            .execute(Envelope::new(Actor::system("scheduler"), cmd))
            .await
        {
            Ok(Outcome::Committed(events)) if !events.is_empty() => {
                escalated += 1;
                tracing::warn!(request = %row.request, "post-incident review overdue; escalated");
            }
            Ok(_) => {}
            Err(ExecError::Refused(r)) => tracing::debug!(reason = %r, "review not escalated"),
            Err(ExecError::Store(e)) => return Err(e),
        }
    }
    Ok(escalated)
}

pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    periodic(every, stop, move || {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            if let Err(e) = expire_due(store.as_ref(), clock.as_ref()).await {
                tracing::error!(error = %e, "expiry pass failed; will retry");
            }
            if let Err(e) = note_rotations_due(store.as_ref(), clock.as_ref()).await {
                tracing::error!(error = %e, "rotation pass failed; will retry");
            }
            if let Err(e) = request_deadlines(store.as_ref(), clock.as_ref()).await {
                tracing::error!(error = %e, "request deadline pass failed; will retry");
            }
            if let Err(e) = escalate_incident_reviews(store.as_ref(), clock.as_ref()).await {
                tracing::error!(error = %e, "post-incident review pass failed; will retry");
            }
        }
    })
}

/// Runs `pass` every `every` (a late pass delays the next rather than bunching up)
/// until `stop` changes. The first pass runs at once.
pub fn periodic<F, Fut>(
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
    pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    periodic_from(Duration::ZERO, every, stop, pass)
}

/// [`periodic`], with the first pass `first` from now.
pub fn periodic_from<F, Fut>(
    first: Duration,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => pass().await,
                _ = stop.changed() => return,
            }
        }
    })
}
