//! The notification hook: every notification record (reminders, escalations,
//! time-outs, break-glass alerts, overdue post-incident reviews) is POSTed, signed,
//! to a configured webhook, in ledger order, at least once.
//!
//! The records come from the ledger (the `notifications` projection); a cursor
//! outside the ledger remembers the last entry delivered, so a restart resumes
//! instead of resending everything. A failed delivery is retried on the next pass;
//! later records wait behind it, so the receiver sees them in order. Each call
//! carries `Idempotency-Key: notification-<seq>` for the receiver to drop repeats.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use writ_connect::webhook::WebhookConnector;
use writ_store::{Store, StoreError};

/// The cursor's name.
const CURSOR: &str = "notification-hook";

/// How many notification rows one pass reads at most.
const BATCH: u32 = 200;

/// Delivers the records after the cursor; returns how many entries were delivered.
/// Stops at the first failure (the next pass retries it).
pub async fn deliver(store: &dyn Store, hook: &WebhookConnector) -> Result<usize, StoreError> {
    let after = store.cursor(CURSOR).await?;
    let mut rows = store.notifications_after(after, BATCH).await?;
    // One entry with more recipients than a batch: read all of its rows.
    if rows.len() == BATCH as usize && rows.first().map(|n| n.seq) == rows.last().map(|n| n.seq) {
        let seq = rows[0].seq;
        rows = store
            .notifications_after(after, 100_000)
            .await?
            .into_iter()
            .take_while(|n| n.seq == seq)
            .collect();
    }
    // One call per ledger entry, with all its recipients.
    let mut entries: BTreeMap<u64, (Map<String, Value>, Vec<Value>)> = BTreeMap::new();
    for n in &rows {
        let entry = entries.entry(n.seq).or_insert_with(|| {
            let mut body = Map::new();
            body.insert("seq".into(), n.seq.into());
            body.insert("kind".into(), n.kind.clone().into());
            body.insert("subject".into(), n.subject.clone().into());
            body.insert("message".into(), n.message.clone().into());
            body.insert("at".into(), n.at.to_rfc3339().into());
            (body, Vec::new())
        });
        entry.1.push(n.recipient.clone().into());
    }
    // A full batch may have cut the last entry's recipients short: leave it for the
    // next pass.
    if rows.len() == BATCH as usize && entries.len() > 1 {
        entries.pop_last();
    }
    let mut delivered = 0;
    for (seq, (mut body, recipients)) in entries {
        body.insert("recipients".into(), Value::Array(recipients));
        if let Err(e) = hook.notify(body, format!("notification-{seq}")).await {
            tracing::warn!(seq, error = %e, "notification hook failed; will retry");
            break;
        }
        store.set_cursor(CURSOR, seq).await?;
        delivered += 1;
    }
    Ok(delivered)
}

pub fn spawn(
    store: Arc<dyn Store>,
    hook: Arc<WebhookConnector>,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    crate::scheduler::periodic(every, stop, move || {
        let (store, hook) = (store.clone(), hook.clone());
        async move {
            if let Err(e) = deliver(store.as_ref(), hook.as_ref()).await {
                tracing::error!(error = %e, "notification hook pass failed; will retry");
            }
        }
    })
}
