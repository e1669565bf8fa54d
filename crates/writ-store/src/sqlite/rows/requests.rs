//! Requests and their steps.

use rusqlite::{Connection, OptionalExtension, params};
use writ_core::{
    Comment, Decision, EntitlementRef, GrantId, Name, Reason, Request, RequestId, RequestStatus,
    Step, StepDecision, StepRole, Submission, Timestamp,
};

use crate::{Keyed, Position, RequestFilter, Touching};

use super::incidents::load_incident_review;
use super::{DbError, DbResult, corrupt, json, to_json};

pub fn load_request(conn: &Connection, id: &str) -> DbResult<Option<Request>> {
    let row = conn
        .prepare_cached(
            "SELECT submission, digest, status, closed_at, grant_id, cancel_reason FROM requests WHERE id = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .optional()?;
    let Some((submission, digest, status, closed_at, grant, cancel_reason)) = row else {
        return Ok(None);
    };
    let what = format!("request `{id}`");
    let submission: Submission = json(&what, &submission)?;
    let mut steps = Vec::with_capacity(submission.steps.len());
    let mut stmt = conn.prepare_cached(
        "SELECT idx, role, approver, decision, comment, basis, policy_version, decided_at,
                authority, escalated, reminded
         FROM request_steps WHERE request_id = ?1 ORDER BY idx",
    )?;
    let mut rows = stmt.query(params![id])?;
    while let Some(r) = rows.next()? {
        let role: String = r.get(1)?;
        let approver: Option<String> = r.get(2)?;
        let decision = match approver {
            None => None,
            Some(approver) => {
                let d: String = r.get::<_, Option<String>>(3)?.unwrap_or_default();
                Some(StepDecision {
                    approver: Name::parse(&approver).map_err(|e| corrupt(&what, e))?,
                    decision: match d.as_str() {
                        "approve" => Decision::Approve,
                        "deny" => Decision::Deny,
                        other => return Err(corrupt(&what, format!("decision `{other}`"))),
                    },
                    comment: match r.get::<_, Option<String>>(4)? {
                        Some(c) => Some(Comment::parse(&c).map_err(|e| corrupt(&what, e))?),
                        None => None,
                    },
                    basis: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    policy_version: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    decided_at: Timestamp(r.get::<_, Option<i64>>(7)?.unwrap_or_default()),
                    authority: match r.get::<_, Option<String>>(8)? {
                        Some(a) => Some(json(&what, &a)?),
                        None => None,
                    },
                })
            }
        };
        steps.push(Step {
            index: r.get(0)?,
            role: StepRole::parse(&role).map_err(|e| corrupt(&what, e))?,
            decision,
            escalated: r.get(9)?,
            reminded: r.get(10)?,
        });
    }
    let incident_review = load_incident_review(conn, id)?;
    Ok(Some(Request {
        incident_review,
        submission,
        digest,
        steps,
        status: RequestStatus::parse(&status).map_err(|e| corrupt(&what, e))?,
        closed_at: closed_at.map(Timestamp),
        grant: match grant {
            Some(g) => Some(GrantId::parse(&g).map_err(|e| corrupt(&what, e))?),
            None => None,
        },
        cancel_reason: match cancel_reason {
            Some(c) => Some(Reason::parse(&c).map_err(|e| corrupt(&what, e))?),
            None => None,
        },
    }))
}

/// Inserts a request as submitted, with its steps.
pub fn insert_request(conn: &Connection, r: &Request) -> DbResult<()> {
    let s = &r.submission;
    conn.prepare_cached(
        "INSERT INTO requests
         (id, requester, beneficiary, entitlement, status, submitted_at, closed_at, grant_id, cancel_reason, digest, submission)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        s.id.as_str(),
        s.requester.as_str(),
        s.beneficiary.as_str(),
        s.entitlement.to_string(),
        r.status.as_str(),
        s.submitted_at.millis(),
        r.closed_at.map(Timestamp::millis),
        r.grant.as_ref().map(GrantId::as_str),
        r.cancel_reason.as_ref().map(Reason::as_str),
        r.digest,
        to_json(s)?,
    ])?;
    for step in &r.steps {
        save_step(conn, r, step.index, true)?;
    }
    Ok(())
}

/// Writes the changing part of a request: status, closing time, grant, reason.
pub fn update_request_status(conn: &Connection, r: &Request) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE requests SET status = ?2, closed_at = ?3, grant_id = ?4, cancel_reason = ?5 WHERE id = ?1",
    )?
    .execute(params![
        r.submission.id.as_str(),
        r.status.as_str(),
        r.closed_at.map(Timestamp::millis),
        r.grant.as_ref().map(GrantId::as_str),
        r.cancel_reason.as_ref().map(Reason::as_str),
    ])?;
    Ok(())
}

