//! Published RFC 6962 / Certificate Transparency test vectors.
//!
//! Source: transparency-dev/merkle `testonly/constants.go` (`LeafInputs`,
//! `NodeHashes`, `RootHashes`, `EmptyRootHash`) and `testonly/reference_test.go`
//! (`TestRefInclusionProof`, `TestRefConsistencyProof`), which carry over the
//! vectors of Google's certificate-transparency `merkle_tree_test.cc`. The same
//! inclusion and consistency vectors are in ct-merkle 0.3.0's `tests/known_answer.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use writ_ledger::{
    EMPTY_ROOT, Frontier, Hash, consistency_proof, hashes_to_store, inclusion_proof, leaf_hash,
    root, stored_hash_count, stored_hash_index, verify_consistency, verify_inclusion,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `RootHashes()`: index = tree size.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `NodeHashes()`: every complete subtree of the 8-leaf tree, by level then position.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// (index, size, proof) from `TestRefInclusionProof`.
const INCLUSION: [(u64, u64, &[&str]); 7] = [
    (0, 1, &[]),
    (
        0,
        2,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        1,
        2,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old, new, proof) from `TestRefConsistencyProof`.
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn hx(s: &str) -> Hash {
    Hash(hex::decode(s).unwrap().try_into().unwrap())
}

fn hxs(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| hx(s)).collect()
}

fn leaf(i: usize) -> Vec<u8> {
    hex::decode(LEAVES[i]).unwrap()
}

/// The stored-hash table for the 8 vector leaves.
fn table() -> Vec<Hash> {
    let mut t = Vec::new();
    for (n, _) in LEAVES.iter().enumerate() {
        let new = hashes_to_store(n as u64, leaf_hash(&leaf(n)), &t).unwrap();
        t.extend(new);
    }
    t
}

#[test]
fn empty_tree_root() {
    assert_eq!(EMPTY_ROOT, hx(ROOTS[0]));
    assert_eq!(root(0, &Vec::<Hash>::new()).unwrap(), hx(ROOTS[0]));
    assert_eq!(Frontier::new().root(), hx(ROOTS[0]));
}

#[test]
fn roots_for_sizes_1_to_8() {
    let t = table();
    let mut frontier = Frontier::new();
    for (size, expected) in ROOTS.iter().enumerate().skip(1) {
        assert_eq!(root(size as u64, &t).unwrap(), hx(expected), "size {size}");
        frontier.push(leaf_hash(&leaf(size - 1)));
        assert_eq!(frontier.root(), hx(expected), "frontier size {size}");
    }
}

#[test]
fn stored_table_holds_exactly_the_published_node_hashes() {
    let t = table();
    let mut count = 0;
    for (level, hashes) in NODES.iter().enumerate() {
        for (n, expected) in hashes.iter().enumerate() {
            let index = stored_hash_index(level as u8, n as u64);
            assert_eq!(t[index as usize], hx(expected), "level {level} node {n}");
            count += 1;
        }
    }
    assert_eq!(t.len(), count);
    assert_eq!(stored_hash_count(8), count as u64);
    for (n, expected) in NODES[0].iter().enumerate() {
        assert_eq!(leaf_hash(&leaf(n)), hx(expected), "leaf hash {n}");
    }
}

#[test]
fn inclusion_proofs_match_published_vectors_and_verify() {
    let t = table();
    for (index, size, expected) in INCLUSION {
        let proof = inclusion_proof(index, size, &t).unwrap();
        assert_eq!(proof, hxs(expected), "inclusion {index} of {size}");
        verify_inclusion(
            index,
            size,
            leaf_hash(&leaf(index as usize)),
            &hxs(expected),
            hx(ROOTS[size as usize]),
        )
        .unwrap();
    }
}

#[test]
fn consistency_proofs_match_published_vectors_and_verify() {
    let t = table();
    for (old, new, expected) in CONSISTENCY {
        let proof = consistency_proof(old, new, &t).unwrap();
        assert_eq!(proof, hxs(expected), "consistency {old} to {new}");
        verify_consistency(
            old,
            new,
            hx(ROOTS[old as usize]),
            hx(ROOTS[new as usize]),
            &hxs(expected),
        )
        .unwrap();
    }
}
