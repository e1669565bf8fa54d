//! Slow and hostile clients: half-sent headers and bodies are cut off, a flood of
//! them cannot lock out a client that asks promptly, and a server whose every
//! connection is busy says so with a 503.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use writ_server::Config;
use writ_server::http::HttpConfig;

use crate::common::TestApp;

fn config(header_ms: u64, body_ms: u64, max: usize) -> Config {
    Config {
        http: HttpConfig {
            header_timeout_ms: header_ms,
            body_timeout_ms: body_ms,
            max_connections: max,
        },
        ..Config::default()
    }
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes the connection. The outer bound
/// only keeps a broken server from hanging the suite; it is far above the timeouts.
async fn until_closed(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

async fn healthz(app: &TestApp) {
    let h = app.anonymous().health().await.unwrap();
    assert_eq!(h["status"], "ok", "{h}");
}

#[tokio::test]
async fn half_sent_headers_and_bodies_are_cut_off() {
    let app = TestApp::spawn_with(config(300, 300, 64), false).await;
    // Half a request line, then nothing: closed without an answer.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HT").await.unwrap();
    let got = until_closed(&mut s).await;
    assert!(!got.contains("200 OK"), "{got}");

    // Headers, then a trickle of a body that never completes: 408 problem+json.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let token = &app.tokens["alice"];
    s.write_all(
        format!(
            "POST /api/v1/requests HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"beneficiary\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("application/problem+json"), "{got}");
    assert!(got.contains("body-timeout"), "{got}");

    // A broken chunked body is a bad request, not a body too large.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(
        format!(
            "POST /api/v1/requests HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    assert!(got.contains("malformed-body"), "{got}");

    // An idle keep-alive connection is closed too, after one answered request.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let got = until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    healthz(&app).await;
}

#[tokio::test]
async fn a_flood_of_slow_connections_leaves_healthz_answering() {
    // A long header timeout: the flood's connections would live for a minute.
    let app = TestApp::spawn_with(config(60_000, 60_000, 32), false).await;
    let mut flood = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /api/v1/requests HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        flood.push(s);
    }
    // Each prompt request still gets its answer: the oldest idle connections made
    // room for it.
    for _ in 0..5 {
        healthz(&app).await;
    }
    // Most of the flood was closed by the server.
    let mut closed = 0;
    for s in &mut flood {
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await;
        if matches!(read, Ok(Ok(0) | Err(_))) {
            closed += 1;
        }
    }
    assert!(
        closed >= 300 - 32,
        "only {closed} of 300 slow connections were closed"
    );
}

#[tokio::test]
async fn when_every_connection_is_busy_a_newcomer_gets_a_503() {
    let app = TestApp::spawn_with(config(60_000, 60_000, 4), false).await;
    let token = &app.tokens["alice"];
    // Four requests whose bodies are still arriving: each connection is busy.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(
            format!(
                "POST /api/v1/requests HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
                 content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        busy.push(s);
    }
    // Give the server a moment to read their headers: from then on each is busy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let res = until_closed(&mut s).await;
    assert!(res.starts_with("HTTP/1.1 503"), "{res}");
    assert!(res.contains("application/problem+json"), "{res}");
    assert!(res.contains("too-many-connections"), "{res}");
    // When the busy ones go away, the server answers again.
    drop(busy);
    let mut answered = false;
    for _ in 0..100 {
        if app.anonymous().health().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered);
}
