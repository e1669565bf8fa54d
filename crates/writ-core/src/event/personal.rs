//! Personal data in the ledger: committed to in the leaf, kept beside it, erasable.
//!
//! A leaf is hashed into the Merkle tree, so it can never change. Some of what an
//! event says is personal data that data-protection law may require Writ to erase: a
//! person's real name, their email, what they wrote to justify, comment on, cancel or
//! revoke something. So a leaf (encoding version 2, written by [`Recorded::seal`])
//! does not hold those values. In their place it holds a commitment,
//! `{"sealed":"<hex SHA-256(salt ‖ canonical bytes of the value)>"}`, and the values
//! themselves, each with its salt, go into a separate *personal document* stored
//! beside the leaf. [`Recorded::open`] checks every value in that document against
//! its commitment, so the side data is as tamper-evident as the leaf.
//!
//! # Why a salt
//!
//! An unsalted hash of a low-entropy value (an email address, a three-word reason) can
//! be confirmed by anyone who guesses it: hash the guess, compare. Each value gets its
//! own random 16-byte salt, and erasure deletes the value and its salt together. After
//! that the commitment is 32 bytes that nobody can check a guess against.
//!
//! # What erasure costs, and what it keeps
//!
//! An erased value can no longer be shown or proven: [`Recorded::open`] puts
//! [`ERASED`] in its place and lists its path in [`Opened::erased`]. Everything else
//! stays valid: the leaf bytes, and so every leaf hash, the tree, the signed
//! checkpoints and every inclusion and consistency proof, are untouched. A verifier
//! therefore still proves the whole history and reports which fields were erased.
//!
//! # What is personal
//!
//! [`PERSONAL_FIELDS`] is the fixed list, by event type and JSON pointer from the root
//! of the leaf. The rule: free prose written by people is sealed wherever it occurs,
//! and so are attributes that describe a person rather than key them.
//!
//! | event | pointer | why |
//! |---|---|---|
//! | `identity_upserted` | `/event/identity/display_name` | a person's real name (for an NHI, often its owner's) |
//! | `identity_upserted` | `/event/identity/kind/email` | contact data of a person |
//! | `identity_upserted` | `/event/identity/kind/department` | describes a person; only a review campaign's scope reads it (from the live organisation data) |
//! | `identity_upserted` | `/event/identity/kind/purpose` | NHI prose, which tends to name its people |
//! | `system_upserted` | `/event/system/description` | free prose ("ask Jane on ext. 4411") |
//! | `entitlement_upserted` | `/event/entitlement/description` | free prose |
//! | `token_issued` | `/event/token/label` | chosen by the holder, typically names them or their device |
//! | `request_submitted` | `/event/request/justification` | free prose |
//! | `step_decided` | `/event/comment` | free prose |
//! | `request_cancelled` | `/event/reason` | free prose |
//! | `grant_revoked` | `/event/reason` | free prose |
//! | `provisioning_resolved` | `/event/reason` | free prose |
//! | `review_decided` | `/event/reason` | free prose |
//!
//! Deliberately left in clear:
//!
//! - **Identity names** (`alice`, `svc-etl`) wherever they occur: requester,
//!   beneficiary, approver, actor, manager, owner. They are pseudonymous keys that
//!   every event joins on; without them the ledger could not show who decided what,
//!   nor be replayed. Erasing the person behind a name is erasing their identity's
//!   sealed fields (and whatever maps the name to them outside the ledger).
//! - **Groups, roles, status, employment type**: categories without free text, and
//!   inputs (or likely inputs) of approval policy; an audit must be able to re-judge a
//!   decision from them.
//! - **Catalogue names, display names and external references** of systems and
//!   entitlements: they say *what* was granted, which an audit must always show.
//! - **Authority bases** (`basis`): Writ writes them from names and times only.
//! - **Ticket keys, constraints, ids, digests, times, policy**: identifiers and rules,
//!   not prose about a person. Source ranges in constraints are networks a connector
//!   must enforce, so the record of what was approved keeps them.
//!
//! # The request digest
//!
//! A request's digest ([`Submission::digest`](crate::Submission::digest)) is an
//! unsalted hash that every decision repeats. Were the justification inside it, a
//! guess at an erased justification could be confirmed against the digest, defeating
//! the salt; so the digest covers the submission with its personal fields set to
//! `null`. The justification is still bound to the request: by its commitment in the
//! `request_submitted` leaf, which the tree fixes before any decision.
//!
//! # The personal document
//!
//! Canonical JSON (see [`canonical_bytes`]): an object keyed by pointer, each entry
//! `{"salt":"<32 hex>","value":<the value as the plain encoding has it>}`. An event
//! with no personal values (or whose optional ones are all absent) has the document
//! `{}`; it is never empty bytes. Erasing a field removes its entry; a document may
//! therefore lack entries (those fields are erased) but must never hold an entry the
//! leaf does not seal.
//!
//! [`Recorded::seal`]: crate::Recorded::seal
//! [`Recorded::open`]: crate::Recorded::open
//! [`Opened::erased`]: crate::Opened::erased

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::values::{CanonicalError, canonical_bytes};

