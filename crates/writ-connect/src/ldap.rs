//! LDAP group membership: a Writ account is a `member` value of a `groupOfNames`.
//!
//! One bound connection is shared by every call (ldap3 multiplexes operations on it).
//! It is opened on first use, and dropped and reopened (with a fresh bind) after an
//! I/O error; a call that meets a dead cached connection retries once on a new one, so
//! a directory restart costs no failed job. Every call is bounded by `timeout_ms`.
//!
//! Idempotency comes from the result codes: adding a present member answers
//! `attributeOrValueExists` (20), deleting an absent one `noSuchAttribute` (16); both
//! mean done. `groupOfNames` must keep one `member`, so the last real member is
//! swapped for a placeholder (by default the group's own DN), which a later grant
//! removes and [`Connector::list`] never reports.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Mod, Scope, SearchEntry};
use tokio::sync::Mutex;

use crate::config::{ConfigError, LdapConfig, fill, unfill};
use crate::secret::Secret;
use crate::{Assignment, Change, Connector, ConnectorError, Membership, Receipt};

// Result codes (RFC 4511, appendix A.1) the connector treats specially.
const SUCCESS: u32 = 0;
const TIME_LIMIT_EXCEEDED: u32 = 3;
const ADMIN_LIMIT_EXCEEDED: u32 = 11;
const NO_SUCH_ATTRIBUTE: u32 = 16;
const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
const NO_SUCH_OBJECT: u32 = 32;
const BUSY: u32 = 51;
const UNAVAILABLE: u32 = 52;
const OBJECT_CLASS_VIOLATION: u32 = 65;

const MEMBER: &str = "member";

/// Grants and revokes `member` values of LDAP groups.
pub struct LdapConnector {
    url: String,
    bind_dn: String,
    bind_password: Secret,
    account_dn: String,
    placeholder: Option<String>,
    starttls: bool,
    timeout: Duration,
    conn: Mutex<Slot>,
}

/// The shared bound connection, numbered so that a call whose connection failed
/// forgets only that one, not a newer one another call has opened since.
#[derive(Debug, Default)]
struct Slot {
    generation: u64,
    ldap: Option<Ldap>,
}

impl fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConnector")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .finish_non_exhaustive()
    }
}

