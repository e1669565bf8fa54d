//! The audit log: every ledger event, in order.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use writ_store::Position;

use super::page::Paging;
use super::{Params, json};
use crate::app::AppState;
use crate::extract::Principal;
use crate::problem::{ApiError, Problem};
use crate::wire::{AuditEvent, AuditPage};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Return events after this sequence number (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<u64>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page (instead of `after`).
    cursor: Option<String>,
}

/// Ledger events in order (admins and auditors).
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventsQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
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
    let paging = Paging::parse(&state.pepper, "events", q.limit, q.cursor.as_deref(), 100)?;
    if q.after.is_some() && paging.after.is_some() {
        return Err(ApiError::bad_request(
            "invalid-query",
            "give `after` or `cursor`, not both",
        ));
    }
    let after = match &paging.after {
        Some(p) => u64::try_from(p.at).unwrap_or(0),
        None => q.after.unwrap_or(0),
    };
    // A sequence number no log can reach is refused, never wrapped to the start;
    // past the end of this log is an empty page.
    if after > i64::MAX as u64 {
        return Err(ApiError::bad_request(
            "invalid-query",
            format!("after must be at most {}", i64::MAX),
        ));
    }
    let rows = if after == i64::MAX as u64 {
        Vec::new()
    } else {
        state.store.events(after, paging.limit).await?
    };
    let full = rows.len() == paging.limit as usize;
    let events: Vec<AuditEvent> = rows.iter().map(super::ledger::audit_event).collect();
    let next_after = if full {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    let next = next_after.map(|seq| {
        paging.next(
            &state.pepper,
            &Position {
                at: seq as i64,
                id: String::new(),
            },
        )
    });
    json(
        StatusCode::OK,
        &AuditPage {
            events,
            next_after,
            next,
        },
    )
}
