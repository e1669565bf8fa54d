//! A real HTTP receiver for the webhook connector (axum on 127.0.0.1) that checks every
//! signature with the shared key, as a receiver in production would. Self-contained, so
//! other crates' tests include it by path.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const KEY: &str = "shared-hmac-key-never-shown";

/// One request the receiver got.
#[derive(Clone, Debug)]
#[allow(dead_code)] // each includer reads what it needs
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// The signature matched HMAC-SHA256(KEY, "<X-Writ-Timestamp>.<body>") and the
    /// timestamp was recent.
    pub signature_ok: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub type Reply = Arc<dyn Fn(&Seen) -> (StatusCode, HeaderMap, String) + Send + Sync>;

/// A receiver on a free loopback port answering every request with `reply`.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    pub async fn start(
        reply: impl Fn(&Seen) -> (StatusCode, HeaderMap, String) + Send + Sync + 'static,
    ) -> Receiver {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let reply: Reply = Arc::new(reply);
        let state = (seen.clone(), reply);
        let app = axum::Router::new().fallback(
            |axum::extract::State((seen, reply)): axum::extract::State<(
                Arc<Mutex<Vec<Seen>>>,
                Reply,
            )>,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let signature_ok = verify(&headers, &body);
                let request = Seen {
                    path: uri.path().to_owned(),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    headers,
                    signature_ok,
                };
                let response = reply(&request);
                seen.lock().unwrap_or_else(|e| panic!("{e}")).push(request);
                response
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app.with_state(state)).await });
        Receiver { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| panic!("{e}")).clone()
    }
}

/// What a receiver does with the signature headers.
pub fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let timestamp = header("x-writ-timestamp");
    let Ok(sent) = timestamp.parse::<u64>() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|e| panic!("{e}"))
        .as_secs();
    if now.abs_diff(sent) > 300 {
        return false;
    }
    let Some(signature) = header("x-writ-signature").strip_prefix("sha256=") else {
        return false;
    };
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}
