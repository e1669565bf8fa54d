//! Offline verification of a data dir: the auditor's `writ audit verify`.
//!
//! Trusts nothing in the database. In one read snapshot it
//! 1. re-hashes every leaf exactly as stored and rebuilds the Merkle tree in
//!    O(log n) memory, comparing every hash the store kept with the recomputed one;
//! 2. checks every stored checkpoint's signature with the key the auditor trusts and
//!    that its root is the recomputed root at its size (so a rewritten tree is caught
//!    even when the attacker recomputed every stored hash);
//! 3. optionally proves that the log extends a checkpoint the auditor saved earlier
//!    (so a rewritten history is caught even with a re-signed log);
//! 4. replays every event into fresh projections and compares them, row by row, with
//!    the live tables.
//!
//! The first divergence is reported with the leaf index, table and row it concerns.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use writ_ledger::{Frontier, Hash, open_checkpoint};

use super::ledger::{self, StoredCheckpoint, to_hash};
use super::open_read_only;
use super::rebuild::{ProjectionCheck, compare_replayed};
use super::rows::{DbError, DbResult};
use crate::StoreError;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The verifier key (`name+id+base64`) the auditor trusts for checkpoints.
    pub verifier_key: String,
    /// A signed checkpoint saved earlier, which the log must extend.
    pub saved_checkpoint: Option<String>,
}

/// Where verification stands, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Tree,
    Replay,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub size: u64,
    pub root: Hash,
    pub checkpoints: usize,
    /// The saved checkpoint's size, when one was given and the log extends it.
    pub extends: Option<u64>,
    pub projection_rows: usize,
    /// Events whose personal values were (partly) erased; their leaves still verify.
    pub erased_events: u64,
    pub leaf_bytes: u64,
    pub tree_time: Duration,
    pub replay_time: Duration,
}

/// The first thing that does not hold, located as precisely as the evidence allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The leaf index (0-based; seq − 1) concerned, when one is known.
    pub index: Option<u64>,
    /// The projection table and the live and replayed rows, for a projection mismatch.
    pub table: Option<String>,
    pub live: Option<String>,
    pub replayed: Option<String>,
    pub message: String,
}

impl Divergence {
    fn at(index: u64, message: String) -> Divergence {
        Divergence {
            index: Some(index),
            table: None,
            live: None,
            replayed: None,
            message,
        }
    }

    fn log(message: String) -> Divergence {
        Divergence {
            index: None,
            table: None,
            live: None,
            replayed: None,
            message,
        }
    }
}

pub type Verdict = Result<VerifyReport, Box<Divergence>>;

