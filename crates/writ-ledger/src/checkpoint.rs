//! Opening signed checkpoints: the auditor's entry point.
//!
//! The signature is checked before the body is read, as the signed-note spec asks:
//! unsigned text is never interpreted.

use signed_note::{Note, NoteError as SnError, Signature, StandardVerifier, VerifierList};
use thiserror::Error;
use tlog_tiles::checkpoint::Checkpoint as TlogCheckpoint;

use crate::Hash;

/// A checkpoint whose signature has been verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The signed note as given, for keeping alongside an audit.
    pub note: String,
}

/// Why a checkpoint note was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("verifier key is malformed: {0}")]
    BadVerifierKey(String),
    #[error("checkpoint note is malformed: {0}")]
    Malformed(String),
    #[error("checkpoint is not signed by key `{expected}`; it is signed by {found}")]
    UnknownKey { expected: String, found: String },
    #[error("checkpoint signature by key `{key}` does not verify: the note was altered or forged")]
    BadSignature { key: String },
    #[error("checkpoint origin `{origin}` does not match the key name `{key_name}`")]
    OriginMismatch { origin: String, key_name: String },
}

/// Parses a signed checkpoint note and verifies its signature with a verifier key
/// string (`<name>+<8 hex key id>+<base64 key>`).
///
/// Other signatures on the note (witness cosignatures) are allowed and ignored.
/// Writ never writes checkpoint extension lines, so a note with any is refused
/// rather than half-read.
///
/// # Errors
///
/// [`NoteError`] distinguishing a bad verifier key, malformed text, a note not
/// signed by this key, a signature that does not verify, and an origin that is not
/// the key's name.
pub fn open_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, NoteError> {
    let verifier = StandardVerifier::new(verifier_key)
        .map_err(|e| NoteError::BadVerifierKey(e.to_string()))?;
    let key_name = signed_note::Verifier::name(&verifier).to_owned();
    let key_label = format!(
        "{key_name}+{:08x}",
        signed_note::Verifier::key_id(&verifier)
    );

    let parsed = Note::from_bytes(note.as_bytes()).map_err(|_| {
        NoteError::Malformed(
            "expected text lines, a blank line, then `— <name> <signature>` lines".into(),
        )
    })?;
    match parsed.verify(&VerifierList::new(vec![Box::new(verifier)])) {
        Ok(_) => {}
        Err(SnError::UnverifiedNote) => {
            return Err(NoteError::UnknownKey {
                expected: key_label,
                found: signers(note),
            });
        }
        Err(SnError::InvalidSignature { .. }) => {
            return Err(NoteError::BadSignature { key: key_label });
        }
        Err(e) => return Err(NoteError::Malformed(e.to_string())),
    }

    let body = TlogCheckpoint::from_bytes(parsed.text()).map_err(|_| {
        NoteError::Malformed(
            "the signed text is not an origin line, a decimal size line and a base64 root line"
                .into(),
        )
    })?;
    if !body.extension().is_empty() {
        return Err(NoteError::Malformed(
            "the checkpoint has extension lines, which writ never writes".into(),
        ));
    }
    if body.origin() != key_name {
        return Err(NoteError::OriginMismatch {
            origin: body.origin().to_owned(),
            key_name,
        });
    }
    Ok(Checkpoint {
        origin: body.origin().to_owned(),
        size: body.size(),
        root: Hash::from_tlog(*body.hash()),
        note: note.to_owned(),
    })
}

/// `name+id` of every signature line, for telling an auditor which key did sign.
/// Only called on a note that already parsed, so every line is well formed.
fn signers(note: &str) -> String {
    let lines = note
        .rsplit_once("\n\n")
        .map(|(_, sigs)| sigs)
        .unwrap_or_default();
    let found: Vec<String> = lines
        .lines()
        .filter_map(|line| Signature::from_bytes(line.as_bytes()).ok())
        .map(|sig| format!("`{}+{:08x}`", sig.name(), sig.id()))
        .collect();
    if found.is_empty() {
        "no key".to_owned()
    } else {
        found.join(", ")
    }
}
