//! Every way of bending a valid proof is refused, with the error that says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use writ_ledger::{
    Hash, ProofError, consistency_proof, hashes_to_store, inclusion_proof, leaf_hash, root,
    verify_consistency, verify_inclusion,
};

const SIZE: u64 = 37;

fn leaf(i: u64) -> Hash {
    leaf_hash(format!("tamper leaf {i}").as_bytes())
}

fn table() -> Vec<Hash> {
    let mut t = Vec::new();
    for n in 0..SIZE {
        let new = hashes_to_store(n, leaf(n), &t).unwrap();
        t.extend(new);
    }
    t
}

fn flip(proof: &[Hash], at: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[at].0[at % 32] ^= 0x01;
    p
}

#[test]
fn inclusion_tampering_is_refused() {
    let t = table();
    let root = root(SIZE, &t).unwrap();
    let other_trees: Vec<(u64, Hash)> = [1, SIZE / 2, SIZE - 1]
        .into_iter()
        .map(|size| (size, writ_ledger::root(size, &t).unwrap()))
        .collect();
    for index in 0..SIZE {
        let proof = inclusion_proof(index, SIZE, &t).unwrap();
        assert_eq!(
            verify_inclusion(index, SIZE, leaf(index), &proof, root),
            Ok(())
        );

        for at in 0..proof.len() {
            assert_eq!(
                verify_inclusion(index, SIZE, leaf(index), &flip(&proof, at), root),
                Err(ProofError::InclusionRootMismatch),
                "flipped hash {at} of proof for {index}"
            );
        }
        // Wrong leaf, wrong root.
        assert!(verify_inclusion(index, SIZE, leaf(index + 1), &proof, root).is_err());
        assert!(verify_inclusion(index, SIZE, leaf(index), &proof, leaf(0)).is_err());
        // Wrong index: the same proof for a neighbour.
        for other in [index.wrapping_sub(1), index + 1] {
            if other < SIZE {
                assert!(
                    verify_inclusion(other, SIZE, leaf(index), &proof, root).is_err(),
                    "proof for {index} accepted at {other}"
                );
            }
        }
        // Wrong size: checked against another checkpoint's (size, root) pair.
        // (The proof alone does not pin the size: sizes whose paths to `index`
        // have the same shape accept it with the same root, which is why a
        // checkpoint signs size and root together.)
        for (size, other_root) in &other_trees {
            if index < *size {
                assert!(
                    verify_inclusion(index, *size, leaf(index), &proof, *other_root).is_err(),
                    "proof for {index} of {SIZE} accepted for size {size}"
                );
            }
        }
        // Truncated and padded.
        if !proof.is_empty() {
            assert!(matches!(
                verify_inclusion(index, SIZE, leaf(index), &proof[..proof.len() - 1], root),
                Err(ProofError::InclusionProofLength { .. })
            ));
        }
        let mut padded = proof.clone();
        padded.push(root);
        assert!(matches!(
            verify_inclusion(index, SIZE, leaf(index), &padded, root),
            Err(ProofError::InclusionProofLength { .. })
        ));
    }
    assert_eq!(
        verify_inclusion(SIZE, SIZE, leaf(0), &[], root),
        Err(ProofError::IndexOutOfRange {
            index: SIZE,
            size: SIZE
        })
    );
}

#[test]
fn consistency_tampering_is_refused() {
    let t = table();
    let new_root = root(SIZE, &t).unwrap();
    for old in 1..SIZE {
        let old_root = root(old, &t).unwrap();
        let proof = consistency_proof(old, SIZE, &t).unwrap();
        assert_eq!(
            verify_consistency(old, SIZE, old_root, new_root, &proof),
            Ok(())
        );

        for at in 0..proof.len() {
            assert_eq!(
                verify_consistency(old, SIZE, old_root, new_root, &flip(&proof, at)),
                Err(ProofError::ConsistencyRootMismatch),
                "flipped hash {at} of proof {old} to {SIZE}"
            );
        }
        // A rewritten history: the old root is not the real one.
        assert_eq!(
            verify_consistency(old, SIZE, Hash([0xab; 32]), new_root, &proof),
            Err(ProofError::ConsistencyRootMismatch)
        );
        assert!(verify_consistency(old, SIZE, old_root, old_root, &proof).is_err());
        // Wrong sizes: the old root is not the root of `old + 1` leaves, and a
        // proof for `SIZE` does not fit `SIZE - 1`'s root.
        assert!(verify_consistency(old + 1, SIZE, old_root, new_root, &proof).is_err());
        if old < SIZE - 1 {
            let smaller = root(SIZE - 1, &t).unwrap();
            assert!(verify_consistency(old, SIZE - 1, old_root, smaller, &proof).is_err());
        }
        // Truncated.
        assert!(matches!(
            verify_consistency(old, SIZE, old_root, new_root, &proof[..proof.len() - 1]),
            Err(ProofError::ConsistencyProofLength { .. })
        ));
    }
    // Same size: roots must match exactly and the proof be empty.
    let r = root(SIZE, &t).unwrap();
    assert_eq!(verify_consistency(SIZE, SIZE, r, r, &[]), Ok(()));
    assert!(verify_consistency(SIZE, SIZE, r, leaf(0), &[]).is_err());
    assert!(verify_consistency(SIZE, SIZE, r, r, &[r]).is_err());
    assert_eq!(
        verify_consistency(SIZE, 3, r, r, &[]),
        Err(ProofError::OldLargerThanNew { old: SIZE, new: 3 })
    );
}

#[test]
fn error_messages_tell_an_auditor_what_failed() {
    assert_eq!(
        ProofError::InclusionRootMismatch.to_string(),
        "inclusion proof does not lead to the checkpoint's root"
    );
    assert_eq!(
        ProofError::ConsistencyProofLength {
            old: 2,
            new: 5,
            expected: 2,
            got: 1
        }
        .to_string(),
        "consistency proof has 1 hashes but sizes 2 to 5 need 2"
    );
}
