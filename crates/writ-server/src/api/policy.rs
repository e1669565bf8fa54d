//! The approval policy: what is in force, reloading it from its directory, and why
//! each identity may (or may not) decide each step of a request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use writ_core::{Command, RequestId, Role, step_eligibility};
use writ_store::{Envelope, Outcome};

use super::json;
use crate::app::AppState;
use crate::extract::{Acting, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{ExplainView, PolicyInfoView, PolicyReloaded, PolicyView, RequestView};

/// The approval policy in force: its version hash, its Cedar policies, and the whole
/// policy as JSON (steps per tier, overrides, the Cedar text).
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, body = PolicyView), (status = 401, body = Problem)))]
pub async fn show(State(state): State<AppState>, _p: Principal) -> Result<Response, ApiError> {
    let active = state.store.policy().await?;
    let body =
        serde_json::to_value(&active.policy).map_err(|e| ApiError::internal(e.to_string()))?;
    json(
        StatusCode::OK,
        &PolicyView {
            version: active.version.clone(),
            directory: state.policy.dir.as_ref().map(|d| d.display().to_string()),
            policies: active
                .authority
                .policies()
                .map(PolicyInfoView::from)
                .collect(),
            policy: body,
        },
    )
}

/// Reads the policy directory again and activates it (admin). An invalid set is
/// refused with every problem named, and the policy in force stays.
#[utoipa::path(post, path = "/api/v1/policy/reload", tag = "policy",
    responses((status = 200, body = PolicyReloaded), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reload(
    State(state): State<AppState>,
    Acting(p): Acting,
) -> Result<Response, ApiError> {
    if !p.identity.has_role(Role::Admin) {
        return Err(ApiError::forbidden(
            "admin-only",
            format!("`{}` is not an admin", p.identity.name),
        ));
    }
    if state.policy.dir.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no-policy-directory",
            "this server runs the shipped policy set; set `[policy] dir` to load one",
        ));
    }
    let before = state.store.policy().await?.version.clone();
    let policy = state
        .policy
        .load()
        .map_err(|m| ApiError::invalid("invalid-policy", m))?;
    let outcome = state
        .store
        .execute(Envelope::new(p.actor(), Command::ActivatePolicy { policy }))
        .await?;
    let changed = matches!(&outcome, Outcome::Committed(events) if !events.is_empty());
    let active = state.store.policy().await?;
    if changed {
        tracing::info!(actor = %p.identity.name, previous = %before, version = %active.version, "approval policy reloaded");
    }
    json(
        StatusCode::OK,
        &PolicyReloaded {
            changed,
            previous: before,
            version: active.version.clone(),
            policies: active
                .authority
                .policies()
                .map(PolicyInfoView::from)
                .collect(),
        },
    )
}

/// For each step of a request: who may decide it now and the policies and facts
/// that make them so, who a policy permits but a fixed rule excludes, and for a
/// decided step the policies and facts the decision rested on.
#[utoipa::path(get, path = "/api/v1/requests/{id}/explain", tag = "policy",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ExplainView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn explain(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found("unknown-request", format!("no request `{id}`"));
    let id = RequestId::parse(&id).map_err(|_| missing())?;
    // Whoever may see the request may see why; `view` says who that is.
    let view: RequestView = super::requests::view(&state, &p, &id).await?;
    let r = state.store.request(&id).await?.ok_or_else(missing)?;
    let org = state.store.org().await?;
    let active = state.store.policy().await?;
    let now = state.clock.now();
    let steps = r
        .steps
        .iter()
        .map(|s| step_eligibility(&org, active.rules(), &r, s.index, now))
        .collect::<Vec<_>>();
    json(
        StatusCode::OK,
        &ExplainView::new(view, &steps, &active.version, now),
    )
}