/// Verifies the database at `path`. `Err` means verification could not run (no such
/// database, unreadable); `Ok(Err(_))` means it ran and found a divergence.
pub fn verify(
    path: &Path,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<Verdict, StoreError> {
    let conn = open_read_only(path)?;
    let snapshot = conn
        .unchecked_transaction()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(verify_snapshot(path, &snapshot, options, progress)?)
}

fn verify_snapshot(
    path: &Path,
    conn: &Connection,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> DbResult<Verdict> {
    let total = ledger::size(conn)?;
    let stored = ledger::checkpoints(conn)?;
    let mut targets = Vec::with_capacity(stored.len() + 1);
    for c in &stored {
        if let Err(d) = check_signature(c, &options.verifier_key) {
            return Ok(Err(d));
        }
        targets.push((c.size, c.root, Target::Stored));
    }
    if let Some(note) = &options.saved_checkpoint {
        let saved = match open_checkpoint(note, &options.verifier_key) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(Box::new(Divergence::log(format!(
                    "the saved checkpoint does not verify: {e}"
                )))));
            }
        };
        if saved.size > total {
            return Ok(Err(Box::new(Divergence::log(format!(
                "the log has {total} entries but the saved checkpoint covers {}: \
                 entries were removed since it was signed",
                saved.size
            )))));
        }
        targets.push((saved.size, saved.root, Target::Saved));
    }
    targets.sort_by_key(|t| t.0);

    let started = Instant::now();
    let (root, leaf_bytes) = match rebuild_tree(path, conn, total, &targets, progress)? {
        Ok(r) => r,
        Err(d) => return Ok(Err(d)),
    };
    let tree_time = started.elapsed();

    let started = Instant::now();
    let check = match compare_replayed(conn, &mut |n| progress(Phase::Replay, n, total)) {
        Ok(c) => c,
        Err(DbError::Corrupt(m)) => {
            return Ok(Err(Box::new(Divergence {
                index: first_number(&m).map(|seq| seq.saturating_sub(1)),
                ..Divergence::log(m)
            })));
        }
        Err(e) => return Err(e),
    };
    progress(Phase::Replay, total, total);
    let projection_rows = match check {
        ProjectionCheck::Match { rows, .. } => rows,
        ProjectionCheck::Diverges {
            table,
            live,
            replayed,
        } => {
            let message = match (&live, &replayed) {
                (Some(_), Some(_)) => {
                    format!("a row of `{table}` differs from what the ledger says")
                }
                (Some(_), None) => format!("`{table}` holds a row the ledger never created"),
                _ => format!("a row of `{table}` that the ledger created is missing"),
            };
            return Ok(Err(Box::new(Divergence {
                index: None,
                table: Some(table),
                live,
                replayed,
                message,
            })));
        }
    };
    // Erasures are entries of their own; the replay above already checked that every
    // value still present matches its commitment.
    let mut erased_events = 0u64;
    for e in super::collect_events(
        conn,
        "SELECT seq, leaf, personal FROM events WHERE kind = 'personal_data_erased' ORDER BY seq",
        [],
    )? {
        if let writ_core::Event::PersonalDataErased { entries, .. } = e.recorded.event {
            erased_events += entries;
        }
    }
    Ok(Ok(VerifyReport {
        size: total,
        root,
        checkpoints: stored.len(),
        extends: targets.iter().find(|t| t.2 == Target::Saved).map(|t| t.0),
        projection_rows,
        erased_events,
        leaf_bytes,
        tree_time,
        replay_time: started.elapsed(),
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Stored,
    Saved,
}

fn check_signature(c: &StoredCheckpoint, key: &str) -> Result<(), Box<Divergence>> {
    let opened = open_checkpoint(&c.note, key).map_err(|e| {
        Box::new(Divergence::log(format!(
            "the checkpoint stored for size {} does not verify: {e}",
            c.size
        )))
    })?;
    if opened.size != c.size || opened.root != c.root {
        return Err(Box::new(Divergence::log(format!(
            "the checkpoint stored for size {} signs size {} and another root than its row says",
            c.size, opened.size
        ))));
    }
    Ok(())
}

/// Streams leaves and stored hashes side by side, rebuilding the tree; checks each
/// target root when the tree reaches its size.
/// Leaves as the hashing thread hands them over: sequence number, leaf hash, length.
type LeafBatch = Vec<(i64, Hash, usize)>;

/// Reads the first `total` leaves on a connection of its own and hashes them, so that
/// reading and hashing leaves overlaps with reading and checking the stored tree.
fn hash_leaves(path: &Path, total: u64, out: &std::sync::mpsc::SyncSender<DbResult<LeafBatch>>) {
    let run = || -> DbResult<()> {
        let conn = open_read_only(path).map_err(|e| DbError::Corrupt(e.to_string()))?;
        let mut stmt = conn.prepare("SELECT seq, leaf FROM events WHERE seq <= ?1 ORDER BY seq")?;
        let mut rows = stmt.query([total as i64])?;
        let mut batch = Vec::with_capacity(LEAF_BATCH);
        while let Some(r) = rows.next()? {
            let leaf = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            batch.push((r.get(0)?, writ_ledger::leaf_hash(leaf), leaf.len()));
            if batch.len() == LEAF_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LEAF_BATCH));
                if out.send(Ok(full)).is_err() {
                    return Ok(()); // the tree side stopped at a divergence
                }
            }
        }
        let _ = out.send(Ok(batch));
        Ok(())
    };
    if let Err(e) = run() {
        let _ = out.send(Err(e));
    }
}

const LEAF_BATCH: usize = 4096;

fn rebuild_tree(
    path: &Path,
    conn: &Connection,
    total: u64,
    targets: &[(u64, Hash, Target)],
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> DbResult<Result<(Hash, u64), Box<Divergence>>> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        std::thread::Builder::new()
            .name("writ-verify-leaves".into())
            .spawn_scoped(scope, move || hash_leaves(path, total, &tx))
            .map_err(|e| DbError::Corrupt(format!("cannot start the hashing thread: {e}")))?;
        let leaves = rx.into_iter().flat_map(|batch| match batch {
            Ok(b) => b.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        });
        check_tree(conn, leaves, total, targets, progress)
    })
}

