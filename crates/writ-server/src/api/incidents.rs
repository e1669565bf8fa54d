//! Post-incident reviews of break-glass access: the list security works from, and
//! closing one with a finding.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{Command, Finding, Reason, RequestId};

use super::page::Paging;
use super::{Params, json, perform, unless_hidden};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{CloseIncidentBody, IncidentItem, IncidentList, IncidentReviewView};

fn may_see(state_group: &str, p: &Principal) -> bool {
    p.sees_everything() || p.identity.groups.contains(state_group)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` (default), `overdue` (open past due, not yet escalated) or `all`.
    #[param(pattern = r"^(open|overdue|all)$")]
    state: Option<String>,
    /// At most this many, newest first, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Post-incident reviews of break-glass access (security, admins and auditors).
#[utoipa::path(get, path = "/api/v1/incident-reviews", tag = "break-glass", params(ListQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!("incident-reviews {:?}", q.state),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let policy = state.store.policy().await?;
    if !may_see(&policy.policy.security_group, &p) {
        return Err(ApiError::forbidden(
            "not-allowed",
            "post-incident reviews are for security, admins and auditors",
        ));
    }
    let now = state.clock.now();
    let (open, overdue) = match q.state.as_deref().unwrap_or("open") {
        "open" => (true, None),
        "overdue" => (true, Some(now)),
        "all" => (false, None),
        other => {
            return Err(ApiError::bad_request(
                "invalid-query",
                format!("state `{other}`: use open, overdue or all"),
            ));
        }
    };
    let rows = state
        .store
        .incident_reviews(open, overdue, paging.page())
        .await?;
    let next = paging.next_of(&state.pepper, &rows);
    let reviews = rows
        .iter()
        .map(|r| &r.item)
        .map(|r| IncidentItem {
            request: r.request.to_string(),
            grant: r.grant.to_string(),
            beneficiary: r.beneficiary.clone(),
            entitlement: r.entitlement.clone(),
            incident: r.incident.clone(),
            review: IncidentReviewView::new(&r.review, Some(now)),
        })
        .collect();
    json(StatusCode::OK, &IncidentList { reviews, next })
}

/// Close the post-incident review of break-glass request `id` with a finding
/// (a member of the security group, not the person who used the access).
#[utoipa::path(post, path = "/api/v1/requests/{id}/incident-review", tag = "break-glass", request_body = CloseIncidentBody,
    params(("id" = String, Path, description = "The break-glass request")),
    responses((status = 200, body = IncidentReviewView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn close(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<CloseIncidentBody>,
) -> Result<Response, ApiError> {
    let id = RequestId::parse(&id)
        .map_err(|_| ApiError::not_found("unknown-request", format!("no request `{id}`")))?;
    let finding = Finding::parse(&body.finding)
        .map_err(|m| ApiError::invalid("invalid-field", format!("finding: {m}")))?;
    let notes = Reason::parse(&body.notes)
        .map_err(|m| ApiError::invalid("invalid-field", format!("notes: {m}")))?;
    unless_hidden(
        perform(
            &state,
            &p,
            Command::CloseIncidentReview {
                request: id.clone(),
                finding,
                notes,
            },
            idempotency,
            StatusCode::OK,
            |_| async {
                let r = state.store.request(&id).await?.ok_or_else(|| {
                    ApiError::not_found("unknown-request", format!("no request `{id}`"))
                })?;
                let review = r
                    .incident_review
                    .as_ref()
                    .ok_or_else(|| ApiError::internal("the closed review vanished"))?;
                Ok(IncidentReviewView::new(review, Some(state.clock.now())))
            },
        )
        .await,
        || super::requests::view(&state, &p, &id),
    )
    .await
}
