//! The catalogue: identities, systems, entitlements. Everyone reads; admins write.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use writ_core::{Command, EntitlementRef, Name};

use super::page::{PageQuery, Paging};
use super::{Params, json, perform};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{
    EntitlementBody, EntitlementList, IdentityBody, IdentityList, SystemBody, SystemList,
};

fn name_in_path(what: &str, text: &str) -> Result<Name, ApiError> {
    Name::parse(text).map_err(|m| ApiError::invalid("invalid-name", format!("{what}: {m}")))
}

/// List identities, people and non-human.
#[utoipa::path(get, path = "/api/v1/identities", tag = "catalogue", params(PageQuery),
    responses((status = 200, body = IdentityList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_identities(
    State(state): State<AppState>,
    _p: Principal,
    Params(q): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        "identities",
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let org = state.store.org().await?;
    let (page, next) = paging.slice(&state.pepper, org.identities.values(), |i| {
        i.name.to_string()
    });
    let identities = page.into_iter().map(IdentityBody::from).collect();
    json(StatusCode::OK, &IdentityList { identities, next })
}

/// Show one identity.
#[utoipa::path(get, path = "/api/v1/identities/{name}", tag = "catalogue",
    params(("name" = String, Path, description = "Identity name")),
    responses((status = 200, body = IdentityBody), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn show_identity(
    State(state): State<AppState>,
    _p: Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let org = state.store.org().await?;
    let i = Name::parse(&name)
        .ok()
        .and_then(|n| org.identity(&n).cloned())
        .ok_or_else(|| ApiError::not_found("unknown-identity", format!("no identity `{name}`")))?;
    json(StatusCode::OK, &IdentityBody::from(&i))
}

/// Create or replace an identity (admin). Changing a manager takes effect for every
/// decision made after it.
#[utoipa::path(put, path = "/api/v1/identities/{name}", tag = "catalogue", request_body = IdentityBody,
    params(("name" = String, Path, description = "Identity name")),
    responses((status = 200, body = IdentityBody), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_identity(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(name): Path<String>,
    JsonBody { body, idempotency }: JsonBody<IdentityBody>,
) -> Result<Response, ApiError> {
    let name = name_in_path("identity", &name)?;
    let identity = body
        .to_domain(&name)
        .map_err(|m| ApiError::invalid("invalid-identity", m))?;
    perform(
        &state,
        &p,
        Command::UpsertIdentity { identity },
        idempotency,
        StatusCode::OK,
        |_| async {
            let org = state.store.org().await?;
            org.identity(&name)
                .map(IdentityBody::from)
                .ok_or_else(|| ApiError::internal("identity vanished after commit"))
        },
    )
    .await
}

/// List target systems.
#[utoipa::path(get, path = "/api/v1/systems", tag = "catalogue", params(PageQuery),
    responses((status = 200, body = SystemList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_systems(
    State(state): State<AppState>,
    _p: Principal,
    Params(q): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&state.pepper, "systems", q.limit, q.cursor.as_deref(), 100)?;
    let org = state.store.org().await?;
    let (page, next) = paging.slice(&state.pepper, org.systems.values(), |s| s.name.to_string());
    let systems = page.into_iter().map(SystemBody::from).collect();
    json(StatusCode::OK, &SystemList { systems, next })
}

/// Create or replace a system (admin).
#[utoipa::path(put, path = "/api/v1/systems/{name}", tag = "catalogue", request_body = SystemBody,
    params(("name" = String, Path, description = "System name")),
    responses((status = 200, body = SystemBody), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_system(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(name): Path<String>,
    JsonBody { body, idempotency }: JsonBody<SystemBody>,
) -> Result<Response, ApiError> {
    let name = name_in_path("system", &name)?;
    let system = body
        .to_domain(&name)
        .map_err(|m| ApiError::invalid("invalid-system", m))?;
    perform(
        &state,
        &p,
        Command::UpsertSystem { system },
        idempotency,
        StatusCode::OK,
        |_| async {
            let org = state.store.org().await?;
            org.system(&name)
                .map(SystemBody::from)
                .ok_or_else(|| ApiError::internal("system vanished after commit"))
        },
    )
    .await
}

/// List entitlements.
#[utoipa::path(get, path = "/api/v1/entitlements", tag = "catalogue", params(PageQuery),
    responses((status = 200, body = EntitlementList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_entitlements(
    State(state): State<AppState>,
    _p: Principal,
    Params(q): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        "entitlements",
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let org = state.store.org().await?;
    // System and name joined by NUL, which no name holds: the string order is the
    // catalogue's (system, name) order.
    let (page, next) = paging.slice(&state.pepper, org.entitlements.values(), |e| {
        format!("{}\0{}", e.system, e.name)
    });
    let entitlements = page.into_iter().map(EntitlementBody::from).collect();
    json(StatusCode::OK, &EntitlementList { entitlements, next })
}

/// Create or replace an entitlement (admin).
#[utoipa::path(put, path = "/api/v1/entitlements/{system}/{name}", tag = "catalogue", request_body = EntitlementBody,
    params(("system" = String, Path, description = "System name"), ("name" = String, Path, description = "Entitlement name")),
    responses((status = 200, body = EntitlementBody), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_entitlement(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path((system, name)): Path<(String, String)>,
    JsonBody { body, idempotency }: JsonBody<EntitlementBody>,
) -> Result<Response, ApiError> {
    let r = EntitlementRef::new(
        name_in_path("system", &system)?,
        name_in_path("entitlement", &name)?,
    );
    let entitlement = body
        .to_domain(&r)
        .map_err(|m| ApiError::invalid("invalid-entitlement", m))?;
    perform(
        &state,
        &p,
        Command::UpsertEntitlement { entitlement },
        idempotency,
        StatusCode::OK,
        |_| async {
            let org = state.store.org().await?;
            org.entitlement(&r)
                .map(EntitlementBody::from)
                .ok_or_else(|| ApiError::internal("entitlement vanished after commit"))
        },
    )
    .await
}