fn check_tree(
    conn: &Connection,
    mut leaves: impl Iterator<Item = DbResult<(i64, Hash, usize)>>,
    total: u64,
    targets: &[(u64, Hash, Target)],
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> DbResult<Result<(Hash, u64), Box<Divergence>>> {
    let mut tree = conn.prepare("SELECT idx, hash FROM tree ORDER BY idx")?;
    let mut tree = tree.query([])?;
    let mut frontier = Frontier::new();
    let mut targets = targets.iter().peekable();
    let mut bytes = 0u64;
    let mut next_idx = 0u64;

    let check_targets =
        |frontier: &Frontier,
         targets: &mut std::iter::Peekable<std::slice::Iter<'_, (u64, Hash, Target)>>|
         -> Result<(), Box<Divergence>> {
            while let Some(&&(size, root, kind)) = targets.peek() {
                if size != frontier.size() {
                    break;
                }
                let actual = frontier.root();
                if actual != root {
                    let whose = match kind {
                        Target::Stored => "the checkpoint stored for",
                        Target::Saved => "the saved checkpoint at",
                    };
                    return Err(Box::new(Divergence::log(format!(
                        "the log does not match {whose} size {size}: it signs root {}, the log's \
                     entries give {}; entries before index {size} were changed, removed or \
                     reordered since it was signed",
                        writ_ledger::hash_to_base64(&root),
                        writ_ledger::hash_to_base64(&actual),
                    ))));
                }
                targets.next();
            }
            Ok(())
        };
    if let Err(d) = check_targets(&frontier, &mut targets) {
        return Ok(Err(d));
    }

    for leaf in leaves.by_ref() {
        let (seq, leaf_hash, len) = leaf?;
        let index = frontier.size();
        if seq as u64 != index + 1 {
            return Ok(Err(Box::new(Divergence::at(
                index,
                format!(
                    "ledger entry {} is missing (the next entry stored is {seq})",
                    index + 1
                ),
            ))));
        }
        bytes += len as u64;
        let computed = frontier.push(leaf_hash);
        for (k, hash) in computed.iter().enumerate() {
            let stored = match tree.next()? {
                Some(row) => (
                    row.get::<_, i64>(0)? as u64,
                    to_hash(row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?),
                ),
                None => {
                    return Ok(Err(Box::new(Divergence::at(
                        index,
                        format!("the stored tree ends before entry {}", index + 1),
                    ))));
                }
            };
            if stored.0 != next_idx {
                return Ok(Err(Box::new(Divergence::at(
                    index,
                    format!(
                        "stored tree hash {next_idx} (for entry {}) is missing",
                        index + 1
                    ),
                ))));
            }
            if stored.1 != Some(*hash) {
                let what = if k == 0 {
                    "its leaf hash differs from the one stored when it was appended: the entry's \
                     bytes were edited, or entries were swapped"
                } else {
                    "a subtree hash stored with it differs from the recomputed one"
                };
                return Ok(Err(Box::new(Divergence::at(
                    index,
                    format!("ledger entry {}: {what}", index + 1),
                ))));
            }
            next_idx += 1;
        }
        if let Err(d) = check_targets(&frontier, &mut targets) {
            return Ok(Err(d));
        }
        if index.is_multiple_of(4096) {
            progress(Phase::Tree, index, total);
        }
    }
    if tree.next()?.is_some() {
        return Ok(Err(Box::new(Divergence::at(
            frontier.size(),
            format!(
                "the stored tree has hashes beyond its {} entries: entries were removed from the end",
                frontier.size()
            ),
        ))));
    }
    if let Some(&&(size, _, _)) = targets.peek() {
        return Ok(Err(Box::new(Divergence::log(format!(
            "a checkpoint covers {size} entries but the log has {}",
            frontier.size()
        )))));
    }
    progress(Phase::Tree, total, total);
    Ok(Ok((frontier.root(), bytes)))
}

fn first_number(message: &str) -> Option<u64> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
}