use super::error::DecodeError;

/// What an erased value reads as once its leaf is opened. Every personal field
/// accepts it (each is plain text, or a text type whose bounds it meets), so an event
/// with erased fields still deserializes and replays; [`Opened::erased`] says which
/// fields hold it because they were erased rather than because someone wrote it.
///
/// [`Opened::erased`]: crate::Opened::erased
pub const ERASED: &str = "[erased]";

/// Where one personal field sits in a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersonalField {
    /// The event type ([`Event::kind`](crate::Event::kind)) whose leaves hold it.
    pub event: &'static str,
    /// JSON pointer (RFC 6901) from the root of the leaf. Absent or `null` in a given
    /// leaf means the event has no such value (an NHI has no email; a comment is
    /// optional), and nothing is sealed.
    pub pointer: &'static str,
}

/// Every personal field, in the order [`Recorded::seal`](crate::Recorded::seal) asks
/// for salts. See the module documentation for why each is here and what is not.
pub const PERSONAL_FIELDS: &[PersonalField] = &[
    field("identity_upserted", "/event/identity/display_name"),
    field("identity_upserted", "/event/identity/kind/email"),
    field("identity_upserted", "/event/identity/kind/department"),
    field("identity_upserted", "/event/identity/kind/purpose"),
    field("system_upserted", "/event/system/description"),
    field("entitlement_upserted", "/event/entitlement/description"),
    field("token_issued", "/event/token/label"),
    field("request_submitted", "/event/request/justification"),
    field(
        "request_submitted",
        "/event/request/sod_exception/justification",
    ),
    field("step_decided", "/event/comment"),
    field("request_cancelled", "/event/reason"),
    field("grant_revoked", "/event/reason"),
    field("provisioning_resolved", "/event/reason"),
    field("review_decided", "/event/reason"),
    field("delegation_granted", "/event/delegation/reason"),
    field("delegation_revoked", "/event/reason"),
    field("incident_review_closed", "/event/notes"),
];

const fn field(event: &'static str, pointer: &'static str) -> PersonalField {
    PersonalField { event, pointer }
}

fn fields_of(kind: &str) -> impl Iterator<Item = &'static str> + '_ {
    PERSONAL_FIELDS
        .iter()
        .filter(move |f| f.event == kind)
        .map(|f| f.pointer)
}

/// Lower-case hex SHA-256 of `salt ‖ value_bytes`.
fn commitment(salt: &[u8; 16], value_bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value_bytes);
    hex::encode(h.finalize())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One sealed value and its salt.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    salt: [u8; 16],
    value: Value,
}

/// A personal document: the values a leaf commits to, each with its salt, keyed by
/// pointer. `Debug` shows the pointers only, never a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Personal {
    entries: BTreeMap<String, Entry>,
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

