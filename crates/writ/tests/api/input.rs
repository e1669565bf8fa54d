//! Bad input gets a clear RFC 9457 problem and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;

struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    mentions: &'static str,
}

fn case(
    name: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    mentions: &'static str,
) -> Case {
    Case {
        name,
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
        status,
        code,
        mentions,
    }
}

fn valid() -> Value {
    json!({
        "beneficiary": "alice",
        "entitlement": "pg-prod/read-only",
        "justification": "investigate billing export failures",
        "duration": "8h",
        "ticket": "INC-4411"
    })
}

fn with(key: &str, value: Value) -> Value {
    let mut v = valid();
    v[key] = value;
    v
}

fn without(key: &str) -> Value {
    let mut v = valid();
    v.as_object_mut().unwrap().remove(key);
    v
}

#[tokio::test]
async fn bad_requests_get_problem_json_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.as_("alice");
    let cases = vec![
        case(
            "unknown entitlement",
            with("entitlement", json!("pg-prod/root")),
            422,
            "unknown-entitlement",
            "pg-prod/root",
        ),
        case(
            "unknown system",
            with("entitlement", json!("mainframe/read")),
            422,
            "unknown-entitlement",
            "mainframe/read",
        ),
        case(
            "malformed entitlement",
            with("entitlement", json!("pg-prod")),
            422,
            "invalid-field",
            "<system>/<entitlement>",
        ),
        case(
            "unknown identity",
            with("beneficiary", json!("zed")),
            422,
            "unknown-identity",
            "zed",
        ),
        case(
            "malformed duration",
            with("duration", json!("8 hours")),
            422,
            "invalid-field",
            "duration",
        ),
        case(
            "calendar duration",
            with("duration", json!("P1M")),
            422,
            "invalid-field",
            "duration",
        ),
        case(
            "duration beyond the entitlement",
            with("duration", json!("31d")),
            422,
            "duration-too-long",
            "P30D",
        ),
        case(
            "missing justification",
            without("justification"),
            422,
            "invalid-body",
            "justification",
        ),
        case(
            "blank justification",
            with("justification", json!("   ")),
            422,
            "invalid-field",
            "justification is required",
        ),
        case(
            "short justification",
            with("justification", json!("pls")),
            422,
            "justification-too-short",
            "at least 10",
        ),
        case(
            "wrong type",
            with("duration", json!(8)),
            422,
            "invalid-body",
            "duration",
        ),
        case(
            "wrong type nested",
            with("constraints", json!({"api_scopes": "all"})),
            422,
            "invalid-body",
            "constraints",
        ),
        case(
            "unknown field",
            with("approver", json!("alice")),
            422,
            "invalid-body",
            "approver",
        ),
        case(
            "bad ticket",
            with("ticket", json!("four-four")),
            422,
            "invalid-field",
            "ticket",
        ),
        case(
            "bad kind",
            with("kind", json!("forever")),
            422,
            "invalid-field",
            "kind",
        ),
        case(
            "bad source range",
            with("constraints", json!({"source_ranges": ["10.0.0.0/99"]})),
            422,
            "invalid-constraints",
            "10.0.0.0/99",
        ),
        case(
            "not an object",
            json!(["alice"]),
            400,
            "not-an-object",
            "one JSON object",
        ),
        case(
            "positional array",
            json!([
                "alice",
                "pg-prod/read-only",
                "investigate billing export failures",
                "8h",
                "INC-4411"
            ]),
            400,
            "not-an-object",
            "named fields",
        ),
        case(
            "positional nested object",
            with("constraints", json!([["read"], "prod", []])),
            422,
            "invalid-body",
            "constraints",
        ),
        case(
            "duration with an empty time part",
            with("duration", json!("P1DT")),
            422,
            "invalid-field",
            "duration",
        ),
        Case {
            name: "trailing garbage",
            content_type: "application/json",
            body: [serde_json::to_vec(&valid()).unwrap(), b"xyz".to_vec()].concat(),
            status: 400,
            code: "malformed-json",
            mentions: "follow the object",
        },
        Case {
            name: "two documents",
            content_type: "application/json",
            body: [
                serde_json::to_vec(&valid()).unwrap(),
                serde_json::to_vec(&valid()).unwrap(),
            ]
            .concat(),
            status: 400,
            code: "malformed-json",
            mentions: "follow the object",
        },
        Case {
            name: "malformed JSON",
            content_type: "application/json",
            body: b"{\"beneficiary\": \"alice\",".to_vec(),
            status: 400,
            code: "malformed-json",
            mentions: "JSON",
        },
        Case {
            name: "not JSON at all",
            content_type: "text/plain",
            body: b"beneficiary=alice".to_vec(),
            status: 415,
            code: "unsupported-media-type",
            mentions: "application/json",
        },
        Case {
            name: "oversized body",
            content_type: "application/json",
            body: serde_json::to_vec(&with("justification", json!("x".repeat(70 * 1024)))).unwrap(),
            status: 413,
            code: "body-too-large",
            mentions: "64 KiB",
        },
        case(
            "justification too long",
            with("justification", json!("y".repeat(2001))),
            422,
            "invalid-field",
            "at most 2000",
        ),
    ];
    let before = app.event_count().await;
    for c in cases {
        let res = alice
            .raw(
                Method::POST,
                "/api/v1/requests",
                Some((c.content_type, c.body)),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            res.status,
            c.status,
            "{}: {}",
            c.name,
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.content_type, "application/problem+json", "{}", c.name);
        let p: Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(p["status"], json!(c.status), "{}", c.name);
        assert_eq!(p["code"], json!(c.code), "{}: {p}", c.name);
        assert_eq!(
            p["type"],
            json!(format!("urn:writ:problem:{}", c.code)),
            "{}",
            c.name
        );
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(c.mentions),
            "{}: detail `{detail}` should mention `{}`",
            c.name,
            c.mentions
        );
        assert!(!detail.contains('\n'), "{}: one-line detail", c.name);
    }
    assert_eq!(
        app.event_count().await,
        before,
        "refused input changed nothing"
    );
    let mine = alice.requests(&Default::default()).await.unwrap();
    assert!(mine.requests.is_empty());
}

