//! Access requests: submit, show, decide, cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{
    ActivePolicy, Command, Comment, Constraints, Decision, DurationSpec, EntitlementRef, Event,
    Justification, Name, Org, Reason, Request, RequestId, RequestKind, RequestStatus, TicketRef,
    eligibility,
};
use writ_store::{Envelope, Outcome, Page, RequestFilter, Touching};

use super::page::{MAX_LIMIT, Paging};
use super::{Params, json, perform, perform_on, subject_id};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{CancelBody, DecisionBody, NewRequest, RequestList, RequestView};

fn field<T>(name: &str, r: Result<T, String>) -> Result<T, ApiError> {
    r.map_err(|m| ApiError::invalid("invalid-field", format!("{name}: {m}")))
}

fn request_id(id: &str) -> Result<RequestId, ApiError> {
    RequestId::parse(id)
        .map_err(|_| ApiError::not_found("unknown-request", format!("no request `{id}`")))
}

/// Whether `p` may see `r`: the people it concerns, anyone who decided or may decide
/// it, admins and auditors, and, for break-glass access, the security group that
/// reviews it. Others are told it does not exist.
fn visible(
    p: &Principal,
    r: &Request,
    open: &[writ_core::StepEligibility],
    org: &Org,
    security_group: &str,
) -> bool {
    let me = &p.identity.name;
    let s = &r.submission;
    if p.sees_everything() || &s.requester == me || &s.beneficiary == me {
        return true;
    }
    if r.incident_review.is_some() && p.identity.groups.contains(security_group) {
        return true;
    }
    if r.steps
        .iter()
        .any(|st| st.decision.as_ref().is_some_and(|d| &d.approver == me))
    {
        return true;
    }
    if open
        .iter()
        .any(|e| e.eligible.iter().any(|c| &c.identity == me))
    {
        return true;
    }
    org.identity(&s.beneficiary)
        .is_some_and(|b| b.manager() == Some(me) || b.owner() == Some(me))
}

pub async fn view(
    state: &AppState,
    p: &Principal,
    id: &RequestId,
) -> Result<RequestView, ApiError> {
    let (r, open) = judged(state, p, id, true).await?;
    Ok(RequestView::new(&r, &open))
}

/// [`view`]'s 404 unless `p` may see request `id`.
async fn seen(state: &AppState, p: &Principal, id: &RequestId) -> Result<(), ApiError> {
    judged(state, p, id, false).await.map(|_| ())
}

/// Request `id` and, when `want_open` or when it takes that to know, who may decide
/// its open steps — or the 404 of a request that does not exist when `p` may not see
/// it. Who may decide is worked out only when nothing cheaper settles visibility (a
/// relation to the request, a decision on it), and for someone the policies cannot
/// let decide it (outside their reach) never: a stranger's 404 costs about what a
/// missing id's does.
async fn judged(
    state: &AppState,
    p: &Principal,
    id: &RequestId,
    want_open: bool,
) -> Result<(Request, Vec<writ_core::StepEligibility>), ApiError> {
    let missing = || ApiError::not_found("unknown-request", format!("no request `{id}`"));
    let r = state.store.request(id).await?.ok_or_else(missing)?;
    let org = state.store.org().await?;
    let policy = state.store.policy().await?;
    let group = &policy.policy.security_group;
    let pending = r.status == RequestStatus::Pending;
    let related = visible(p, &r, &[], &org, group);
    let candidate =
        related || (pending && within_reach(state.reach.get(&org, &policy, &p.identity.name), &r));
    if !candidate {
        return Err(missing());
    }
    let open = if pending && (want_open || !related) {
        eligibility(&org, policy.rules(), &r, state.clock.now())
    } else {
        Vec::new()
    };
    if !related && !visible(p, &r, &open, &org, group) {
        return Err(missing());
    }
    Ok((r, open))
}

