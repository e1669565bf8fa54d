//! Transparency-log maths for Writ's audit ledger, with no I/O.
//!
//! The ledger is an RFC 9162 (Certificate Transparency v2) Merkle tree over the
//! canonical event encodings, stored the way Go's `golang.org/x/mod/sumdb/tlog`
//! stores it: a flat, append-only table of hashes. This crate is the maths on top
//! of that table, delegating to maintained implementations rather than our own:
//!
//! - `tlog_tiles` (Cloudflare's port of Go's tlog) for stored-hash layout, roots,
//!   and inclusion and consistency proofs;
//! - `signed_note` (C2SP signed-note) for signing and verifying checkpoints.
//!
//! The prover (the store) implements [`HashSource`] over its table and calls
//! [`hashes_to_store`] on append, [`root`], [`inclusion_proof`] and
//! [`consistency_proof`]. The verifier (an auditor, offline) needs no table:
//! [`verify_inclusion`], [`verify_consistency`], [`Frontier`] to rebuild a tree
//! from an export in O(log n) memory, and [`open_checkpoint`] to check a signed
//! tree head. [`LedgerKey`] signs checkpoints.
//!
//! Proofs are lists of [`Hash`] in RFC 9162 order (leaf-side sibling first).

mod checkpoint;
mod error;
pub mod evidence;
mod frontier;
mod hash;
mod key;
mod tree;
mod verify;

pub use checkpoint::{Checkpoint, NoteError, open_checkpoint};
pub use error::{LedgerError, ProofError};
pub use frontier::Frontier;
pub use hash::{
    EMPTY_ROOT, HASH_SIZE, Hash, hash_from_base64, hash_to_base64, leaf_hash, node_hash,
};
pub use key::{KeyError, LedgerKey};
pub use tree::{
    HashSource, consistency_proof, hashes_to_store, inclusion_proof, root, stored_hash_count,
    stored_hash_index,
};
pub use verify::{
    consistency_proof_len, inclusion_proof_len, verify_consistency, verify_inclusion,
};
