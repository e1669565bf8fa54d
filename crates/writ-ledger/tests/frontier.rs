//! The streaming builder agrees with the table-backed prover at every size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use writ_ledger::{
    Frontier, Hash, hashes_to_store, leaf_hash, root, stored_hash_count, stored_hash_index,
};

#[test]
fn push_returns_what_hashes_to_store_returns_for_every_n_up_to_4100() {
    let mut table: Vec<Hash> = Vec::new();
    let mut frontier = Frontier::new();
    for n in 0..4100u64 {
        let h = leaf_hash(format!("event {n}").as_bytes());
        let stored = hashes_to_store(n, h, &table).unwrap();
        assert_eq!(
            table.len() as u64,
            stored_hash_index(0, n),
            "rows before leaf {n}"
        );
        let streamed = frontier.push(h);
        assert_eq!(streamed, stored, "hashes for leaf {n}");
        table.extend(stored);

        let size = n + 1;
        assert_eq!(frontier.size(), size);
        assert_eq!(table.len() as u64, stored_hash_count(size));
        assert_eq!(
            frontier.root(),
            root(size, &table).unwrap(),
            "root of {size}"
        );
    }
}

#[test]
fn a_different_leaf_changes_the_root() {
    let mut a = Frontier::new();
    let mut b = Frontier::new();
    for n in 0..10u8 {
        a.push(leaf_hash(&[n]));
        b.push(leaf_hash(&[if n == 3 { 99 } else { n }]));
    }
    assert_ne!(a.root(), b.root());
}
