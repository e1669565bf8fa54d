//! The ledger's leaf encoding of an event: `Recorded::encode` (version 1),
//! `Recorded::seal` (version 2) and `Recorded::open`, strict on decode.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::values::{Actor, CanonicalError, Timestamp, canonical_bytes};

use super::Event;
use super::error::{CURRENT_ENCODING, DecodeError, PLAIN_ENCODING};
use super::personal::{self, Personal};

/// An event as the ledger holds it: position, time, who caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub event: Event,
}

#[derive(Serialize)]
struct EncodedRef<'a> {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: &'a Actor,
    event: &'a Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Encoded {
    v: u32,
    seq: u64,
    at: Timestamp,
    actor: Actor,
    event: Event,
}

/// A sealed event: the leaf the tree hashes, and the personal document beside it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Canonical leaf bytes, encoding version [`CURRENT_ENCODING`]. Holds no personal
    /// value, only commitments to them.
    pub leaf: Vec<u8>,
    /// The canonical personal document: `{}` when the event has no personal values.
    pub personal: Vec<u8>,
}

/// The leaf holds no personal data, so `Debug` shows it; the personal document is
/// shown by size only.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("leaf", &String::from_utf8_lossy(&self.leaf))
            .field("personal", &format_args!("<{} bytes>", self.personal.len()))
            .finish()
    }
}

/// An opened leaf: the event, with [`ERASED`](crate::ERASED) in every erased field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub recorded: Recorded,
    /// Pointers of the personal fields whose values were erased, in order. The leaf
    /// still commits to them, but they can no longer be shown or proven.
    pub erased: Vec<String>,
}

impl Recorded {
    fn plain(&self, v: u32) -> Result<Value, CanonicalError> {
        Ok(serde_json::to_value(EncodedRef {
            v,
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            event: &self.event,
        })?)
    }

    /// The version-1 leaf bytes, every value in clear.
    ///
    /// The ledger no longer writes these: leaves are written by [`Recorded::seal`], so
    /// that personal data can be erased. Kept for callers that have not moved yet and
    /// for tests of version-1 ledgers.
    pub fn encode(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical_bytes(&self.plain(PLAIN_ENCODING)?)
    }

    /// Reads a leaf on its own: any version-1 leaf, or a version-2 leaf that seals
    /// nothing. A leaf that seals personal values is refused
    /// ([`DecodeError::Sealed`]) rather than read with placeholders; use
    /// [`Recorded::open`] for it.
    pub fn decode(bytes: &[u8]) -> Result<Recorded, DecodeError> {
        let opened = Recorded::open(bytes, None)?;
        if !opened.erased.is_empty() {
            return Err(DecodeError::Sealed(opened.erased));
        }
        Ok(opened.recorded)
    }

    /// The leaf the ledger writes (version [`CURRENT_ENCODING`]) and the personal
    /// document to store beside it.
    ///
    /// `salt` is called once per personal value present, in the order of
    /// [`PERSONAL_FIELDS`](crate::PERSONAL_FIELDS); given the same salts, sealing is
    /// deterministic. In production the salts must be uniformly random (a CSPRNG):
    /// they are all that keeps an erased value from being confirmed by a guess.
    pub fn seal(&self, salt: &mut dyn FnMut() -> [u8; 16]) -> Result<Sealed, CanonicalError> {
        let mut leaf = self.plain(CURRENT_ENCODING)?;
        let personal = personal::seal_fields(&mut leaf, self.event.kind(), salt)?;
        Ok(Sealed {
            leaf: canonical_bytes(&leaf)?,
            personal: personal.to_bytes()?,
        })
    }

    /// Reads a leaf of either version with the personal document stored beside it.
    ///
    /// The leaf must be exactly the canonical encoding of what it says, so two
    /// different byte strings can never mean the same event. Every value in the
    /// document must match the leaf's commitment ([`DecodeError::Tampered`] names the
    /// first that does not), and the document may hold no value the leaf does not
    /// seal. A sealed field without a value was erased: it reads as
    /// [`ERASED`](crate::ERASED) and is listed in [`Opened::erased`]. `None` means the
    /// whole document is gone: every sealed field is erased.
    pub fn open(leaf: &[u8], personal: Option<&[u8]>) -> Result<Opened, DecodeError> {
        let mut value: Value =
            serde_json::from_slice(leaf).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let v = match value.get("v") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| DecodeError::Malformed(format!("`{n}` is not a version")))?,
            _ => return Err(DecodeError::Malformed("no integer version `v`".into())),
        };
        let kind = value
            .pointer("/event/type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let sealed = match v {
            PLAIN_ENCODING => Default::default(),
            CURRENT_ENCODING => personal::commitments(&value, &kind)?,
            other => return Err(DecodeError::Version(other)),
        };
        let personal = match personal {
            Some(bytes) => Personal::parse(bytes)?,
            None => Personal::default(),
        };
        let erased = personal::unseal(&mut value, &sealed, &personal)?;
        let e: Encoded =
            serde_json::from_value(value).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let recorded = Recorded {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            event: e.event,
        };
        // Encode what was read and seal it again with the leaf's own commitments: it
        // must give back the very bytes, and each personal value its very value.
        let mut again = recorded.plain(e.v).map_err(|_| DecodeError::NotCanonical)?;
        for (pointer, commit) in &sealed {
            let slot = again
                .pointer_mut(pointer)
                .ok_or(DecodeError::NotCanonical)?;
            if !erased.contains(pointer) && personal::value_of(&personal, pointer) != Some(&*slot) {
                return Err(DecodeError::PersonalMalformed(format!(
                    "value of `{pointer}` is not in canonical form"
                )));
            }
            *slot = commit.clone();
        }
        match canonical_bytes(&again) {
            Ok(bytes) if bytes == leaf => Ok(Opened { recorded, erased }),
            _ => Err(DecodeError::NotCanonical),
        }
    }
}
