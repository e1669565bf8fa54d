//! Access-review campaigns: launch, the reviewer's items, decisions, re-review, the
//! auditor's report, and grants past their review date.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{
    Campaign, CampaignId, CampaignSpec, Command, DeadlineAction, DurationSpec, EntitlementRef,
    ItemStatus, Name, Reason, ReviewDecision, ReviewerStrategy, RiskTier, Scope, SubjectKind,
    Timestamp,
};
use writ_store::ItemFilter;

use super::page::Paging;
use super::{Params, json, perform};
use crate::app::AppState;
use crate::extract::{Acting, JsonBody, Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{
    CampaignList, CampaignView, GrantList, GrantView, ItemContext, ItemList, ItemView, NewCampaign,
    RereviewBody, ReviewDecisionBody, ReviewReportView, ScopeBody,
};

fn field(name: &str) -> impl Fn(String) -> ApiError + '_ {
    move |m| ApiError::invalid("invalid-field", format!("{name}: {m}"))
}

fn campaign_id(id: &str) -> Result<CampaignId, ApiError> {
    CampaignId::parse(id)
        .map_err(|_| ApiError::not_found("unknown-campaign", format!("no campaign `{id}`")))
}

fn scope(b: &ScopeBody) -> Result<Scope, ApiError> {
    let names = |v: &[String], what: &str| {
        v.iter()
            .map(|s| Name::parse(s).map_err(field(what)))
            .collect::<Result<_, _>>()
    };
    Ok(Scope {
        systems: names(&b.systems, "scope.systems")?,
        entitlements: b
            .entitlements
            .iter()
            .map(|e| EntitlementRef::parse(e).map_err(field("scope.entitlements")))
            .collect::<Result<_, _>>()?,
        tiers: b
            .tiers
            .iter()
            .map(|t| {
                serde_json::from_value::<RiskTier>(serde_json::Value::String(t.clone())).map_err(
                    |_| {
                        ApiError::invalid(
                            "invalid-field",
                            format!("scope.tiers: `{t}` is not low, medium, high or critical"),
                        )
                    },
                )
            })
            .collect::<Result<_, _>>()?,
        kind: match b.kind.as_deref() {
            None => None,
            Some("human") => Some(SubjectKind::Human),
            Some("nhi") => Some(SubjectKind::Nhi),
            Some(other) => {
                return Err(ApiError::invalid(
                    "invalid-field",
                    format!("scope.kind: `{other}` is not human or nhi"),
                ));
            }
        },
        departments: b.departments.iter().map(|d| d.trim().to_owned()).collect(),
        beneficiary: None,
        include_overdue: b.include_overdue,
    })
}

fn spec(b: &NewCampaign) -> Result<CampaignSpec, ApiError> {
    let time = |s: &str, what: &str| Timestamp::parse_rfc3339(s).map_err(field(what));
    Ok(CampaignSpec {
        name: b.name.trim().to_owned(),
        scope: scope(&b.scope)?,
        reviewers: ReviewerStrategy::parse(&b.reviewers).map_err(field("reviewers"))?,
        fallback: Name::parse(&b.fallback).map_err(field("fallback"))?,
        due_at: time(&b.due_at, "due_at")?,
        final_at: time(&b.final_at, "final_at")?,
        remind_before: b
            .remind_before
            .as_deref()
            .map(|d| DurationSpec::parse(d).map_err(field("remind_before")))
            .transpose()?,
        on_deadline: DeadlineAction::parse(&b.on_deadline).map_err(field("on_deadline"))?,
    })
}

