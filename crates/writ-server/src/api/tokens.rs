//! API tokens: issue (admin, shown once), list (never the secret), revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use writ_core::{Command, DurationSpec, Event, Name, TokenId};

use super::page::{PageQuery, Paging};
use super::{Executed, Params, execute, json, unless_hidden};
use crate::app::AppState;
use crate::auth::{new_token, token_hash};
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{IssuedToken, NewToken, TokenList, TokenView};

/// Issue an API token for an identity (admin). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry is refused: the secret is never shown twice")),
    responses((status = 201, body = IssuedToken), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn issue(
    State(state): State<AppState>,
    Acting(p): Acting,
    JsonBody { body, idempotency }: JsonBody<NewToken>,
) -> Result<Response, ApiError> {
    let identity = Name::parse(&body.identity)
        .map_err(|m| ApiError::invalid("invalid-field", format!("identity: {m}")))?;
    let expires_at = match &body.expires_in {
        Some(d) => {
            let d = DurationSpec::parse(d)
                .map_err(|m| ApiError::invalid("invalid-field", format!("expires_in: {m}")))?;
            Some(state.clock.now().plus(d))
        }
        None => None,
    };
    let secret = new_token().map_err(|e| ApiError::internal(format!("no OS randomness: {e}")))?;
    let command = Command::IssueToken {
        identity,
        label: body.label.clone(),
        hash: token_hash(&state.pepper, secret.expose()),
        expires_at,
    };
    match execute(&state, p.actor(), command, idempotency).await? {
        Executed::Replay(rec) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "token-already-issued",
            format!(
                "this Idempotency-Key already issued `{}`; a token's secret is shown once and never again",
                rec.subject.trim_start_matches("token:")
            ),
        )),
        Executed::Fresh(events) => {
            let token = events
                .iter()
                .find_map(|e| match &e.event {
                    Event::TokenIssued { token } => Some(TokenView::from(token)),
                    _ => None,
                })
                .ok_or_else(|| ApiError::internal("token issue produced no token"))?;
            json(
                StatusCode::CREATED,
                &IssuedToken {
                    token,
                    secret: secret.expose().to_owned(),
                },
            )
        }
    }
}

/// List tokens: all for admins and auditors, one's own for everyone else.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(PageQuery),
    responses((status = 200, body = TokenList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!("tokens {}", p.identity.name),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let whose = (!p.sees_everything()).then(|| p.identity.name.clone());
    let tokens = state.store.tokens(whose.as_ref()).await?;
    // In issue order, as the store lists them (the time zero-padded so the key sorts
    // as the list does).
    let (page, next) = paging.slice(&state.pepper, tokens.iter(), |t| {
        format!("{:020}\0{}", t.issued_at.millis(), t.id)
    });
    json(
        StatusCode::OK,
        &TokenList {
            tokens: page.into_iter().map(TokenView::from).collect(),
            next,
        },
    )
}

/// Revoke a token (an admin, or its holder). It stops working at once.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = TokenId::parse(&id)
        .map_err(|_| ApiError::not_found("unknown-token", format!("no token `{id}`")))?;
    let seen = || async {
        state
            .store
            .token(&id)
            .await?
            .filter(|t| p.sees_everything() || t.identity == p.identity.name)
            .ok_or_else(|| ApiError::not_found("unknown-token", format!("no token `{id}`")))
    };
    unless_hidden(
        execute(
            &state,
            p.actor(),
            Command::RevokeToken { token: id.clone() },
            None,
        )
        .await,
        seen,
    )
    .await?;
    json(StatusCode::OK, &TokenView::from(&seen().await?))
}
