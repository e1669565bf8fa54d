//! The provisioning outbox: what the worker has queued, done and given up on.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::GrantId;
use writ_store::{JobFilter, JobState};

use super::{Params, json};
use crate::app::AppState;
use crate::extract::Principal;
use crate::problem::{ApiError, Problem};
use crate::wire::{JobList, JobView};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `queued`, `done` or `dead`.
    state: Option<String>,
    grant: Option<String>,
    limit: Option<u32>,
}

/// Provisioning jobs, newest first (admins and auditors).
#[utoipa::path(get, path = "/api/v1/provisioning/jobs", tag = "provisioning", params(JobsQuery),
    responses((status = 200, body = JobList), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn jobs(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<JobsQuery>,
) -> Result<Response, ApiError> {
    if !p.sees_everything() {
        return Err(ApiError::forbidden(
            "admin-or-auditor-only",
            "only admins and auditors see the provisioning outbox",
        ));
    }
    let state_filter = match &q.state {
        Some(s) => Some(JobState::parse(s).map_err(|m| ApiError::bad_request("invalid-query", m))?),
        None => None,
    };
    let grant = match &q.grant {
        Some(g) => Some(
            GrantId::parse(g)
                .map_err(|m| ApiError::bad_request("invalid-query", format!("grant: {m}")))?,
        ),
        None => None,
    };
    let rows = state
        .store
        .jobs(JobFilter {
            state: state_filter,
            grant,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    json(
        StatusCode::OK,
        &JobList {
            jobs: rows.iter().map(JobView::from).collect(),
        },
    )
}
