//! Errors of the tree maths. Key and checkpoint errors live beside their types.

use thiserror::Error;

/// Why a tree computation over stored hashes failed.
///
/// These are the prover's errors (the side that owns the hash table); the
/// verifier's are [`ProofError`].
#[derive(Debug, Error)]
pub enum LedgerError {
    /// The hash source could not read; the store wraps its own error here.
    #[error("reading stored hashes failed")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored hash that the tree needs is absent: the table is shorter than the
    /// tree size asked for, or has a hole.
    #[error("stored hash {index} is missing")]
    MissingHash { index: u64 },
    /// A [`crate::HashSource`] broke its contract; checked here so a buggy source
    /// is an error rather than a panic inside `tlog_tiles`.
    #[error("hash source returned {got} hashes for {asked} indexes")]
    WrongHashCount { asked: usize, got: usize },
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    #[error("leaf number {n} is past the largest tree this ledger can address")]
    TreeTooLarge { n: u64 },
    #[error("`{text}` is not a base64 sha-256 hash")]
    MalformedHash { text: String },
    /// `tlog_tiles` refused its input in a way the checks above should have
    /// prevented; kept as text so its error type is not part of this API.
    #[error("transparency-log computation failed: {0}")]
    Computation(String),
}

/// Why a proof does not verify. Every variant means "do not trust this".
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    #[error(
        "inclusion proof has {got} hashes but leaf {index} of a tree of size {size} needs {expected}"
    )]
    InclusionProofLength {
        index: u64,
        size: u64,
        expected: usize,
        got: usize,
    },
    #[error("inclusion proof does not lead to the checkpoint's root")]
    InclusionRootMismatch,
    #[error("consistency proof has {got} hashes but sizes {old} to {new} need {expected}")]
    ConsistencyProofLength {
        old: u64,
        new: u64,
        expected: usize,
        got: usize,
    },
    #[error("the old root of an empty tree must be the empty-tree hash")]
    EmptyTreeRootMismatch,
    #[error("consistency proof does not connect the old root to the new root")]
    ConsistencyRootMismatch,
}
