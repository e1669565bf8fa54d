//! The provisioning outbox: what the worker has queued, done and given up on.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{GrantId, Name, Role};
use writ_store::{JobFilter, JobState};

use super::page::Paging;
use super::{Params, json};
use crate::app::AppState;
use crate::extract::{Acting, Principal};
use crate::problem::{ApiError, Problem};
use crate::reconcile::{self, ReconcileError, ReconcileReports};
use crate::wire::{CredentialReport, CredentialView, JobList, JobView, OrphanNhi};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `queued`, `done`, `dead`, `superseded` or `resolved`.
    #[param(pattern = r"^(queued|done|dead|superseded|resolved)$")]
    state: Option<String>,
    /// Only this grant's jobs.
    #[param(pattern = r"^grt_[a-z0-9]{1,32}$")]
    grant: Option<String>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
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
    let paging = Paging::parse(
        &state.pepper,
        &format!("jobs {:?} {:?}", q.state, q.grant),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
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
            page: paging.page(),
        })
        .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as u32 == paging.limit => Some(paging.next(
            &state.pepper,
            &writ_store::Position {
                at: last.created_seq as i64,
                id: String::new(),
            },
        )),
        _ => None,
    };
    json(
        StatusCode::OK,
        &JobList {
            jobs: rows.iter().map(JobView::from).collect(),
            next,
        },
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    /// One system; all configured systems when absent.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    system: Option<String>,
}

/// Reconcile now: compare what each target holds with the live grants, record new
/// findings and resolved ones, and say which approval explains each access (admins).
#[utoipa::path(post, path = "/api/v1/reconcile", tag = "provisioning", params(ReconcileQuery),
    responses((status = 200, body = ReconcileReports), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
pub async fn reconcile(
    State(state): State<AppState>,
    Acting(p): Acting,
    Params(q): Params<ReconcileQuery>,
) -> Result<Response, ApiError> {
    if !p.identity.has_role(Role::Admin) {
        return Err(ApiError::forbidden(
            "admin-only",
            "only admins run reconciliation",
        ));
    }
    let systems = match &q.system {
        Some(s) => vec![
            Name::parse(s)
                .map_err(|m| ApiError::bad_request("invalid-query", format!("system: {m}")))?,
        ],
        None => state.connectors.names().into_iter().collect(),
    };
    let mut reports = Vec::new();
    for system in systems {
        let report = reconcile::reconcile(state.store.as_ref(), &state.connectors, &system)
            .await
            .map_err(|e| match e {
                ReconcileError::UnknownSystem(_) => {
                    ApiError::not_found("unknown-system", e.to_string())
                }
                ReconcileError::Target { .. } => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "target-unavailable", e.to_string())
                }
                ReconcileError::Store(e) => e.into(),
            })?;
        reports.push(report);
    }
    json(StatusCode::OK, &ReconcileReports { reports })
}

/// NHI credentials an auditor asks about: past their rotation deadline, without an
/// expiry, and NHIs whose owner left (admins and auditors).
#[utoipa::path(get, path = "/api/v1/reports/credentials", tag = "provisioning",
    responses((status = 200, body = CredentialReport), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn credential_report(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Response, ApiError> {
    if !p.sees_everything() {
        return Err(ApiError::forbidden(
            "admin-or-auditor-only",
            "only admins and auditors see the credential report",
        ));
    }
    let now = writ_core::Clock::now(state.clock.as_ref());
    let in_force = state.store.credentials(None, true).await?;
    let org = state.store.org().await?;
    let mut orphans = Vec::new();
    for i in org.identities.values() {
        let Some(owner) = i.owner() else { continue };
        if org.identity(owner).is_some_and(|o| o.is_active()) {
            continue;
        }
        let grants = super::all_grants_of(&state, &i.name).await?;
        orphans.push(OrphanNhi {
            nhi: i.name.to_string(),
            owner: owner.to_string(),
            transfer_to_manager: org
                .identity(owner)
                .and_then(|o| o.manager())
                .map(|m| m.to_string()),
            credentials_in_force: in_force
                .iter()
                .filter(|c| c.beneficiary == i.name)
                .map(|c| c.fingerprint.clone())
                .collect(),
            live_grants: grants
                .iter()
                .filter(|g| g.is_live())
                .map(|g| g.id.to_string())
                .collect(),
        });
    }
    json(
        StatusCode::OK,
        &CredentialReport {
            past_rotation_deadline: in_force
                .iter()
                .filter(|c| c.rotate_by <= now)
                .map(CredentialView::from)
                .collect(),
            without_expiry: Vec::new(),
            nhis_with_inactive_owner: orphans,
        },
    )
}
