//! Access reviews in SQLite: the campaign and item projections, what review commands
//! load, and the auditor's report.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use writ_core::{
    Assignee, Campaign, CampaignId, EntitlementRef, Event, GrantId, ItemCtx, ItemOpened,
    ItemStatus, Name, Occurrence, Recorded, RequestId, ReviewCtx, ReviewDecision, ReviewItem,
    ReviewNeeds, ReviewSubject, Submission, Timestamp,
};

use super::project::Projector;
use super::rows::{self, DbResult, GRANT_COLUMNS, corrupt, json, to_json};
use crate::{
    ItemFilter, ItemRow, Keyed, Page, Position, ReportLine, ReviewNotice, ReviewReport,
    ReviewerFlag,
};

const LIVE: &str = "('pending', 'active')";

fn name(what: &str, text: &str) -> DbResult<Name> {
    Name::parse(text).map_err(|e| corrupt(what, e))
}

/// Column `i` as text, borrowed from the row.
fn text<'r>(r: &'r Row<'_>, i: usize, what: &str) -> DbResult<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| corrupt(what, e))
}

// ---- projection ------------------------------------------------------------------

/// Applies a review event to the review tables. Grant changes (a certification's new
/// `review_by`, a revocation) are the caller's.
pub fn project(conn: &Connection, rec: &Recorded) -> DbResult<()> {
    match &rec.event {
        Event::CampaignLaunched { campaign, .. } => {
            let c = Campaign::launched(rec)
                .ok_or_else(|| corrupt("campaign", "launch did not build a campaign"))?;
            conn.prepare_cached(
                "INSERT INTO campaigns (id, name, owner, launched_at, launched_seq, schedule, occurrence_at, \
                 population, open, certified, revoked, kept, reminded, escalated, closed_at, closed_seq, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 0, 0, 0, 0, 0, NULL, NULL, ?9)",
            )?
            .execute(params![
                campaign.as_str(),
                c.spec.name,
                c.owner,
                rec.at.millis(),
                rec.seq as i64,
                c.schedule.as_ref().map(|o| o.schedule.to_string()),
                c.schedule.as_ref().map(|o| o.at.millis()),
                c.population as i64,
                to_json(&c)?,
            ])?;
        }
        Event::ReviewItemsOpened { campaign, items } => {
            // Many rows per statement: a launch opens an item per live grant in one
            // transaction, and a statement's own cost (cursors opened and closed) is
            // then paid once per `ITEMS_PER_STATEMENT` rows instead of once per row.
            let mut chunks = items.chunks_exact(ITEMS_PER_STATEMENT);
            let mut many = conn.prepare_cached(&insert_items_sql(ITEMS_PER_STATEMENT))?;
            for chunk in chunks.by_ref() {
                bind_items(&mut many, campaign, rec.seq, chunk)?;
                many.raw_execute()?;
            }
            let mut one = conn.prepare_cached(&insert_items_sql(1))?;
            for i in chunks.remainder() {
                bind_items(&mut one, campaign, rec.seq, std::slice::from_ref(i))?;
                one.raw_execute()?;
            }
        }
        Event::ReviewDecided {
            campaign,
            item,
            decision,
            reason,
            bulk,
            defaulted,
            basis,
            ..
        } => {
            let status = match decision {
                ReviewDecision::Certify => ItemStatus::Certified,
                ReviewDecision::Revoke => ItemStatus::Revoked,
                ReviewDecision::Keep => ItemStatus::Kept,
            };
            let n = conn
                .prepare_cached(
                    "UPDATE review_items SET status = ?3, decided_by = ?4, decided_at = ?5, decided_seq = ?6, \
                     decision_basis = ?7, reason = ?8, bulk = ?9, defaulted = ?10 \
                     WHERE campaign = ?1 AND item = ?2 AND status = 'open'",
                )?
                .execute(params![
                    campaign.as_str(),
                    item,
                    status.as_str(),
                    rec.actor.to_string(),
                    rec.at.millis(),
                    rec.seq as i64,
                    basis,
                    reason.as_ref().map(|r| r.as_str()),
                    bulk,
                    defaulted,
                ])?;
            if n != 1 {
                return Err(corrupt(
                    &format!("event {}", rec.seq),
                    format!("item {item} of campaign `{campaign}` is not open"),
                ));
            }
            let col = match decision {
                ReviewDecision::Certify => "certified",
                ReviewDecision::Revoke => "revoked",
                ReviewDecision::Keep => "kept",
            };
            conn.prepare_cached(&format!(
                "UPDATE campaigns SET open = open - 1, {col} = {col} + 1 WHERE id = ?1"
            ))?
            .execute(params![campaign.as_str()])?;
        }
        Event::ReviewItemsReassigned {
            campaign,
            items,
            to,
            why,
            reopen,
        } => {
            let basis = if *reopen {
                "fallback:re-review"
            } else {
                "fallback:escalated"
            };
            let mut stmt = conn.prepare_cached(
                "UPDATE review_items SET reviewer = ?3, basis = ?4, reassigned_seq = ?5, reassigned_why = ?6, \
                 prior = CASE WHEN ?7 THEN 'certified by ' || decided_by || ' (ledger entry ' || decided_seq || ')' ELSE prior END, \
                 prior_seq = CASE WHEN ?7 THEN decided_seq ELSE prior_seq END, \
                 status = CASE WHEN ?7 THEN 'open' ELSE status END, \
                 decided_by = CASE WHEN ?7 THEN NULL ELSE decided_by END, \
                 decided_at = CASE WHEN ?7 THEN NULL ELSE decided_at END, \
                 decided_seq = CASE WHEN ?7 THEN NULL ELSE decided_seq END, \
                 decision_basis = CASE WHEN ?7 THEN NULL ELSE decision_basis END, \
                 reason = CASE WHEN ?7 THEN NULL ELSE reason END, \
                 bulk = CASE WHEN ?7 THEN 0 ELSE bulk END \
                 WHERE campaign = ?1 AND item = ?2",
            )?;
            for item in items {
                stmt.execute(params![
                    campaign.as_str(),
                    item,
                    to.to_string(),
                    basis,
                    rec.seq as i64,
                    why,
                    reopen,
                ])?;
            }
            if *reopen {
                conn.prepare_cached(
                    "UPDATE campaigns SET open = open + ?2, certified = certified - ?2, \
                     closed_at = NULL, closed_seq = NULL WHERE id = ?1",
                )?
                .execute(params![campaign.as_str(), items.len() as i64])?;
            }
        }
        Event::ReviewNotified {
            campaign,
            to,
            notice,
            items,
        } => {
            conn.prepare_cached(
                "INSERT INTO review_notices (seq, campaign, recipient, notice, items, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                rec.seq as i64,
                campaign.as_str(),
                to.to_string(),
                notice,
                *items as i64,
                rec.at.millis(),
            ])?;
            let col = match notice.as_str() {
                "reminder" => Some("reminded"),
                "escalation" => Some("escalated"),
                _ => None,
            };
            if let Some(col) = col {
                conn.prepare_cached(&format!("UPDATE campaigns SET {col} = 1 WHERE id = ?1"))?
                    .execute(params![campaign.as_str()])?;
            }
        }
        Event::ReviewerFlagged {
            campaign,
            reviewer,
            rule,
            decisions,
            certified,
            median_gap_ms,
        } => {
            conn.prepare_cached(
                "INSERT INTO reviewer_flags (campaign, reviewer, rule, decisions, certified, median_gap_ms, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                campaign.as_str(),
                reviewer.as_str(),
                rule,
                decisions,
                certified,
                median_gap_ms,
                rec.seq as i64,
            ])?;
        }
        Event::CampaignClosed { campaign, .. } => {
            conn.prepare_cached(
                "UPDATE campaigns SET closed_at = ?2, closed_seq = ?3 WHERE id = ?1",
            )?
            .execute(params![campaign.as_str(), rec.at.millis(), rec.seq as i64])?;
        }
        _ => {}
    }
    Ok(())
}

