//! Rows to domain values and back. Shared by the writer, the readers and rebuild.

use rusqlite::{Connection, OptionalExtension, Row, params};
use writ_core::{
    ApprovalPolicy, Comment, Decision, Delegation, DelegationId, Drift, DriftKind, Entitlement,
    EntitlementRef, Event, Finding, Grant, GrantId, GrantStatus, Holding, Identity, IncidentReview,
    JobAction, Name, Org, Reason, Recorded, Request, RequestId, RequestStatus, Step, StepDecision,
    StepRole, Submission, System, Timestamp, Token, TokenId,
};

use crate::{
    CredentialRecord, Finding as DriftFinding, IncidentReviewRow, JobState, Notification,
    ProvisioningJob, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Corrupt(String),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        match e {
            DbError::Sql(e) => StoreError::Other(e.to_string()),
            DbError::Corrupt(m) => StoreError::Corrupt(m),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> DbResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| corrupt("encode", e))
}

// ---- organisation ----------------------------------------------------------------

/// Reads the JSON `body` column of every row of a catalogue table.
fn load_bodies<T: serde::de::DeserializeOwned>(conn: &Connection, table: &str) -> DbResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT body FROM {table}"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        out.push(json(table, &body?)?);
    }
    Ok(out)
}

pub fn load_org(conn: &Connection) -> DbResult<Org> {
    let mut org = Org::default();
    for i in load_bodies::<Identity>(conn, "identities")? {
        org.identities.insert(i.name.clone(), i);
    }
    for s in load_bodies::<System>(conn, "systems")? {
        org.systems.insert(s.name.clone(), s);
    }
    for e in load_bodies::<Entitlement>(conn, "entitlements")? {
        org.entitlements.insert(e.reference(), e);
    }
    for d in load_bodies::<Delegation>(conn, "delegations")? {
        org.delegations.insert(d.id.clone(), d);
    }
    Ok(org)
}

/// The notification records an entry carries, one row per recipient.
pub fn save_notifications(conn: &Connection, rec: &Recorded) -> DbResult<()> {
    let (who, message): (&[Name], String) = match &rec.event {
        Event::ApprovalReminded {
            request,
            step,
            notified,
        } => (
            notified,
            format!("reminder: step {step} of `{request}` waits for a decision; it escalates soon"),
        ),
        Event::StepEscalated {
            request,
            step,
            notified,
        } => (
            notified,
            format!("step {step} of `{request}` passed its deadline and escalated to you"),
        ),
        Event::RequestTimedOut { request, notified } => (
            notified,
            format!("`{request}` was still pending at its final deadline and is denied: timed out"),
        ),
        Event::BreakGlassUsed {
            request,
            grant,
            incident,
            review_due,
            notified,
        } => (
            notified,
            format!(
                "break-glass: `{}` granted themself access under `{request}` (grant `{grant}`, incident {incident}); the post-incident review is due by {review_due}",
                rec.actor
            ),
        ),
        Event::IncidentReviewEscalated { request, notified } => (
            notified,
            format!("the post-incident review of break-glass `{request}` is overdue"),
        ),
        _ => return Ok(()),
    };
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO notifications (seq, recipient, kind, subject, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in who {
        stmt.execute(params![
            rec.seq as i64,
            r.as_str(),
            rec.event.kind(),
            rec.event.subject(),
            message,
            rec.at.millis()
        ])?;
    }
    Ok(())
}

const NOTIFICATION_COLUMNS: &str = "seq, recipient, kind, subject, message, at";

fn notification_from(r: &Row<'_>) -> rusqlite::Result<Notification> {
    Ok(Notification {
        seq: r.get::<_, i64>(0)? as u64,
        recipient: r.get(1)?,
        kind: r.get(2)?,
        subject: r.get(3)?,
        message: r.get(4)?,
        at: Timestamp(r.get(5)?),
    })
}

pub fn notifications_after(conn: &Connection, seq: u64, limit: u32) -> DbResult<Vec<Notification>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE seq > ?1 ORDER BY seq, recipient LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![seq as i64, limit], notification_from)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn load_notifications(
    conn: &Connection,
    recipient: Option<&Name>,
    limit: u32,
) -> DbResult<Vec<Notification>> {
    // `?1 IS NULL`: everyone's; else one recipient's (by the recipient index).
    let filter = match recipient {
        Some(_) => "recipient = ?1",
        None => "?1 IS NULL",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE {filter} ORDER BY seq DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![recipient.map(Name::as_str), limit],
        notification_from,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delegation(conn: &Connection, id: &DelegationId) -> DbResult<Option<Delegation>> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM delegations WHERE id = ?1")?
        .query_row(params![id.as_str()], |r| r.get(0))
        .optional()?;
    body.map(|b| json("delegation", &b)).transpose()
}

pub fn save_delegation(conn: &Connection, d: &Delegation) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO delegations (id, delegator, delegate, until, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        d.id.as_str(),
        d.delegator.as_str(),
        d.delegate.as_str(),
        d.until.millis(),
        to_json(d)?,
    ])?;
    Ok(())
}

