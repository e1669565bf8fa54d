//! The HTTP API under `/api/v1`, documented as OpenAPI 3.1 from these handlers.

mod audit;
mod catalog;
mod delegations;
mod grants;
mod incidents;
mod ledger;
pub mod meta;
mod notifications;
mod page;
mod policy;
mod provisioning;
pub mod reach;
pub(crate) mod requests;
mod reviews;
mod tokens;

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use writ_core::{Actor, Command, Recorded};
use writ_store::{Envelope, IdempotencyKey, IdempotentRecord, Outcome};

use crate::app::AppState;
use crate::problem::{ApiError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Writ",
        description = "Access governance: every access request is a governed decision that drives provisioning, expires on its own, and leaves verifiable evidence."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(requests::list, requests::create))
        .routes(routes!(requests::show))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::deny))
        .routes(routes!(requests::cancel))
        .routes(routes!(grants::list))
        .routes(routes!(grants::show))
        .routes(routes!(grants::revoke))
        .routes(routes!(grants::retry))
        .routes(routes!(grants::resolve))
        .routes(routes!(provisioning::jobs))
        .routes(routes!(provisioning::reconcile))
        .routes(routes!(provisioning::credential_report))
        .routes(routes!(grants::credential))
        .routes(routes!(catalog::list_identities))
        .routes(routes!(catalog::show_identity, catalog::put_identity))
        .routes(routes!(catalog::list_systems))
        .routes(routes!(catalog::put_system))
        .routes(routes!(catalog::list_entitlements))
        .routes(routes!(catalog::put_entitlement))
        .routes(routes!(tokens::list, tokens::issue))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::events))
        .routes(routes!(ledger::checkpoint, ledger::sign_now))
        .routes(routes!(ledger::key))
        .routes(routes!(ledger::entry))
        .routes(routes!(ledger::inclusion))
        .routes(routes!(ledger::consistency))
        .routes(routes!(ledger::evidence))
        .routes(routes!(reviews::list, reviews::create))
        .routes(routes!(reviews::show))
        .routes(routes!(reviews::items))
        .routes(routes!(reviews::decide))
        .routes(routes!(reviews::rereview))
        .routes(routes!(reviews::report))
        .routes(routes!(reviews::overdue))
        .routes(routes!(meta::me))
        .routes(routes!(delegations::list, delegations::create))
        .routes(routes!(delegations::revoke))
        .routes(routes!(notifications::list))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::close))
        .routes(routes!(policy::show))
        .routes(routes!(policy::reload))
        .routes(routes!(policy::explain))
}

/// Query parameters, with problem+json on bad input.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Params)
            .map_err(|e| ApiError::bad_request("invalid-query", format!("query string: {e}")))
    }
}

pub enum Executed {
    Fresh(Vec<Recorded>),
    Replay(IdempotentRecord),
}

pub async fn execute(
    state: &AppState,
    actor: Actor,
    command: Command,
    idempotency: Option<IdempotencyKey>,
) -> Result<Executed, ApiError> {
    let outcome = state
        .store
        .execute(Envelope {
            idempotency,
            ..Envelope::new(actor, command)
        })
        .await?;
    Ok(match outcome {
        Outcome::Committed(events) | Outcome::Preview(events) => Executed::Fresh(events),
        Outcome::Replayed(rec) => Executed::Replay(rec),
    })
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

pub fn json<V: Serialize>(status: StatusCode, v: &V) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_response(status, body))
}

/// Finishes a write: renders the resource the command touched and, under an
/// idempotency key, remembers the response so a retry gets exactly the same one.
pub async fn conclude<V, F, Fut>(
    state: &AppState,
    actor: &Actor,
    idempotency: Option<&IdempotencyKey>,
    status: StatusCode,
    executed: Executed,
    render: F,
) -> Result<Response, ApiError>
where
    V: Serialize,
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<V, ApiError>>,
{
    match executed {
        Executed::Replay(rec) => {
            let mut res = match (rec.status, rec.body) {
                (Some(s), Some(body)) => {
                    json_response(StatusCode::from_u16(s).unwrap_or(StatusCode::OK), body)
                }
                _ => json(status, &render(rec.subject).await?)?,
            };
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
        Executed::Fresh(events) => {
            let subject = events
                .first()
                .map(|e| e.event.subject())
                .unwrap_or_default();
            let view = render(subject).await?;
            let body = serde_json::to_vec(&view).map_err(|e| ApiError::internal(e.to_string()))?;
            if let Some(k) = idempotency
                && let Err(e) = state
                    .store
                    .save_response(actor, &k.key, status.as_u16(), body.clone())
                    .await
            {
                // The command is durable; a retry will re-render instead of replaying bytes.
                tracing::warn!(error = %e, "could not remember an idempotent response");
            }
            Ok(json_response(status, body))
        }
    }
}

/// Executes a command for `p` and concludes it with `render` (see [`conclude`]).
pub async fn perform<V, F, Fut>(
    state: &AppState,
    p: &crate::extract::Principal,
    command: Command,
    idempotency: Option<IdempotencyKey>,
    status: StatusCode,
    render: F,
) -> Result<Response, ApiError>
where
    V: Serialize,
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<V, ApiError>>,
{
    let actor = p.actor();
    let executed = execute(state, actor.clone(), command, idempotency.clone()).await?;
    conclude(
        state,
        &actor,
        idempotency.as_ref(),
        status,
        executed,
        render,
    )
    .await
}

/// A refused write on an object the caller may not see is answered as a read of it
/// would be: `seen` is that read, whose 404 replaces the refusal. Who may approve,
/// who owns, whether it is still pending — none of it reaches a caller who may not
/// learn that the object exists.
pub async fn unless_hidden<T, S, SFut, V>(
    result: Result<T, ApiError>,
    seen: S,
) -> Result<T, ApiError>
where
    S: FnOnce() -> SFut,
    SFut: Future<Output = Result<V, ApiError>>,
{
    match result {
        Err(e) if matches!(e.status.as_u16(), 403 | 404 | 409 | 422) => {
            seen().await?;
            Err(e)
        }
        r => r,
    }
}

/// [`perform`] for a command on one object the caller reads with `view`: the answer
/// is that view (200), and a refusal becomes the view's 404 when the caller may not
/// see the object (see [`unless_hidden`]).
pub async fn perform_on<V, F, Fut>(
    state: &AppState,
    p: &crate::extract::Principal,
    command: Command,
    idempotency: Option<IdempotencyKey>,
    view: F,
) -> Result<Response, ApiError>
where
    V: Serialize,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<V, ApiError>>,
{
    let done = perform(state, p, command, idempotency, StatusCode::OK, |_| view()).await;
    unless_hidden(done, &view).await
}

/// `request:req_…` → `req_…`.
pub fn subject_id<'a>(subject: &'a str, kind: &str) -> Option<&'a str> {
    subject.strip_prefix(kind)?.strip_prefix(':')
}

/// Every grant of `beneficiary`, page by page.
pub(super) async fn all_grants_of(
    state: &AppState,
    beneficiary: &writ_core::Name,
) -> Result<Vec<writ_core::Grant>, ApiError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .store
            .grants(writ_store::GrantFilter {
                beneficiary: Some(beneficiary.clone()),
                page: writ_store::Page { after, limit: 1000 },
                ..writ_store::GrantFilter::default()
            })
            .await?;
        let full = page.len() == 1000;
        after = page.last().map(|g| g.position.clone());
        out.extend(page.into_iter().map(|g| g.item));
        if !full {
            return Ok(out);
        }
    }
}
