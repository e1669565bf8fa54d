//! API tokens: issue (admin, shown once), list (never the secret), revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use writ_core::{Command, DurationSpec, Event, Name, TokenId};

use super::{Executed, execute, json};
use crate::app::AppState;
use crate::auth::{new_token, token_hash};
use crate::extract::{Acting, JsonBody, Principal};
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
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 401, body = Problem)))]
pub async fn list(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    let whose = (!p.sees_everything()).then(|| p.identity.name.clone());
    let tokens = state.store.tokens(whose.as_ref()).await?;
    json(
        StatusCode::OK,
        &TokenList {
            tokens: tokens.iter().map(TokenView::from).collect(),
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
    execute(
        &state,
        p.actor(),
        Command::RevokeToken { token: id.clone() },
        None,
    )
    .await?;
    let t = state
        .store
        .token(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown-token", format!("no token `{id}`")))?;
    json(StatusCode::OK, &TokenView::from(&t))
}
