//! PostgreSQL: role membership (`GRANT role TO account`) and, for non-human identities,
//! login roles with a password that Writ rotates.
//!
//! ```toml
//! [systems.app-db]
//! connector = "postgres"
//! url = "host=db.example.com port=5432 user=writ dbname=app"
//! password = { env = "WRIT_APP_DB_PASSWORD" }
//! account_role = "{account}"     # the role name of a Writ identity
//! create_accounts = true         # create a missing account role (NOLOGIN)
//! ```
//!
//! An entitlement's external reference is a role name; an account is the role
//! `account_role` names. Role names are always sent as quoted identifiers, values as
//! bind parameters, so no name can change the meaning of a statement.
//!
//! Passwords never travel as plaintext: [`Connector::rotate`] computes the SCRAM-SHA-256
//! verifier PostgreSQL would store and sends only that (a statement log may capture the
//! `ALTER ROLE`, and a verifier of a 256-bit random secret reveals nothing useful).
//!
//! Granting to a role that does not exist, or without the privilege to, is a permanent
//! error; revoking from a missing account or role is `AlreadyAbsent` (the access is not
//! there). An unreachable, overloaded or restarting server is a transient error.
//!
//! One connection is shared by all calls and reopened after an error; every call is
//! bounded by `timeout_ms`, connecting included.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};
use tokio_postgres::Client;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConfigError, PostgresConfig, fill, unfill};
use crate::secret::Secret;
use crate::{Assignment, Change, Connector, ConnectorError, Membership, Receipt};

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), which would make a
/// created role differ from the one Writ looks up.
const MAX_NAME_BYTES: usize = 63;

/// The iteration count PostgreSQL uses by default (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

const SCRAM_SALT_BYTES: usize = 16;

/// Role membership and login credentials in one PostgreSQL cluster.
pub struct PostgresConnector {
    system: String,
    /// Holds the password when one is configured: never printed.
    config: tokio_postgres::Config,
    /// `host:port/dbname as user`, for messages.
    endpoint: String,
    account_role: String,
    create_accounts: bool,
    timeout: Duration,
    /// The shared connection; `None` until the first call and after an error.
    client: Mutex<Option<Arc<Client>>>,
    /// TLS with the server's name verified (used as the URL's `sslmode` says).
    tls: MakeRustlsConnect,
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.config.get_password().is_some() {
            "[redacted]"
        } else {
            "none"
        };
        f.debug_struct("PostgresConnector")
            .field("system", &self.system)
            .field("endpoint", &self.endpoint)
            .field("password", &password)
            .field("account_role", &self.account_role)
            .field("create_accounts", &self.create_accounts)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the catalog says about one (target, account) pair.
struct Roles {
    target_exists: bool,
    account_exists: bool,
    member: bool,
}

impl PostgresConnector {
    /// Check the configuration and read the password; does not connect (the first
    /// call does).
    pub fn new(system: &str, config: &PostgresConfig) -> Result<Self, ConfigError> {
        let mut pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| ConfigError::new(system, "url", describe(&e)))?;
        if pg.get_password().is_some() {
            return Err(ConfigError::new(
                system,
                "url",
                "must not contain the password: use `password = { env = \"…\" }` or `{ file = \"…\" }`",
            ));
        }
        if pg.get_hosts().is_empty() {
            return Err(ConfigError::new(
                system,
                "url",
                "names no host: add `host=…`",
            ));
        }
        if pg.get_user().is_none() {
            return Err(ConfigError::new(
                system,
                "url",
                "names no user: add `user=…`",
            ));
        }
        if !config.account_role.contains("{account}") {
            return Err(ConfigError::new(
                system,
                "account_role",
                format!("`{}` does not contain `{{account}}`", config.account_role),
            ));
        }
        if config.timeout_ms == 0 {
            return Err(ConfigError::new(system, "timeout_ms", "must be at least 1"));
        }
        if let Some(source) = &config.password {
            let secret = source.read(system, "password")?;
            pg.password(secret.expose());
        }
        if !config.url.contains("sslmode") {
            pg.ssl_mode(if loopback(&pg) {
                SslMode::Disable
            } else {
                SslMode::Require
            });
        }
        let tls = tls_connector(system, config.ca_file.as_deref())?;
        let timeout = Duration::from_millis(config.timeout_ms);
        pg.connect_timeout(timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("writ");
        }
        Ok(PostgresConnector {
            system: system.to_owned(),
            endpoint: endpoint(&pg),
            config: pg,
            account_role: config.account_role.clone(),
            create_accounts: config.create_accounts,
            timeout,
            client: Mutex::new(None),
            tls,
        })
    }

