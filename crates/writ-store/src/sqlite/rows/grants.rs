//! Grants and their credentials.

use rusqlite::{Connection, Row, params};
use writ_core::{
    EntitlementRef, Event, Grant, GrantId, GrantStatus, Holding, JobAction, Name, Recorded,
    RequestId, Timestamp,
};

use crate::{CredentialRecord, GrantFilter, Keyed, Position};

use super::{DbResult, corrupt, to_json};

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

/// Grants, newest first (grant time, then id), narrowed by `f`.
pub fn list_grants(conn: &Connection, f: &GrantFilter) -> DbResult<Vec<Keyed<Grant>>> {
    let visible: Option<Vec<&str>> = f
        .beneficiaries
        .as_ref()
        .map(|b| b.iter().map(Name::as_str).collect());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS} FROM grants
         WHERE (?1 IS NULL OR beneficiary = ?1) AND (?2 IS NULL OR status = ?2)
           AND (?3 IS NULL OR beneficiary IN (SELECT value FROM json_each(?3)))
           AND (?4 IS NULL OR granted_at < ?4 OR (granted_at = ?4 AND id < ?5))
         ORDER BY granted_at DESC, id DESC LIMIT ?6"
    ))?;
    let mut q = stmt.query(params![
        f.beneficiary.as_ref().map(Name::as_str),
        f.status.map(|s| s.as_str()),
        visible.map(|v| to_json(&v)).transpose()?,
        f.page.at(),
        f.page.id(),
        f.page.size()
    ])?;
    let mut out = Vec::new();
    while let Some(r) = q.next()? {
        let g = grant_from(r)?;
        out.push(Keyed {
            position: Position {
                at: g.granted_at.millis(),
                id: g.id.to_string(),
            },
            item: g,
        });
    }
    Ok(out)
}