#[tokio::test]
async fn bad_decisions_and_ids_are_clear() {
    let app = TestApp::spawn().await;
    let before = app.event_count().await;
    let priya = app.as_("priya");
    for (path, body, status, code) in [
        (
            "/api/v1/requests/req_doesnotexist/approve",
            json!({"comment": "x"}),
            404,
            "unknown-request",
        ),
        (
            "/api/v1/requests/not-an-id/approve",
            json!({"comment": "x"}),
            404,
            "unknown-request",
        ),
        (
            "/api/v1/requests/req_doesnotexist/approve",
            json!({"comment": "x", "reason": "y"}),
            422,
            "invalid-body",
        ),
        (
            "/api/v1/grants/grt_nothing/revoke",
            json!({"reason": "because"}),
            404,
            "unknown-grant",
        ),
        ("/api/v1/nowhere", json!({}), 404, "no-such-route"),
    ] {
        let body = serde_json::to_vec(&body).unwrap();
        let res = priya
            .raw(Method::POST, path, Some(("application/json", body)), None)
            .await
            .unwrap();
        assert_eq!(res.status, status, "{path}");
        assert_eq!(res.content_type, "application/problem+json", "{path}");
        let p: Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(p["code"], json!(code), "{path}: {p}");
    }
    let res = priya
        .raw(Method::GET, "/api/v1/requests?status=maybe", None, None)
        .await
        .unwrap();
    assert_eq!(res.status, 400);
    assert_eq!(res.content_type, "application/problem+json");
    let res = priya
        .raw(Method::GET, "/api/v1/grants?limit=lots", None, None)
        .await
        .unwrap();
    assert_eq!(res.status, 400);
    let res = priya
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", b"{}".to_vec())),
            Some(" "),
        )
        .await
        .unwrap();
    assert_eq!(res.status, 400, "a blank Idempotency-Key is refused");
    // A sequence number beyond any log is refused, not wrapped to the start.
    let res = app
        .as_("olivia")
        .raw(
            Method::GET,
            "/api/v1/audit/events?after=18446744073709551615",
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(res.status, 400, "{}", res.body_text());
    // An id that is not UTF-8 is a problem too, not a text/plain rejection.
    for (method, path) in [
        (Method::GET, "/api/v1/requests/%FF%FE"),
        (Method::POST, "/api/v1/requests/%FF/approve"),
        (Method::GET, "/api/v1/identities/%C3%28"),
    ] {
        let res = priya.raw(method, path, None, None).await.unwrap();
        assert_eq!(res.status, 400, "{path}: {}", res.body_text());
        assert_eq!(res.content_type, "application/problem+json", "{path}");
    }
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn admin_catalogue_writes_validate_input() {
    let app = TestApp::spawn().await;
    let ada = app.as_("ada");
    let before = app.event_count().await;
    let cases = [
        (
            "/api/v1/identities/Bad%20Name",
            json!({"display_name": "x", "kind": "human", "email": "x@example.com"}),
            "invalid-name",
        ),
        (
            "/api/v1/identities/zed",
            json!({"display_name": "Zed", "kind": "human", "email": "not-an-email"}),
            "invalid-identity",
        ),
        (
            "/api/v1/identities/zed",
            json!({"display_name": "Zed", "kind": "human", "email": "z@example.com", "manager": "ghost"}),
            "unknown-manager",
        ),
        (
            "/api/v1/identities/priya",
            json!({"display_name": "Priya", "kind": "human", "email": "p@example.com", "manager": "alice"}),
            "manager-cycle",
        ),
        (
            "/api/v1/identities/bot",
            json!({"display_name": "Bot", "kind": "nhi", "nhi_kind": "robot", "owner": "bob", "purpose": "does things all day", "environment": "prod"}),
            "invalid-identity",
        ),
        (
            "/api/v1/entitlements/pg-prod/huge",
            json!({"display_name": "Huge", "kind": "role", "external_ref": "huge", "risk": "low", "max_duration": "400d"}),
            "invalid-entitlement",
        ),
        (
            "/api/v1/entitlements/nowhere/x",
            json!({"display_name": "X", "kind": "role", "external_ref": "x", "risk": "low", "max_duration": "1d"}),
            "unknown-system",
        ),
        (
            "/api/v1/systems/erp",
            json!({"display_name": "ERP", "kind": "saas", "owner": "svc-billing"}),
            "owner-not-human",
        ),
        (
            "/api/v1/identities/zed",
            json!({"display_name": "Zed", "kind": "human", "email": "z@example.com", "department": "d".repeat(60_000)}),
            "invalid-identity",
        ),
        (
            "/api/v1/identities/bot",
            json!({"display_name": "Bot", "kind": "nhi", "nhi_kind": "service_account", "owner": "bob", "purpose": "p".repeat(60_000), "environment": "prod"}),
            "invalid-identity",
        ),
        (
            "/api/v1/systems/erp",
            json!({"display_name": "ERP", "kind": "saas", "owner": "dan", "description": "d".repeat(60_000)}),
            "invalid-system",
        ),
        (
            "/api/v1/entitlements/pg-prod/huge",
            json!({"display_name": "Huge", "kind": "role", "external_ref": "huge", "risk": "low", "max_duration": "1d", "description": "d".repeat(60_000)}),
            "invalid-entitlement",
        ),
    ];
    for (path, body, code) in cases {
        let res = ada
            .raw(
                Method::PUT,
                path,
                Some(("application/json", serde_json::to_vec(&body).unwrap())),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            res.status,
            422,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let p: Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(p["code"], json!(code), "{path}: {p}");
    }
    // Only admins write the catalogue.
    let res = app
        .as_("alice")
        .raw(
            Method::PUT,
            "/api/v1/systems/erp",
            Some((
                "application/json",
                serde_json::to_vec(
                    &json!({"display_name": "ERP", "kind": "saas", "owner": "alice"}),
                )
                .unwrap(),
            )),
            None,
        )
        .await
        .unwrap();
    assert_eq!(res.status, 403);
    assert_eq!(app.event_count().await, before);
}
