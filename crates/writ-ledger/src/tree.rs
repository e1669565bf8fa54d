//! The prover's side: root and proofs computed from the stored-hash table.
//!
//! The table is Go tlog's layout (Crosby and Wallach §3.3): every leaf hash and
//! every hash of a complete subtree, in the order they become known, so appending
//! only ever adds rows at the end. `tlog_tiles` does the maths; this module adapts
//! a [`HashSource`] to its `HashReader` and turns its panics-on-misuse into errors.

use std::cell::RefCell;

use tlog_tiles::tlog::{self, HashReader};

use crate::{Hash, LedgerError};

/// Where previously stored hashes come from (the store implements it over its table).
pub trait HashSource {
    /// Returns the hashes at the given stored-hash indexes, in the same order.
    /// Indexes arrive sorted ascending.
    ///
    /// # Errors
    ///
    /// Whatever the backing storage reports; [`LedgerError::MissingHash`] for an
    /// index that is not stored.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError>;
}

/// An in-memory table: element `i` is stored hash `i`. Used by tests and by
/// offline tools that hold a whole (small) ledger.
impl HashSource for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(LedgerError::MissingHash { index })
            })
            .collect()
    }
}

impl HashSource for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// Position of hash `n` of tree level `level` (0 = leaves) in the stored-hash table.
///
/// Same numbering as Go's `tlog.StoredHashIndex`. Defined for `n < 2^(62 - level)`,
/// far beyond any ledger Writ will hold.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    tlog::stored_hash_index(level, n)
}

/// Number of stored hashes in a tree of `n` leaves (Go's `tlog` computes it the same way).
pub fn stored_hash_count(n: u64) -> u64 {
    tlog::stored_hash_count(n)
}

/// The hashes to store when appending leaf number `n` (0-based) whose leaf hash is `h`.
///
/// They go at consecutive stored-hash indexes starting at
/// `stored_hash_index(0, n)`: first `h` itself, then one hash per subtree that
/// leaf `n` completes. Reads at most `log2 n` earlier hashes from `src`.
///
/// # Errors
///
/// When `src` fails or lacks a hash the new leaf's subtrees need.
pub fn hashes_to_store(
    n: u64,
    h: Hash,
    src: &(impl HashSource + ?Sized),
) -> Result<Vec<Hash>, LedgerError> {
    // tlog_tiles computes `(n + 1).trailing_zeros()` unchecked.
    if n == u64::MAX {
        return Err(LedgerError::TreeTooLarge { n });
    }
    let reader = Reader::new(src);
    let out = tlog::stored_hashes_for_record_hash(n, h.to_tlog(), &reader);
    reader.finish(out).map(from_tlog_vec)
}

/// Root (Merkle tree hash) of the first `size` leaves; the empty tree's root is
/// SHA-256 of the empty string.
///
/// # Errors
///
/// When `src` fails or lacks one of the (at most `1 + log2 size`) hashes read.
pub fn root(size: u64, src: &(impl HashSource + ?Sized)) -> Result<Hash, LedgerError> {
    let reader = Reader::new(src);
    let out = tlog::tree_hash(size, &reader);
    reader.finish(out).map(Hash::from_tlog)
}

/// Inclusion proof (RFC 9162 §2.1.3 audit path) that leaf `index` is in the tree
/// of `size` leaves. Order is RFC 9162's: the sibling nearest the leaf first, the
/// root's child last.
///
/// # Errors
///
/// [`LedgerError::IndexOutOfRange`] unless `index < size`; otherwise `src` errors.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    src: &(impl HashSource + ?Sized),
) -> Result<Vec<Hash>, LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let reader = Reader::new(src);
    let out = tlog::prove_record(size, index, &reader);
    reader.finish(out).map(from_tlog_vec)
}

