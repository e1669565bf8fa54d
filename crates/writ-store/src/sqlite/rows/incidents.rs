//! Post-incident reviews of break-glass access.

use rusqlite::{Connection, OptionalExtension, Row, params};
use writ_core::{Finding, GrantId, IncidentReview, Name, Reason, Request, RequestId, Timestamp};

use crate::{IncidentReviewRow, Keyed, Page, Position};

use super::{DbResult, corrupt};

const REVIEW_COLUMNS: &str = "opened_at, due, escalated_at, finding, closed_by, closed_at, notes";

fn incident_review_from(r: &Row<'_>, offset: usize) -> DbResult<IncidentReview> {
    let what = "a post-incident review";
    Ok(IncidentReview {
        opened_at: Timestamp(r.get(offset)?),
        due: Timestamp(r.get(offset + 1)?),
        escalated_at: r.get::<_, Option<i64>>(offset + 2)?.map(Timestamp),
        finding: match r.get::<_, Option<String>>(offset + 3)? {
            Some(f) => Some(Finding::parse(&f).map_err(|e| corrupt(what, e))?),
            None => None,
        },
        closed_by: match r.get::<_, Option<String>>(offset + 4)? {
            Some(n) => Some(Name::parse(&n).map_err(|e| corrupt(what, e))?),
            None => None,
        },
        closed_at: r.get::<_, Option<i64>>(offset + 5)?.map(Timestamp),
        notes: match r.get::<_, Option<String>>(offset + 6)? {
            Some(n) => Some(Reason::parse(&n).map_err(|e| corrupt(what, e))?),
            None => None,
        },
    })
}

pub(super) fn load_incident_review(
    conn: &Connection,
    request: &str,
) -> DbResult<Option<IncidentReview>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REVIEW_COLUMNS} FROM incident_reviews WHERE request_id = ?1"
    ))?;
    let mut rows = stmt.query(params![request])?;
    match rows.next()? {
        Some(r) => Ok(Some(incident_review_from(r, 0)?)),
        None => Ok(None),
    }
}

/// Writes a request's post-incident review as it now stands.
pub fn save_incident_review(
    conn: &Connection,
    r: &Request,
    grant: &GrantId,
    incident: &str,
) -> DbResult<()> {
    let Some(v) = &r.incident_review else {
        return Ok(());
    };
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO incident_reviews (request_id, grant_id, beneficiary, entitlement, incident, {REVIEW_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        r.id().as_str(),
        grant.as_str(),
        r.submission.beneficiary.as_str(),
        r.submission.entitlement.to_string(),
        incident,
        v.opened_at.millis(),
        v.due.millis(),
        v.escalated_at.map(Timestamp::millis),
        v.finding.map(Finding::as_str),
        v.closed_by.as_ref().map(Name::as_str),
        v.closed_at.map(Timestamp::millis),
        v.notes.as_ref().map(Reason::as_str),
    ])?;
    Ok(())
}

/// The grant and incident of a request's post-incident review.
pub fn incident_of(conn: &Connection, request: &str) -> DbResult<Option<(GrantId, String)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT grant_id, incident FROM incident_reviews WHERE request_id = ?1")?
        .query_row(params![request], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(g, i)| {
        Ok((
            GrantId::parse(&g).map_err(|e| corrupt("incident review", e))?,
            i,
        ))
    })
    .transpose()
}

/// Post-incident reviews, with their request, grant, beneficiary, entitlement and
/// incident: open ones only (`open`), or those past due and not yet escalated
/// (`overdue_at`), newest first.
pub fn incident_reviews(
    conn: &Connection,
    open: bool,
    overdue_at: Option<Timestamp>,
    page: &Page,
) -> DbResult<Vec<Keyed<IncidentReviewRow>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT request_id, grant_id, beneficiary, entitlement, incident, {REVIEW_COLUMNS} FROM incident_reviews
         WHERE (?1 = 0 OR finding IS NULL)
           AND (?2 IS NULL OR (finding IS NULL AND escalated_at IS NULL AND due <= ?2))
           AND (?4 IS NULL OR opened_at < ?4 OR (opened_at = ?4 AND request_id < ?5))
         ORDER BY opened_at DESC, request_id DESC LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![
        open,
        overdue_at.map(Timestamp::millis),
        page.size(),
        page.at(),
        page.id()
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let what = "a post-incident review";
        let row = IncidentReviewRow {
            request: RequestId::parse(&r.get::<_, String>(0)?).map_err(|e| corrupt(what, e))?,
            grant: GrantId::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(what, e))?,
            beneficiary: r.get(2)?,
            entitlement: r.get(3)?,
            incident: r.get(4)?,
            review: incident_review_from(r, 5)?,
        };
        out.push(Keyed {
            position: Position {
                at: row.review.opened_at.millis(),
                id: row.request.to_string(),
            },
            item: row,
        });
    }
    Ok(out)
}
