//! Signing checkpoints: at most once per interval, and only when the log grew.

use std::sync::Arc;
use std::time::Duration;

use writ_store::{LedgerKey, Store};

pub fn spawn(
    store: Arc<dyn Store>,
    key: Arc<LedgerKey>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut signed: Option<u64> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match store.ledger_size().await {
                        Ok(size) if Some(size) == signed => {}
                        Ok(_) => match store.sign_checkpoint(key.clone()).await {
                            Ok(c) => signed = Some(c.size),
                            Err(e) => tracing::error!(error = %e, "signing a checkpoint failed; will retry"),
                        },
                        Err(e) => tracing::error!(error = %e, "reading the ledger size failed; will retry"),
                    }
                }
                _ = stop.changed() => return,
            }
        }
    })
}
