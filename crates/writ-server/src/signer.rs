//! Signing checkpoints: at most once per interval, and only when the log grew.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use writ_store::{LedgerKey, Store};

use crate::scheduler::periodic_from;

/// Signs the log as it stands at start-up, before the server answers anyone, then
/// again at most once per `every` when it grew.
pub async fn spawn(
    store: Arc<dyn Store>,
    key: Arc<LedgerKey>,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // The size last signed by this process; u64::MAX before the first signature.
    let signed = Arc::new(AtomicU64::new(u64::MAX));
    pass(store.as_ref(), key.clone(), &signed).await;
    periodic_from(every, every, stop, move || {
        let (store, key, signed) = (store.clone(), key.clone(), signed.clone());
        async move { pass(store.as_ref(), key, &signed).await }
    })
}

async fn pass(store: &dyn Store, key: Arc<LedgerKey>, signed: &AtomicU64) {
    match store.ledger_size().await {
        Ok(size) if size == signed.load(Ordering::Relaxed) => {}
        Ok(_) => match store.sign_checkpoint(key).await {
            Ok(c) => signed.store(c.size, Ordering::Relaxed),
            Err(e) => tracing::error!(error = %e, "signing a checkpoint failed; will retry"),
        },
        Err(e) => tracing::error!(error = %e, "reading the ledger size failed; will retry"),
    }
}
