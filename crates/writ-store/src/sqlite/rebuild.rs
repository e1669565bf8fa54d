//! Rebuilding the projections from the ledger, and checking them against it.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior};

use super::schema::migrate;

use super::project::Projector;
use super::rows::{DbError, DbResult};
use super::schema::PROJECTIONS;
use super::{open_offline, open_read_only, stored};
use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
}

/// The outcome of replaying the ledger and comparing with the live tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionCheck {
    Match {
        events: u64,
        rows: usize,
    },
    /// The first row that differs: `live` is what the table holds, `replayed` what the
    /// ledger says it should hold (either may be absent).
    Diverges {
        table: String,
        live: Option<String>,
        replayed: Option<String>,
    },
}

/// Replays every ledger entry of `source`, in order, into the empty projection tables
/// of `target` (which may be the same connection).
pub(super) fn replay(
    source: &Connection,
    target: &Connection,
    progress: &mut dyn FnMut(u64),
) -> DbResult<u64> {
    for (table, _) in PROJECTIONS {
        target.execute(&format!("DELETE FROM {table}"), [])?;
    }
    let mut projector = Projector::default();
    let mut stmt = source
        .prepare("SELECT seq, at, kind, actor, subject, leaf, personal FROM events ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut expected = 1i64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if seq != expected {
            return Err(DbError::Corrupt(format!(
                "ledger entry {expected} is missing (next entry is {seq})"
            )));
        }
        let ev = stored(seq, r.get(5)?, r.get(6)?)?;
        let rec = &ev.recorded;
        let columns_match = r.get::<_, i64>(1)? == rec.at.millis()
            && r.get::<_, String>(2)? == rec.event.kind()
            && r.get::<_, String>(3)? == rec.actor.to_string()
            && r.get::<_, String>(4)? == rec.event.subject();
        if !columns_match {
            return Err(DbError::Corrupt(format!(
                "ledger entry {seq}: index columns disagree with the leaf"
            )));
        }
        projector.project(target, rec)?;
        if seq % 10_000 == 0 {
            projector.forget();
            progress(seq as u64);
        }
        expected += 1;
    }
    Ok((expected - 1) as u64)
}

/// Every projection row, keyed by (table, primary key), as one line
/// `col=value | …`.
pub type Dump = BTreeMap<(usize, String), String>;

fn render(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

pub fn dump_projections(conn: &Connection) -> DbResult<Dump> {
    let mut out = Dump::new();
    for (t, (table, key)) in PROJECTIONS.iter().enumerate() {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}"))?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let keys: Vec<usize> = key
            .split(',')
            .filter_map(|k| names.iter().position(|n| n == k.trim()))
            .collect();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut line = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                line.push(format!("{name}={}", render(r.get_ref(i)?)));
            }
            let mut k = Vec::with_capacity(keys.len());
            for &i in &keys {
                k.push(render(r.get_ref(i)?));
            }
            out.insert((t, k.join(", ")), line.join(" | "));
        }
    }
    Ok(out)
}

/// Rebuilds the projection tables of the database at `path` from its ledger.
/// Run it with the server stopped.
pub fn rebuild(path: &Path) -> Result<RebuildReport, StoreError> {
    let mut conn = open_offline(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let events = replay(&tx, &tx, &mut |_| {})?;
    tx.commit().map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(RebuildReport { events })
}

/// Replays the ledger into a fresh in-memory database and compares the result with
/// the live projection tables. Reads the data dir only, in one snapshot, so it can run
/// beside a live server.
pub fn check_projections(path: &Path) -> Result<ProjectionCheck, StoreError> {
    let conn = open_read_only(path)?;
    let snapshot = conn
        .unchecked_transaction()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(compare_replayed(&snapshot, &mut |_| {})?)
}

/// Replays `source`'s ledger into memory and compares with `source`'s projections.
pub(super) fn compare_replayed(
    source: &Connection,
    progress: &mut dyn FnMut(u64),
) -> DbResult<ProjectionCheck> {
    let mut fresh = Connection::open_in_memory()?;
    migrate(&mut fresh)?;
    let tx = fresh.transaction()?;
    let events = replay(source, &tx, progress)?;
    let live = dump_projections(source)?;
    let replayed = dump_projections(&tx)?;
    // Walk both dumps in (table, key) order: the first key whose rows differ, or that
    // only one side has, is the divergence.
    let keys: std::collections::BTreeSet<&(usize, String)> =
        live.keys().chain(replayed.keys()).collect();
    for key in keys {
        let (l, r) = (live.get(key), replayed.get(key));
        if l != r {
            return Ok(ProjectionCheck::Diverges {
                table: PROJECTIONS[key.0].0.to_owned(),
                live: l.cloned(),
                replayed: r.cloned(),
            });
        }
    }
    Ok(ProjectionCheck::Match {
        events,
        rows: live.len(),
    })
}
