//! Request extractors: who is calling, and what they sent.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use writ_core::{Actor, Identity, Role, TokenId};
use writ_store::IdempotencyKey;

use crate::app::AppState;
use crate::auth::token_hash;
use crate::problem::ApiError;

/// Path parameters, refused as problem+json (axum's own extractor answers a
/// segment that is not UTF-8 with text/plain).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::bad_request(
                "invalid-path",
                format!("the path is not valid: {}", e.body_text()),
            )),
        }
    }
}

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An authenticated caller. Any valid token gives one; what it may read is decided
/// per handler, what it may change by the core.
#[derive(Debug, Clone)]
pub struct Principal {
    pub identity: Identity,
    pub token: TokenId,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::Identity(self.identity.name.clone())
    }

    pub fn sees_everything(&self) -> bool {
        self.identity.has_role(Role::Admin) || self.identity.has_role(Role::Auditor)
    }
}

/// A caller allowed to change things: any principal but an auditor. Write handlers
/// take this type, so an auditor's request is refused before a handler runs.
#[derive(Debug, Clone)]
pub struct Acting(pub Principal);

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("missing credentials: send `Authorization: Bearer <token>`")
        })?
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::unauthorized("malformed Authorization header: expected `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "malformed Authorization header: expected `Bearer <token>`",
        ));
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer(&parts.headers)?;
        let hash = token_hash(&state.pepper, token);
        let invalid = || ApiError::unauthorized("invalid, revoked or expired token");
        let t = state
            .store
            .token_by_hash(&hash)
            .await?
            .ok_or_else(invalid)?;
        if !t.is_usable(state.clock.now()) {
            return Err(invalid());
        }
        let org = state.store.org().await?;
        let identity = org
            .identity(&t.identity)
            .filter(|i| i.is_active())
            .cloned()
            .ok_or_else(invalid)?;
        let p = Principal {
            identity,
            token: t.id,
        };
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = Principal::from_request_parts(parts, state).await?;
        if p.identity.has_role(Role::Auditor) {
            return Err(ApiError::forbidden(
                "read-only",
                format!(
                    "`{}` is an auditor; auditors read everything and change nothing",
                    p.identity.name
                ),
            ));
        }
        Ok(Acting(p))
    }
}

/// A JSON body, parsed with a clear error for each way it can be wrong, plus the
/// optional `Idempotency-Key` header and a fingerprint of the whole request.
#[derive(Debug)]
pub struct JsonBody<T> {
    pub body: T,
    pub idempotency: Option<IdempotencyKey>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let k = v.to_str().ok().map(str::trim).filter(|k| {
                    !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic())
                });
                Some(k.ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid-idempotency-key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?)
            }
        };
        let read = tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, BODY_LIMIT));
        let bytes = read
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    "body-timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        state.body_timeout.as_secs_f64()
                    ),
                )
            })?
            .map_err(|e| {
                if e.into_inner().is::<http_body_util::LengthLimitError>() {
                    ApiError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "body-too-large",
                        format!("request body exceeds {} KiB", BODY_LIMIT / 1024),
                    )
                } else {
                    ApiError::bad_request(
                        "malformed-body",
                        "the request body could not be read (broken chunked encoding or a dropped connection)",
                    )
                }
            })?;
        if !bytes.is_empty() {
            let json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|ct| {
                    let essence = ct
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    essence == "application/json" || essence.ends_with("+json")
                })
                .unwrap_or(false);
            if !json {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "send the body as `Content-Type: application/json`",
                ));
            }
        }
        let text: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        // Every body is one JSON object: serde would also take a positional array.
        if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request(
                "not-an-object",
                "the body must be one JSON object, with named fields",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(text);
        let body: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let at = if path == "." {
                String::new()
            } else {
                format!("`{path}`: ")
            };
            let msg = inner.to_string();
            // Keep serde's message but drop its line/column suffix for one-line errors.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            if inner.is_syntax() || inner.is_eof() {
                ApiError::bad_request("malformed-json", format!("body is not valid JSON: {msg}"))
            } else {
                ApiError::invalid("invalid-body", format!("{at}{msg}"))
            }
        })?;
        // Nothing may follow it: no trailing text, no second document.
        de.end().map_err(|_| {
            ApiError::bad_request(
                "malformed-json",
                "body is not valid JSON: characters follow the object",
            )
        })?;
        let idempotency = key.map(|k| {
            let mut h = Sha256::new();
            h.update(parts.method.as_str().as_bytes());
            h.update(b" ");
            h.update(parts.uri.path().as_bytes());
            h.update(b"\n");
            h.update(&bytes);
            IdempotencyKey {
                key: k.to_owned(),
                fingerprint: hex::encode(h.finalize()),
            }
        });
        Ok(JsonBody { body, idempotency })
    }
}