/// Review items inserted by one statement when a launch opens them.
const ITEMS_PER_STATEMENT: usize = 100;

/// `INSERT` of `rows` open items: `?1` the campaign, `?2` the opening entry, then four
/// parameters per item (see [`bind_items`]).
fn insert_items_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|k| {
            let p = 3 + 4 * k;
            format!("(?1, ?{p}, ?{}, ?{}, ?{}, 'open', ?2)", p + 1, p + 2, p + 3)
        })
        .collect();
    format!(
        "INSERT INTO review_items (campaign, item, grant_id, reviewer, basis, status, opened_seq) VALUES {}",
        values.join(", ")
    )
}

fn bind_items(
    stmt: &mut rusqlite::Statement<'_>,
    campaign: &CampaignId,
    seq: u64,
    items: &[ItemOpened],
) -> DbResult<()> {
    stmt.raw_bind_parameter(1, campaign.as_str())?;
    stmt.raw_bind_parameter(2, seq as i64)?;
    for (k, i) in items.iter().enumerate() {
        let p = 3 + 4 * k;
        stmt.raw_bind_parameter(p, i.item)?;
        stmt.raw_bind_parameter(p + 1, i.grant.as_str())?;
        stmt.raw_bind_parameter(p + 2, i.reviewer.to_string())?;
        stmt.raw_bind_parameter(p + 3, i.basis.as_str())?;
    }
    Ok(())
}

