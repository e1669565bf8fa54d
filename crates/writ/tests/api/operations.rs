//! Idempotency, restarts, rebuilds, secrets at rest, OpenAPI, metrics, health.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use writ_server::Config;
use writ_store::sqlite::{ProjectionCheck, check_projections, rebuild};

use crate::common::{TestApp, new_request};

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_result_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let body = serde_json::to_vec(&new_request("alice", "pg-prod/read-only", "8h")).unwrap();
    let first = alice
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", body.clone())),
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    let events = app.event_count().await;
    let again = alice
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", body.clone())),
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_eq!(again.status, 201);
    assert!(again.replayed);
    assert_eq!(again.body, first.body, "byte-identical first result");
    assert_eq!(app.event_count().await, events, "nothing new was created");
    assert_eq!(
        alice
            .requests(&Default::default())
            .await
            .unwrap()
            .requests
            .len(),
        1
    );

    // The same key with a different body is a client error, not a replay.
    let other = serde_json::to_vec(&new_request("alice", "crm/viewer", "8h")).unwrap();
    let res = alice
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", other)),
            Some("retry-1"),
        )
        .await
        .unwrap();
    assert_eq!(res.status, 422);
    let p: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(p["code"], json!("idempotency-key-reused"));
    // Decisions are idempotent too: a retried approval does not decide twice.
    let first_view: Value = serde_json::from_slice(&first.body).unwrap();
    let id = first_view["id"].as_str().unwrap();
    let a = app
        .as_("priya")
        .approve(id, &Default::default(), Some("k"))
        .await
        .unwrap();
    let b = app
        .as_("priya")
        .approve(id, &Default::default(), Some("k"))
        .await
        .unwrap();
    assert_eq!(a.steps[0].decided_at, b.steps[0].decided_at);
    assert_eq!(app.event_count().await, events + 1);
}

#[tokio::test]
async fn everything_survives_a_restart_and_projections_rebuild_from_the_ledger() {
    let app = TestApp::spawn().await;
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "pg-prod/read-only", "8h"), None)
        .await
        .unwrap();
    app.as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    let pending = app
        .as_("bob")
        .create_request(&new_request("bob", "crm/viewer", "1d"), None)
        .await
        .unwrap();
    let clock = app.clock.clone();
    let tokens = app.tokens.clone();
    let dir = app.stop().await;

    let db = dir.path().join("writ.db");
    assert!(matches!(
        check_projections(&db).unwrap(),
        ProjectionCheck::Match { .. }
    ));
    let rebuilt = rebuild(&db).unwrap();
    assert!(rebuilt.events >= 40, "{rebuilt:?}");
    assert!(matches!(
        check_projections(&db).unwrap(),
        ProjectionCheck::Match { .. }
    ));

    let app = TestApp::start(dir, clock, Config::default(), false).await;
    assert_eq!(
        app.tokens, tokens,
        "the demo keeps its personas' tokens across restarts"
    );
    let shown = app.as_("alice").request(&r.id).await.unwrap();
    assert_eq!(shown.steps[0].approver.as_deref(), Some("priya"));
    assert_eq!(shown.status, "pending");
    let done = app
        .as_("carol")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(
        app.as_("bob").request(&pending.id).await.unwrap().status,
        "pending"
    );
    let seqs: Vec<u64> = app
        .as_("olivia")
        .audit_events(0, 1000)
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gaps across restarts"
    );
}

#[tokio::test]
async fn a_second_server_cannot_open_the_same_data_dir() {
    let app = TestApp::spawn().await;
    let e = writ_server::Application::build(writ_server::Settings {
        data_dir: app.data_dir().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config: Config::default(),
        clock: Arc::new(writ_store::SystemClock),
        scheduler: false,
    })
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("in use by another Writ process"),
        "{e}"
    );
}

