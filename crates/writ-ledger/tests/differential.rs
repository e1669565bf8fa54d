//! Differential tests against ct-merkle, an independent RFC 6962 implementation
//! (its own in-memory tree, proof construction and verifiers).
//!
//! For every tree size checked: the roots agree, every inclusion proof and every
//! consistency proof is byte-for-byte the same as ct-merkle's, ours verify with
//! ct-merkle's verifier, and ct-merkle's verify with ours.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2_digest011::Sha256;
use writ_ledger::{
    Hash, consistency_proof, hashes_to_store, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};

/// Leaves of varied length and content, so no two share a hash.
fn leaf(i: u64) -> Vec<u8> {
    format!("writ ledger differential leaf {i}")
        .repeat(usize::try_from(i % 3 + 1).unwrap())
        .into_bytes()
}

/// Our table and ct-merkle's tree, grown together.
struct Pair {
    table: Vec<Hash>,
    theirs: MemoryBackedTree<Sha256, Vec<u8>>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            table: Vec::new(),
            theirs: MemoryBackedTree::new(),
        }
    }

    fn size(&self) -> u64 {
        self.theirs.len()
    }

    fn push(&mut self) {
        let n = self.size();
        let data = leaf(n);
        let new = hashes_to_store(n, leaf_hash(&data), &self.table).unwrap();
        self.table.extend(new);
        self.theirs.push(data);
    }

    fn their_root(&self, size: u64) -> RootHash<Sha256> {
        assert_eq!(size, self.size());
        self.theirs.root()
    }

    fn root_from_ours(&self, size: u64, h: Hash) -> RootHash<Sha256> {
        RootHash::new(h.0.into(), size)
    }
}

fn concat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

fn split(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks(32)
        .map(|c| Hash(c.try_into().unwrap()))
        .collect()
}

/// Checks everything about the current (largest) size of `pair`.
fn check_size(pair: &Pair) {
    let size = pair.size();
    let our_root = root(size, &pair.table).unwrap();
    let their_root = pair.their_root(size);
    assert_eq!(
        our_root.0.as_slice(),
        their_root.as_bytes().as_slice(),
        "root of size {size}"
    );
    let our_root_theirs = pair.root_from_ours(size, our_root);

    for index in 0..size {
        let ours = inclusion_proof(index, size, &pair.table).unwrap();
        let theirs = pair.theirs.prove_inclusion(usize::try_from(index).unwrap());
        assert_eq!(
            concat(&ours),
            theirs.as_bytes(),
            "inclusion {index} of {size}"
        );

        let ours_for_them = InclusionProof::<Sha256>::from_bytes(concat(&ours));
        our_root_theirs
            .verify_inclusion(&leaf(index), index, &ours_for_them)
            .unwrap_or_else(|e| panic!("ct-merkle rejects our inclusion {index} of {size}: {e}"));
        verify_inclusion(
            index,
            size,
            leaf_hash(&leaf(index)),
            &split(theirs.as_bytes()),
            our_root,
        )
        .unwrap_or_else(|e| panic!("we reject ct-merkle's inclusion {index} of {size}: {e}"));
    }

    for old in 1..=size {
        let old_root = root(old, &pair.table).unwrap();
        let ours = consistency_proof(old, size, &pair.table).unwrap();
        let additions = usize::try_from(size - old).unwrap();
        let theirs = pair.theirs.prove_consistency(additions);
        assert_eq!(
            concat(&ours),
            theirs.as_bytes(),
            "consistency {old} to {size}"
        );

        let ours_for_them = ConsistencyProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
        our_root_theirs
            .verify_consistency(&pair.root_from_ours(old, old_root), &ours_for_them)
            .unwrap_or_else(|e| panic!("ct-merkle rejects our consistency {old} to {size}: {e}"));
        verify_consistency(old, size, old_root, our_root, &split(theirs.as_bytes()))
            .unwrap_or_else(|e| panic!("we reject ct-merkle's consistency {old} to {size}: {e}"));
    }
}

#[test]
fn empty_tree_roots_agree() {
    let pair = Pair::new();
    assert_eq!(
        root(0, &pair.table).unwrap().0.as_slice(),
        pair.their_root(0).as_bytes().as_slice()
    );
}

#[test]
fn every_size_up_to_130_agrees_with_ct_merkle() {
    let mut pair = Pair::new();
    for _ in 1..=130 {
        pair.push();
        check_size(&pair);
    }
}

#[test]
fn sizes_1000_and_1025_agree_with_ct_merkle() {
    let mut pair = Pair::new();
    for target in [1000, 1024, 1025] {
        while pair.size() < target {
            pair.push();
        }
        check_size(&pair);
    }
}