/// Writes one step of a request (`insert` for a new request, else an update).
pub fn save_step(conn: &Connection, r: &Request, index: u32, insert: bool) -> DbResult<()> {
    let Some(step) = r.steps.iter().find(|s| s.index == index) else {
        return Err(DbError::Corrupt(format!(
            "request `{}` has no step {index}",
            r.id()
        )));
    };
    let d = step.decision.as_ref();
    let sql = if insert {
        "INSERT INTO request_steps
         (request_id, idx, role, approver, decision, comment, basis, policy_version, decided_at,
          authority, escalated, reminded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    } else {
        "UPDATE request_steps SET role = ?3, approver = ?4, decision = ?5, comment = ?6, basis = ?7,
         policy_version = ?8, decided_at = ?9, authority = ?10, escalated = ?11, reminded = ?12
         WHERE request_id = ?1 AND idx = ?2"
    };
    let authority = match d.and_then(|d| d.authority.as_ref()) {
        Some(a) => Some(to_json(a)?),
        None => None,
    };
    conn.prepare_cached(sql)?.execute(params![
        r.submission.id.as_str(),
        step.index,
        step.role.to_string(),
        d.map(|d| d.approver.as_str()),
        d.map(|d| d.decision.as_str()),
        d.and_then(|d| d.comment.as_ref().map(Comment::as_str)),
        d.map(|d| d.basis.as_str()),
        d.map(|d| d.policy_version.as_str()),
        d.map(|d| d.decided_at.millis()),
        authority,
        step.escalated,
        step.reminded,
    ])?;
    Ok(())
}

pub fn open_request_for(
    conn: &Connection,
    beneficiary: &Name,
    entitlement: &EntitlementRef,
) -> DbResult<Option<RequestId>> {
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM requests WHERE beneficiary = ?1 AND entitlement = ?2 AND status = 'pending' LIMIT 1",
        )?
        .query_row(params![beneficiary.as_str(), entitlement.to_string()], |r| r.get(0))
        .optional()?;
    id.map(|id| RequestId::parse(&id).map_err(|e| corrupt("request id", e)))
        .transpose()
}

/// Requests, newest first (submission time, then id), narrowed by `f`.
pub fn list_requests(conn: &Connection, f: &RequestFilter) -> DbResult<Vec<Keyed<Request>>> {
    let t = f.touching.as_ref();
    let set = |pick: fn(&Touching) -> Vec<String>| -> DbResult<String> {
        to_json(&t.map(pick).unwrap_or_default())
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, submitted_at FROM requests r
         WHERE (?1 IS NULL OR r.status = ?1)
           AND (?2 IS NULL OR r.requester = ?2 OR r.beneficiary = ?2)
           AND (?3 = 0
                OR r.requester IN (SELECT value FROM json_each(?4))
                OR r.beneficiary IN (SELECT value FROM json_each(?5))
                OR r.entitlement IN (SELECT value FROM json_each(?6))
                OR json_extract(r.submission, '$.kind') IN (SELECT value FROM json_each(?7))
                OR EXISTS (SELECT 1 FROM request_steps s WHERE s.request_id = r.id
                           AND s.approver IN (SELECT value FROM json_each(?8)))
                OR (r.status = 'pending' AND EXISTS (SELECT 1 FROM request_steps s
                           WHERE s.request_id = r.id AND s.decision IS NULL
                             AND (s.role IN (SELECT value FROM json_each(?9))
                                  OR (?10 = 1 AND s.escalated = 1)))))
           AND (?11 IS NULL OR r.submitted_at < ?11 OR (r.submitted_at = ?11 AND r.id < ?12))
         ORDER BY r.submitted_at DESC, r.id DESC LIMIT ?13",
    )?;
    let found: Vec<(String, i64)> = stmt
        .query_map(
            params![
                f.status.map(|s| s.as_str()),
                f.involving.as_ref().map(Name::as_str),
                t.is_some(),
                set(|t| t.requesters.iter().map(|n| n.to_string()).collect())?,
                set(|t| t.beneficiaries.iter().map(|n| n.to_string()).collect())?,
                set(|t| t.entitlements.iter().map(|e| e.to_string()).collect())?,
                set(|t| t.kinds.iter().cloned().collect())?,
                set(|t| t.decided_by.iter().map(|n| n.to_string()).collect())?,
                set(|t| t.open_roles.iter().cloned().collect())?,
                t.is_some_and(|t| t.any_escalated),
                f.page.at(),
                f.page.id(),
                f.page.size(),
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(found.len());
    for (id, at) in found {
        if let Some(r) = load_request(conn, &id)? {
            out.push(Keyed {
                position: Position { at, id },
                item: r,
            });
        }
    }
    Ok(out)
}