#[tokio::test]
async fn secrets_never_reach_the_database_or_ledger_in_plaintext() {
    let app = TestApp::spawn().await;
    let issued = app
        .as_("ada")
        .issue_token(&writ_server::wire::NewToken {
            identity: "bob".into(),
            label: "x".into(),
            expires_in: None,
        })
        .await
        .unwrap();
    // Make sure the token has been used too (lookups must not store it either).
    app.anonymous()
        .with_token(&issued.secret)
        .me()
        .await
        .unwrap();
    let log =
        serde_json::to_string(&app.as_("olivia").audit_events(0, 1000).await.unwrap()).unwrap();
    let tokens = app.tokens.clone();
    let dir = app.stop().await;
    let mut secrets: Vec<String> = tokens.into_values().collect();
    secrets.push(issued.secret.clone());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "demo-tokens.json") {
            continue; // the demo's documented convenience file, mode 0600
        }
        let bytes = std::fs::read(&path).unwrap();
        for s in &secrets {
            let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(
                !found,
                "a token secret is stored in plaintext in {}",
                path.display()
            );
        }
    }
    for s in &secrets {
        assert!(!log.contains(s.as_str()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["demo-tokens.json", "token-pepper"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
    }
}

#[tokio::test]
async fn openapi_metrics_and_health() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let res = anon
        .raw(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let doc: Value = serde_json::from_slice(&res.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/requests",
        "/api/v1/requests/{id}",
        "/api/v1/requests/{id}/approve",
        "/api/v1/requests/{id}/deny",
        "/api/v1/requests/{id}/cancel",
        "/api/v1/grants",
        "/api/v1/grants/{id}",
        "/api/v1/grants/{id}/revoke",
        "/api/v1/identities",
        "/api/v1/systems",
        "/api/v1/entitlements",
        "/api/v1/audit/events",
        "/api/v1/tokens",
        "/api/v1/policy",
        "/api/v1/policy/reload",
        "/api/v1/requests/{id}/explain",
        "/api/v1/requests/{id}/incident-review",
        "/api/v1/delegations",
        "/api/v1/delegations/{id}/revoke",
        "/api/v1/incident-reviews",
        "/api/v1/notifications",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI documents {path}");
    }
    // Every schema a path refers to is in the document.
    let text = doc.to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "OpenAPI refers to schema {name} without defining it"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    contract_matches_the_server(&doc);

    assert_eq!(anon.health().await.unwrap()["status"], json!("ok"));

    let (r, _) = app.vpn_grant("alice", "1d").await;
    let res = anon.raw(Method::GET, "/metrics", None, None).await.unwrap();
    assert_eq!(res.status, 200);
    let text = String::from_utf8(res.body).unwrap();
    assert!(
        text.contains(
            "writ_http_requests_total{method=\"POST\",route=\"/api/v1/requests\",status=\"201\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("writ_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/requests/{id}/approve\""));
    assert!(text.contains("writ_grants{status=\"active\"} 1"));
    assert!(text.contains("writ_requests{status=\"approved\"} 1"));
    assert!(
        !text.contains(&r.id),
        "identifiers never become metric labels"
    );
    let appended = text
        .lines()
        .find_map(|l| l.strip_prefix("writ_events_appended_total "))
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(appended >= 5);
}

/// The published contract says what the server does: path parameters are exactly the
/// path's placeholders (and query parameters are `in: query`), errors are documented
/// as problem+json, and every operation with a body documents 400, 413, 415 and 422.
fn contract_matches_the_server(doc: &Value) {
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let placeholders: Vec<&str> = path
            .split('{')
            .skip(1)
            .map(|p| p.split('}').next().unwrap())
            .collect();
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path: Vec<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            in_path.sort_unstable();
            let mut want = placeholders.clone();
            want.sort_unstable();
            assert_eq!(in_path, want, "{at}: path parameters are its placeholders");
            for (status, r) in op["responses"].as_object().unwrap() {
                if (status.starts_with('4') || status.starts_with('5'))
                    && let Some(content) = r["content"].as_object()
                {
                    assert!(
                        content.keys().all(|k| k == "application/problem+json"),
                        "{at} {status}: errors are problem+json, documented {:?}",
                        content.keys().collect::<Vec<_>>()
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{at} documents {status}"
                    );
                }
            }
        }
    }
    assert!(operations > 40, "{operations} operations");
    // What the server requires is in the schema: a human's email, the bounds of text.
    let identity = &doc["components"]["schemas"]["IdentityBody"];
    assert_eq!(identity["if"]["properties"]["kind"]["const"], "human");
    assert_eq!(identity["then"]["required"], json!(["email"]));
    assert_eq!(identity["properties"]["department"]["maxLength"], 200);
    let request = &doc["components"]["schemas"]["NewRequest"];
    assert_eq!(request["properties"]["justification"]["maxLength"], 2000);
    // The list queries are query parameters.
    let list = &doc["paths"]["/api/v1/requests"]["get"]["parameters"];
    for name in ["status", "mine", "to_decide", "limit", "cursor"] {
        let p = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("GET /api/v1/requests documents `{name}`"));
        assert_eq!(p["in"], "query", "{name}");
    }
}
