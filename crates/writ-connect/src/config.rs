//! `[systems.<name>]` in the server's TOML: which connector a system uses and how to
//! reach it. Every error names the system and the field.
//!
//! ```toml
//! [systems.corp-directory]
//! connector = "ldap"
//! url = "ldap://ldap.example.com:389"
//! bind_dn = "cn=writ,ou=services,dc=example,dc=com"
//! bind_password = { env = "WRIT_LDAP_PASSWORD" }   # or { file = "/run/secrets/ldap" }
//! account_dn = "uid={account},ou=people,dc=example,dc=com"
//! unexplained = "report"       # or "revoke": what reconciliation does with access no grant explains
//! owns_group = false           # true: with "revoke", members that map to no Writ account go too
//! rotation_days = 90           # credential rotation period for this system
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::secret::SecretSource;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("system `{system}`: `{field}`: {message}")]
pub struct ConfigError {
    pub system: String,
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(system: &str, field: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            system: system.to_owned(),
            field: field.to_owned(),
            message: message.to_string(),
        }
    }
}

/// What reconciliation does with access in the target that no grant explains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unexplained {
    /// Record a finding and leave the access alone.
    #[default]
    Report,
    /// Record a finding and remove the access.
    Revoke,
}

impl Unexplained {
    pub fn as_str(self) -> &'static str {
        match self {
            Unexplained::Report => "report",
            Unexplained::Revoke => "revoke",
        }
    }
}

/// One configured system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemConfig {
    pub name: String,
    pub connector: ConnectorConfig,
    pub unexplained: Unexplained,
    /// Writ owns every member of this system's groups: with `unexplained = "revoke"`,
    /// members that map to no Writ account are removed too (otherwise only reported).
    pub owns_group: bool,
    /// How often credentials this system issues are rotated.
    pub rotation_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorConfig {
    Ldap(LdapConfig),
    Postgres(PostgresConfig),
    Scim(ScimConfig),
    Webhook(WebhookConfig),
}

impl ConnectorConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Ldap(_) => "ldap",
            ConnectorConfig::Postgres(_) => "postgres",
            ConnectorConfig::Scim(_) => "scim",
            ConnectorConfig::Webhook(_) => "webhook",
        }
    }
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_true() -> bool {
    true
}

/// Group membership (`groupOfNames` / `member`) in an LDAP directory.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    pub bind_dn: String,
    pub bind_password: SecretSource,
    /// The member DN of a Writ identity; `{account}` is replaced by its name.
    pub account_dn: String,
    /// The member that keeps a `groupOfNames` valid when its last real member is
    /// removed (the schema requires at least one `member`). Default: the group's own
    /// DN. Never reported as a member.
    #[serde(default)]
    pub placeholder_member: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Role membership (`GRANT role TO account`) and, for NHIs, login roles with
/// credentials in a PostgreSQL database.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// A libpq-style connection string or URL, without the password
    /// (`host=127.0.0.1 port=5432 user=writ dbname=app`).
    pub url: String,
    /// The password of the connecting user, if the server wants one.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// The role name of a Writ identity; `{account}` is replaced by its name.
    #[serde(default = "default_account_role")]
    pub account_role: String,
    /// PEM certificates to trust for the server's TLS certificate, instead of the
    /// system's roots. TLS follows the URL's `sslmode` (`disable`, `prefer`, `require`);
    /// without one it is `require` except for a loopback host. The server's name is
    /// always verified when TLS is used.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Create the account's role (NOLOGIN) when it does not exist yet.
    #[serde(default = "default_true")]
    pub create_accounts: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_account_role() -> String {
    "{account}".to_owned()
}

/// Group membership through PATCH on a SCIM 2.0 service provider.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The SCIM base URL, e.g. `https://idp.example.com/scim/v2`.
    pub base_url: String,
    /// The bearer token.
    pub token: SecretSource,
    /// The SCIM `userName` of a Writ identity; `{account}` is replaced by its name.
    #[serde(default = "default_account_name")]
    pub user_name: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_account_name() -> String {
    "{account}".to_owned()
}

