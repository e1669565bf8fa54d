//! The Merkle tree and checkpoints in SQLite.
//!
//! The `tree` table holds the stored hashes of Go tlog's layout: for leaf `n`, its
//! leaf hash and the hash of every complete subtree that leaf closes, at consecutive
//! indexes from `stored_hash_index(0, n)`. Appending reads at most `log n` earlier
//! hashes and writes about two rows, in the transaction that appends the event; a
//! root or a proof reads at most `2 log n` rows. Nothing here ever recomputes the
//! whole tree — that is the offline verifier's job (`verify.rs`).

use rusqlite::{Connection, OptionalExtension, params};
use writ_ledger::{Checkpoint, Hash, HashSource, LedgerError};

use super::rows::{DbError, DbResult};

/// The `tree` table, read through one connection (inside the writer's transaction it
/// sees the rows that transaction wrote).
pub struct TreeTable<'c>(pub &'c Connection);

impl HashSource for TreeTable<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT hash FROM tree WHERE idx = ?1")
            .map_err(|e| LedgerError::Source(Box::new(e)))?;
        indexes
            .iter()
            .map(|&index| {
                let blob: Option<Vec<u8>> = stmt
                    .query_row([index as i64], |r| r.get(0))
                    .optional()
                    .map_err(|e| LedgerError::Source(Box::new(e)))?;
                let blob = blob.ok_or(LedgerError::MissingHash { index })?;
                to_hash(&blob).ok_or_else(|| {
                    LedgerError::Source(format!("stored tree hash {index} is not 32 bytes").into())
                })
            })
            .collect()
    }
}

pub fn to_hash(bytes: &[u8]) -> Option<Hash> {
    <[u8; 32]>::try_from(bytes).ok().map(Hash)
}

fn ledger(e: LedgerError) -> DbError {
    DbError::Corrupt(format!("ledger tree: {e}"))
}

/// Adds leaf number `n` (0-based; the event with `seq = n + 1`) to the tree.
pub fn append_leaf(conn: &Connection, n: u64, leaf: &[u8]) -> DbResult<()> {
    let hashes = writ_ledger::hashes_to_store(n, writ_ledger::leaf_hash(leaf), &TreeTable(conn))
        .map_err(ledger)?;
    let start = writ_ledger::stored_hash_index(0, n);
    let mut stmt = conn.prepare_cached("INSERT INTO tree (idx, hash) VALUES (?1, ?2)")?;
    for (i, h) in hashes.iter().enumerate() {
        stmt.execute(params![(start + i as u64) as i64, &h.0[..]])?;
    }
    Ok(())
}

/// The number of leaves, which is the number of events.
pub fn size(conn: &Connection) -> DbResult<u64> {
    let n: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    Ok(n as u64)
}

pub fn root(conn: &Connection, size: u64) -> DbResult<Hash> {
    writ_ledger::root(size, &TreeTable(conn)).map_err(ledger)
}

pub fn inclusion_proof(conn: &Connection, index: u64, size: u64) -> DbResult<Vec<Hash>> {
    writ_ledger::inclusion_proof(index, size, &TreeTable(conn)).map_err(ledger)
}

pub fn consistency_proof(conn: &Connection, old: u64, new: u64) -> DbResult<Vec<Hash>> {
    writ_ledger::consistency_proof(old, new, &TreeTable(conn)).map_err(ledger)
}

/// A signed checkpoint as stored: the note is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    pub note: String,
    pub signed_at: i64,
}

impl StoredCheckpoint {
    pub fn checkpoint(&self, origin: &str) -> Checkpoint {
        Checkpoint {
            origin: origin.to_owned(),
            size: self.size,
            root: self.root,
            note: self.note.clone(),
        }
    }
}

fn checkpoint_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn stored_checkpoint(row: (i64, Vec<u8>, String, i64)) -> DbResult<StoredCheckpoint> {
    let (size, root, note, signed_at) = row;
    let root = to_hash(&root)
        .ok_or_else(|| DbError::Corrupt(format!("checkpoint {size}: root is not 32 bytes")))?;
    Ok(StoredCheckpoint {
        size: size as u64,
        root,
        note,
        signed_at,
    })
}

pub fn latest_checkpoint(conn: &Connection) -> DbResult<Option<StoredCheckpoint>> {
    let row = conn
        .prepare_cached(
            "SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1",
        )?
        .query_row([], checkpoint_from)
        .optional()?;
    row.map(stored_checkpoint).transpose()
}

pub fn checkpoints(conn: &Connection) -> DbResult<Vec<StoredCheckpoint>> {
    let mut stmt =
        conn.prepare_cached("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size")?;
    let rows = stmt.query_map([], checkpoint_from)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(stored_checkpoint(row?)?);
    }
    Ok(out)
}

/// Records a signed checkpoint. The size is the primary key: a second, different root
/// for a size already signed cannot be stored.
pub fn insert_checkpoint(conn: &Connection, c: &StoredCheckpoint) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO checkpoints (size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![c.size as i64, &c.root.0[..], c.note, c.signed_at])?;
    Ok(())
}

/// Builds the tree for events written before the ledger had one (schema 1), in the
/// migration's transaction.
pub fn backfill(conn: &Connection) -> DbResult<u64> {
    let mut stmt = conn.prepare("SELECT seq, leaf FROM events ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if seq as u64 != n + 1 {
            return Err(DbError::Corrupt(format!(
                "ledger entry {} is missing (next entry is {seq})",
                n + 1
            )));
        }
        let leaf: Vec<u8> = r.get(1)?;
        append_leaf(conn, n, &leaf)?;
        n += 1;
    }
    Ok(n)
}