async fn load(state: &AppState, id: &CampaignId) -> Result<Campaign, ApiError> {
    state
        .store
        .campaign(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown-campaign", format!("no campaign `{id}`")))
}

/// Admins, auditors and the campaign's owner see a whole campaign; reviewers their items.
fn oversees(p: &Principal, c: &Campaign) -> bool {
    p.sees_everything() || c.owner == p.identity.name.as_str()
}

/// Launch a campaign: its population (one item per live grant in scope, each with an
/// independent reviewer) is snapshotted now (admins).
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "reviews", request_body = NewCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = CampaignView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Acting(p): Acting,
    JsonBody { body, idempotency }: JsonBody<NewCampaign>,
) -> Result<Response, ApiError> {
    let spec = spec(&body)?;
    let reader = state.clone();
    perform(
        &state,
        &p,
        Command::LaunchCampaign {
            spec,
            schedule: None,
        },
        idempotency,
        StatusCode::CREATED,
        |subject| async move {
            let id = campaign_id(super::subject_id(&subject, "campaign").unwrap_or_default())?;
            Ok(CampaignView::from(&load(&reader, &id).await?))
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only campaigns not yet closed.
    open: Option<bool>,
    /// At most this many, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Campaigns: all of them for admins and auditors; otherwise those the caller owns or
/// has items in.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "reviews", params(ListQuery),
    responses((status = 200, body = CampaignList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &state.pepper,
        &format!("campaigns {} {:?}", p.identity.name, q.open),
        q.limit,
        q.cursor.as_deref(),
        100,
    )?;
    let mut all = state.store.campaigns(q.open.unwrap_or(false)).await?;
    all.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut visible = Vec::new();
    for c in all {
        let after = paging.after.as_ref().map(|p| p.id.as_str());
        if after.is_some_and(|a| c.id.as_str() <= a) {
            continue;
        }
        if oversees(&p, &c) || !my_items(&state, &p, &c.id, None, 1).await?.is_empty() {
            visible.push(c);
            // One more than the page, to know whether there is a next.
            if visible.len() as u32 > paging.limit {
                break;
            }
        }
    }
    let (page, next) = paging.slice(&state.pepper, visible.iter(), |c| c.id.to_string());
    let campaigns = page.into_iter().map(CampaignView::from).collect();
    json(StatusCode::OK, &CampaignList { campaigns, next })
}

async fn my_items(
    state: &AppState,
    p: &Principal,
    id: &CampaignId,
    status: Option<ItemStatus>,
    limit: u32,
) -> Result<Vec<writ_store::ItemRow>, ApiError> {
    Ok(state
        .store
        .review_items(ItemFilter {
            status,
            reviewer: Some(p.identity.name.clone()),
            groups: p.identity.groups.iter().cloned().collect(),
            limit,
            ..ItemFilter::all(id)
        })
        .await?)
}

/// Show one campaign.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", tag = "reviews",
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn show(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let c = load(&state, &id).await?;
    if !oversees(&p, &c) && my_items(&state, &p, &id, None, 1).await?.is_empty() {
        return Err(ApiError::not_found(
            "unknown-campaign",
            format!("no campaign `{id}`"),
        ));
    }
    json(StatusCode::OK, &CampaignView::from(&c))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// `open`, `certified`, `revoked` or `kept`.
    #[param(pattern = r"^(open|certified|revoked|kept)$")]
    status: Option<String>,
    /// Only items the caller may decide (default for reviewers; admins see all).
    mine: Option<bool>,
    /// At most this many, 1-1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// A campaign's items with the context a reviewer decides on: who asked and who
/// approved, the justification, the beneficiary's other access.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/items", tag = "reviews", params(("id" = String, Path, description = "Campaign id"), ItemsQuery),
    responses((status = 200, body = ItemList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn items(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Params(q): Params<ItemsQuery>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let paging = Paging::parse(
        &state.pepper,
        &format!(
            "review-items {} {id} {:?} {:?}",
            p.identity.name, q.status, q.mine
        ),
        q.limit,
        q.cursor.as_deref(),
        200,
    )?;
    let c = load(&state, &id).await?;
    // Someone with no business in the campaign learns nothing of it, not even that
    // it has no items for them.
    if !oversees(&p, &c) && my_items(&state, &p, &id, None, 1).await?.is_empty() {
        return Err(ApiError::not_found(
            "unknown-campaign",
            format!("no campaign `{id}`"),
        ));
    }
    let status = q
        .status
        .as_deref()
        .map(ItemStatus::parse)
        .transpose()
        .map_err(|m| ApiError::bad_request("invalid-query", m))?;
    let after = paging
        .after
        .as_ref()
        .map(|p| u32::try_from(p.at).unwrap_or(u32::MAX));
    let rows = if q.mine.unwrap_or(!oversees(&p, &c)) {
        state
            .store
            .review_items(ItemFilter {
                status,
                reviewer: Some(p.identity.name.clone()),
                groups: p.identity.groups.iter().cloned().collect(),
                after,
                limit: paging.limit,
                ..ItemFilter::all(&id)
            })
            .await?
    } else if oversees(&p, &c) {
        state
            .store
            .review_items(ItemFilter {
                status,
                after,
                limit: paging.limit,
                ..ItemFilter::all(&id)
            })
            .await?
    } else {
        return Err(ApiError::forbidden(
            "not-campaign-owner",
            "only admins, auditors and the campaign's owner see every item",
        ));
    };
    let next = match rows.last() {
        Some(last) if rows.len() as u32 == paging.limit => Some(paging.next(
            &state.pepper,
            &writ_store::Position {
                at: i64::from(last.item.item),
                id: String::new(),
            },
        )),
        _ => None,
    };
    let org = state.store.org().await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = ItemView::from(r);
        v.context = Some(context(&state, &org, r).await?);
        items.push(v);
    }
    json(StatusCode::OK, &ItemList { items, next })
}

async fn context(
    state: &AppState,
    org: &writ_core::Org,
    r: &writ_store::ItemRow,
) -> Result<ItemContext, ApiError> {
    let grant = state.store.grant(&r.item.grant).await?;
    let request = state.store.request(&r.request).await?;
    let others = super::all_grants_of(state, &r.beneficiary).await?;
    let ent = org.entitlement(&r.entitlement);
    let policy = state.store.policy().await?;
    let live: Vec<&writ_core::Grant> = others
        .iter()
        .filter(|g| g.is_live() && g.id != r.item.grant)
        .collect();
    let sod_conflicts = policy
        .policy
        .toxic
        .iter()
        .filter_map(|rule| {
            let partner = rule.partner(&r.entitlement)?;
            let g = live.iter().find(|g| &g.entitlement == partner)?;
            Some(format!("{}: {partner} (grant {})", rule.name, g.id))
        })
        .collect();
    Ok(ItemContext {
        sod_conflicts,
        granted_at: grant
            .as_ref()
            .map(|g| g.granted_at.to_rfc3339())
            .unwrap_or_default(),
        expires_at: grant
            .as_ref()
            .map(|g| g.expires_at.to_rfc3339())
            .unwrap_or_default(),
        requester: request
            .as_ref()
            .map(|q| q.submission.requester.to_string())
            .unwrap_or_default(),
        justification: request
            .as_ref()
            .map(|q| q.submission.justification.to_string())
            .unwrap_or_default(),
        ticket: request
            .as_ref()
            .and_then(|q| q.submission.ticket.as_ref().map(|t| t.to_string())),
        approvers: request
            .iter()
            .flat_map(|q| q.steps.iter())
            .filter_map(|s| s.decision.as_ref())
            .filter(|d| d.decision == writ_core::Decision::Approve)
            .map(|d| format!("{} ({})", d.approver, d.basis))
            .collect(),
        other_access: live.iter().map(|g| g.entitlement.to_string()).collect(),
        risk: ent.map(|e| e.risk.to_string()).unwrap_or_default(),
        privileged: ent.is_some_and(|e| e.privileged),
    })
}

/// Certify or revoke items. A revocation revokes the grant (and deprovisions it in a
/// connected target); several items at once are recorded as a bulk decision.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/decisions", tag = "reviews", request_body = ReviewDecisionBody,
    params(("id" = String, Path, description = "Campaign id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 200, body = ItemList), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<ReviewDecisionBody>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let decision = match body.decision.as_str() {
        "certify" => ReviewDecision::Certify,
        "revoke" => ReviewDecision::Revoke,
        other => {
            return Err(ApiError::invalid(
                "invalid-field",
                format!("decision: `{other}` is not certify or revoke"),
            ));
        }
    };
    let reason = body
        .reason
        .as_deref()
        .map(|r| Reason::parse(r).map_err(field("reason")))
        .transpose()?;
    let wanted = body.items.clone();
    let reader = state.clone();
    perform(
        &state,
        &p,
        Command::DecideReview {
            campaign: id.clone(),
            items: body.items,
            decision,
            reason,
        },
        idempotency,
        StatusCode::OK,
        |_| async move {
            let mut items = Vec::with_capacity(wanted.len());
            for n in wanted {
                let rows = reader
                    .store
                    .review_items(ItemFilter {
                        item: Some(n),
                        ..ItemFilter::all(&id)
                    })
                    .await?;
                items.extend(rows.iter().map(ItemView::from));
            }
            Ok(ItemList { items, next: None })
        },
    )
    .await
}

/// Send a flagged reviewer's certifications in this campaign back for review by the
/// fallback reviewer (the campaign's owner or an admin).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/rereview", tag = "reviews", request_body = RereviewBody,
    params(("id" = String, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rereview(
    State(state): State<AppState>,
    Acting(p): Acting,
    Path(id): Path<String>,
    JsonBody { body, idempotency }: JsonBody<RereviewBody>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let reviewer = Name::parse(&body.reviewer).map_err(field("reviewer"))?;
    let reader = state.clone();
    perform(
        &state,
        &p,
        Command::RequireReReview {
            campaign: id.clone(),
            reviewer,
        },
        idempotency,
        StatusCode::OK,
        |_| async move { Ok(CampaignView::from(&load(&reader, &id).await?)) },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The auditor's report: scope and population reconciled with the grant table,
/// reviewers and their authority, every item's decision with reason, time and
/// timeliness, revocations and their follow-through, each with its ledger entries
/// (admins, auditors and the campaign's owner).
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/report", tag = "reviews", params(("id" = String, Path, description = "Campaign id"), ReportQuery),
    responses((status = 200, body = ReviewReportView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn report(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Params(q): Params<ReportQuery>,
) -> Result<Response, ApiError> {
    let id = campaign_id(&id)?;
    let c = load(&state, &id).await?;
    if !oversees(&p, &c) {
        return Err(ApiError::forbidden(
            "not-campaign-owner",
            "only admins, auditors and the campaign's owner read its report",
        ));
    }
    let report =
        state.store.review_report(&id).await?.ok_or_else(|| {
            ApiError::not_found("unknown-campaign", format!("no campaign `{id}`"))
        })?;
    let view = ReviewReportView::from(&report);
    match q.format.as_deref().unwrap_or("json") {
        "json" => json(StatusCode::OK, &view),
        "csv" => {
            let mut res = (StatusCode::OK, view.to_csv()).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            Ok(res)
        }
        other => Err(ApiError::bad_request(
            "invalid-query",
            format!("format: `{other}` is not json or csv"),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverdueQuery {
    /// At most this many, 1-1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// Live grants past their review date, oldest first (admins and auditors). A
/// campaign with `include_overdue` pulls them in.
#[utoipa::path(get, path = "/api/v1/reviews/overdue", tag = "reviews", params(OverdueQuery),
    responses((status = 200, body = GrantList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn overdue(
    State(state): State<AppState>,
    p: Principal,
    Params(q): Params<OverdueQuery>,
) -> Result<Response, ApiError> {
    if !p.sees_everything() {
        return Err(ApiError::forbidden(
            "admin-or-auditor-only",
            "only admins and auditors list overdue reviews",
        ));
    }
    let paging = Paging::parse(
        &state.pepper,
        &format!("overdue {}", p.identity.name),
        q.limit,
        q.cursor.as_deref(),
        200,
    )?;
    let rows = state
        .store
        .overdue_reviews(state.clock.now(), paging.page())
        .await?;
    let next = paging.next_of(&state.pepper, &rows);
    json(
        StatusCode::OK,
        &GrantList {
            grants: rows.iter().map(|g| GrantView::from(&g.item)).collect(),
            next,
        },
    )
}