    /// The shared connection, opened if there is none or the last one closed.
    async fn client(&self) -> Result<Arc<Client>, ConnectorError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(client.clone());
        }
        *slot = None;
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.failure(&format!("connect to {}", self.endpoint), &e))?;
        let system = self.system.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(system = %system, error = %describe(&e), "postgres connection ended");
            }
        });
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drop `client` from the slot (if it is still there) so the next call reconnects.
    async fn forget(&self, client: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, client)) {
            *slot = None;
        }
    }

    /// Run `op` on the shared connection within the timeout; a transient failure or a
    /// timeout discards the connection.
    async fn operate<T, F, Fut>(&self, what: &str, op: F) -> Result<T, ConnectorError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let deadline = Instant::now() + self.timeout;
        let client = match timeout_at(deadline, self.client()).await {
            Ok(client) => client?,
            Err(_) => return Err(self.timed_out(what)),
        };
        match timeout_at(deadline, op(client.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_transient() {
                    self.forget(&client).await;
                }
                Err(e)
            }
            Err(_) => {
                self.forget(&client).await;
                Err(self.timed_out(what))
            }
        }
    }

    fn timed_out(&self, what: &str) -> ConnectorError {
        ConnectorError::Transient(format!(
            "system `{}`: {what}: no answer from {} within {} ms",
            self.system,
            self.endpoint,
            self.timeout.as_millis()
        ))
    }

    fn permanent(&self, doing: &str, message: impl fmt::Display) -> ConnectorError {
        ConnectorError::Permanent(format!("system `{}`: {doing}: {message}", self.system))
    }

    /// Classify a driver error: unreachable, overloaded or restarting servers are
    /// transient; refusals (no such role, permission denied, bad input) are permanent.
    fn failure(&self, doing: &str, e: &tokio_postgres::Error) -> ConnectorError {
        let message = format!("system `{}`: {doing}: {}", self.system, describe(e));
        let transient = match e.as_db_error() {
            Some(db) => {
                is_transient_code(db.code()) || db.message() == "tuple concurrently updated"
            }
            // No SQLSTATE: the socket failed, the connection closed or the server did
            // not answer in time; configuration and protocol errors stay permanent.
            None => e.is_closed() || has_io_source(e) || e.to_string().starts_with("timeout"),
        };
        if transient {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Permanent(message)
        }
    }

    fn account(&self, assignment: &Assignment) -> String {
        fill(&self.account_role, &assignment.account)
    }

    fn check_name(&self, doing: &str, what: &str, name: &str) -> Result<(), ConnectorError> {
        if name.is_empty() {
            return Err(self.permanent(doing, format!("the {what} name is empty")));
        }
        if name.contains('\0') {
            return Err(self.permanent(doing, format!("the {what} name contains a NUL byte")));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(self.permanent(
                doing,
                format!(
                    "the {what} name `{name}` is longer than {MAX_NAME_BYTES} bytes (PostgreSQL would truncate it)"
                ),
            ));
        }
        Ok(())
    }

    async fn roles(
        &self,
        client: &Client,
        doing: &str,
        target: &str,
        account: &str,
    ) -> Result<Roles, ConnectorError> {
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text), \
                        EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2::text), \
                        EXISTS (SELECT 1 FROM pg_auth_members m \
                                JOIN pg_roles t ON t.oid = m.roleid \
                                JOIN pg_roles a ON a.oid = m.member \
                                WHERE t.rolname = $1::text AND a.rolname = $2::text)",
                &[&target, &account],
            )
            .await
            .map_err(|e| self.failure(doing, &e))?;
        Ok(Roles {
            target_exists: row.try_get(0).map_err(|e| self.failure(doing, &e))?,
            account_exists: row.try_get(1).map_err(|e| self.failure(doing, &e))?,
            member: row.try_get(2).map_err(|e| self.failure(doing, &e))?,
        })
    }

    async fn role_exists(
        &self,
        client: &Client,
        doing: &str,
        role: &str,
    ) -> Result<bool, ConnectorError> {
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1::text)",
                &[&role],
            )
            .await
            .map_err(|e| self.failure(doing, &e))?;
        row.try_get(0).map_err(|e| self.failure(doing, &e))
    }

    /// `CREATE ROLE "role" <options>`; `false` when a concurrent call created it first.
    async fn create_role(
        &self,
        client: &Client,
        doing: &str,
        role: &str,
        options: &str,
    ) -> Result<bool, ConnectorError> {
        match client
            .batch_execute(&format!("CREATE ROLE {} {options}", quote_ident(role)))
            .await
        {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.code(),
                    Some(&SqlState::DUPLICATE_OBJECT) | Some(&SqlState::UNIQUE_VIOLATION)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.failure(doing, &e)),
        }
    }

    async fn grant_on(
        &self,
        client: &Client,
        assignment: &Assignment,
    ) -> Result<Receipt, ConnectorError> {
        let target = assignment.target.as_str();
        let account = self.account(assignment);
        let doing = format!("grant `{target}` to `{account}`");
        self.check_name(&doing, "target role", target)?;
        self.check_name(&doing, "account role", &account)?;
        let roles = self.roles(client, &doing, target, &account).await?;
        if !roles.target_exists {
            return Err(self.permanent(&doing, format!("role `{target}` does not exist")));
        }
        let receipt = |change, detail| Receipt {
            change,
            account_ref: account.clone(),
            target_ref: target.to_owned(),
            detail,
        };
        if roles.member {
            return Ok(receipt(
                Change::AlreadyPresent,
                format!("`{account}` is already a member of `{target}`"),
            ));
        }
        let mut created = false;
        if !roles.account_exists {
            if !self.create_accounts {
                return Err(self.permanent(
                    &doing,
                    format!("role `{account}` does not exist and `create_accounts` is off"),
                ));
            }
            created = self
                .create_role(client, &doing, &account, "NOLOGIN")
                .await?;
        }
        client
            .batch_execute(&format!(
                "GRANT {} TO {}",
                quote_ident(target),
                quote_ident(&account)
            ))
            .await
            .map_err(|e| self.failure(&doing, &e))?;
        let created = if created {
            " (role created, NOLOGIN)"
        } else {
            ""
        };
        Ok(receipt(
            Change::Added,
            format!("granted `{target}` to `{account}`{created}"),
        ))
    }

    async fn revoke_on(
        &self,
        client: &Client,
        assignment: &Assignment,
    ) -> Result<Receipt, ConnectorError> {
        let target = assignment.target.as_str();
        let account = self.account(assignment);
        let doing = format!("revoke `{target}` from `{account}`");
        self.check_name(&doing, "target role", target)?;
        self.check_name(&doing, "account role", &account)?;
        let receipt = |change, detail| Receipt {
            change,
            account_ref: account.clone(),
            target_ref: target.to_owned(),
            detail,
        };
        let roles = self.roles(client, &doing, target, &account).await?;
        if !roles.account_exists {
            return Ok(receipt(
                Change::AlreadyAbsent,
                format!("role `{account}` does not exist"),
            ));
        }
        if !roles.target_exists {
            return Ok(receipt(
                Change::AlreadyAbsent,
                format!("role `{target}` does not exist"),
            ));
        }
        if !roles.member {
            return Ok(receipt(
                Change::AlreadyAbsent,
                format!("`{account}` is not a member of `{target}`"),
            ));
        }
        client
            .batch_execute(&format!(
                "REVOKE {} FROM {}",
                quote_ident(target),
                quote_ident(&account)
            ))
            .await
            .map_err(|e| self.failure(&doing, &e))?;
        // From PostgreSQL 16 a membership granted by another role survives a plain
        // REVOKE (with a warning only): never report a removal that did not happen.
        if self.roles(client, &doing, target, &account).await?.member {
            return Err(self.permanent(
                &doing,
                "the membership remains after REVOKE (granted by another role?)",
            ));
        }
        Ok(receipt(
            Change::Removed,
            format!("revoked `{target}` from `{account}`"),
        ))
    }

    async fn rotate_on(
        &self,
        client: &Client,
        assignment: &Assignment,
        secret: &Secret,
        valid_until_ms: i64,
    ) -> Result<Receipt, ConnectorError> {
        let account = self.account(assignment);
        let doing = format!("set the password of `{account}`");
        self.check_name(&doing, "account role", &account)?;
        let Some(until) = UtcTime::from_unix_ms(valid_until_ms) else {
            return Err(self.permanent(
                &doing,
                format!("validity end {valid_until_ms} ms is outside the years 1970 to 9999"),
            ));
        };
        let password = secret.expose();
        if password.is_empty() || !password.is_ascii() {
            // ASCII makes SASLprep the identity, so the verifier below is exactly
            // what the server computes when the client signs in.
            return Err(self.permanent(&doing, "the secret must be non-empty ASCII"));
        }
        let mut salt = [0u8; SCRAM_SALT_BYTES];
        getrandom::fill(&mut salt)
            .map_err(|e| self.permanent(&doing, format!("the random source failed: {e}")))?;
        let verifier = scram_sha_256_verifier(password.as_bytes(), &salt);
        let created = if self.role_exists(client, &doing, &account).await? {
            false
        } else {
            self.create_role(client, &doing, &account, "LOGIN").await?
        };
        client
            .batch_execute(&format!(
                "ALTER ROLE {} WITH LOGIN PASSWORD {} VALID UNTIL {}",
                quote_ident(&account),
                quote_literal(&verifier),
                quote_literal(&until.sql)
            ))
            .await
            .map_err(|e| self.failure(&doing, &e))?;
        let created = if created { " (login role created)" } else { "" };
        Ok(Receipt {
            change: Change::CredentialSet,
            account_ref: account.clone(),
            target_ref: assignment.target.clone(),
            detail: format!(
                "password of `{account}` set (SCRAM-SHA-256), valid until {}{created}",
                until.iso
            ),
        })
    }

    async fn disable_on(
        &self,
        client: &Client,
        assignment: &Assignment,
    ) -> Result<Receipt, ConnectorError> {
        let account = self.account(assignment);
        let doing = format!("disable the login of `{account}`");
        self.check_name(&doing, "account role", &account)?;
        let receipt = |detail| Receipt {
            change: Change::CredentialDisabled,
            account_ref: account.clone(),
            target_ref: assignment.target.clone(),
            detail,
        };
        if !self.role_exists(client, &doing, &account).await? {
            return Ok(receipt(format!(
                "role `{account}` does not exist: nothing can sign in"
            )));
        }
        client
            .batch_execute(&format!(
                "ALTER ROLE {} NOLOGIN PASSWORD NULL",
                quote_ident(&account)
            ))
            .await
            .map_err(|e| self.failure(&doing, &e))?;
        Ok(receipt(format!(
            "`{account}` can no longer sign in (NOLOGIN, password removed)"
        )))
    }

    async fn list_on(
        &self,
        client: &Client,
        targets: &[String],
    ) -> Result<Vec<Membership>, ConnectorError> {
        let doing = "list role members";
        // One row per (target, member); a target without members gives one row with
        // a NULL member, a target that does not exist one with `exists` false.
        let rows = client
            .query(
                "SELECT DISTINCT n.name, t.oid IS NOT NULL, a.rolname::text \
                 FROM unnest($1::text[]) AS n(name) \
                 LEFT JOIN pg_roles t ON t.rolname = n.name \
                 LEFT JOIN pg_auth_members m ON m.roleid = t.oid \
                 LEFT JOIN pg_roles a ON a.oid = m.member \
                 ORDER BY 1, 3",
                &[&targets],
            )
            .await
            .map_err(|e| self.failure(doing, &e))?;
        let mut missing = Vec::new();
        let mut members = Vec::new();
        for row in rows {
            let target: String = row.try_get(0).map_err(|e| self.failure(doing, &e))?;
            let exists: bool = row.try_get(1).map_err(|e| self.failure(doing, &e))?;
            let member: Option<String> = row.try_get(2).map_err(|e| self.failure(doing, &e))?;
            if !exists {
                missing.push(format!("`{target}`"));
            } else if let Some(member) = member {
                members.push(Membership {
                    target,
                    account: unfill(&self.account_role, &member),
                    account_ref: member,
                });
            }
        }
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "role does"
            } else {
                "roles do"
            };
            return Err(self.permanent(doing, format!("{noun} not exist: {}", missing.join(", "))));
        }
        Ok(members)
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn grant(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        self.operate("grant", |client| async move {
            self.grant_on(&client, assignment).await
        })
        .await
    }

    async fn revoke(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        self.operate("revoke", |client| async move {
            self.revoke_on(&client, assignment).await
        })
        .await
    }

    async fn rotate(
        &self,
        assignment: &Assignment,
        secret: &Secret,
        valid_until_ms: i64,
    ) -> Result<Receipt, ConnectorError> {
        self.operate("rotate", |client| async move {
            self.rotate_on(&client, assignment, secret, valid_until_ms)
                .await
        })
        .await
    }

    async fn disable_credential(&self, assignment: &Assignment) -> Result<Receipt, ConnectorError> {
        self.operate("disable credential", |client| async move {
            self.disable_on(&client, assignment).await
        })
        .await
    }

    async fn list(&self, targets: &[String]) -> Result<Vec<Membership>, ConnectorError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        self.operate("list", |client| async move {
            self.list_on(&client, targets).await
        })
        .await
    }
}

