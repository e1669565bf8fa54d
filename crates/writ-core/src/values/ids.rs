//! Identifiers of requests, grants and API tokens: a type prefix and random base32.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Request,
    Grant,
    Token,
    Campaign,
    Delegation,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Request => "req_",
            IdKind::Grant => "grt_",
            IdKind::Token => "tok_",
            IdKind::Campaign => "cmp_",
            IdKind::Delegation => "dlg_",
        }
    }
}

/// Makes new identifiers. Injected so that the core stays deterministic in tests.
pub trait IdGen {
    /// A fresh identifier body (without prefix) of lower-case base32 characters.
    fn next_body(&mut self, kind: IdKind) -> String;
}

/// Deterministic identifiers for tests: `req_0000000000000001`, …
#[derive(Debug, Default)]
pub struct SequentialIds(u64);

impl IdGen for SequentialIds {
    fn next_body(&mut self, _kind: IdKind) -> String {
        self.0 += 1;
        format!("{:016}", self.0)
    }
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Encodes 10 random bytes (80 bits) as 16 base32 characters (Crockford's alphabet).
pub fn encode_id(bytes: [u8; 10]) -> String {
    let mut acc: u128 = 0;
    for b in bytes {
        acc = (acc << 8) | u128::from(b);
    }
    (0..16)
        .rev()
        .map(|i| ALPHABET[((acc >> (i * 5)) & 31) as usize] as char)
        .collect()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn generate(ids: &mut dyn IdGen) -> Self {
                $name(format!("{}{}", $kind.prefix(), ids.next_body($kind)))
            }

            pub fn parse(text: &str) -> Result<Self, String> {
                let prefix = $kind.prefix();
                let valid = text.strip_prefix(prefix).is_some_and(|body| {
                    !body.is_empty()
                        && body.len() <= 32
                        && body.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                });
                if valid {
                    Ok($name(text.to_owned()))
                } else {
                    Err(format!(
                        "`{}` is not a valid {} id (expected `{prefix}…`)",
                        super::names::truncate(text, 80),
                        stringify!($name).trim_end_matches("Id").to_lowercase()
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies an access request, e.g. `req_3k9x2m4q7v1c8b5n`.
    RequestId,
    IdKind::Request
);
id_type!(
    /// Identifies a grant, e.g. `grt_…`.
    GrantId,
    IdKind::Grant
);
id_type!(
    /// Identifies an API token (never the token's secret), e.g. `tok_…`.
    TokenId,
    IdKind::Token
);
id_type!(
    /// Identifies an access-review campaign, e.g. `cmp_…`.
    CampaignId,
    IdKind::Campaign
);
id_type!(
    /// Identifies a delegation of approval authority, e.g. `dlg_…`.
    DelegationId,
    IdKind::Delegation
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_the_wrong_prefix() {
        let mut ids = SequentialIds::default();
        let r = RequestId::generate(&mut ids);
        assert_eq!(RequestId::parse(r.as_str()).unwrap(), r);
        assert!(GrantId::parse(r.as_str()).is_err());
        assert!(RequestId::parse("req_").is_err());
        assert!(RequestId::parse("req_ABC").is_err());
    }

    #[test]
    fn base32_is_sixteen_characters() {
        assert_eq!(encode_id([0; 10]), "0000000000000000");
        assert_eq!(encode_id([255; 10]), "zzzzzzzzzzzzzzzz");
    }
}
