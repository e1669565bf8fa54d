//! The verifier's side: checking proofs against roots, with no stored hashes.
//!
//! `tlog_tiles` reports every failure as one "invalid proof"; the length is checked
//! here first so an auditor learns whether a proof was truncated or padded
//! (a transport or version problem) or has the right shape but wrong hashes
//! (tampering, or the wrong root).

use tlog_tiles::tlog;

use crate::{EMPTY_ROOT, Hash, ProofError};

/// Checks that `proof` shows leaf `index`, with hash `leaf_hash`, is in the tree
/// of `size` leaves whose root is `root`. `proof` is in RFC 9162 order.
///
/// Take `size` and `root` from one verified checkpoint: a proof does not pin the
/// size by itself (trees whose paths to `index` have the same shape accept the same
/// proof and root), the signature over both does.
///
/// # Errors
///
/// [`ProofError`] naming what failed; any error means the leaf is not proven.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: Hash,
    proof: &[Hash],
    root: Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::InclusionProofLength {
            index,
            size,
            expected,
            got: proof.len(),
        });
    }
    tlog::check_record(
        &to_tlog(proof),
        size,
        root.to_tlog(),
        index,
        leaf_hash.to_tlog(),
    )
    .map_err(|_| ProofError::InclusionRootMismatch)
}

/// Checks that `proof` shows the tree of `new` leaves with root `new_root` extends
/// the tree of `old` leaves with root `old_root`. `proof` is in RFC 9162 order.
///
/// For `old == new` the proof must be empty and the roots equal; for `old == 0`
/// the proof must be empty and `old_root` the empty-tree hash (see
/// [`crate::consistency_proof`]). As with inclusion, each size must come from the
/// same verified checkpoint as its root.
///
/// # Errors
///
/// [`ProofError`] naming what failed; any error means the new tree may have
/// rewritten history.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: Hash,
    new_root: Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    let expected = consistency_proof_len(old, new);
    if proof.len() != expected {
        return Err(ProofError::ConsistencyProofLength {
            old,
            new,
            expected,
            got: proof.len(),
        });
    }
    if old == 0 {
        if old_root != EMPTY_ROOT {
            return Err(ProofError::EmptyTreeRootMismatch);
        }
        if new == 0 && new_root != EMPTY_ROOT {
            return Err(ProofError::ConsistencyRootMismatch);
        }
        return Ok(());
    }
    tlog::check_tree(
        &to_tlog(proof),
        new,
        new_root.to_tlog(),
        old,
        old_root.to_tlog(),
    )
    .map_err(|_| ProofError::ConsistencyRootMismatch)
}

/// Number of hashes in the inclusion proof of leaf `index` in a tree of `size`
/// leaves (`index < size`): one per split on the path from the root to the leaf,
/// the same walk as RFC 9162's PATH(m, D[n]).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0u64, size, 0usize);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len
}

/// Number of hashes in the consistency proof from `old` to `new` leaves
/// (`old <= new`), the same walk as RFC 9162's SUBPROOF; 0 when `old` is 0 or `new`.
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    let (mut lo, mut hi, mut len) = (0u64, new, 0usize);
    while old != hi {
        let k = split(hi - lo);
        if old <= lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    // Reached a subtree whose right edge is the old tree's: its hash is in the
    // proof unless it is the whole old tree, which the verifier already has.
    if lo != 0 {
        len += 1;
    }
    len
}

/// Largest power of two strictly less than `n` (`n >= 2`): where RFC 9162 splits
/// a tree of `n` leaves.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

fn to_tlog(proof: &[Hash]) -> Vec<tlog::Hash> {
    proof.iter().map(|h| h.to_tlog()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{consistency_proof, hashes_to_store, inclusion_proof, leaf_hash};

    #[test]
    fn predicted_lengths_match_real_proofs() {
        let mut t: Vec<Hash> = Vec::new();
        for n in 0..70u64 {
            t.extend(hashes_to_store(n, leaf_hash(&n.to_le_bytes()), &t).unwrap());
            let size = n + 1;
            for i in 0..size {
                assert_eq!(
                    inclusion_proof(i, size, &t).unwrap().len(),
                    inclusion_proof_len(i, size),
                    "inclusion {i} of {size}"
                );
            }
            for old in 0..=size {
                assert_eq!(
                    consistency_proof(old, size, &t).unwrap().len(),
                    consistency_proof_len(old, size),
                    "consistency {old} to {size}"
                );
            }
        }
    }

    #[test]
    fn huge_sizes_do_not_panic() {
        let h = Hash::default();
        assert!(verify_inclusion(u64::MAX - 1, u64::MAX, h, &[h; 64], h).is_err());
        assert!(verify_consistency(1, u64::MAX, h, h, &[h; 64]).is_err());
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
    }

    #[test]
    fn empty_old_tree() {
        let root = Hash([7; 32]);
        assert_eq!(verify_consistency(0, 5, EMPTY_ROOT, root, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 5, root, root, &[]),
            Err(ProofError::EmptyTreeRootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, &[]),
            Ok(())
        );
        assert_eq!(
            verify_consistency(0, 0, EMPTY_ROOT, root, &[]),
            Err(ProofError::ConsistencyRootMismatch)
        );
        assert!(matches!(
            verify_consistency(0, 5, EMPTY_ROOT, root, &[root]),
            Err(ProofError::ConsistencyProofLength {
                expected: 0,
                got: 1,
                ..
            })
        ));
    }
}