// ---- loading -----------------------------------------------------------------------

const CAMPAIGN_COLUMNS: &str =
    "body, open, certified, revoked, kept, reminded, escalated, closed_at";

fn campaign_from(r: &Row<'_>) -> DbResult<Campaign> {
    let mut c: Campaign = json("campaign", &r.get::<_, String>(0)?)?;
    c.open = r.get::<_, i64>(1)? as u64;
    c.certified = r.get::<_, i64>(2)? as u64;
    c.revoked = r.get::<_, i64>(3)? as u64;
    c.kept = r.get::<_, i64>(4)? as u64;
    c.reminded = r.get(5)?;
    c.escalated = r.get(6)?;
    c.closed_at = r.get::<_, Option<i64>>(7)?.map(Timestamp);
    Ok(c)
}

pub fn load_campaign(conn: &Connection, id: &str) -> DbResult<Option<Campaign>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?1"
    ))?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        Some(r) => Ok(Some(campaign_from(r)?)),
        None => Ok(None),
    }
}

pub fn load_campaigns(conn: &Connection, open_only: bool) -> DbResult<Vec<Campaign>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE (?1 = 0 OR closed_at IS NULL) ORDER BY launched_seq DESC"
    ))?;
    let mut rows = stmt.query(params![open_only])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(campaign_from(r)?);
    }
    Ok(out)
}

/// Live grants with who asked for and approved them: all of them, or one
/// beneficiary's (separate statements, so that one uses the beneficiary index).
///
/// One pass over the live grants: each row brings its request's requester and
/// approvers — each approver and, for a delegate's decision, the delegator whose
/// authority it used: both decided the access (`group_concat`, in no particular order: they are only checked for
/// independence; a name cannot hold a comma). A launch reads every live grant inside
/// the writer's transaction, so there is no second pass over the grants and no map of
/// approvers by request.
fn subjects(conn: &Connection, beneficiary: Option<&Name>) -> DbResult<Vec<ReviewSubject>> {
    let filter = match beneficiary {
        Some(_) => format!("g.beneficiary = ?1 AND g.status IN {LIVE}"),
        None => format!("g.status IN {LIVE} AND ?1 IS NULL"),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT g.id, g.request_id, g.beneficiary, g.entitlement, g.review_by, r.requester, \
         (SELECT group_concat(s.approver || coalesce(',' || json_extract(s.authority, '$.on_behalf_of'), ''), ',') \
          FROM request_steps s WHERE s.request_id = g.request_id AND s.decision = 'approve') \
         FROM grants g JOIN requests r ON r.id = g.request_id WHERE {filter}"
    ))?;
    let mut rows = stmt.query(params![beneficiary.map(Name::as_str)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let approvers = match r
            .get_ref(6)?
            .as_str_or_null()
            .map_err(|e| corrupt("request", e))?
        {
            Some(list) => list
                .split(',')
                .map(|a| name("approver", a))
                .collect::<DbResult<Vec<_>>>()?,
            None => Vec::new(),
        };
        let text = |i| text(r, i, "grant");
        out.push(ReviewSubject {
            grant: GrantId::parse(text(0)?).map_err(|e| corrupt("grant", e))?,
            request: RequestId::parse(text(1)?).map_err(|e| corrupt("grant", e))?,
            beneficiary: name("grant", text(2)?)?,
            entitlement: EntitlementRef::parse(text(3)?).map_err(|e| corrupt("grant", e))?,
            review_by: Timestamp(r.get(4)?),
            requester: name("request", text(5)?)?,
            approvers,
        });
    }
    Ok(out)
}

