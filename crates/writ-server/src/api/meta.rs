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
    let doc = openapi.to_json().unwrap_or_else(|_| "{}".to_owned());
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