impl LdapConnector {
    /// Check the configuration and read the bind password. Does not connect: the
    /// directory may be down while Writ starts.
    pub fn new(system: &str, config: &LdapConfig) -> Result<Self, ConfigError> {
        let url = config.url.trim();
        let tls = if let Some(rest) = url.strip_prefix("ldaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ldap://") {
            (false, rest)
        } else {
            return Err(ConfigError::new(
                system,
                "url",
                format!("`{url}` is not an ldap:// or ldaps:// URL"),
            ));
        };
        let (ldaps, rest) = tls;
        if rest.split('/').next().unwrap_or_default().is_empty() {
            return Err(ConfigError::new(
                system,
                "url",
                format!("`{url}` names no host"),
            ));
        }
        if ldaps && config.starttls {
            return Err(ConfigError::new(
                system,
                "starttls",
                "StartTLS upgrades an ldap:// connection; an ldaps:// URL is already TLS",
            ));
        }
        if config.bind_dn.trim().is_empty() {
            return Err(ConfigError::new(system, "bind_dn", "is empty"));
        }
        if !config.account_dn.contains("{account}") {
            return Err(ConfigError::new(
                system,
                "account_dn",
                format!("`{}` does not contain `{{account}}`", config.account_dn),
            ));
        }
        if config
            .placeholder_member
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(ConfigError::new(system, "placeholder_member", "is empty"));
        }
        if config.timeout_ms == 0 {
            return Err(ConfigError::new(
                system,
                "timeout_ms",
                "must be more than 0",
            ));
        }
        let bind_password = config.bind_password.read(system, "bind_password")?;
        Ok(LdapConnector {
            url: url.to_owned(),
            bind_dn: config.bind_dn.clone(),
            bind_password,
            account_dn: config.account_dn.clone(),
            placeholder: config.placeholder_member.clone(),
            starttls: config.starttls,
            timeout: Duration::from_millis(config.timeout_ms),
            conn: Mutex::new(Slot::default()),
        })
    }

    /// The member DN of a Writ account, its name escaped as an RDN value.
    fn member_dn(&self, account: &str) -> String {
        fill(&self.account_dn, &escape_value(account))
    }

    /// The value that keeps `group` valid when it has no real member.
    fn placeholder_for<'a>(&'a self, group: &'a str) -> &'a str {
        self.placeholder.as_deref().unwrap_or(group)
    }

    /// The Writ account a member DN maps back to, if it follows `account_dn`.
    fn account_of(&self, member: &str) -> Option<String> {
        let raw = unfill(&self.account_dn, member)?;
        unescape_value(&raw)
    }

    /// Run `op` on the shared connection within the timeout, (re)connecting as needed.
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, ConnectorError>
    where
        F: Fn(Ldap) -> Fut + Send + Sync,
        Fut: Future<Output = ldap3::result::Result<T>> + Send,
        T: Send,
    {
        match tokio::time::timeout(self.timeout, self.attempt(what, &op)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be wedged; start afresh next time.
                self.conn.lock().await.ldap = None;
                Err(ConnectorError::Transient(format!(
                    "ldap {}: no answer within {} ms ({what})",
                    self.url,
                    self.timeout.as_millis()
                )))
            }
        }
    }

    async fn attempt<T, F, Fut>(&self, what: &str, op: &F) -> Result<T, ConnectorError>
    where
        F: Fn(Ldap) -> Fut + Send + Sync,
        Fut: Future<Output = ldap3::result::Result<T>> + Send,
        T: Send,
    {
        let mut retried = false;
        loop {
            let (generation, ldap, fresh) = self.handle().await?;
            match op(ldap).await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    // Operations report LDAP result codes as values; an error here is
                    // the connection failing under us. Retrying is safe: if the lost
                    // call did land, the retry answers "already present/absent".
                    self.forget(generation).await;
                    if fresh || retried {
                        return Err(ConnectorError::Transient(format!(
                            "ldap {}: connection lost ({what}): {e}",
                            self.url
                        )));
                    }
                    tracing::debug!(url = %self.url, error = %e, "ldap connection lost; reconnecting");
                    retried = true;
                }
            }
        }
    }

    /// A clone of the shared bound connection, opening one if there is none. `fresh`
    /// says it was opened by this call.
    async fn handle(&self) -> Result<(u64, Ldap, bool), ConnectorError> {
        let mut slot = self.conn.lock().await;
        let generation = slot.generation;
        if let Some(ldap) = slot.ldap.as_mut()
            && !ldap.is_closed()
        {
            return Ok((generation, ldap.clone(), false));
        }
        slot.ldap = None;
        let ldap = self.open().await?;
        slot.generation += 1;
        slot.ldap = Some(ldap.clone());
        Ok((slot.generation, ldap, true))
    }

    async fn forget(&self, generation: u64) {
        let mut slot = self.conn.lock().await;
        if slot.generation == generation {
            slot.ldap = None;
        }
    }

    /// Connect and bind. Every failure is transient: an unreachable directory or a
    /// refused bind is for operators to fix, and the jobs waiting on it must survive.
    async fn open(&self) -> Result<Ldap, ConnectorError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| {
                ConnectorError::Transient(format!("ldap {}: cannot connect: {e}", self.url))
            })?;
        ldap3::drive!(conn);
        let result = ldap
            .simple_bind(&self.bind_dn, self.bind_password.expose())
            .await
            .map_err(|e| {
                ConnectorError::Transient(format!(
                    "ldap {}: bind as `{}` failed: {e}",
                    self.url, self.bind_dn
                ))
            })?;
        if result.rc != SUCCESS {
            return Err(ConnectorError::Transient(format!(
                "ldap {}: bind as `{}` refused: {} (check bind_dn and bind_password)",
                self.url,
                self.bind_dn,
                describe(&result)
            )));
        }
        Ok(ldap)
    }

    async fn modify(
        &self,
        group: &str,
        mods: Vec<Mod<String>>,
    ) -> Result<LdapResult, ConnectorError> {
        self.run("modify", |mut ldap| {
            let mods = mods.clone();
            async move { ldap.modify(group, mods).await }
        })
        .await
    }

    fn receipt(change: Change, member: String, group: &str, detail: String) -> Receipt {
        Receipt {
            change,
            account_ref: member,
            target_ref: group.to_owned(),
            detail,
        }
    }
}

#[async_trait]
impl Connector for LdapConnector {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    async fn grant(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        let group = assignment.target.as_str();
        let member = self.member_dn(&assignment.account);
        let placeholder = self.placeholder_for(group);
        let add = Mod::Add(MEMBER.to_owned(), HashSet::from([member.clone()]));
        // Add the member and drop the placeholder in one modify, so the placeholder never
        // lingers beside a real member; when there is no placeholder to drop (16), add
        // alone.
        let mut result = if same_dn(&member, placeholder) {
            self.modify(group, vec![add.clone()]).await?
        } else {
            let drop = Mod::Delete(MEMBER.to_owned(), HashSet::from([placeholder.to_owned()]));
            self.modify(group, vec![add.clone(), drop]).await?
        };
        if result.rc == NO_SUCH_ATTRIBUTE {
            result = self.modify(group, vec![add]).await?;
        }
        match result.rc {
            SUCCESS => Ok(Self::receipt(
                Change::Added,
                member,
                group,
                format!("member added to {group}"),
            )),
            ATTRIBUTE_OR_VALUE_EXISTS => Ok(Self::receipt(
                Change::AlreadyPresent,
                member,
                group,
                format!("already a member of {group}"),
            )),
            _ => Err(self.failure("add a member to", group, &assignment.entitlement, &result)),
        }
    }