fn item_from(campaign: &CampaignId, r: &Row<'_>, at: usize) -> DbResult<ReviewItem> {
    let what = "review item";
    let reviewer: String = r.get(at + 2)?;
    Ok(ReviewItem {
        campaign: campaign.clone(),
        item: r.get(at)?,
        grant: GrantId::parse(&r.get::<_, String>(at + 1)?).map_err(|e| corrupt(what, e))?,
        reviewer: Assignee::try_from(reviewer).map_err(|e| corrupt(what, e))?,
        basis: r.get(at + 3)?,
        status: ItemStatus::parse(&r.get::<_, String>(at + 4)?).map_err(|e| corrupt(what, e))?,
        decided_by: r.get(at + 5)?,
        decided_at: r.get::<_, Option<i64>>(at + 6)?.map(Timestamp),
        bulk: r.get(at + 7)?,
        defaulted: r.get(at + 8)?,
    })
}

const ITEM_COLUMNS: &str = "i.item, i.grant_id, i.reviewer, i.basis, i.status, i.decided_by, i.decided_at, i.bulk, i.defaulted";

/// Items of a campaign matching `cond` (over `i`), with their grants and parties.
fn items_ctx(
    conn: &Connection,
    campaign: &CampaignId,
    cond: &str,
    p: &[&dyn rusqlite::ToSql],
) -> DbResult<Vec<ItemCtx>> {
    let grant_cols: Vec<String> = GRANT_COLUMNS
        .split(", ")
        .map(|c| format!("g.{c}"))
        .collect();
    let n = grant_cols.len();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, {ITEM_COLUMNS}, r.requester FROM review_items i \
         JOIN grants g ON g.id = i.grant_id JOIN requests r ON r.id = g.request_id \
         WHERE i.campaign = ?1 AND {cond} ORDER BY i.item",
        grant_cols.join(", ")
    ))?;
    let id = campaign.as_str().to_owned();
    let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
    all.extend_from_slice(p);
    let mut rows = stmt.query(all.as_slice())?;
    let mut out = Vec::new();
    let mut steps = conn.prepare_cached(
        "SELECT approver, json_extract(authority, '$.on_behalf_of') FROM request_steps \
         WHERE request_id = ?1 AND decision = 'approve'",
    )?;
    while let Some(r) = rows.next()? {
        let grant = rows::grant_from(r)?;
        let item = item_from(campaign, r, n)?;
        let requester = name("request", &r.get::<_, String>(n + 9)?)?;
        let mut approvers = Vec::new();
        let mut s = steps.query(params![grant.request.as_str()])?;
        while let Some(a) = s.next()? {
            approvers.push(name("approver", &a.get::<_, String>(0)?)?);
            if let Some(principal) = a.get::<_, Option<String>>(1)? {
                approvers.push(name("approver", &principal)?);
            }
        }
        out.push(ItemCtx {
            parties: ReviewSubject {
                grant: grant.id.clone(),
                request: grant.request.clone(),
                beneficiary: grant.beneficiary.clone(),
                entitlement: grant.entitlement.clone(),
                review_by: grant.review_by,
                requester,
                approvers,
            },
            item,
            grant,
        });
    }
    Ok(out)
}

