//! Reconciliation findings and provisioning jobs.

use rusqlite::{Connection, OptionalExtension, Row, params};
use writ_core::{Drift, DriftKind, EntitlementRef, Grant, GrantId, JobAction, Name, Timestamp};

use crate::{Finding as DriftFinding, JobState, ProvisioningJob};

use super::{DbError, DbResult, corrupt};

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

/// Closes grant `grant`'s addition as `superseded` if it never completed (queued,
/// retrying, dead-lettered or held), recorded by event `seq`; its bookkeeping goes.
pub fn supersede_provision(conn: &Connection, grant: &GrantId, seq: u64) -> DbResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'superseded', finished_seq = ?2, error = NULL \
             WHERE grant_id = ?1 AND action = 'provision' AND state IN ('queued', 'dead')",
        )?
        .execute(params![grant.as_str(), seq as i64])?;
    if changed > 0 {
        conn.prepare_cached(
            "DELETE FROM job_attempts WHERE grant_id = ?1 AND action = 'provision'",
        )?
        .execute(params![grant.as_str()])?;
    }
    Ok(())
}

/// Moves a job to `state` (`done`, `dead`, `resolved` or back to `queued`), recorded
/// by event `seq`.
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
