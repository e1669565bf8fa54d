//! Benchmark helpers. The raw SQLite write rate on this machine, for comparison: rows
//! of a given size inserted into one table, committed in batches, with the same
//! durability settings as the store (WAL, synchronous=FULL). And for the ledger: the
//! leaves to hash, synthetic trees of millions of leaves, proof latencies.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::params;

use super::open_connection;
use crate::StoreError;

pub fn raw_inserts(
    path: &Path,
    rows: usize,
    row_bytes: usize,
    batch: usize,
) -> Result<Duration, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Other(e.to_string());
    let mut conn = open_connection(path, true).map_err(StoreError::from)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS raw (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    )
    .map_err(err)?;
    let body = vec![b'x'; row_bytes];
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < rows {
        let tx = conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO raw (seq, body) VALUES (?1, ?2)")
                .map_err(err)?;
            for _ in 0..batch.max(1) {
                if seq as usize >= rows {
                    break;
                }
                seq += 1;
                stmt.execute(params![seq, body]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
    }
    Ok(started.elapsed())
}

/// Every leaf of the ledger at `path`, in order, for hashing benchmarks.
pub fn read_leaves(path: &Path) -> Result<Vec<Vec<u8>>, StoreError> {
    let conn = super::open_read_only(path)?;
    let mut stmt = conn
        .prepare("SELECT leaf FROM events ORDER BY seq")
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let leaves = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect::<Result<Vec<Vec<u8>>, _>>())
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(leaves)
}

/// Writes the stored hashes of a tree of `size` synthetic leaves (leaf `i` is the
/// 8 bytes of `i`) into a fresh database at `path`, as the writer would, in large
/// transactions. Returns how long it took.
pub fn synthetic_tree(path: &Path, size: u64) -> Result<Duration, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Other(e.to_string());
    let mut conn = super::open_offline(path)?;
    let started = Instant::now();
    let mut frontier = writ_ledger::Frontier::new();
    let mut idx = 0i64;
    let mut i = 0u64;
    while i < size {
        let tx = conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO tree (idx, hash) VALUES (?1, ?2)")
                .map_err(err)?;
            let end = (i + 100_000).min(size);
            while i < end {
                for h in frontier.push(writ_ledger::leaf_hash(&i.to_be_bytes())) {
                    stmt.execute(params![idx, &h.0[..]]).map_err(err)?;
                    idx += 1;
                }
                i += 1;
            }
        }
        tx.commit().map_err(err)?;
    }
    Ok(started.elapsed())
}

/// Times `samples` inclusion proofs for pseudo-random leaves of the tree of `size`
/// at `path`, through a read-only connection as the API's readers use.
pub fn proof_latencies(
    path: &Path,
    size: u64,
    samples: usize,
) -> Result<Vec<Duration>, StoreError> {
    let conn = super::open_read_only(path)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        // xorshift64*: spread over the whole tree, no dependency needed.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let index = state.wrapping_mul(0x2545_F491_4F6C_DD1D) % size;
        let started = Instant::now();
        let proof = super::ledger::inclusion_proof(&conn, index, size)?;
        out.push(started.elapsed());
        if proof.is_empty() && size > 1 {
            return Err(StoreError::Other(format!("empty proof for leaf {index}")));
        }
    }
    Ok(out)
}