impl Personal {
    /// Reads a personal document, refusing anything but the canonical bytes of a
    /// well-formed one, so stored side data has exactly one spelling too.
    pub fn parse(bytes: &[u8]) -> Result<Personal, DecodeError> {
        let bad = |m: String| DecodeError::PersonalMalformed(m);
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        match canonical_bytes(&value) {
            Ok(again) if again == bytes => {}
            _ => return Err(bad("not in canonical form".into())),
        }
        let Value::Object(map) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let mut entries = BTreeMap::new();
        for (pointer, entry) in map {
            if !pointer.starts_with('/') {
                return Err(bad(format!("`{pointer}` is not a JSON pointer")));
            }
            let Value::Object(mut entry) = entry else {
                return Err(bad(format!("entry `{pointer}` is not an object")));
            };
            let salt = entry.remove("salt");
            let value = entry.remove("value");
            let (Some(Value::String(salt)), Some(value), true) = (salt, value, entry.is_empty())
            else {
                return Err(bad(format!(
                    "entry `{pointer}` must hold exactly `salt` and `value`"
                )));
            };
            let mut raw = [0u8; 16];
            if !is_lower_hex(&salt, 32) || hex::decode_to_slice(&salt, &mut raw).is_err() {
                return Err(bad(format!(
                    "salt of `{pointer}` is not 32 lower-case hex digits"
                )));
            }
            if value.is_null() {
                return Err(bad(format!("value of `{pointer}` is null")));
            }
            entries.insert(pointer, Entry { salt: raw, value });
        }
        Ok(Personal { entries })
    }

    /// The canonical bytes of the document (`{}` when it is empty).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let map: Map<String, Value> = self
            .entries
            .iter()
            .map(|(pointer, e)| {
                let mut entry = Map::new();
                entry.insert("salt".into(), Value::String(hex::encode(e.salt)));
                entry.insert("value".into(), e.value.clone());
                (pointer.clone(), Value::Object(entry))
            })
            .collect();
        canonical_bytes(&Value::Object(map))
    }

    /// Pointers of the values the document still holds, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes the values (and their salts) at `paths`; returns the pointers that were
    /// held and are now gone. A pointer the document does not hold is skipped, so
    /// erasing twice is not an error.
    pub fn erase(&mut self, paths: &[&str]) -> Vec<String> {
        paths
            .iter()
            .filter_map(|p| self.entries.remove_entry(*p).map(|(k, _)| k))
            .collect()
    }
}

/// Replaces each non-null personal value of a plain-encoded leaf by its commitment;
/// returns the values with their salts. `salt` is called once per sealed field, in
/// the order of [`PERSONAL_FIELDS`].
pub(crate) fn seal_fields(
    leaf: &mut Value,
    kind: &str,
    salt: &mut dyn FnMut() -> [u8; 16],
) -> Result<Personal, CanonicalError> {
    let mut personal = Personal::default();
    for pointer in fields_of(kind) {
        let Some(slot) = leaf.pointer_mut(pointer) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        let value = slot.take();
        let s = salt();
        let mut sealed = Map::new();
        sealed.insert(
            "sealed".into(),
            Value::String(commitment(&s, &canonical_bytes(&value)?)),
        );
        *slot = Value::Object(sealed);
        personal
            .entries
            .insert(pointer.to_owned(), Entry { salt: s, value });
    }
    Ok(personal)
}

/// The commitments a version-2 leaf holds, by pointer. Refuses a personal field that
/// is present, not `null`, and not exactly a commitment: a leaf that carried personal
/// data in clear could never be erased.
pub(crate) fn commitments(
    leaf: &Value,
    kind: &str,
) -> Result<BTreeMap<String, Value>, DecodeError> {
    let mut out = BTreeMap::new();
    for pointer in fields_of(kind) {
        let Some(slot) = leaf.pointer(pointer) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        let ok = slot.as_object().is_some_and(|m| {
            m.len() == 1
                && m.get("sealed")
                    .and_then(Value::as_str)
                    .is_some_and(|c| is_lower_hex(c, 64))
        });
        if !ok {
            return Err(DecodeError::Malformed(format!(
                "personal field `{pointer}` is not sealed"
            )));
        }
        out.insert(pointer.to_owned(), slot.clone());
    }
    Ok(out)
}