/// Whether the policies in force could let `who` decide a step of pending `r` (a
/// superset of who is eligible: see `Authority::reach`).
fn within_reach(reach: Option<std::sync::Arc<writ_core::Reach>>, r: &Request) -> bool {
    let Some(reach) = reach else {
        return true;
    };
    let s = &r.submission;
    reach.requesters.contains(&s.requester)
        || reach.beneficiaries.contains(&s.beneficiary)
        || reach.entitlements.contains(&s.entitlement)
        || r.undecided_steps().any(|st| {
            reach.open_roles.contains(&st.role.to_string()) || (reach.any_escalated && st.escalated)
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending`, `approved`, `denied` or `cancelled`.
    #[param(pattern = r"^(pending|approved|denied|cancelled)$")]
    status: Option<String>,
    /// Only requests the caller made or benefits from.
    mine: Option<bool>,
    /// Only pending requests with an open step the caller may decide now (the
    /// approver's inbox).
    to_decide: Option<bool>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Rows one page may look at before it answers with what it found and a `next`
/// (a caller who may see few of many requests still gets an answer promptly).
const SCAN_BUDGET: usize = 5_000;

/// The requests `p` may be able to see (or, with `to_decide`, decide), as relations
/// the store narrows by before each is judged exactly: `None` when the policies in
/// force do not narrow who may decide, or when `p` sees everything.
fn narrowing(
    state: &AppState,
    p: &Principal,
    org: &std::sync::Arc<Org>,
    policy: &std::sync::Arc<ActivePolicy>,
    to_decide: bool,
) -> Option<Touching> {
    if p.sees_everything() && !to_decide {
        return None;
    }
    let me = &p.identity.name;
    let reach = state.reach.get(org, policy, me)?;
    let mut t = Touching {
        requesters: reach.requesters.clone(),
        beneficiaries: reach.beneficiaries.clone(),
        entitlements: reach.entitlements.clone(),
        open_roles: reach.open_roles.clone(),
        any_escalated: reach.any_escalated,
        ..Touching::default()
    };
    if !to_decide {
        // What `visible` lets a person see besides what they may decide.
        t.requesters.insert(me.clone());
        t.beneficiaries.insert(me.clone());
        t.beneficiaries.extend(
            org.identities
                .values()
                .filter(|i| i.manager() == Some(me) || i.owner() == Some(me))
                .map(|i| i.name.clone()),
        );
        t.decided_by.insert(me.clone());
        if p.identity.groups.contains(&policy.policy.security_group) {
            t.kinds.insert(RequestKind::BreakGlass.as_str().to_owned());
        }
    }
    Some(t)
}

/// List requests the caller may see, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(ListQuery),
    responses((status = 200, body = RequestList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!(
            "requests {} {:?} {:?} {:?}",
            p.identity.name, q.status, q.mine, q.to_decide
        ),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let mut status = match &q.status {
        Some(s) => {
            Some(RequestStatus::parse(s).map_err(|m| ApiError::bad_request("invalid-query", m))?)
        }
        None => None,
    };
    let to_decide = q.to_decide.unwrap_or(false);
    if to_decide {
        status = Some(RequestStatus::Pending);
    }
    let org = state.store.org().await?;
    let policy = state.store.policy().await?;
    let now = state.clock.now();
    let filter = RequestFilter {
        status,
        involving: q.mine.unwrap_or(false).then(|| p.identity.name.clone()),
        touching: narrowing(&state, &p, &org, &policy, to_decide),
        page: paging.page(),
    };
    let exact = to_decide || !p.sees_everything();
    let batch = if exact { MAX_LIMIT } else { paging.limit };
    let mut out = Vec::new();
    let mut scanned = 0;
    let mut after = paging.after.clone();
    let mut next = None;
    'pages: loop {
        let rows = state
            .store
            .requests(RequestFilter {
                page: Page {
                    after: after.clone(),
                    limit: batch,
                },
                ..filter.clone()
            })
            .await?;
        let full = rows.len() as u32 == batch;
        for row in rows {
            scanned += 1;
            let r = &row.item;
            let open = if r.status == RequestStatus::Pending {
                eligibility(&org, policy.rules(), r, now)
            } else {
                Vec::new()
            };
            let decides = || {
                open.iter()
                    .any(|e| e.eligible.iter().any(|c| c.identity == p.identity.name))
            };
            let keep = if to_decide {
                decides()
            } else {
                visible(&p, r, &open, &org, &policy.policy.security_group)
            };
            after = Some(row.position.clone());
            if keep {
                out.push(RequestView::new(r, &open));
                if out.len() as u32 == paging.limit {
                    next = Some(paging.next(&state.pepper, &row.position));
                    break 'pages;
                }
            }
            if scanned >= SCAN_BUDGET {
                next = Some(paging.next(&state.pepper, &row.position));
                break 'pages;
            }
        }
        if !full {
            break;
        }
    }
    json(
        StatusCode::OK,
        &RequestList {
            requests: out,
            next,
        },
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Judge the request and show its steps and eligible approvers without
    /// submitting it (status `dry-run`, nothing recorded).
    dry_run: Option<bool>,
}

/// Submit an access request. Steps and eligible approvers are worked out at once.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = NewRequest,
    params(CreateQuery, ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = RequestView, description = "Submitted"),
        (status = 200, body = RequestView, description = "With `dry_run`: how it would be judged; nothing is recorded"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Acting(p): Acting,
    Params(q): Params<CreateQuery>,
    JsonBody { body, idempotency }: JsonBody<NewRequest>,
) -> Result<Response, ApiError> {
    let command = Command::Submit {
        beneficiary: field("beneficiary", Name::parse(&body.beneficiary))?,
        entitlement: field("entitlement", EntitlementRef::parse(&body.entitlement))?,
        justification: field("justification", Justification::parse(&body.justification))?,
        ticket: body
            .ticket
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| field("ticket", TicketRef::parse(t)))
            .transpose()?,
        duration: field("duration", DurationSpec::parse(&body.duration))?,
        kind: match body.kind.as_deref() {
            None => RequestKind::Standard,
            Some(k) => field("kind", RequestKind::parse(k))?,
        },
        constraints: body.constraints.map(Constraints::from),
        sod_exception: body
            .sod_exception
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| field("sod_exception", Justification::parse(t)))
            .transpose()?,
    };
    if q.dry_run.unwrap_or(false) {
        return dry_run(&state, &p, command).await;
    }
    perform(
        &state,
        &p,
        command,
        idempotency,
        StatusCode::CREATED,
        |subject| {
            let state = state.clone();
            let p = p.clone();
            async move {
                let id = subject_id(&subject, "request")
                    .ok_or_else(|| ApiError::internal("submission produced no request"))?;
                view(&state, &p, &request_id(id)?).await
            }
        },
    )
    .await
}

/// The request `command` would submit, judged by the same rules, with its steps
/// and who may decide them; nothing is recorded.
async fn dry_run(state: &AppState, p: &Principal, command: Command) -> Result<Response, ApiError> {
    let outcome = state
        .store
        .execute(Envelope::dry_run(p.actor(), command))
        .await?;
    let Outcome::Preview(events) = outcome else {
        return Err(ApiError::internal("a dry run wrote to the ledger"));
    };
    let Some((submission, digest)) = events.into_iter().find_map(|e| match e.event {
        Event::RequestSubmitted { request, digest } => Some((request, digest)),
        _ => None,
    }) else {
        return Err(ApiError::internal(
            "a dry-run submission produced no request",
        ));
    };
    let r = Request::submitted(submission, digest);
    let org = state.store.org().await?;
    let policy = state.store.policy().await?;
    let open = eligibility(&org, policy.rules(), &r, state.clock.now());
    let mut view = RequestView::new(&r, &open);
    view.status = "dry-run".into();
    json(StatusCode::OK, &view)
}

/// Show a request: its frozen content, its steps, and who may decide each open step.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    json(StatusCode::OK, &view(&state, &p, &request_id(&id)?).await?)
}

async fn decide(
    state: AppState,
    p: Principal,
    id: String,
    decision: Decision,
    body: DecisionBody,
    idempotency: Option<writ_store::IdempotencyKey>,
) -> Result<Response, ApiError> {
    let id = request_id(&id)?;
    let comment = body
        .comment
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| field("comment", Comment::parse(c)))
        .transpose()?;
    let command = Command::Decide {
        request: id.clone(),
        step: body.step,
        decision,
        comment,
    };
    // Checked before deciding, not after: two eligible approvers racing both see the
    // request, and the one who loses is told it was decided (409), not that it is gone.
    seen(&state, &p, &id).await?;
    perform(
        &state,
        &p,
        command,
        idempotency,
        StatusCode::OK,
        |_| async { view(&state, &p, &id).await },
    )
    .await
}

/// Approve one step of a request. The last approval creates the grant.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", request_body = DecisionBody,
    params(("id" = String, Path, description = "Request id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn approve(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<DecisionBody>,
) -> Result<Response, ApiError> {
    decide(state, p, id, Decision::Approve, body, idempotency).await
}

/// Deny one step of a request, with a comment. A denial ends the request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/deny", tag = "requests", request_body = DecisionBody,
    params(("id" = String, Path, description = "Request id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn deny(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<DecisionBody>,
) -> Result<Response, ApiError> {
    decide(state, p, id, Decision::Deny, body, idempotency).await
}

/// Cancel a pending request (requester only).
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests", request_body = CancelBody,
    params(("id" = String, Path, description = "Request id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<CancelBody>,
) -> Result<Response, ApiError> {
    let id = request_id(&id)?;
    let reason = body
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| field("reason", Reason::parse(r)))
        .transpose()?;
    perform_on(
        &state,
        &p,
        Command::Cancel {
            request: id.clone(),
            reason,
        },
        idempotency,
        || view(&state, &p, &id),
    )
    .await
}
