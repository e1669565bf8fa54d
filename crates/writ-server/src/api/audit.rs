//! The audit log: every ledger event, in order.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Params, json};
use crate::app::AppState;
use crate::extract::Principal;
use crate::problem::{ApiError, Problem};
use crate::wire::{AuditEvent, AuditPage};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Return events after this sequence number (default 0: from the start).
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Ledger events in order (admins and auditors).
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<EventsQuery>,
) -> Result<Response, ApiError> {
    if !p.sees_everything() {
        return Err(ApiError::forbidden(
            "audit-only",
            "the audit log is readable by admins and auditors",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state.store.events(q.after.unwrap_or(0), limit).await?;
    let full = rows.len() == limit as usize;
    let events: Vec<AuditEvent> = rows.iter().map(super::ledger::audit_event).collect();
    let next_after = if full {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    json(StatusCode::OK, &AuditPage { events, next_after })
}
