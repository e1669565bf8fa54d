//! The raw SQLite write rate on this machine, for comparison in benchmarks: rows of
//! a given size inserted into one table, committed in batches, with the same
//! durability settings as the store (WAL, synchronous=FULL).

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