pub fn save_identity(conn: &Connection, i: &Identity) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO identities (name, kind, status, manager, owner, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        i.name.as_str(),
        i.kind_label(),
        if i.is_active() { "active" } else { "inactive" },
        i.manager().map(Name::as_str),
        i.owner().map(Name::as_str),
        to_json(i)?,
    ])?;
    Ok(())
}

pub fn save_system(conn: &Connection, s: &System) -> DbResult<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO systems (name, owner, body) VALUES (?1, ?2, ?3)")?
        .execute(params![s.name.as_str(), s.owner.as_str(), to_json(s)?])?;
    Ok(())
}

pub fn save_entitlement(conn: &Connection, e: &Entitlement) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO entitlements (system, name, risk, owner, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        e.system.as_str(),
        e.name.as_str(),
        e.risk.as_str(),
        e.owner.as_ref().map(Name::as_str),
        to_json(e)?,
    ])?;
    Ok(())
}

// ---- policy ------------------------------------------------------------------------

pub fn load_policy(conn: &Connection) -> DbResult<Option<(ApprovalPolicy, String)>> {
    let row = conn
        .prepare_cached("SELECT version, body FROM policy WHERE id = 1")?
        .query_row([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((version, body)) => Ok(Some((json("policy", &body)?, version))),
    }
}

pub fn save_policy(
    conn: &Connection,
    version: &str,
    policy: &ApprovalPolicy,
    at: Timestamp,
) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO policy (id, version, body, activated_at) VALUES (1, ?1, ?2, ?3)",
    )?
    .execute(params![version, to_json(policy)?, at.millis()])?;
    Ok(())
}

// ---- tokens ------------------------------------------------------------------------

const TOKEN_COLUMNS: &str = "id, identity, label, hash, issued_at, expires_at, revoked_at";

fn token_from(r: &Row<'_>) -> DbResult<Token> {
    let id: String = r.get(0)?;
    let what = format!("token `{id}`");
    Ok(Token {
        id: TokenId::parse(&id).map_err(|e| corrupt(&what, e))?,
        identity: Name::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(&what, e))?,
        label: r.get(2)?,
        hash: r.get(3)?,
        issued_at: Timestamp(r.get(4)?),
        expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

pub fn load_token(conn: &Connection, id: &TokenId) -> DbResult<Option<Token>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id.as_str()])?;
    match rows.next()? {
        Some(r) => Ok(Some(token_from(r)?)),
        None => Ok(None),
    }
}

pub fn load_token_by_hash(conn: &Connection, hash: &str) -> DbResult<Option<Token>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"
    ))?;
    let mut rows = stmt.query(params![hash])?;
    match rows.next()? {
        Some(r) => Ok(Some(token_from(r)?)),
        None => Ok(None),
    }
}

pub fn load_tokens(conn: &Connection, identity: Option<&Name>) -> DbResult<Vec<Token>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE (?1 IS NULL OR identity = ?1) ORDER BY issued_at, id"
    ))?;
    let mut rows = stmt.query(params![identity.map(Name::as_str)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(token_from(r)?);
    }
    Ok(out)
}

