//! The log's Ed25519 signing key, in the Go / C2SP note key formats.
//!
//! The private form `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>` is
//! what Go's `note.GenerateKey` writes, so keys can move between Writ and the Go
//! and Rust tlog tooling. Generating the seed from OS randomness is the caller's
//! job, which keeps this crate free of any randomness source.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use signed_note::{Note, SignerError, StandardSigner};
use thiserror::Error;
use tlog_tiles::checkpoint::Checkpoint as TlogCheckpoint;

use crate::Hash;

/// Algorithm byte for Ed25519 in C2SP signed-note keys.
const ALG_ED25519: u8 = 0x01;

/// Why a ledger key could not be made, read or used.
///
/// Messages never contain the key text: it is a secret.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error(
        "key name `{origin}` is not valid: it must be non-empty, with no spaces, control characters or `+`"
    )]
    InvalidOrigin { origin: String },
    #[error("ledger key is not of the form PRIVATE+KEY+<name>+<8 hex key id>+<base64 key>")]
    Malformed,
    #[error("ledger key is not an ed25519 key")]
    UnsupportedAlgorithm,
    #[error("ledger key's id does not match its key: the key file is damaged or edited")]
    KeyIdMismatch,
    #[error("signing the checkpoint failed: {0}")]
    Sign(String),
}

/// The log's Ed25519 signing key and its name (which is also the checkpoint origin).
///
/// `Debug` shows the name and key id only, never the secret.
#[derive(Clone)]
pub struct LedgerKey {
    origin: String,
    key_id: u32,
    signing_key: SigningKey,
}

impl LedgerKey {
    /// Makes the key from a 32-byte Ed25519 seed. `origin` is the key name and the
    /// checkpoint origin line, e.g. `writ.example.com/ledger`.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidOrigin`] for a name signed notes cannot carry.
    pub fn from_seed(origin: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        if !signed_note::is_key_name_valid(origin) || origin.chars().any(char::is_control) {
            return Err(KeyError::InvalidOrigin {
                origin: origin.to_owned(),
            });
        }
        let signing_key = SigningKey::from_bytes(&seed);
        let key_id = signed_note::key_id(origin, &public_key_data(&signing_key));
        Ok(LedgerKey {
            origin: origin.to_owned(),
            key_id,
            signing_key,
        })
    }

    /// Reads the private-key form written by [`LedgerKey::to_private_string`];
    /// trailing newlines (as a key file ends) are ignored.
    ///
    /// # Errors
    ///
    /// [`KeyError`] saying whether the text is malformed, not Ed25519, or has a
    /// key id that does not match the key.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim_end_matches(['\n', '\r']);
        // signed_note's own parser is the judge of the format; it keeps the seed
        // to itself, so the seed is read again below.
        StandardSigner::new(text).map_err(|e| match e {
            SignerError::Format => KeyError::Malformed,
            SignerError::Alg => KeyError::UnsupportedAlgorithm,
            SignerError::Id => KeyError::KeyIdMismatch,
        })?;
        let mut parts = text.splitn(5, '+');
        let (Some(_), Some(_), Some(name), Some(_), Some(key64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(KeyError::Malformed);
        };
        let key = STANDARD.decode(key64).map_err(|_| KeyError::Malformed)?;
        let seed: [u8; 32] = match key.split_first() {
            Some((&ALG_ED25519, seed)) => seed.try_into().map_err(|_| KeyError::Malformed)?,
            _ => return Err(KeyError::UnsupportedAlgorithm),
        };
        LedgerKey::from_seed(name, seed)
    }

    /// The private-key form, for the 0600 key file only.
    pub fn to_private_string(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.signing_key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.origin,
            self.key_id,
            STANDARD.encode(key)
        )
    }

    /// The key name, which is also every checkpoint's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The C2SP key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public verifier key `<name>+<8 hex key id>+<base64(0x01 || public key)>`,
    /// which auditors pin to check checkpoints.
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.origin, &self.signing_key.verifying_key())
    }

    /// A C2SP tlog-checkpoint body (`<origin>\n<size>\n<base64 root>\n`) signed as a
    /// C2SP signed note: the body, a blank line, then `— <name> <base64(key id || signature)>`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Sign`] if the note cannot be built; with a valid origin it cannot
    /// happen.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<String, KeyError> {
        let sign_err = |e: &dyn fmt::Display| KeyError::Sign(e.to_string());
        let body = TlogCheckpoint::new(&self.origin, size, root.to_tlog(), "")
            .map_err(|e| sign_err(&e))?
            .to_bytes();
        let mut note = Note::new(&body, &[]).map_err(|e| sign_err(&e))?;
        note.add_sigs(&[&NoteSigner(self)])
            .map_err(|e| sign_err(&e))?;
        String::from_utf8(note.to_bytes()).map_err(|e| sign_err(&e))
    }
}

impl fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerKey")
            .field("origin", &self.origin)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// `0x01 || public key`: the bytes the key id and verifier key are computed over.
fn public_key_data(key: &SigningKey) -> Vec<u8> {
    let mut data = vec![ALG_ED25519];
    data.extend_from_slice(key.verifying_key().as_bytes());
    data
}

/// signed_note's signer interface over the key, kept private so the public API
/// does not carry signed_note's trait.
struct NoteSigner<'a>(&'a LedgerKey);

impl signed_note::Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        &self.0.origin
    }

    fn key_id(&self) -> u32 {
        self.0.key_id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.0.signing_key.try_sign(msg)?.to_bytes().to_vec())
    }
}
