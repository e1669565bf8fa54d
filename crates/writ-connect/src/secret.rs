//! Secrets: where they come from, how they are held, how they are made.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

/// Where a connector secret comes from. Never inline in the configuration file.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `{ env = "NAME" }`
    Env(String),
    /// `{ file = "/path" }` (trailing newline ignored)
    File(std::path::PathBuf),
}

/// `{ env = "NAME" }` or `{ file = "/path" }`. Anything else is refused without
/// repeating it: a secret typed into the file by mistake must not reach an error
/// message, and so a log.
impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Source;
        const EXPECTED: &str = "`{ env = \"NAME\" }` or `{ file = \"/path\" }`";
        impl<'de> Visitor<'de> for Source {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretSource, E> {
                Err(E::custom(format!(
                    "a secret is never written in the configuration (the value is not repeated here): use {EXPECTED}"
                )))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
                self.visit_str("")
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
                self.visit_str("")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format!("empty: use {EXPECTED}")));
                };
                let source = match key.as_str() {
                    "env" => SecretSource::Env(map.next_value()?),
                    "file" => SecretSource::File(map.next_value()?),
                    other => {
                        return Err(de::Error::custom(format!(
                            "`{other}` is not a secret source: use {EXPECTED}"
                        )));
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "one source only: use {EXPECTED}"
                    )));
                }
                Ok(source)
            }
        }
        d.deserialize_any(Source)
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env:{name}"),
            SecretSource::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

impl SecretSource {
    /// Read the secret now; a missing variable or file is an error naming `field`.
    pub fn read(&self, system: &str, field: &str) -> Result<Secret, ConfigError> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                ConfigError::new(
                    system,
                    field,
                    format!("environment variable `{name}` is not set"),
                )
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    ConfigError::new(
                        system,
                        field,
                        format!("cannot read `{}`: {e}", path.display()),
                    )
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(ConfigError::new(
                system,
                field,
                format!("{self:?} is empty"),
            ));
        }
        Ok(Secret::new(value))
    }
}

/// A secret value. `Debug` and `Display` show `[redacted]`; read it with
/// [`Secret::expose`] only where it is sent to the target.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A fresh credential from the operating system's CSPRNG: 32 random bytes (256 bits),
/// URL-safe base64 without padding (43 characters).
pub fn generate_secret() -> Secret {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .unwrap_or_else(|e| panic!("the operating system's random source failed: {e}"));
    Secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What Writ stores of a credential: `sha256:` and the first 16 bytes of its SHA-256,
/// in hex. Enough to recognise a secret someone presents, useless to recover it.
pub fn fingerprint(secret: &Secret) -> String {
    let digest = Sha256::digest(secret.expose().as_bytes());
    format!("sha256:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_long_and_never_shown() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(format!("{a:?} {a}"), "[redacted] [redacted]");
        assert!(!fingerprint(&a).contains(a.expose()));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    }

    #[test]
    fn sources_read_env_and_files_and_name_the_field() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("s");
        std::fs::write(&path, "hunter2\n").unwrap_or_else(|e| panic!("{e}"));
        let s = SecretSource::File(path)
            .read("corp", "token")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.expose(), "hunter2");
        let e = SecretSource::Env("WRIT_TEST_SURELY_UNSET".into())
            .read("corp", "token")
            .unwrap_err();
        assert_eq!(e.field, "token");
        assert!(e.to_string().contains("WRIT_TEST_SURELY_UNSET"), "{e}");
    }
}