// ---- post-incident reviews -----------------------------------------------------------

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

fn load_incident_review(conn: &Connection, request: &str) -> DbResult<Option<IncidentReview>> {
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
    limit: u32,
) -> DbResult<Vec<IncidentReviewRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT request_id, grant_id, beneficiary, entitlement, incident, {REVIEW_COLUMNS} FROM incident_reviews
         WHERE (?1 = 0 OR finding IS NULL)
           AND (?2 IS NULL OR (finding IS NULL AND escalated_at IS NULL AND due <= ?2))
         ORDER BY opened_at DESC LIMIT ?3"
    ))?;
    let mut rows = stmt.query(params![open, overdue_at.map(Timestamp::millis), limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let what = "a post-incident review";
        out.push(IncidentReviewRow {
            request: RequestId::parse(&r.get::<_, String>(0)?).map_err(|e| corrupt(what, e))?,
            grant: GrantId::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(what, e))?,
            beneficiary: r.get(2)?,
            entitlement: r.get(3)?,
            incident: r.get(4)?,
            review: incident_review_from(r, 5)?,
        });
    }
    Ok(out)
}

pub fn insert_token(conn: &Connection, t: &Token) -> DbResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        t.id.as_str(),
        t.identity.as_str(),
        t.label,
        t.hash,
        t.issued_at.millis(),
        t.expires_at.map(Timestamp::millis),
        t.revoked_at.map(Timestamp::millis),
    ])?;
    Ok(())
}

pub fn revoke_token(conn: &Connection, id: &TokenId, at: Timestamp) -> DbResult<()> {
    let n = conn
        .prepare_cached("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), at.millis()])?;
    if n != 1 {
        return Err(DbError::Corrupt(format!(
            "token `{id}` is not in the projection"
        )));
    }
    Ok(())
}

// ---- requests ----------------------------------------------------------------------

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

// ---- grants ------------------------------------------------------------------------

pub const GRANT_COLUMNS: &str = "id, request_id, beneficiary, entitlement, status, granted_at, expires_at, review_by, renews, ended_at, ended_by, end_reason, successor, provision, provisioned_at, deprovisioned_at, failed, credential, held, emergency_since";

pub fn grant_from(r: &Row<'_>) -> DbResult<Grant> {
    let id: String = r.get(0)?;
    let what = format!("grant `{id}`");
    let c = |e: String| corrupt(&what, e);
    Ok(Grant {
        id: GrantId::parse(&id).map_err(c)?,
        request: RequestId::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(&what, e))?,
        beneficiary: Name::parse(&r.get::<_, String>(2)?).map_err(|e| corrupt(&what, e))?,
        entitlement: EntitlementRef::parse(&r.get::<_, String>(3)?)
            .map_err(|e| corrupt(&what, e))?,
        status: GrantStatus::parse(&r.get::<_, String>(4)?).map_err(|e| corrupt(&what, e))?,
        granted_at: Timestamp(r.get(5)?),
        expires_at: Timestamp(r.get(6)?),
        review_by: Timestamp(r.get(7)?),
        renews: match r.get::<_, Option<String>>(8)? {
            Some(g) => Some(GrantId::parse(&g).map_err(|e| corrupt(&what, e))?),
            None => None,
        },
        ended_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
        ended_by: r.get(10)?,
        end_reason: r.get(11)?,
        successor: match r.get::<_, Option<String>>(12)? {
            Some(g) => Some(GrantId::parse(&g).map_err(|e| corrupt(&what, e))?),
            None => None,
        },
        provision: r.get(13)?,
        provisioned_at: r.get::<_, Option<i64>>(14)?.map(Timestamp),
        deprovisioned_at: r.get::<_, Option<i64>>(15)?.map(Timestamp),
        failed: match r.get::<_, Option<String>>(16)? {
            Some(a) => Some(JobAction::parse(&a).map_err(|e| corrupt(&what, e))?),
            None => None,
        },
        credential: r.get(17)?,
        held: r.get(18)?,
        emergency_since: r.get::<_, Option<i64>>(19)?.map(Timestamp),
    })
}