/// What a review command needs, read inside the writer's transaction.
pub fn load_ctx(
    conn: &Connection,
    _projector: &mut Projector,
    needs: &ReviewNeeds,
) -> DbResult<ReviewCtx> {
    let mut ctx = ReviewCtx::default();
    let campaign_id = match needs {
        ReviewNeeds::Population { occurrence } => {
            ctx.population = subjects(conn, None)?;
            ctx.live_grants = ctx.population.len() as u64;
            if let Some(Occurrence { schedule, at }) = occurrence {
                ctx.occurrence_launched = conn
                    .prepare_cached(
                        "SELECT 1 FROM campaigns WHERE schedule = ?1 AND occurrence_at = ?2",
                    )?
                    .query_row(params![schedule.as_str(), at.millis()], |_| Ok(()))
                    .optional()?
                    .is_some();
            }
            return Ok(ctx);
        }
        ReviewNeeds::Beneficiary(b) => {
            ctx.population = subjects(conn, Some(b))?;
            ctx.live_grants = conn.query_row(
                &format!("SELECT COUNT(*) FROM grants WHERE status IN {LIVE}"),
                [],
                |r| r.get::<_, i64>(0),
            )? as u64;
            return Ok(ctx);
        }
        ReviewNeeds::Items { campaign, .. }
        | ReviewNeeds::Open(campaign)
        | ReviewNeeds::Decisions(campaign)
        | ReviewNeeds::CertifiedBy { campaign, .. } => campaign,
    };
    ctx.campaign = load_campaign(conn, campaign_id.as_str())?;
    if ctx.campaign.is_none() {
        return Ok(ctx);
    }
    match needs {
        ReviewNeeds::Items { items, .. } => {
            // Named items one by one: a bulk decision names at most MAX_BULK.
            for n in items {
                ctx.items
                    .extend(items_ctx(conn, campaign_id, "i.item = ?2", &[n])?);
            }
        }
        ReviewNeeds::Open(_) => {
            ctx.items = items_ctx(conn, campaign_id, "i.status = 'open'", &[])?;
        }
        ReviewNeeds::CertifiedBy { reviewer, .. } => {
            let by = reviewer.as_str().to_owned();
            ctx.items = items_ctx(
                conn,
                campaign_id,
                "i.status = 'certified' AND i.decided_by = ?2",
                &[&by],
            )?;
            ctx.flagged = flagged(conn, campaign_id)?;
        }
        ReviewNeeds::Decisions(_) => {
            let mut stmt = conn.prepare_cached(
                "SELECT decided_by, decided_at, status FROM review_items \
                 WHERE campaign = ?1 AND defaulted = 0 AND status IN ('certified', 'revoked')",
            )?;
            let mut rows = stmt.query(params![campaign_id.as_str()])?;
            while let Some(r) = rows.next()? {
                let by: String = r.get(0)?;
                let Ok(reviewer) = Name::parse(&by) else {
                    continue;
                };
                let status: String = r.get(2)?;
                ctx.decisions.push(writ_core::DecisionStat {
                    reviewer,
                    at: Timestamp(r.get(1)?),
                    decision: if status == "certified" {
                        ReviewDecision::Certify
                    } else {
                        ReviewDecision::Revoke
                    },
                });
            }
            ctx.flagged = flagged(conn, campaign_id)?;
        }
        _ => {}
    }
    Ok(ctx)
}

fn flagged(conn: &Connection, campaign: &CampaignId) -> DbResult<std::collections::BTreeSet<Name>> {
    let mut stmt =
        conn.prepare_cached("SELECT reviewer FROM reviewer_flags WHERE campaign = ?1")?;
    let mut rows = stmt.query(params![campaign.as_str()])?;
    let mut out = std::collections::BTreeSet::new();
    while let Some(r) = rows.next()? {
        out.insert(name("flag", &r.get::<_, String>(0)?)?);
    }
    Ok(out)
}

// ---- reading -----------------------------------------------------------------------

const ROW_COLUMNS: &str = "i.item, i.grant_id, i.reviewer, i.basis, i.status, i.decided_by, i.decided_at, i.bulk, i.defaulted, \
     i.opened_seq, i.decided_seq, i.decision_basis, i.reason, i.reassigned_why, i.prior, \
     g.beneficiary, g.entitlement, g.status, g.request_id, g.review_by";