/// Any other system: an HMAC-SHA256-signed POST per change.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key shared with the receiver.
    pub secret: SecretSource,
    /// Allow loopback, private, link-local and other non-public addresses.
    #[serde(default)]
    pub allow_private: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl SystemConfig {
    /// Parse one `[systems.<name>]` table.
    pub fn from_toml(name: &str, value: &toml::Value) -> Result<SystemConfig, ConfigError> {
        let Some(table) = value.as_table() else {
            return Err(ConfigError::new(name, name, "must be a table"));
        };
        let mut table = table.clone();
        let kind = match table.remove("connector") {
            Some(toml::Value::String(k)) => k,
            Some(_) => return Err(ConfigError::new(name, "connector", "must be a string")),
            None => {
                return Err(ConfigError::new(
                    name,
                    "connector",
                    "missing: use ldap, postgres, scim or webhook",
                ));
            }
        };
        let unexplained = match table.remove("unexplained") {
            None => Unexplained::Report,
            Some(toml::Value::String(s)) if s == "report" => Unexplained::Report,
            Some(toml::Value::String(s)) if s == "revoke" => Unexplained::Revoke,
            Some(other) => {
                return Err(ConfigError::new(
                    name,
                    "unexplained",
                    format!("`{other}` is not report or revoke"),
                ));
            }
        };
        let owns_group = match table.remove("owns_group") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => {
                return Err(ConfigError::new(
                    name,
                    "owns_group",
                    format!("`{other}` is not true or false"),
                ));
            }
        };
        if owns_group && unexplained != Unexplained::Revoke {
            return Err(ConfigError::new(
                name,
                "owns_group",
                "only means something with unexplained = \"revoke\"",
            ));
        }
        let rotation_days = match table.remove("rotation_days") {
            None => 90,
            Some(toml::Value::Integer(d)) if (1..=3650).contains(&d) => d as u32,
            Some(other) => {
                return Err(ConfigError::new(
                    name,
                    "rotation_days",
                    format!("`{other}` is not a number of days between 1 and 3650"),
                ));
            }
        };
        let rest = toml::Value::Table(table);
        let connector = match kind.as_str() {
            "ldap" => ConnectorConfig::Ldap(parse(name, rest)?),
            "postgres" => ConnectorConfig::Postgres(parse(name, rest)?),
            "scim" => ConnectorConfig::Scim(parse(name, rest)?),
            "webhook" => ConnectorConfig::Webhook(parse(name, rest)?),
            other => {
                return Err(ConfigError::new(
                    name,
                    "connector",
                    format!("`{other}` is not a connector: use ldap, postgres, scim or webhook"),
                ));
            }
        };
        Ok(SystemConfig {
            name: name.to_owned(),
            connector,
            unexplained,
            owns_group,
            rotation_days,
        })
    }

    /// Parse every system of a `[systems]` table, in name order.
    pub fn all_from_toml(
        systems: &BTreeMap<String, toml::Value>,
    ) -> Result<Vec<SystemConfig>, ConfigError> {
        systems
            .iter()
            .map(|(name, value)| SystemConfig::from_toml(name, value))
            .collect()
    }
}

/// Deserialize a connector's own fields; serde's message names the field
/// ("missing field `url`", "unknown field `urll`, expected one of …").
fn parse<T: for<'de> Deserialize<'de>>(system: &str, value: toml::Value) -> Result<T, ConfigError> {
    T::deserialize(value).map_err(|e| {
        let message = e.to_string();
        // toml names the key a value error is about as "… in `key`"; for missing and
        // unknown keys the key is the first quoted word.
        let (text, path) = match message.rsplit_once("\nin `") {
            Some((text, path)) => (text.to_owned(), Some(path.trim_end_matches(['`', '\n']))),
            None => (message.clone(), None),
        };
        let field = path
            .or_else(|| text.split('`').nth(1))
            .unwrap_or("connector")
            .to_owned();
        ConfigError::new(system, &field, text.trim())
    })
}