    async fn revoke(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        let member = self.member_dn(&assignment.account);
        self.remove_dn(&assignment.target, member, &assignment.entitlement)
            .await
    }

    async fn remove_member(
        &self,
        target: &str,
        member_ref: &str,
    ) -> Result<Receipt, ConnectorError> {
        self.remove_dn(target, member_ref.to_owned(), target).await
    }

    async fn list(&self, targets: &[String]) -> Result<Vec<Membership>, ConnectorError> {
        let mut memberships = Vec::new();
        for group in targets {
            let group = group.as_str();
            let search = self
                .run("search", |mut ldap| async move {
                    ldap.search(group, Scope::Base, "(objectClass=*)", vec![MEMBER])
                        .await
                })
                .await?;
            let result = &search.1;
            if result.rc != SUCCESS {
                return Err(self.failure("read the members of", group, group, result));
            }
            let placeholder = self.placeholder_for(group);
            for entry in search.0 {
                let entry = SearchEntry::construct(entry);
                let values = entry
                    .attrs
                    .into_iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(MEMBER))
                    .flat_map(|(_, values)| values);
                for value in values {
                    if same_dn(&value, placeholder) {
                        continue;
                    }
                    memberships.push(Membership {
                        target: group.to_owned(),
                        account: self.account_of(&value),
                        account_ref: value,
                    });
                }
            }
        }
        Ok(memberships)
    }
}

impl LdapConnector {
    /// Removes `member` (a DN) from `group`, keeping the group valid when it was the
    /// last member; idempotent.
    async fn remove_dn(
        &self,
        group: &str,
        member: String,
        entitlement: &str,
    ) -> Result<Receipt, ConnectorError> {
        let delete = Mod::Delete(MEMBER.to_owned(), HashSet::from([member.clone()]));
        let mut result = self.modify(group, vec![delete.clone()]).await?;
        let mut detail = format!("member removed from {group}");
        if result.rc == OBJECT_CLASS_VIOLATION {
            // The last member: groupOfNames needs one, so put the placeholder in its place
            // in the same modify.
            let placeholder = self.placeholder_for(group).to_owned();
            let add = Mod::Add(MEMBER.to_owned(), HashSet::from([placeholder.clone()]));
            result = self.modify(group, vec![add, delete.clone()]).await?;
            if result.rc == ATTRIBUTE_OR_VALUE_EXISTS {
                // The placeholder appeared meanwhile, so the member is no longer the last.
                result = self.modify(group, vec![delete]).await?;
            }
            detail = format!("last member removed from {group} (placeholder {placeholder} kept)");
        }
        match result.rc {
            SUCCESS => Ok(Self::receipt(Change::Removed, member, group, detail)),
            NO_SUCH_ATTRIBUTE => Ok(Self::receipt(
                Change::AlreadyAbsent,
                member,
                group,
                format!("not a member of {group}"),
            )),
            _ => Err(self.failure("remove a member from", group, entitlement, &result)),
        }
    }

    /// The error for an unexpected result code: a missing group and other refusals
    /// tied to this call are permanent; an overloaded or unavailable directory is
    /// transient.
    fn failure(
        &self,
        action: &str,
        group: &str,
        entitlement: &str,
        result: &LdapResult,
    ) -> ConnectorError {
        match result.rc {
            NO_SUCH_OBJECT => ConnectorError::Permanent(format!(
                "ldap {}: no such group `{group}` (entitlement `{entitlement}`)",
                self.url
            )),
            TIME_LIMIT_EXCEEDED | ADMIN_LIMIT_EXCEEDED | BUSY | UNAVAILABLE => {
                ConnectorError::Transient(format!(
                    "ldap {}: directory cannot {action} `{group}` now: {}",
                    self.url,
                    describe(result)
                ))
            }
            _ => ConnectorError::Permanent(format!(
                "ldap {}: cannot {action} `{group}` (entitlement `{entitlement}`): {}",
                self.url,
                describe(result)
            )),
        }
    }
}

