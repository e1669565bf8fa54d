//! Health, metrics, the OpenAPI document, who-am-I and the policy in force.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::OpenApi;

use super::json;
use crate::app::AppState;
use crate::extract::Principal;
use crate::problem::{ApiError, Problem};
use crate::wire::{Health, IdentityBody, Me};

pub fn routes(openapi: Arc<OpenApi>) -> Router<AppState> {
    let mut doc = serde_json::to_value(openapi.as_ref()).unwrap_or_default();
    contract(&mut doc);
    let doc = doc.to_string();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    let mut res = doc.into_response();
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    res
                }
            }),
        )
}

/// What every operation shares, written into the document once rather than on each
/// handler: errors are `application/problem+json`; a body can be malformed (400),
/// too large (413), of the wrong type (415) or invalid (422); query values and the
/// `Idempotency-Key` header can be refused (400); a signed-in route answers 401
/// without a valid token.
fn contract(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let problem = |what: &str| {
        json!({
            "description": what,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        })
    };
    // What the server requires of each kind of identity, which one struct cannot say.
    if let Some(identity) = doc.pointer_mut("/components/schemas/IdentityBody")
        && let Some(schema) = identity.as_object_mut()
    {
        schema.insert(
            "if".into(),
            json!({"properties": {"kind": {"const": "human"}}}),
        );
        schema.insert("then".into(), json!({"required": ["email"]}));
        schema.insert(
            "else".into(),
            json!({"required": ["nhi_kind", "owner", "purpose", "environment"]}),
        );
        if let Some(kind) = schema.get_mut("properties").and_then(|p| p.get_mut("kind")) {
            kind["enum"] = json!(["human", "nhi"]);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in list.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
                    p["schema"] = json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"});
                }
            }
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let has_in = |place: &str| params.iter().any(|p| p["in"] == place);
            let public = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .all(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
                });
            let body = op.contains_key("requestBody");
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else { continue };
            for (status, r) in responses.iter_mut() {
                if (status.starts_with('4') || status.starts_with('5'))
                    && let Some(content) = r.get_mut("content").and_then(Value::as_object_mut)
                    && let Some(v) = content.remove("application/json")
                {
                    content.insert("application/problem+json".into(), v);
                }
            }
            let mut add = |status: &str, what: &str| {
                responses.entry(status).or_insert_with(|| problem(what));
            };
            if body || has_in("query") || has_in("header") {
                add(
                    "400",
                    "Malformed JSON, a query value or header out of range, or a bad cursor",
                );
            }
            if !public {
                add("401", "No valid bearer token");
            }
            if body {
                add("413", "The body is larger than 64 KiB");
                add("415", "The body is not application/json");
                add(
                    "422",
                    "The body is well-formed but a field is missing or invalid",
                );
                add("408", "The body did not arrive in time");
            }
        }
    }
}

async fn healthz() -> Result<Response, ApiError> {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.store.stats().await?;
    let text = state.metrics.render(&stats, state.sqlite.events_appended());
    let mut res = text.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(res)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "meta",
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(p: Principal) -> Result<Response, ApiError> {
    json(
        StatusCode::OK,
        &Me {
            identity: IdentityBody::from(&p.identity),
            token: p.token.to_string(),
        },
    )
}