/// Puts each value of `personal` in place of its commitment in `leaf`, after checking
/// it against that commitment, and [`ERASED`] in place of every commitment whose
/// value is gone. Returns the pointers of the erased fields.
pub(crate) fn unseal(
    leaf: &mut Value,
    sealed: &BTreeMap<String, Value>,
    personal: &Personal,
) -> Result<Vec<String>, DecodeError> {
    if let Some(extra) = personal.paths().find(|p| !sealed.contains_key(*p)) {
        return Err(DecodeError::UnexpectedPersonal(extra.to_owned()));
    }
    let mut erased = Vec::new();
    for (pointer, commit) in sealed {
        let Some(slot) = leaf.pointer_mut(pointer) else {
            continue;
        };
        match personal.entries.get(pointer) {
            Some(e) => {
                let bytes = canonical_bytes(&e.value).map_err(|err| {
                    DecodeError::PersonalMalformed(format!("value of `{pointer}`: {err}"))
                })?;
                let expected = commit.get("sealed").and_then(Value::as_str);
                if expected != Some(commitment(&e.salt, &bytes).as_str()) {
                    return Err(DecodeError::Tampered(pointer.clone()));
                }
                *slot = e.value.clone();
            }
            None => {
                *slot = Value::String(ERASED.to_owned());
                erased.push(pointer.clone());
            }
        }
    }
    Ok(erased)
}

/// The value `personal` holds at `pointer`, if any.
pub(crate) fn value_of<'a>(personal: &'a Personal, pointer: &str) -> Option<&'a Value> {
    personal.entries.get(pointer).map(|e| &e.value)
}

/// Sets the personal fields of a submission (its JSON form) to `null`, for its digest.
pub(crate) fn mask_submission(submission: &mut Value) {
    /// Where the submission sits inside a `request_submitted` leaf.
    const PREFIX: &str = "/event/request";
    for pointer in fields_of("request_submitted") {
        if let Some(slot) = pointer
            .strip_prefix(PREFIX)
            .and_then(|p| submission.pointer_mut(p))
        {
            *slot = Value::Null;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitments_are_salted_sha256_of_the_canonical_value() {
        // SHA-256 of 16 zero bytes followed by `"x"`, computed independently.
        let mut h = Sha256::new();
        h.update([0u8; 16]);
        h.update(b"\"x\"");
        assert_eq!(
            commitment(&[0; 16], b"\"x\""),
            hex::encode(h.finalize()),
            "salt first, then the value's canonical bytes"
        );
        assert_ne!(
            commitment(&[0; 16], b"\"x\""),
            commitment(&[1; 16], b"\"x\"")
        );
    }

    #[test]
    fn every_pointer_is_a_json_pointer_into_the_event() {
        for f in PERSONAL_FIELDS {
            assert!(f.pointer.starts_with("/event/"), "{f:?}");
            assert!(!f.pointer.contains('~'), "{f:?}: no escapes needed");
        }
    }

    #[test]
    fn parse_refuses_anything_but_a_canonical_document() {
        let salt = "00".repeat(16);
        let good = format!(r#"{{"/event/reason":{{"salt":"{salt}","value":"gone"}}}}"#);
        let p = Personal::parse(good.as_bytes()).unwrap();
        assert_eq!(p.to_bytes().unwrap(), good.as_bytes());
        assert_eq!(Personal::parse(b"{}").unwrap(), Personal::default());
        for bad in [
            String::new(),
            "[]".into(),
            "{ }".into(),
            good.replace("gone", "gone\\u0021"),
            good.replace(&salt, &"0A".repeat(16)),
            good.replace(&salt, "00"),
            good.replace("\"gone\"", "null"),
            good.replace("/event/reason", "event/reason"),
            good.replace(r#""value""#, r#""extra":1,"value""#),
            good.replace(r#""salt""#, r#""pepper""#),
        ] {
            assert!(
                matches!(
                    Personal::parse(bad.as_bytes()),
                    Err(DecodeError::PersonalMalformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_shows_pointers_not_values() {
        let salt = "00".repeat(16);
        let doc = format!(r#"{{"/event/reason":{{"salt":"{salt}","value":"secret words"}}}}"#);
        let p = Personal::parse(doc.as_bytes()).unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("/event/reason"), "{shown}");
        assert!(
            !shown.contains("secret") && !shown.contains(&salt),
            "{shown}"
        );
    }
}
