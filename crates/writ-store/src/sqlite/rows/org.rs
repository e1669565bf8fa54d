//! The organisation, its notifications, delegations and the approval policy.

use rusqlite::{Connection, OptionalExtension, Row, params};
use writ_core::{
    ApprovalPolicy, Delegation, DelegationId, Entitlement, Event, Identity, Name, Org, Recorded,
    System, Timestamp,
};

use crate::{Keyed, Notification, Page, Position};

use super::{DbResult, json, to_json};

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
        Event::DelegationGranted { delegation: d } => match &d.recorded_by {
            Some(admin) => (
                std::slice::from_ref(&d.delegator),
                format!(
                    "`{admin}` recorded delegation `{}` of your approval authority to `{}` from {} until {}; revoke it if you did not ask for it",
                    d.id, d.delegate, d.from, d.until
                ),
            ),
            None => return Ok(()),
        },
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

/// Notification records, newest first (ledger entry, then recipient).
pub fn load_notifications(
    conn: &Connection,
    recipient: Option<&Name>,
    page: &Page,
) -> DbResult<Vec<Keyed<Notification>>> {
    // `?1 IS NULL`: everyone's; else one recipient's (by the recipient index).
    let filter = match recipient {
        Some(_) => "recipient = ?1",
        None => "?1 IS NULL",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE {filter} \
           AND (?3 IS NULL OR seq < ?3 OR (seq = ?3 AND recipient < ?4)) \
         ORDER BY seq DESC, recipient DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![
            recipient.map(Name::as_str),
            page.size(),
            page.at(),
            page.id()
        ],
        notification_from,
    )?;
    let found: Vec<Notification> = rows.collect::<Result<_, _>>()?;
    Ok(found
        .into_iter()
        .map(|n| Keyed {
            position: Position {
                at: n.seq as i64,
                id: n.recipient.clone(),
            },
            item: n,
        })
        .collect())
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
