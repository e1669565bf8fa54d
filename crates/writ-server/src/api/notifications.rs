//! Notification records: reminders, escalations, time-outs, break-glass alerts.
//! Real channels (mail, chat) come later; every record comes from a ledger entry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page::Paging;
use super::{Params, json};
use crate::app::AppState;
use crate::extract::Principal;
use crate::problem::{ApiError, Problem};
use crate::wire::{NotificationList, NotificationView};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Everyone's (admins and auditors only); default: the caller's.
    all: Option<bool>,
    /// At most this many, newest first, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// The caller's notification records, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = NotificationList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let all = q.all.unwrap_or(false);
    if all && !p.sees_everything() {
        return Err(ApiError::forbidden(
            "not-allowed",
            "only admins and auditors see everyone's notifications",
        ));
    }
    let paging = Paging::parse(
        &state.pepper,
        &format!("notifications {} {all}", p.identity.name),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let recipient = (!all).then(|| p.identity.name.clone());
    let rows = state.store.notifications(recipient, paging.page()).await?;
    let next = paging.next_of(&state.pepper, &rows);
    let notifications = rows
        .iter()
        .map(|n| NotificationView::from(&n.item))
        .collect();
    json(
        StatusCode::OK,
        &NotificationList {
            notifications,
            next,
        },
    )
}
