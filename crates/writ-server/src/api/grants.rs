//! Grants: list, show, revoke.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{
    Command, DurationSpec, EntitlementKind, Grant, GrantId, GrantStatus, IdentityKind, JobAction,
    Name, Org, Reason, Timestamp,
};
use writ_store::{GrantFilter, JobFilter};

use super::page::Paging;
use super::{Params, json, perform_on};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{
    GrantList, GrantView, IssuedCredential, JobView, ResolveBody, RetryBody, RevokeBody,
};

fn grant_id(id: &str) -> Result<GrantId, ApiError> {
    GrantId::parse(id).map_err(|_| ApiError::not_found("unknown-grant", format!("no grant `{id}`")))
}

fn visible(p: &Principal, g: &Grant, org: &Org) -> bool {
    let me = &p.identity.name;
    p.sees_everything()
        || &g.beneficiary == me
        || org
            .identity(&g.beneficiary)
            .is_some_and(|b| b.manager() == Some(me) || b.owner() == Some(me))
}

async fn view(state: &AppState, p: &Principal, id: &GrantId) -> Result<GrantView, ApiError> {
    let missing = || ApiError::not_found("unknown-grant", format!("no grant `{id}`"));
    let g = state.store.grant(id).await?.ok_or_else(missing)?;
    let org = state.store.org().await?;
    if !visible(p, &g, &org) {
        return Err(missing());
    }
    let mut view = GrantView::from(&g);
    if g.provision {
        let jobs = state
            .store
            .jobs(JobFilter {
                grant: Some(id.clone()),
                ..JobFilter::default()
            })
            .await?;
        view.jobs = jobs.iter().rev().map(JobView::from).collect();
    }
    Ok(view)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this beneficiary's grants.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    beneficiary: Option<String>,
    /// `pending`, `active`, `revoking`, `expiring`, `expired`, `revoked` or `renewed`.
    #[param(pattern = r"^(pending|active|revoking|expiring|expired|revoked|renewed)$")]
    status: Option<String>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Whose grants `p` may see: everyone's (`None`), or their own, their reports' and
/// their NHIs' — exactly what `visible` allows.
fn visible_beneficiaries(p: &Principal, org: &Org) -> Option<BTreeSet<Name>> {
    if p.sees_everything() {
        return None;
    }
    let me = &p.identity.name;
    let mut out: BTreeSet<Name> = org
        .identities
        .values()
        .filter(|i| i.manager() == Some(me) || i.owner() == Some(me))
        .map(|i| i.name.clone())
        .collect();
    out.insert(me.clone());
    Some(out)
}

/// List grants the caller may see, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/grants", tag = "grants", params(ListQuery),
    responses((status = 200, body = GrantList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!(
            "grants {} {:?} {:?}",
            p.identity.name, q.beneficiary, q.status
        ),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let beneficiary = match &q.beneficiary {
        Some(b) => Some(
            Name::parse(b)
                .map_err(|m| ApiError::bad_request("invalid-query", format!("beneficiary: {m}")))?,
        ),
        None => None,
    };
    let status = match &q.status {
        Some(s) => {
            Some(GrantStatus::parse(s).map_err(|m| ApiError::bad_request("invalid-query", m))?)
        }
        None => None,
    };
    let org = state.store.org().await?;
    let rows = state
        .store
        .grants(GrantFilter {
            beneficiary,
            status,
            beneficiaries: visible_beneficiaries(&p, &org),
            page: paging.page(),
        })
        .await?;
    let next = paging.next_of(&state.pepper, &rows);
    let grants = rows.iter().map(|g| GrantView::from(&g.item)).collect();
    json(StatusCode::OK, &GrantList { grants, next })
}

/// Show one grant.
#[utoipa::path(get, path = "/api/v1/grants/{id}", tag = "grants",
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    json(StatusCode::OK, &view(&state, &p, &grant_id(&id)?).await?)
}

/// Revoke an active grant (an admin, or the beneficiary's manager or NHI owner).
#[utoipa::path(post, path = "/api/v1/grants/{id}/revoke", tag = "grants", request_body = RevokeBody,
    params(("id" = String, Path, description = "Grant id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<RevokeBody>,
) -> Result<Response, ApiError> {
    let id = grant_id(&id)?;
    let reason = Reason::parse(&body.reason)
        .map_err(|m| ApiError::invalid("invalid-field", format!("reason: {m}")))?;
    perform_on(
        &state,
        &p,
        Command::RevokeGrant {
            grant: id.clone(),
            reason,
        },
        idempotency,
        || view(&state, &p, &id),
    )
    .await
}

/// Send a provisioning job back to the worker (admins): a dead-lettered or held job,
/// or one waiting for its next attempt, which then runs now.
#[utoipa::path(post, path = "/api/v1/grants/{id}/provisioning/retry", tag = "grants", request_body = RetryBody,
    params(("id" = String, Path, description = "Grant id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn retry(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<RetryBody>,
) -> Result<Response, ApiError> {
    let id = grant_id(&id)?;
    let action = JobAction::parse(&body.action)
        .map_err(|m| ApiError::invalid("invalid-field", format!("action: {m}")))?;
    perform_on(
        &state,
        &p,
        Command::RetryProvisioning {
            grant: id.clone(),
            action,
        },
        idempotency,
        || view(&state, &p, &id),
    )
    .await
}

/// Close a removal the worker could not make, after removing the access in the target
/// by other means (admins). The grant ends as if the target had confirmed; the ledger
/// records who did it and why.
#[utoipa::path(post, path = "/api/v1/grants/{id}/provisioning/resolve", tag = "grants", request_body = ResolveBody,
    params(("id" = String, Path, description = "Grant id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn resolve(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<ResolveBody>,
) -> Result<Response, ApiError> {
    let id = grant_id(&id)?;
    let action = JobAction::parse(&body.action)
        .map_err(|m| ApiError::invalid("invalid-field", format!("action: {m}")))?;
    let reason = Reason::parse(&body.reason)
        .map_err(|m| ApiError::invalid("invalid-field", format!("reason: {m}")))?;
    perform_on(
        &state,
        &p,
        Command::ResolveProvisioning {
            grant: id.clone(),
            action,
            reason,
        },
        idempotency,
        || view(&state, &p, &id),
    )
    .await
}

/// Set a new credential for an NHI's grant in its target system (first issue or
/// rotation) and show the secret once, to the NHI's owner. Writ records only its
/// fingerprint. The credential expires with its grant at the latest, and sooner when
/// the NHI's or the system's rotation period says so.
#[utoipa::path(post, path = "/api/v1/grants/{id}/credential", tag = "grants",
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 201, body = IssuedCredential), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem),
        (status = 503, body = Problem)))]
