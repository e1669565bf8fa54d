//! Delegations of approval authority: create, list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{
    Command, DelegationId, DelegationSpec, DurationSpec, Name, Reason, RiskTier, Timestamp,
};

use super::page::Paging;
use super::{Params, json, perform, perform_on, subject_id};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{DelegationList, DelegationView, NewDelegation, RevokeDelegationBody};

fn field<T>(name: &str, r: Result<T, String>) -> Result<T, ApiError> {
    r.map_err(|m| ApiError::invalid("invalid-field", format!("{name}: {m}")))
}

fn delegation_id(id: &str) -> Result<DelegationId, ApiError> {
    DelegationId::parse(id)
        .map_err(|_| ApiError::not_found("unknown-delegation", format!("no delegation `{id}`")))
}

/// One delegation, to those it concerns (delegator, delegate) and to admins and
/// auditors; others are told it does not exist.
async fn view(
    state: &AppState,
    p: &Principal,
    id: &DelegationId,
) -> Result<DelegationView, ApiError> {
    let org = state.store.org().await?;
    let d = org
        .delegations
        .get(id)
        .filter(|d| {
            p.sees_everything() || d.delegator == p.identity.name || d.delegate == p.identity.name
        })
        .ok_or_else(|| {
            ApiError::not_found("unknown-delegation", format!("no delegation `{id}`"))
        })?;
    Ok(DelegationView::new(d, state.clock.now()))
}

/// Delegate approval authority for a window, optionally limited to systems or risk
/// tiers, with a reason. The delegate's decisions are recorded as made on the
/// delegator's behalf under this delegation.
#[utoipa::path(post, path = "/api/v1/delegations", tag = "delegations", request_body = NewDelegation,
    responses((status = 201, body = DelegationView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Acting(p): Acting,
    JsonBody { body, idempotency }: JsonBody<NewDelegation>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let from = body
        .from
        .as_deref()
        .map(|f| field("from", Timestamp::parse_rfc3339(f)))
        .transpose()?;
    let until = match (&body.until, &body.for_) {
        (Some(u), None) => field("until", Timestamp::parse_rfc3339(u))?,
        (None, Some(d)) => from
            .unwrap_or(now)
            .plus(field("for", DurationSpec::parse(d))?),
        _ => {
            return Err(ApiError::invalid(
                "invalid-field",
                "give exactly one of `until` (RFC 3339) and `for` (a duration)",
            ));
        }
    };
    let spec = DelegationSpec {
        delegator: body
            .delegator
            .as_deref()
            .map(|d| field("delegator", Name::parse(d)))
            .transpose()?,
        delegate: field("delegate", Name::parse(&body.delegate))?,
        from,
        until,
        systems: body
            .systems
            .iter()
            .map(|s| field("systems", Name::parse(s)))
            .collect::<Result<_, _>>()?,
        tiers: body
            .tiers
            .iter()
            .map(|t| {
                RiskTier::ALL
                    .into_iter()
                    .find(|r| r.as_str() == t)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "invalid-field",
                            format!("tiers: `{t}` is not low, medium, high or critical"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        reason: field("reason", Reason::parse(&body.reason))?,
    };
    perform(
        &state,
        &p,
        Command::Delegate { spec },
        idempotency,
        StatusCode::CREATED,
        |subject| {
            let state = state.clone();
            let p = p.clone();
            async move {
                let id = subject_id(&subject, "delegation")
                    .ok_or_else(|| ApiError::internal("the delegation produced no record"))?;
                view(&state, &p, &delegation_id(id)?).await
            }
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only delegations in force now.
    active: Option<bool>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Delegations the caller gave or received (admins and auditors: all).
#[utoipa::path(get, path = "/api/v1/delegations", tag = "delegations", params(ListQuery),
    responses((status = 200, body = DelegationList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!("delegations {} {:?}", p.identity.name, q.active),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let org = state.store.org().await?;
    let now = state.clock.now();
    let me = &p.identity.name;
    let mine = org
        .delegations
        .values()
        .filter(|d| p.sees_everything() || &d.delegator == me || &d.delegate == me)
        .filter(|d| !q.active.unwrap_or(false) || d.active_at(now));
    let (page, next) = paging.slice(&state.pepper, mine, |d| d.id.to_string());
    let delegations = page
        .into_iter()
        .map(|d| DelegationView::new(d, now))
        .collect();
    json(StatusCode::OK, &DelegationList { delegations, next })
}

/// End a delegation now (its delegator or an admin).
#[utoipa::path(post, path = "/api/v1/delegations/{id}/revoke", tag = "delegations", request_body = RevokeDelegationBody,
    params(("id" = String, Path, description = "Delegation id")),
    responses((status = 200, body = DelegationView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<RevokeDelegationBody>,
) -> Result<Response, ApiError> {
    let id = delegation_id(&id)?;
    let reason = body
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| field("reason", Reason::parse(r)))
        .transpose()?;
    perform_on(
        &state,
        &p,
        Command::RevokeDelegation {
            delegation: id.clone(),
            reason,
        },
        idempotency,
        || view(&state, &p, &id),
    )
    .await
}
