//! The 32-byte SHA-256 hash that names leaves, tree nodes and roots.
//!
//! Writ has its own `Hash` rather than re-exporting `tlog_tiles::tlog::Hash` so that
//! the store and server do not depend on `tlog_tiles`' version, and so the type can be
//! `Eq`, `Ord` and `std::hash::Hash` (the upstream one is only `PartialEq`).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::LedgerError;

/// Size of a [`Hash`] in bytes.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash of a leaf, an interior node or a whole tree.
///
/// `Display` and `Debug` print standard base64 with padding, the form used in
/// C2SP checkpoints, so a hash in a log line can be pasted into a checkpoint check.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = Hash(tlog_tiles::tlog::EMPTY_HASH.0);

/// Leaf hash as RFC 9162 defines it: SHA-256(0x00 || leaf).
///
/// The 0x00 prefix keeps a leaf from ever being mistaken for an interior node,
/// whose prefix is 0x01 (second-preimage resistance).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    Hash::from_tlog(tlog_tiles::tlog::record_hash(leaf))
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    Hash::from_tlog(tlog_tiles::tlog::node_hash(left.to_tlog(), right.to_tlog()))
}

/// Standard base64 (with padding) of a hash, as written on a checkpoint's root line.
pub fn hash_to_base64(h: &Hash) -> String {
    STANDARD.encode(h.0)
}

/// Parses the standard-base64 form written by [`hash_to_base64`].
///
/// # Errors
///
/// [`LedgerError::MalformedHash`] when the text is not base64 of exactly 32 bytes.
pub fn hash_from_base64(s: &str) -> Result<Hash, LedgerError> {
    let malformed = || LedgerError::MalformedHash { text: s.to_owned() };
    let bytes = STANDARD.decode(s).map_err(|_| malformed())?;
    let bytes: [u8; HASH_SIZE] = bytes.try_into().map_err(|_| malformed())?;
    Ok(Hash(bytes))
}

impl Hash {
    /// The hash of `data` with no domain prefix, for callers that hash their own
    /// framing (the empty-tree root is `Hash::sha256(b"")`).
    pub fn sha256(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    pub(crate) fn from_tlog(h: tlog_tiles::tlog::Hash) -> Hash {
        Hash(h.0)
    }

    pub(crate) fn to_tlog(self) -> tlog_tiles::tlog::Hash {
        tlog_tiles::tlog::Hash(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hash_to_base64(self))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hash_from_base64(s)
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_wrong_lengths() {
        let h = leaf_hash(b"writ");
        assert_eq!(hash_from_base64(&hash_to_base64(&h)).unwrap(), h);
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        // 31 bytes, 33 bytes, not base64 at all, unpadded.
        for bad in [
            STANDARD.encode([0u8; 31]),
            STANDARD.encode([0u8; 33]),
            "not base64!".to_owned(),
            hash_to_base64(&h).trim_end_matches('=').to_owned(),
        ] {
            assert!(hash_from_base64(&bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, Hash::sha256(b""));
    }

    #[test]
    fn leaf_and_node_hashes_use_their_prefixes() {
        assert_eq!(leaf_hash(b"ab"), Hash::sha256(b"\x00ab"));
        let (l, r) = (Hash([1; 32]), Hash([2; 32]));
        let mut framed = vec![1u8];
        framed.extend_from_slice(&l.0);
        framed.extend_from_slice(&r.0);
        assert_eq!(node_hash(l, r), Hash::sha256(&framed));
    }
}
