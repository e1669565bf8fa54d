//! API tokens: random, shown once, stored as HMAC-SHA256 under the server's pepper.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::datadir::Pepper;

/// A token's secret. Its `Debug` never shows it.
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A new token: `writ_` and 32 base32 characters of OS randomness (160 bits).
pub fn new_token() -> Result<Secret, getrandom::Error> {
    let mut a = [0u8; 10];
    let mut b = [0u8; 10];
    getrandom::fill(&mut a)?;
    getrandom::fill(&mut b)?;
    Ok(Secret(format!(
        "writ_{}{}",
        writ_core::encode_id(a),
        writ_core::encode_id(b)
    )))
}

/// The keyed hash under which a token is stored and looked up.
pub fn token_hash(pepper: &Pepper, token: &str) -> String {
    // HMAC accepts keys of any length; 32 bytes cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(pepper.bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