pub fn load_grant(conn: &Connection, id: &str) -> DbResult<Option<Grant>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        Some(r) => Ok(Some(grant_from(r)?)),
        None => Ok(None),
    }
}

/// What separation of duties counts for `beneficiary`: live grants (pending or
/// active) and pending requests.
pub fn holdings_of(conn: &Connection, beneficiary: &Name) -> DbResult<Vec<Holding>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT entitlement, 'grant ' || id FROM grants WHERE beneficiary = ?1 AND status IN ('pending', 'active')
         UNION ALL
         SELECT entitlement, 'request ' || id FROM requests WHERE beneficiary = ?1 AND status = 'pending'",
    )?;
    let mut rows = stmt.query(params![beneficiary.as_str()])?;
    while let Some(r) = rows.next()? {
        let e: String = r.get(0)?;
        out.push(Holding {
            entitlement: EntitlementRef::parse(&e)
                .map_err(|m| corrupt(&format!("a holding of `{beneficiary}`"), m))?,
            held_as: r.get(1)?,
        });
    }
    Ok(out)
}

pub fn active_grant_for(
    conn: &Connection,
    beneficiary: &Name,
    entitlement: &EntitlementRef,
) -> DbResult<Option<Grant>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants WHERE beneficiary = ?1 AND entitlement = ?2 AND status IN ('pending', 'active') LIMIT 1"
    ))?;
    let mut rows = stmt.query(params![beneficiary.as_str(), entitlement.to_string()])?;
    match rows.next()? {
        Some(r) => Ok(Some(grant_from(r)?)),
        None => Ok(None),
    }
}

pub fn insert_grant(conn: &Connection, g: &Grant) -> DbResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
    ))?
    .execute(params![
        g.id.as_str(),
        g.request.as_str(),
        g.beneficiary.as_str(),
        g.entitlement.to_string(),
        g.status.as_str(),
        g.granted_at.millis(),
        g.expires_at.millis(),
        g.review_by.millis(),
        g.renews.as_ref().map(GrantId::as_str),
        g.ended_at.map(Timestamp::millis),
        g.ended_by,
        g.end_reason,
        g.successor.as_ref().map(GrantId::as_str),
        g.provision,
        g.provisioned_at.map(Timestamp::millis),
        g.deprovisioned_at.map(Timestamp::millis),
        g.failed.map(JobAction::as_str),
        g.credential,
        g.held,
        g.emergency_since.map(Timestamp::millis),
    ])?;
    Ok(())
}

/// Writes what changes on a grant after its creation: how it ended, what its target
/// system confirmed, and its next review date.
pub fn update_grant(conn: &Connection, g: &Grant) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE grants SET status = ?2, ended_at = ?3, ended_by = ?4, end_reason = ?5, successor = ?6, \
         provisioned_at = ?7, deprovisioned_at = ?8, failed = ?9, credential = ?10, review_by = ?11, held = ?12 WHERE id = ?1",
    )?
    .execute(params![
        g.id.as_str(),
        g.status.as_str(),
        g.ended_at.map(Timestamp::millis),
        g.ended_by,
        g.end_reason,
        g.successor.as_ref().map(GrantId::as_str),
        g.provisioned_at.map(Timestamp::millis),
        g.deprovisioned_at.map(Timestamp::millis),
        g.failed.map(JobAction::as_str),
        g.credential,
        g.review_by.millis(),
        g.held,
    ])?;
    Ok(())
}

// ---- credentials -------------------------------------------------------------------

pub fn project_credential(conn: &Connection, rec: &Recorded) -> DbResult<()> {
    let at = rec.at.millis();
    match &rec.event {
        Event::CredentialIssued {
            grant,
            fingerprint,
            expires_at,
            rotate_by,
            replaces,
        } => {
            conn.prepare_cached(
                "INSERT INTO credentials (fingerprint, grant_id, issued_seq, issued_at, expires_at, rotate_by, replaces) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                fingerprint,
                grant.as_str(),
                rec.seq as i64,
                at,
                expires_at.millis(),
                rotate_by.millis(),
                replaces
            ])?;
            if let Some(old) = replaces {
                end_credential(conn, old, at, "replaced")?;
            }
        }
        Event::CredentialRevoked { fingerprint, .. } => {
            end_credential(conn, fingerprint, at, "revoked")?
        }
        Event::CredentialRotationDue { fingerprint, .. } => {
            conn.prepare_cached("UPDATE credentials SET due_noted = 1 WHERE fingerprint = ?1")?
                .execute(params![fingerprint])?;
        }
        _ => {}
    }
    Ok(())
}