pub async fn credential(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = grant_id(&id)?;
    let missing = || ApiError::not_found("unknown-grant", format!("no grant `{id}`"));
    let g = state.store.grant(&id).await?.ok_or_else(missing)?;
    let org = state.store.org().await?;
    if !visible(&p, &g, &org) {
        return Err(missing());
    }
    // Checked before the target is touched; the core checks all of it again.
    let nhi = org.identity(&g.beneficiary);
    let Some(IdentityKind::Nhi(n)) = nhi.map(|i| &i.kind) else {
        return Err(ApiError::forbidden(
            "not-owner",
            format!(
                "`{}` is not an NHI: only NHIs receive credentials",
                g.beneficiary
            ),
        ));
    };
    if n.owner != p.identity.name {
        return Err(ApiError::forbidden(
            "not-owner",
            format!(
                "only the owner of NHI `{}` receives its credentials",
                g.beneficiary
            ),
        ));
    }
    let issues = org
        .entitlement(&g.entitlement)
        .is_some_and(|e| matches!(e.kind, EntitlementKind::Account | EntitlementKind::Secret));
    let connector = state.connectors.get(&g.entitlement.system);
    let (Some(connector), true, true) = (connector, issues, g.provision) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no-credential",
            format!(
                "`{}` does not issue credentials (an account or secret entitlement on a system with a connector does)",
                g.entitlement
            ),
        ));
    };
    if !g.is_active() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "grant-not-active",
            format!("grant `{id}` is {}", g.status.as_str()),
        ));
    }
    let now = state.clock.now();
    let system_days = state
        .connectors
        .rotation_days(&g.entitlement.system)
        .unwrap_or(90);
    let period = n
        .rotation_period
        .min(DurationSpec::days(u64::from(system_days)));
    let expires_at = g.expires_at.min(now.plus(period));
    let life = expires_at.millis() - now.millis();
    let rotate_by = Timestamp(now.millis() + life * 4 / 5);
    let secret = writ_connect::generate_secret();
    let fingerprint = writ_connect::fingerprint(&secret);
    let target = org
        .entitlement(&g.entitlement)
        .map(|e| e.external_ref.clone())
        .unwrap_or_default();
    let assignment = writ_connect::Assignment {
        grant: id.to_string(),
        account: g.beneficiary.to_string(),
        target,
        entitlement: g.entitlement.to_string(),
    };
    connector
        .rotate(&assignment, &secret, expires_at.millis())
        .await
        .map_err(|e| {
            let status = if e.is_transient() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::new(
                status,
                "target-refused",
                format!("the target did not set the credential: {e}"),
            )
        })?;
    state
        .store
        .execute(writ_store::Envelope::new(
            p.actor(),
            Command::IssueCredential {
                grant: id.clone(),
                fingerprint: fingerprint.clone(),
                expires_at,
                rotate_by,
            },
        ))
        .await?;
    let body = IssuedCredential {
        grant: id.to_string(),
        secret: secret.expose().to_owned(),
        fingerprint,
        expires_at: expires_at.to_rfc3339(),
        rotate_by: rotate_by.to_rfc3339(),
        replaces: g.credential.clone(),
    };
    let mut res = json(StatusCode::CREATED, &body)?;
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}