/// `rc=… (name), text: "…"` without ldap3's empty fields.
fn describe(result: &LdapResult) -> String {
    let text = result.text.trim();
    let full = result.to_string();
    // ldap3 renders `rc=N (name), dn: "…", text: "…"`; keep the code and name.
    let head = full.split(", dn:").next().unwrap_or(&full);
    if text.is_empty() {
        head.to_owned()
    } else {
        format!("{head}: {text}")
    }
}

/// DNs compare case-insensitively and ignore spaces around separators (a practical
/// approximation of distinguishedNameMatch for the values Writ writes and reads).
fn same_dn(a: &str, b: &str) -> bool {
    normalize_dn(a) == normalize_dn(b)
}

fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            ',' | '=' | '+' => {
                while out.ends_with(' ') && !out.ends_with("\\ ") {
                    out.pop();
                }
                out.push(c);
            }
            ' ' if out.ends_with([',', '=', '+']) || out.is_empty() => {}
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// `ldap3::dn_escape` with upper-case hex (`\2C`), the form OpenLDAP stores and
/// returns, so a receipt's DN matches what a later listing reports.
fn escape_value(account: &str) -> String {
    let escaped = ldap3::dn_escape(account);
    let mut out = String::with_capacity(escaped.len());
    let mut hex_left = 0;
    for c in escaped.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_uppercase());
            hex_left -= 1;
        } else {
            if c == '\\' {
                hex_left = 2;
            }
            out.push(c);
        }
    }
    out
}

/// Undo RDN-value escaping (`\,` and `\2c` forms). `None` when the text is not one
/// value — an unescaped `,`, `+` or `=` means the DN does not follow the mapping.
fn unescape_value(raw: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes().peekable();
    while let Some(b) = input.next() {
        match b {
            b'\\' => {
                let first = input.next()?;
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(first), input.peek().copied().and_then(hex)) {
                    (Some(high), Some(low)) => {
                        input.next();
                        bytes.push(u8::try_from(high * 16 + low).ok()?);
                    }
                    _ => bytes.push(first),
                }
            }
            b',' | b'+' | b'=' => return None,
            _ => bytes.push(b),
        }
    }
    let value = String::from_utf8(bytes).ok()?;
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretSource;

    fn config(url: &str, account_dn: &str) -> LdapConfig {
        LdapConfig {
            url: url.to_owned(),
            bind_dn: "cn=writ,dc=example,dc=org".to_owned(),
            bind_password: SecretSource::Env("PATH".to_owned()),
            account_dn: account_dn.to_owned(),
            placeholder_member: None,
            starttls: false,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let account = "uid={account},ou=people,dc=example,dc=org";
        let e = LdapConnector::new("corp", &config("http://x", account)).unwrap_err();
        assert_eq!(e.field, "url", "{e}");
        let e = LdapConnector::new("corp", &config("ldap://", account)).unwrap_err();
        assert_eq!(e.field, "url", "{e}");
        let e = LdapConnector::new("corp", &config("ldap://x", "uid=alice")).unwrap_err();
        assert_eq!(e.field, "account_dn", "{e}");
        let mut c = config("ldaps://x", account);
        c.starttls = true;
        assert_eq!(
            LdapConnector::new("corp", &c).unwrap_err().field,
            "starttls"
        );
        let mut c = config("ldap://x", account);
        c.bind_password = SecretSource::Env("WRIT_TEST_SURELY_UNSET".to_owned());
        assert_eq!(
            LdapConnector::new("corp", &c).unwrap_err().field,
            "bind_password"
        );
        assert!(LdapConnector::new("corp", &config("ldap://127.0.0.1:1", account)).is_ok());
    }

    #[test]
    fn names_are_escaped_and_mapped_back() {
        let c = LdapConnector::new(
            "corp",
            &config("ldap://x", "uid={account},ou=people,dc=example,dc=org"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let dn = c.member_dn("smith, j+r");
        assert_eq!(dn, "uid=smith\\2C j\\2Br,ou=people,dc=example,dc=org");
        assert_eq!(c.account_of(&dn).as_deref(), Some("smith, j+r"));
        assert_eq!(
            c.account_of("uid=smith\\, j,ou=people,dc=example,dc=org")
                .as_deref(),
            Some("smith, j")
        );
        assert_eq!(
            c.account_of("uid=bob,ou=contractors,ou=people,dc=example,dc=org"),
            None
        );
        assert_eq!(c.account_of("cn=bob,ou=people,dc=example,dc=org"), None);
    }

    #[test]
    fn dns_compare_loosely() {
        assert!(same_dn(
            "cn=Admins,ou=groups,dc=example,dc=org",
            "CN=admins, ou=Groups,dc=example,dc=org"
        ));
        assert!(!same_dn("cn=admins,ou=groups", "cn=admins2,ou=groups"));
    }
}