fn row_from(campaign: &CampaignId, r: &Row<'_>) -> DbResult<ItemRow> {
    let what = "review item";
    Ok(ItemRow {
        item: item_from(campaign, r, 0)?,
        opened_seq: r.get::<_, i64>(9)? as u64,
        decided_seq: r.get::<_, Option<i64>>(10)?.map(|s| s as u64),
        decision_basis: r.get(11)?,
        reason: r.get(12)?,
        reassigned_why: r.get(13)?,
        prior: r.get(14)?,
        beneficiary: name(what, &r.get::<_, String>(15)?)?,
        entitlement: EntitlementRef::parse(&r.get::<_, String>(16)?)
            .map_err(|e| corrupt(what, e))?,
        grant_status: r.get(17)?,
        request: RequestId::parse(&r.get::<_, String>(18)?).map_err(|e| corrupt(what, e))?,
        review_by: Timestamp(r.get(19)?),
    })
}

pub fn load_items(conn: &Connection, f: &ItemFilter) -> DbResult<Vec<ItemRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM review_items i JOIN grants g ON g.id = i.grant_id \
         WHERE i.campaign = ?1 AND (?2 IS NULL OR i.status = ?2) \
         AND (?3 IS NULL OR i.reviewer = ?3 OR i.reviewer IN (SELECT value FROM json_each(?4))) \
         AND (?6 IS NULL OR i.item = ?6) AND (?7 IS NULL OR i.item > ?7) ORDER BY i.item LIMIT ?5"
    ))?;
    let groups = serde_json::to_string(
        &f.groups
            .iter()
            .map(|g| format!("group:{g}"))
            .collect::<Vec<_>>(),
    )
    .map_err(|e| corrupt("filter", e))?;
    let mut rows = stmt.query(params![
        f.campaign.as_str(),
        f.status.map(ItemStatus::as_str),
        f.reviewer.as_ref().map(Name::as_str),
        groups,
        if f.limit == 0 {
            i64::MAX
        } else {
            i64::from(f.limit)
        },
        f.item,
        f.after,
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row_from(&f.campaign, r)?);
    }
    Ok(out)
}