fn end_credential(conn: &Connection, fingerprint: &str, at: i64, how: &str) -> DbResult<()> {
    conn.prepare_cached(
        "UPDATE credentials SET ended_at = ?2, ended_how = ?3 WHERE fingerprint = ?1 AND ended_at IS NULL",
    )?
    .execute(params![fingerprint, at, how])?;
    Ok(())
}

pub const CREDENTIAL_COLUMNS: &str = "c.fingerprint, c.grant_id, g.beneficiary, g.entitlement, c.issued_at, c.expires_at, c.rotate_by, c.replaces, c.ended_at, c.ended_how, c.due_noted";

pub fn credential_from(r: &Row<'_>) -> DbResult<CredentialRecord> {
    let c = |e: String| corrupt("credential", e);
    Ok(CredentialRecord {
        fingerprint: r.get(0)?,
        grant: GrantId::parse(&r.get::<_, String>(1)?).map_err(c)?,
        beneficiary: Name::parse(&r.get::<_, String>(2)?).map_err(c)?,
        entitlement: EntitlementRef::parse(&r.get::<_, String>(3)?).map_err(c)?,
        issued_at: Timestamp(r.get(4)?),
        expires_at: Timestamp(r.get(5)?),
        rotate_by: Timestamp(r.get(6)?),
        replaces: r.get(7)?,
        ended_at: r.get::<_, Option<i64>>(8)?.map(Timestamp),
        ended_how: r.get(9)?,
        rotation_due_noted: r.get(10)?,
    })
}

// ---- reconciliation findings -------------------------------------------------------

pub fn save_finding(conn: &Connection, d: &Drift, action: &str, seq: u64) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO findings (system, entitlement, kind, account_ref, account, grant_id, action, found_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        d.system.as_str(),
        d.entitlement.to_string(),
        d.kind.as_str(),
        d.account_ref,
        d.account.as_ref().map(Name::as_str),
        d.grant.as_ref().map(GrantId::as_str),
        action,
        seq as i64,
    ])?;
    Ok(())
}

pub fn delete_finding(conn: &Connection, d: &Drift) -> DbResult<()> {
    conn.prepare_cached(
        "DELETE FROM findings WHERE system = ?1 AND entitlement = ?2 AND kind = ?3 AND account_ref = ?4",
    )?
    .execute(params![
        d.system.as_str(),
        d.entitlement.to_string(),
        d.kind.as_str(),
        d.account_ref
    ])?;
    Ok(())
}

pub fn load_findings(conn: &Connection, system: Option<&str>) -> DbResult<Vec<DriftFinding>> {
    let mut stmt = conn.prepare_cached(
        "SELECT system, entitlement, kind, account_ref, account, grant_id, action, found_seq FROM findings \
         WHERE ?1 IS NULL OR system = ?1 ORDER BY system, entitlement, kind, account_ref",
    )?;
    let mut rows = stmt.query(params![system])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let c = |e: String| corrupt("finding", e);
        out.push(DriftFinding {
            drift: Drift {
                system: Name::parse(&r.get::<_, String>(0)?).map_err(c)?,
                entitlement: EntitlementRef::parse(&r.get::<_, String>(1)?).map_err(c)?,
                kind: DriftKind::parse(&r.get::<_, String>(2)?).map_err(c)?,
                account_ref: r.get(3)?,
                account: r
                    .get::<_, Option<String>>(4)?
                    .map(|a| Name::parse(&a))
                    .transpose()
                    .map_err(c)?,
                grant: r
                    .get::<_, Option<String>>(5)?
                    .map(|g| GrantId::parse(&g))
                    .transpose()
                    .map_err(c)?,
            },
            action: r.get(6)?,
            found_seq: r.get::<_, i64>(7)? as u64,
        });
    }
    Ok(out)
}