/// An `http` or `https` URL with a host and no user or password in it (`why` says
/// where the credentials come from instead).
pub(crate) fn http_url(
    system: &str,
    field: &str,
    value: &str,
    why: &str,
) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(value)
        .map_err(|e| ConfigError::new(system, field, format!("`{value}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::new(
            system,
            field,
            format!("`{value}` is not an http or https URL"),
        ));
    }
    if url.host().is_none() {
        return Err(ConfigError::new(
            system,
            field,
            format!("`{value}` has no host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            system,
            field,
            format!("must not carry credentials: {why}"),
        ));
    }
    Ok(url)
}

/// Replace `{account}` in a mapping template.
pub(crate) fn fill(template: &str, account: &str) -> String {
    template.replace("{account}", account)
}

/// The inverse of [`fill`]: the account a target identifier maps back to, if it
/// follows the template.
pub(crate) fn unfill(template: &str, value: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{account}")?;
    let middle = value.strip_prefix(prefix).or_else(|| {
        // LDAP DNs compare case-insensitively in their attribute names and values.
        (value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix))
            .then(|| &value[prefix.len()..])
    })?;
    let account = middle.strip_suffix(suffix).or_else(|| {
        (middle.len() >= suffix.len()
            && middle[middle.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
        .then(|| &middle[..middle.len() - suffix.len()])
    })?;
    (!account.is_empty()).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(text: &str) -> Result<SystemConfig, ConfigError> {
        let value: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        SystemConfig::from_toml("corp", &value)
    }

    #[test]
    fn errors_name_the_system_and_the_field() {
        let e = system("connector = \"ldap\"\nurl = \"ldap://x\"\nbind_dn = \"cn=a\"\naccount_dn = \"uid={account}\"\n").unwrap_err();
        assert_eq!(
            (e.system.as_str(), e.field.as_str()),
            ("corp", "bind_password"),
            "{e}"
        );
        let e = system("connector = \"ldap\"\nurll = \"x\"").unwrap_err();
        assert_eq!(e.field, "urll", "{e}");
        let e = system("connector = \"ftp\"").unwrap_err();
        assert_eq!(e.field, "connector", "{e}");
        let e = system("connector = \"webhook\"\nurl = \"https://x\"\nsecret = \"inline\"")
            .unwrap_err();
        assert_eq!(e.field, "secret", "{e}");
        let e = system("connector = \"webhook\"\nurl = \"https://x\"\nsecret = { env = \"X\" }\nunexplained = \"delete\"").unwrap_err();
        assert_eq!(e.field, "unexplained", "{e}");
    }

    #[test]
    fn a_full_system_parses() {
        let s = system(
            "connector = \"postgres\"\nurl = \"host=127.0.0.1 user=writ dbname=app\"\nunexplained = \"revoke\"\nrotation_days = 30\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.unexplained, Unexplained::Revoke);
        assert_eq!(s.rotation_days, 30);
        let ConnectorConfig::Postgres(p) = s.connector else {
            panic!("not postgres")
        };
        assert_eq!(p.account_role, "{account}");
        assert!(p.create_accounts);
    }

    #[test]
    fn templates_map_both_ways() {
        let t = "uid={account},ou=people,dc=example,dc=org";
        assert_eq!(fill(t, "alice"), "uid=alice,ou=people,dc=example,dc=org");
        assert_eq!(
            unfill(t, "uid=alice,ou=people,dc=example,dc=org").as_deref(),
            Some("alice")
        );
        assert_eq!(
            unfill(t, "UID=alice,OU=People,DC=example,DC=org").as_deref(),
            Some("alice")
        );
        assert_eq!(unfill(t, "cn=mallory,ou=people,dc=example,dc=org"), None);
        assert_eq!(
            unfill("{account}", "svc-reports").as_deref(),
            Some("svc-reports")
        );
    }
}
