//! The connection layer: how sockets become requests, and how slow or hostile clients
//! are kept from starving everyone else.
//!
//! - A request's headers must arrive within `header_timeout_ms`, and an idle
//!   keep-alive connection is closed after the same time (hyper's header timer
//!   starts again when a connection goes idle).
//! - A request's body must arrive within `body_timeout_ms` (408 otherwise; see
//!   [`crate::extract::JsonBody`]).
//! - At most `max_connections` are open. A new connection beyond that closes the
//!   oldest one that has no request in flight (a slow or idle client), so a flood of
//!   half-sent requests cannot lock out a client that asks promptly; when every
//!   connection is busy the newcomer gets a 503 problem+json and is closed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// The `[http]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's headers arrive within this; an idle keep-alive connection is
    /// closed after it.
    pub header_timeout_ms: u64,
    /// A request's body arrives within this.
    pub body_timeout_ms: u64,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout_ms: 10_000,
            body_timeout_ms: 15_000,
            max_connections: 1024,
        }
    }
}

impl HttpConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(100..=600_000).contains(&self.header_timeout_ms) {
            return Err("http.header_timeout_ms must be between 100 and 600000".into());
        }
        if !(100..=600_000).contains(&self.body_timeout_ms) {
            return Err("http.body_timeout_ms must be between 100 and 600000".into());
        }
        if !(2..=100_000).contains(&self.max_connections) {
            return Err("http.max_connections must be between 2 and 100000".into());
        }
        Ok(())
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

/// One open connection: how many of its requests are in flight, and how to close it.
#[derive(Debug, Default)]
struct Conn {
    busy: AtomicUsize,
    evict: Notify,
}

/// The open connections in the order they were accepted.
#[derive(Debug, Default)]
struct Open {
    next: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

impl Open {
    /// Room for one more: closes the oldest connection with nothing in flight when
    /// full. `None` when every connection is busy.
    fn admit(&mut self, max: usize) -> Option<(u64, Arc<Conn>)> {
        if self.conns.len() >= max {
            let idle = self
                .conns
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(c) = self.conns.remove(&idle) {
                c.evict.notify_one();
            }
        }
        let id = self.next;
        self.next += 1;
        let conn = Arc::new(Conn::default());
        self.conns.insert(id, conn.clone());
        Some((id, conn))
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(c: &Arc<Conn>) -> InFlight {
        c.busy.fetch_add(1, Ordering::AcqRel);
        InFlight(c.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

const FULL: &str = r#"{"type":"urn:writ:problem:too-many-connections","title":"Service Unavailable","status":503,"detail":"the server has as many connections open as it allows, all busy; retry shortly","code":"too-many-connections"}"#;

/// Answers a connection there is no room for, without reading its request.
async fn refuse(mut stream: TcpStream) {
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        FULL.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(FULL.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in
/// flight finish (closing idle connections at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let header_timeout = Duration::from_millis(config.header_timeout_ms);
    let open = Arc::new(std::sync::Mutex::new(Open::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer): (TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Finished connections' tasks are collected as we go.
        while tasks.try_join_next().is_some() {}
        let admitted = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(config.max_connections);
        let Some((id, conn)) = admitted else {
            tracing::warn!(%peer, "connection refused: every connection is busy");
            tasks.spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let open = open.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let counted = conn.clone();
            let service = TowerToHyperService::new(tower::service_fn(
                move |req: hyper::Request<Incoming>| {
                    let guard = InFlight::new(&counted);
                    let router = router.clone();
                    async move {
                        let res = router.oneshot(req.map(Body::new)).await;
                        drop(guard);
                        res
                    }
                },
            ));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let served = builder.serve_connection(TokioIo::new(stream), service);
            let mut served = std::pin::pin!(served);
            tokio::select! {
                _ = served.as_mut() => {}
                () = conn.evict.notified() => {}
                () = async { drop(stop.wait_for(|s| *s).await) } => {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
            open.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .conns
                .remove(&id);
        });
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_closes_the_oldest_idle_connection_and_refuses_when_all_are_busy() {
        let mut open = Open::default();
        let (_, first) = open.admit(2).unwrap();
        let (_, second) = open.admit(2).unwrap();
        let _busy = InFlight::new(&first);
        // The oldest is busy: the next oldest, idle, makes room.
        let (third_id, third) = open.admit(2).unwrap();
        assert_eq!(open.conns.len(), 2);
        assert!(open.conns.contains_key(&third_id));
        assert!(!open.conns.values().any(|c| Arc::ptr_eq(c, &second)));
        let _b = InFlight::new(&third);
        assert!(open.admit(2).is_none(), "every connection busy: refused");
        drop(_b);
        assert!(open.admit(2).is_some());
    }
}