/// The auditor's view of one campaign.
pub fn report(conn: &Connection, id: &CampaignId) -> DbResult<Option<ReviewReport>> {
    let Some(campaign) = load_campaign(conn, id.as_str())? else {
        return Ok(None);
    };
    let (launched_seq, closed_seq): (i64, Option<i64>) = conn.query_row(
        "SELECT launched_seq, closed_seq FROM campaigns WHERE id = ?1",
        params![id.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut approvers: HashMap<String, Vec<(Name, String)>> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT s.request_id, s.approver, s.basis FROM review_items i \
             JOIN grants g ON g.id = i.grant_id JOIN request_steps s ON s.request_id = g.request_id \
             WHERE i.campaign = ?1 AND s.decision = 'approve' ORDER BY s.request_id, s.idx",
        )?;
        let mut rows = stmt.query(params![id.as_str()])?;
        while let Some(r) = rows.next()? {
            let who = name("approver", &r.get::<_, String>(1)?)?;
            approvers
                .entry(r.get(0)?)
                .or_default()
                .push((who, r.get::<_, Option<String>>(2)?.unwrap_or_default()));
        }
    }
    let mut ends = conn.prepare_cached(
        "SELECT seq, kind FROM events WHERE subject = ?1 AND kind IN ('grant_revoked', 'grant_deprovisioned') ORDER BY seq",
    )?;
    let mut last_review = conn.prepare_cached(
        "SELECT MAX(decided_at) FROM review_items WHERE grant_id = ?1 AND campaign <> ?2 AND status = 'certified'",
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {ROW_COLUMNS}, r.requester, r.submission FROM review_items i \
         JOIN grants g ON g.id = i.grant_id JOIN requests r ON r.id = g.request_id \
         WHERE i.campaign = ?1 ORDER BY i.item"
    ))?;
    let mut rows = stmt.query(params![id.as_str()])?;
    let mut lines = Vec::with_capacity(campaign.population as usize);
    while let Some(r) = rows.next()? {
        let row = row_from(id, r)?;
        let requester = name("request", &r.get::<_, String>(20)?)?;
        let submission: Submission = json("request", &r.get::<_, String>(21)?)?;
        let (mut revoked_seq, mut deprovisioned_seq) = (None, None);
        if row.item.status == ItemStatus::Revoked {
            let mut e = ends.query(params![format!("grant:{}", row.item.grant)])?;
            while let Some(x) = e.next()? {
                let seq = x.get::<_, i64>(0)? as u64;
                match x.get::<_, String>(1)?.as_str() {
                    "grant_revoked" => revoked_seq = Some(seq),
                    _ => deprovisioned_seq = Some(seq),
                }
            }
        }
        let last: Option<i64> =
            last_review.query_row(params![row.item.grant.as_str(), id.as_str()], |x| x.get(0))?;
        lines.push(ReportLine {
            approvers: approvers
                .get(row.request.as_str())
                .cloned()
                .unwrap_or_default(),
            requester,
            justification: submission.justification.to_string(),
            ticket: submission.ticket.map(|t| t.to_string()),
            last_review: last.map(Timestamp),
            revoked_seq,
            deprovisioned_seq,
            row,
        });
    }
    let mut notices = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, recipient, notice, items, at FROM review_notices WHERE campaign = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![id.as_str()])?;
        while let Some(r) = rows.next()? {
            notices.push(ReviewNotice {
                seq: r.get::<_, i64>(0)? as u64,
                to: r.get(1)?,
                notice: r.get(2)?,
                items: r.get::<_, i64>(3)? as u64,
                at: Timestamp(r.get(4)?),
            });
        }
    }
    let mut flags = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT reviewer, rule, decisions, certified, median_gap_ms, seq FROM reviewer_flags WHERE campaign = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![id.as_str()])?;
        while let Some(r) = rows.next()? {
            flags.push(ReviewerFlag {
                reviewer: name("flag", &r.get::<_, String>(0)?)?,
                rule: r.get(1)?,
                decisions: r.get(2)?,
                certified: r.get(3)?,
                median_gap_ms: r.get(4)?,
                seq: r.get::<_, i64>(5)? as u64,
            });
        }
    }
    Ok(Some(ReviewReport {
        campaign,
        launched_seq: launched_seq as u64,
        closed_seq: closed_seq.map(|s| s as u64),
        lines,
        notices,
        flags,
    }))
}

/// The ledger entries (seq) of every review decision about `grant`, in order: current
/// decisions, and the one a re-review reopened.
pub fn decisions_of(conn: &Connection, grant: &GrantId) -> DbResult<Vec<u64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT decided_seq FROM review_items WHERE grant_id = ?1 AND decided_seq IS NOT NULL \
         UNION SELECT prior_seq FROM review_items WHERE grant_id = ?1 AND prior_seq IS NOT NULL \
         ORDER BY 1",
    )?;
    let rows = stmt.query_map(params![grant.as_str()], |r| r.get::<_, i64>(0))?;
    let mut out = Vec::new();
    for seq in rows {
        out.push(seq? as u64);
    }
    Ok(out)
}

/// Live grants past their review date, oldest first.
/// Live grants past their review date, the most overdue first (review date, then id).
pub fn overdue(
    conn: &Connection,
    now: Timestamp,
    page: &Page,
) -> DbResult<Vec<Keyed<writ_core::Grant>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE status IN {LIVE} AND review_by <= ?1 \
           AND (?3 IS NULL OR review_by > ?3 OR (review_by = ?3 AND id > ?4)) \
         ORDER BY review_by, id LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![now.millis(), page.size(), page.at(), page.id()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let g = rows::grant_from(r)?;
        out.push(Keyed {
            position: Position {
                at: g.review_by.millis(),
                id: g.id.to_string(),
            },
            item: g,
        });
    }
    Ok(out)
}

/// Takes (or renews) the named lease for `holder` until `until`, unless another holder
/// has it and it has not run out. Returns whether `holder` has it now.
pub fn take_lease(
    conn: &Connection,
    lease: &str,
    holder: &str,
    now: Timestamp,
    until: Timestamp,
) -> DbResult<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.holder = excluded.holder OR leases.until <= ?3",
        )?
        .execute(params![lease, holder, now.millis(), until.millis()])?;
    Ok(n == 1)
}