/// Consistency proof (RFC 9162 §2.1.4) that the tree of `new` leaves extends the
/// tree of `old` leaves, in RFC 9162 order.
///
/// Equal sizes and `old == 0` both give an empty proof: every tree extends itself
/// and the empty tree. RFC 9162 defines proofs only for `0 < old < new`; these two
/// edge cases follow Go's tlog (`old == new`) and plain logic (`old == 0`), and
/// [`crate::verify_consistency`] checks them accordingly.
///
/// # Errors
///
/// [`LedgerError::OldLargerThanNew`] when `old > new`; otherwise `src` errors.
pub fn consistency_proof(
    old: u64,
    new: u64,
    src: &(impl HashSource + ?Sized),
) -> Result<Vec<Hash>, LedgerError> {
    if old > new {
        return Err(LedgerError::OldLargerThanNew { old, new });
    }
    if old == 0 {
        return Ok(Vec::new());
    }
    let reader = Reader::new(src);
    let out = tlog::prove_tree(new, old, &reader);
    reader.finish(out).map(from_tlog_vec)
}

fn from_tlog_vec(hashes: Vec<tlog::Hash>) -> Vec<Hash> {
    hashes.into_iter().map(Hash::from_tlog).collect()
}

/// Adapts a [`HashSource`] to `tlog_tiles`' `HashReader`.
///
/// `HashReader` can only return `tlog_tiles`' own error, so the source's error is
/// parked here and handed back by [`Reader::finish`]. The length check matters:
/// `tlog_tiles` asserts on a short read, and a panic in the writer thread would be
/// worse than a refused append.
struct Reader<'a, S: HashSource + ?Sized> {
    src: &'a S,
    failure: RefCell<Option<LedgerError>>,
}

impl<'a, S: HashSource + ?Sized> Reader<'a, S> {
    fn new(src: &'a S) -> Self {
        Reader {
            src,
            failure: RefCell::new(None),
        }
    }

    fn finish<T>(self, out: Result<T, tlog::Error>) -> Result<T, LedgerError> {
        out.map_err(|e| {
            self.failure
                .into_inner()
                .unwrap_or_else(|| LedgerError::Computation(e.to_string()))
        })
    }
}

impl<S: HashSource + ?Sized> HashReader for Reader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>, tlog::Error> {
        let failure = match self.src.read_hashes(indexes) {
            Ok(hashes) if hashes.len() == indexes.len() => {
                return Ok(hashes.into_iter().map(Hash::to_tlog).collect());
            }
            Ok(hashes) => LedgerError::WrongHashCount {
                asked: indexes.len(),
                got: hashes.len(),
            },
            Err(e) => e,
        };
        *self.failure.borrow_mut() = Some(failure);
        Err(tlog::Error::IndexesNotInTree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    struct Short;
    impl HashSource for Short {
        fn read_hashes(&self, _indexes: &[u64]) -> Result<Vec<Hash>, LedgerError> {
            Ok(Vec::new())
        }
    }

    fn table(n: u64) -> Vec<Hash> {
        let mut t = Vec::new();
        for i in 0..n {
            let new = hashes_to_store(i, leaf_hash(&i.to_be_bytes()), &t).unwrap();
            t.extend(new);
        }
        t
    }

    #[test]
    fn a_short_read_is_an_error_not_a_panic() {
        assert!(matches!(
            root(5, &Short),
            Err(LedgerError::WrongHashCount { asked: 2, got: 0 })
        ));
        assert!(matches!(
            hashes_to_store(3, Hash::default(), &Short),
            Err(LedgerError::WrongHashCount { .. })
        ));
    }

    #[test]
    fn a_missing_hash_names_its_index() {
        let t = table(4);
        // Tree of 5 needs leaf 4, which is not stored yet.
        let err = root(5, &t).unwrap_err();
        assert!(
            matches!(err, LedgerError::MissingHash { index } if index == stored_hash_index(0, 4)),
            "{err}"
        );
    }

    #[test]
    fn range_errors() {
        let t = table(3);
        assert!(matches!(
            inclusion_proof(3, 3, &t),
            Err(LedgerError::IndexOutOfRange { index: 3, size: 3 })
        ));
        assert!(matches!(
            consistency_proof(4, 3, &t),
            Err(LedgerError::OldLargerThanNew { old: 4, new: 3 })
        ));
        assert!(consistency_proof(0, 3, &t).unwrap().is_empty());
        assert!(consistency_proof(3, 3, &t).unwrap().is_empty());
        assert!(hashes_to_store(u64::MAX, Hash::default(), &t).is_err());
    }

    #[test]
    fn stored_hash_count_matches_table_length() {
        for n in 0..200 {
            assert_eq!(stored_hash_count(n), table(n).len() as u64);
        }
    }
}
