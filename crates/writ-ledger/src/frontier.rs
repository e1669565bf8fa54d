//! A streaming tree builder for offline verification.
//!
//! An auditor replaying a ledger export cannot hold every stored hash of a large
//! ledger, and does not need to: the next stored hashes and the root depend only
//! on the roots of the complete subtrees along the tree's right edge, at most one
//! per bit of the size.

use crate::{EMPTY_ROOT, Hash, node_hash};

/// The right edge ("frontier") of a tree: O(log n) memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the complete subtrees covering leaves `0..size`, largest (leftmost)
    /// first; subtree `i` has `2^level` leaves where the levels are the set bits of
    /// `size`, descending.
    subtrees: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns exactly the hashes [`crate::hashes_to_store`]
    /// would return for it (same order), so a verifier can compare them with the
    /// stored table while streaming.
    pub fn push(&mut self, leaf_hash: Hash) -> Vec<Hash> {
        let mut out = vec![leaf_hash];
        let mut h = leaf_hash;
        // Each trailing 1 bit of the old size is a complete subtree the same size
        // as the one just finished; merge them, smallest first.
        let mut n = self.size;
        while n & 1 == 1 {
            // The old size has as many subtrees as set bits, so one is there.
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            h = node_hash(left, h);
            out.push(h);
            n >>= 1;
        }
        self.subtrees.push(h);
        self.size += 1;
        out
    }

    /// Root of the tree of [`Frontier::size`] leaves; the empty tree's root is
    /// SHA-256 of the empty string.
    pub fn root(&self) -> Hash {
        let mut iter = self.subtrees.iter().rev();
        let Some(&last) = iter.next() else {
            return EMPTY_ROOT;
        };
        iter.fold(last, |right, &left| node_hash(left, right))
    }
}