// ---- provisioning jobs -------------------------------------------------------------

/// A job row joined with its bookkeeping (`jobs j LEFT JOIN job_attempts a`).
pub const JOB_COLUMNS: &str = "j.grant_id, j.action, j.created_seq, j.system, j.entitlement, j.beneficiary, j.target, j.state, j.finished_seq, j.error, a.attempts, a.next_at, a.last_error";

pub fn job_from(r: &Row<'_>) -> DbResult<ProvisioningJob> {
    let grant: String = r.get(0)?;
    let what = format!("job of grant `{grant}`");
    let c = |e: String| corrupt(&what, e);
    Ok(ProvisioningJob {
        grant: GrantId::parse(&grant).map_err(c)?,
        action: JobAction::parse(&r.get::<_, String>(1)?).map_err(c)?,
        created_seq: r.get::<_, i64>(2)? as u64,
        system: Name::parse(&r.get::<_, String>(3)?).map_err(c)?,
        entitlement: EntitlementRef::parse(&r.get::<_, String>(4)?).map_err(c)?,
        beneficiary: Name::parse(&r.get::<_, String>(5)?).map_err(c)?,
        target: r.get(6)?,
        state: JobState::parse(&r.get::<_, String>(7)?).map_err(c)?,
        finished_seq: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
        error: r.get(9)?,
        attempts: r.get::<_, Option<u32>>(10)?.unwrap_or(0),
        next_at: r.get::<_, Option<i64>>(11)?.map(Timestamp),
        last_error: r.get(12)?,
    })
}

/// Opens the job `action` for grant `g`, recorded by event `seq`. The target is the
/// entitlement's external reference now; a deprovision job reuses its grant's.
pub fn open_job(conn: &Connection, g: &Grant, action: JobAction, seq: u64) -> DbResult<()> {
    let target: Option<String> = conn
        .prepare_cached("SELECT target FROM jobs WHERE grant_id = ?1 AND action = 'provision'")?
        .query_row(params![g.id.as_str()], |r| r.get(0))
        .optional()?;
    let target = match target {
        Some(t) => t,
        None => conn
            .prepare_cached("SELECT json_extract(body, '$.external_ref') FROM entitlements WHERE system = ?1 AND name = ?2")?
            .query_row(
                params![
                    g.entitlement.system.as_str(),
                    g.entitlement.entitlement.as_str()
                ],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| {
                DbError::Corrupt(format!(
                    "grant `{}` is for `{}`, which the catalogue does not hold",
                    g.id, g.entitlement
                ))
            })?,
    };
    conn.prepare_cached(
        "INSERT INTO jobs (grant_id, action, created_seq, system, entitlement, beneficiary, target, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued')",
    )?
    .execute(params![
        g.id.as_str(),
        action.as_str(),
        seq as i64,
        g.entitlement.system.as_str(),
        g.entitlement.to_string(),
        g.beneficiary.as_str(),
        target,
    ])?;
    Ok(())
}

/// Moves a job to `state` (`done`, `dead` or back to `queued`), recorded by event `seq`.
pub fn close_job(
    conn: &Connection,
    grant: &GrantId,
    action: JobAction,
    state: &str,
    seq: u64,
    error: Option<&str>,
) -> DbResult<()> {
    let finished = (state != "queued").then_some(seq as i64);
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = ?3, finished_seq = ?4, error = ?5 WHERE grant_id = ?1 AND action = ?2",
        )?
        .execute(params![grant.as_str(), action.as_str(), state, finished, error])?;
    if changed != 1 {
        return Err(DbError::Corrupt(format!(
            "event {seq} closes the {} job of grant `{grant}`, which the projection does not hold",
            action.as_str()
        )));
    }
    // The worker's bookkeeping starts over when a job leaves or re-enters the queue.
    conn.prepare_cached("DELETE FROM job_attempts WHERE grant_id = ?1 AND action = ?2")?
        .execute(params![grant.as_str(), action.as_str()])?;
    Ok(())
}
