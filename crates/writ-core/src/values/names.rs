//! Parsed values: each refuses bad input with a message a person can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name of an identity, system or entitlement: 1–64 characters of `a-z`, `0-9`,
/// `.`, `_`, `-`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub fn parse(text: &str) -> Result<Name, String> {
        let ok_first = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if text.is_empty() {
            return Err("name is empty".into());
        }
        if text.len() > 64 || !ok_first || !ok_rest {
            return Err(format!(
                "`{}` is not a valid name: use 1-64 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                truncate(text, 80)
            ));
        }
        Ok(Name(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Name::parse(&s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `<system>/<entitlement>`, the way people name a grantable thing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntitlementRef {
    pub system: Name,
    pub entitlement: Name,
}

impl EntitlementRef {
    pub fn new(system: Name, entitlement: Name) -> Self {
        EntitlementRef {
            system,
            entitlement,
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((system, entitlement)) = text.split_once('/') else {
            return Err(format!(
                "`{}` is not an entitlement reference: use `<system>/<entitlement>`",
                truncate(text, 80)
            ));
        };
        let system =
            Name::parse(system).map_err(|e| format!("system in `{}`: {e}", truncate(text, 80)))?;
        let entitlement = Name::parse(entitlement)
            .map_err(|e| format!("entitlement in `{}`: {e}", truncate(text, 80)))?;
        Ok(EntitlementRef {
            system,
            entitlement,
        })
    }
}

impl TryFrom<String> for EntitlementRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        EntitlementRef::parse(&s)
    }
}

impl From<EntitlementRef> for String {
    fn from(r: EntitlementRef) -> String {
        r.to_string()
    }
}

impl fmt::Display for EntitlementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.system, self.entitlement)
    }
}

/// Free text written by a person, trimmed, with its own bounds.
macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(text: &str) -> Result<Self, String> {
                let t = text.trim();
                let n = t.chars().count();
                if n < $min {
                    return Err(if n == 0 {
                        format!("{} is required", $what)
                    } else {
                        format!("{} must be at least {} characters", $what, $min)
                    });
                }
                if n > $max {
                    return Err(format!("{} must be at most {} characters, got {n}", $what, $max));
                }
                if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err(format!("{} contains control characters", $what));
                }
                Ok($name(t.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn chars(&self) -> usize {
                self.0.chars().count()
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

bounded_text!(
    /// Why the access is needed. The tier's policy may require more than the minimum.
    Justification,
    "justification",
    1,
    2000
);
bounded_text!(
    /// An approver's comment on a decision.
    Comment,
    "comment",
    1,
    2000
);
bounded_text!(
    /// Why a grant is revoked or a request cancelled.
    Reason,
    "reason",
    3,
    2000
);

/// A ticket reference in the forms ticket systems use: a Jira-style key
/// (`OPS-123`, `INC-4411`), a ServiceNow number (`INC0010001`, `RITM0010001`,
/// `CHG0030001`) or a Request Tracker ticket (`#4411`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketRef(String);

fn digits(s: &str, min: usize) -> bool {
    s.len() >= min && s.len() <= 20 && s.chars().all(|c| c.is_ascii_digit())
}

impl TicketRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let jira = || {
            t.split_once('-').is_some_and(|(project, number)| {
                project
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && project
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && digits(number, 1)
            })
        };
        // ServiceNow: a table prefix of letters, then the zero-padded number.
        let servicenow = || {
            let split = t
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(t.len());
            let (prefix, number) = t.split_at(split);
            (2..=12).contains(&prefix.len()) && digits(number, 4)
        };
        let rt = || t.strip_prefix('#').is_some_and(|n| digits(n, 1));
        let valid = t.len() <= 64 && (jira() || servicenow() || rt());
        if !valid {
            return Err(format!(
                "`{}` is not a ticket reference: use a key such as `OPS-123`, `INC0010001` or `#4411`",
                truncate(t, 80)
            ));
        }
        Ok(TicketRef(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TicketRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TicketRef::parse(&s)
    }
}

impl From<TicketRef> for String {
    fn from(v: TicketRef) -> String {
        v.0
    }
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What may be issued for a non-human identity: scopes, environment, source ranges.
/// Frozen with the request; the connector that issues the credential must honour it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ranges: Vec<String>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.api_scopes.is_empty() && self.environment.is_none() && self.source_ranges.is_empty()
    }

    /// Checks each item: printable, bounded, no duplicates; source ranges are CIDRs.
    pub fn validate(&self) -> Result<(), String> {
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_ascii_graphic());
        if self.api_scopes.len() > 50 || self.source_ranges.len() > 50 {
            return Err("constraints allow at most 50 scopes and 50 source ranges".into());
        }
        for scope in &self.api_scopes {
            if !printable(scope) {
                return Err(format!(
                    "API scope `{}` is not a printable token",
                    truncate(scope, 80)
                ));
            }
        }
        if let Some(env) = &self.environment {
            Name::parse(env).map_err(|e| format!("environment: {e}"))?;
        }
        for range in &self.source_ranges {
            if !is_cidr(range) {
                return Err(format!(
                    "source range `{}` is not an IP network such as `10.0.0.0/8` or `2001:db8::/32`",
                    truncate(range, 80)
                ));
            }
        }
        let mut scopes = self.api_scopes.clone();
        scopes.sort();
        scopes.dedup();
        if scopes.len() != self.api_scopes.len() {
            return Err("API scopes contain duplicates".into());
        }
        Ok(())
    }
}

fn is_cidr(text: &str) -> bool {
    let Some((addr, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// A free-text field holds at most `max` characters and no control characters but
/// line breaks and tabs: nothing unbounded or unprintable is stored or signed.
pub(crate) fn within(field: &str, text: &str, max: usize) -> Result<(), String> {
    let n = text.chars().count();
    if n > max {
        return Err(format!(
            "{field} is {n} characters; at most {max} are allowed"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(format!("{field} holds a control character"));
    }
    Ok(())
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(Name::parse("alice").is_ok());
        assert!(Name::parse("ci-deploy.prod_1").is_ok());
        for bad in ["", "Alice", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entitlement_refs() {
        let r = EntitlementRef::parse("pg-prod/read-only").unwrap();
        assert_eq!(r.to_string(), "pg-prod/read-only");
        assert!(EntitlementRef::parse("pg-prod").is_err());
        assert!(EntitlementRef::parse("pg-prod/").is_err());
        assert!(EntitlementRef::parse("a/b/c").is_err());
    }

    #[test]
    fn tickets() {
        assert!(TicketRef::parse("INC-4411").is_ok());
        assert!(TicketRef::parse("chg_ops-12").is_ok());
        for good in [
            "OPS-123",
            "INC0010001",
            "RITM0010001",
            "CHG0030001",
            "#4411",
            " #7 ",
        ] {
            assert!(TicketRef::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "4411",
            "INC-",
            "INC-44a",
            "-12",
            "INC 12",
            "#",
            "#44a",
            "##1",
            "INC001",
            "I0010001",
            "INC0010001x",
        ] {
            assert!(TicketRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn justification_bounds() {
        assert!(Justification::parse("   ").is_err());
        assert_eq!(Justification::parse("  fix  ").unwrap().as_str(), "fix");
        assert!(Justification::parse(&"x".repeat(2001)).is_err());
        assert!(Justification::parse("bad\u{7}bell").is_err());
    }

    #[test]
    fn constraints() {
        let ok = Constraints {
            api_scopes: vec!["repo:read".into()],
            environment: Some("prod".into()),
            source_ranges: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
        };
        assert!(ok.validate().is_ok());
        let bad = Constraints {
            source_ranges: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