/// `host:port/dbname as user`, from the parsed configuration (never the password).
fn endpoint(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default();
    match config.get_dbname() {
        Some(db) => format!("{host}:{port}/{db} as {user}"),
        None => format!("{host}:{port} as {user}"),
    }
}

/// A driver error as one line: the server's message and SQLSTATE, or the driver's
/// description and its cause.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// SQLSTATEs worth retrying: connection trouble, an overloaded or restarting server,
/// lock and serialization conflicts, a cancelled statement, a read-only standby.
fn is_transient_code(code: &SqlState) -> bool {
    let code = code.code();
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources, incl. too_many_connections
        || code.starts_with("57P") // admin/crash shutdown, cannot connect now
        || code.starts_with("40") // serialization failure, deadlock
        || code == SqlState::LOCK_NOT_AVAILABLE.code()
        || code == SqlState::QUERY_CANCELED.code()
        || code == SqlState::READ_ONLY_SQL_TRANSACTION.code()
        || code == SqlState::IO_ERROR.code()
}

/// A quoted identifier: `"name"` with inner double quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A standard string literal: `'value'` with inner single quotes doubled (the values
/// quoted here are base64 and timestamps, which contain no backslash).
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_key(key: &[u8]) -> HmacSha256 {
    let Ok(mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_key(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output: a single block.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = hmac_key(password);
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// The SCRAM-SHA-256 secret exactly as PostgreSQL stores it in `pg_authid.rolpassword`
/// (RFC 5802, RFC 7677): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
fn scram_sha_256_verifier(password: &[u8], salt: &[u8]) -> String {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let salted = pbkdf2_sha256(password, salt, SCRAM_ITERATIONS);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// A Unix time in milliseconds as a PostgreSQL `timestamptz` literal and as ISO 8601.
#[derive(Debug, PartialEq, Eq)]
struct UtcTime {
    /// `2025-03-01 12:00:00.000+00`
    sql: String,
    /// `2025-03-01T12:00:00.000Z`
    iso: String,
}

impl UtcTime {
    /// `None` outside 1970-01-01 to 9999-12-31.
    fn from_unix_ms(ms: i64) -> Option<UtcTime> {
        if !(0..=253_402_300_799_999).contains(&ms) {
            return None;
        }
        let (secs, milli) = (ms / 1000, ms % 1000);
        let (days, of_day) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
        Some(UtcTime {
            sql: format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}.{milli:03}+00"),
            iso: format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{milli:03}Z"),
        })
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Every host of the URL is this machine (a loopback address, `localhost`, or a Unix
/// socket): traffic that never leaves it.
fn loopback(pg: &tokio_postgres::Config) -> bool {
    pg.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}

/// A rustls connector trusting `ca_file`'s certificates, or the system's roots.
fn tls_connector(
    system: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<MakeRustlsConnect, ConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    ConfigError::new(system, "ca_file", format!("`{}`: {e}", path.display()))
                })?;
            if certs.is_empty() {
                return Err(ConfigError::new(
                    system,
                    "ca_file",
                    format!("`{}` holds no certificate", path.display()),
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    ConfigError::new(system, "ca_file", format!("`{}`: {e}", path.display()))
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot parse is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new(system, "ca_file", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretSource;

    fn config(url: &str) -> PostgresConfig {
        PostgresConfig {
            url: url.to_owned(),
            password: None,
            account_role: "{account}".to_owned(),
            create_accounts: true,
            ca_file: None,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn the_verifier_matches_what_postgresql_stored() {
        // `ALTER ROLE … PASSWORD 'pencil-Writ-42'` on PostgreSQL 15 stored this.
        let stored = "SCRAM-SHA-256$4096:s48LjEpKwle6NmYLdppgQA==$SR7rFNYI/oGYhbjJVquubth4yKzZDR7MZxZwR0TKDqQ=:CdOsUCbX9I8V8Ag0XE2/Uhygvi8UzGAZNEXDF2k8+rI=";
        let salt = base64::engine::general_purpose::STANDARD
            .decode("s48LjEpKwle6NmYLdppgQA==")
            .unwrap();
        assert_eq!(scram_sha_256_verifier(b"pencil-Writ-42", &salt), stored);
    }

    #[test]
    fn pbkdf2_matches_published_vectors() {
        for (iterations, expected) in [
            (
                1,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
            ),
            (
                2,
                "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
            ),
            (
                4096,
                "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
            ),
        ] {
            assert_eq!(
                hex::encode(pbkdf2_sha256(b"password", b"salt", iterations)),
                expected
            );
        }
    }

    #[test]
    fn names_and_literals_are_quoted() {
        assert_eq!(quote_ident("app"), "\"app\"");
        assert_eq!(
            quote_ident("a\"; DROP ROLE x; --"),
            "\"a\"\"; DROP ROLE x; --\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn times_format_in_utc() {
        let t = |ms| UtcTime::from_unix_ms(ms).map(|t| t.sql);
        assert_eq!(t(0).as_deref(), Some("1970-01-01 00:00:00.000+00"));
        assert_eq!(
            t(951_782_400_123).as_deref(),
            Some("2000-02-29 00:00:00.123+00")
        );
        assert_eq!(
            t(1_735_689_599_999).as_deref(),
            Some("2024-12-31 23:59:59.999+00")
        );
        assert_eq!(
            t(253_402_300_799_999).as_deref(),
            Some("9999-12-31 23:59:59.999+00")
        );
        assert_eq!(t(-1), None);
        assert_eq!(t(253_402_300_800_000), None);
        let iso = UtcTime::from_unix_ms(1_700_000_000_000).map(|t| t.iso);
        assert_eq!(iso.as_deref(), Some("2023-11-14T22:13:20.000Z"));
    }

    #[test]
    fn new_checks_the_configuration_without_connecting() {
        let e =
            PostgresConnector::new("db", &config("host=127.0.0.1 user=writ bogus=1")).unwrap_err();
        assert_eq!((e.system.as_str(), e.field.as_str()), ("db", "url"), "{e}");
        let e =
            PostgresConnector::new("db", &config("host=h user=u password=hunter2")).unwrap_err();
        assert_eq!(e.field, "url");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = PostgresConnector::new("db", &config("host=h")).unwrap_err();
        assert_eq!(e.field, "url");
        let mut c = config("host=h user=u");
        c.account_role = "app_".to_owned();
        let e = PostgresConnector::new("db", &c).unwrap_err();
        assert_eq!(e.field, "account_role");
        let mut c = config("host=h user=u");
        c.password = Some(SecretSource::Env("WRIT_TEST_SURELY_UNSET_PG".to_owned()));
        let e = PostgresConnector::new("db", &c).unwrap_err();
        assert_eq!(e.field, "password");
        // An unreachable host is fine at start-up: `new` does not connect.
        let ok = PostgresConnector::new("db", &config("host=192.0.2.1 port=1 user=u dbname=x"));
        assert!(ok.is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret-pg-password\n").unwrap();
        let mut c = config("host=127.0.0.1 user=writ dbname=app");
        c.password = Some(SecretSource::File(path));
        let connector = PostgresConnector::new("db", &c).unwrap();
        let debug = format!("{connector:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("[redacted]") && debug.contains("127.0.0.1:5432/app"),
            "{debug}"
        );
    }
}
