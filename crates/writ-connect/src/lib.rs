//! Connectors: the only code that changes access in a target system.
//!
//! Every connector implements [`Connector`]: grant, revoke, rotate a credential, and
//! list the actual state for reconciliation. Every call is idempotent — adding a member
//! who is already there, or removing one who is absent, is success and says so in its
//! [`Receipt`] — so the provisioning worker can repeat any call after a crash.
//!
//! A system's connector is configured in the server's TOML under `[systems.<name>]`
//! ([`SystemConfig::from_toml`]); secrets come from an environment variable or a file
//! ([`SecretSource`]) and are held in [`Secret`], whose `Debug` never shows them.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod config;
pub mod ldap;
pub mod postgres;
pub mod scim;
mod secret;
pub mod webhook;

pub use config::{ConfigError, ConnectorConfig, SystemConfig, Unexplained, WebhookConfig};
pub use secret::{Secret, SecretSource, fingerprint, generate_secret};

/// Who gets what: the beneficiary's account and the entitlement as the target knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The Writ grant this call serves (an idempotency key for targets that take one).
    pub grant: String,
    /// The beneficiary's Writ identity name; each connector maps it to the target's
    /// account identifier (an LDAP DN, a PostgreSQL role, a SCIM user id).
    pub account: String,
    /// The entitlement's external reference: an LDAP group DN, a PostgreSQL role, a
    /// SCIM group id, a webhook-side name.
    pub target: String,
    /// `system/entitlement`, for messages.
    pub entitlement: String,
}

/// What a call did in the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    AlreadyPresent,
    Removed,
    AlreadyAbsent,
    /// A credential was set (created or rotated).
    CredentialSet,
    /// A credential was disabled.
    CredentialDisabled,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::AlreadyPresent => "already_present",
            Change::Removed => "removed",
            Change::AlreadyAbsent => "already_absent",
            Change::CredentialSet => "credential_set",
            Change::CredentialDisabled => "credential_disabled",
        }
    }
}

/// The target's confirmation of a call: what changed and the target's own identifiers.
/// Recorded in the ledger, so it must never hold a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub change: Change,
    /// The target's identifier for the account (LDAP DN, PostgreSQL role, SCIM user id).
    pub account_ref: String,
    /// The target's identifier for the entitlement (group DN, role, SCIM group id).
    pub target_ref: String,
    /// A short, human-readable line on what the target said (no secrets).
    pub detail: String,
}

/// One membership as the target reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Membership {
    /// The entitlement's external reference, as passed to [`Connector::list`].
    pub target: String,
    /// The Writ identity name the target's account maps back to, or `None` when the
    /// member does not follow the system's account mapping (someone added by hand).
    pub account: Option<String>,
    /// The target's own identifier for the member.
    pub account_ref: String,
}

/// Why a call failed. Transient failures are retried with backoff; permanent ones go
/// to the dead-letter state at once (retrying cannot help).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The target could not be reached, timed out, or answered with a temporary error.
    #[error("{0}")]
    Transient(String),
    /// The target refused the call for a reason retrying cannot change (no such group,
    /// not permitted, not supported by this connector).
    #[error("{0}")]
    Permanent(String),
}

impl ConnectorError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Transient(_))
    }
}

/// A target system. Implementations must be idempotent and must never put a secret in
/// an error, a receipt or a log line.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// `ldap`, `postgres`, `scim` or `webhook`.
    fn kind(&self) -> &'static str;

    /// Give `assignment.account` the entitlement `assignment.target`.
    async fn grant(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError>;

    /// Take it away.
    async fn revoke(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError>;

    /// Set a new credential for the account (create the login if needed), valid until
    /// `valid_until_ms` (Unix milliseconds). Connectors without credentials refuse with
    /// a permanent error.
    async fn rotate(
        &self,
        assignment: &Assignment,
        secret: &Secret,
        valid_until_ms: i64,
    ) -> Result<Receipt, ConnectorError> {
        let _ = (secret, valid_until_ms);
        Err(ConnectorError::Permanent(format!(
            "{} connector does not issue credentials (asked for {})",
            self.kind(),
            assignment.entitlement
        )))
    }

    /// Disable the account's credential (the login stays, it can no longer sign in).
    async fn disable_credential(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        Err(ConnectorError::Permanent(format!(
            "{} connector does not issue credentials (asked for {})",
            self.kind(),
            assignment.entitlement
        )))
    }

    /// Remove a member that maps to no Writ account from `target`, by the reference
    /// [`Connector::list`] gave for it (for systems that own their whole groups).
    async fn remove_member(
        &self,
        target: &str,
        member_ref: &str,
    ) -> Result<Receipt, ConnectorError> {
        let _ = member_ref;
        Err(ConnectorError::Permanent(format!(
            "{} connector removes only members that map to a Writ account (asked for {target})",
            self.kind()
        )))
    }

    /// Every member of each of `targets` (external references), as the target sees it.
    async fn list(&self, targets: &[String]) -> Result<Vec<Membership>, ConnectorError>;
}

/// Build the connector a system's configuration describes. Reads secrets now, so a
/// missing variable or file is a start-up error naming the system and the field.
pub fn connect(system: &str, config: &ConnectorConfig) -> Result<Arc<dyn Connector>, ConfigError> {
    Ok(match config {
        ConnectorConfig::Ldap(c) => Arc::new(ldap::LdapConnector::new(system, c)?),
        ConnectorConfig::Postgres(c) => Arc::new(postgres::PostgresConnector::new(system, c)?),
        ConnectorConfig::Scim(c) => Arc::new(scim::ScimConnector::new(system, c)?),
        ConnectorConfig::Webhook(c) => Arc::new(webhook::WebhookConnector::new(system, c)?),
    })
}

/// What went wrong with an HTTP call, with every cause and without its URL (which may
/// carry a token in its query).
pub(crate) fn http_failure(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
