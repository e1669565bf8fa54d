//! The machine's PostgreSQL for tests: `PgPeer::start().await` creates a fresh database
//! and a unique role-name prefix for one test; dropping the peer (or `cleanup().await`)
//! drops the database and every role whose name starts with the prefix.
//!
//! Self-contained (std, tokio and tokio-postgres only), so other crates' tests can
//! include it: `#[path = "../../writ-connect/tests/peers/postgres.rs"] mod pg;`
//!
//! The server is the one `./scripts/test` starts: 127.0.0.1:5432, trust authentication,
//! superuser `postgres`, an existing database `test`. `WRIT_TEST_PG` overrides that with
//! another libpq connection string (key/value or URL) for a superuser. Roles are
//! cluster-wide, so tests only ever create roles named with [`PgPeer::role`].

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, Config, NoTls};

const DEFAULT: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// A database and a role prefix of one test. Cleaned up on drop.
#[derive(Debug)]
pub struct PgPeer {
    /// The connection string of the administrative database (`WRIT_TEST_PG`).
    pub admin_url: String,
    /// The name of this test's database.
    pub database: String,
    /// The connection string of this test's database, as the superuser.
    pub url: String,
    /// Every role this test creates starts with this (`wt_…_`).
    pub prefix: String,
    cleaned: bool,
}

impl PgPeer {
    /// Create a fresh database; panics when no server answers (tests never skip).
    pub async fn start() -> PgPeer {
        let admin_url = std::env::var("WRIT_TEST_PG").unwrap_or_else(|_| DEFAULT.to_owned());
        let prefix = unique_prefix();
        let database = prefix.trim_end_matches('_').to_owned();
        let url = with_dbname(&admin_url, &database);
        let admin = connect(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", ident(&database)))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {database}: {}", show(&e)));
        PgPeer {
            admin_url,
            database,
            url,
            prefix,
            cleaned: false,
        }
    }

    /// A role name for this test: the prefix and `name`.
    pub fn role(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A superuser connection to this test's database.
    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// The connection string of this test's database for another user (trust
    /// authentication lets any role with LOGIN in).
    pub fn url_as(&self, user: &str) -> String {
        let base = with_dbname(&self.admin_url, &self.database);
        if is_url(&base) {
            let Some((scheme, rest)) = base.split_once("://") else {
                unreachable!("is_url checked the scheme")
            };
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{user}@{rest}")
        } else {
            format!(
                "{base} user='{}'",
                user.replace('\\', "\\\\").replace('\'', "\\'")
            )
        }
    }

    /// Drop the database and the roles now, reporting failures.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        if let Err(e) = drop_all(&self.admin_url, &self.database, &self.prefix).await {
            panic!("cleanup of {}: {e}", self.database);
        }
    }
}

impl Drop for PgPeer {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        self.cleaned = true;
        // Drop may run inside the test's runtime (even while it unwinds from a failed
        // assertion), which cannot be blocked on: clean up from a thread of our own.
        let (admin_url, database, prefix) = (
            self.admin_url.clone(),
            self.database.clone(),
            self.prefix.clone(),
        );
        let cleaner = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime: {e}"))?;
            runtime.block_on(drop_all(&admin_url, &database, &prefix))
        });
        match cleaner.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cleanup of {}: {e}", self.database),
            Err(_) => eprintln!("warning: cleanup of {} panicked", self.database),
        }
    }
}

async fn drop_all(admin_url: &str, database: &str, prefix: &str) -> Result<(), String> {
    let admin = try_connect(admin_url).await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(database)
        ))
        .await
        .map_err(|e| format!("drop database: {}", show(&e)))?;
    // A role that granted memberships to another may have to go after it: repeat
    // until nothing is left or a pass makes no progress.
    let mut last_error = None;
    for _ in 0..5 {
        let rows = admin
            .query(
                "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname::text, $1) ORDER BY 1",
                &[&prefix],
            )
            .await
            .map_err(|e| format!("list roles: {}", show(&e)))?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut progress = false;
        for row in rows {
            let role: String = row.get(0);
            match admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&role)))
                .await
            {
                Ok(()) => progress = true,
                Err(e) => last_error = Some(format!("drop role {role}: {}", show(&e))),
            }
        }
        if !progress {
            break;
        }
    }
    Err(last_error.unwrap_or_else(|| "roles remain".to_owned()))
}

/// Connect and drive the connection on the current runtime; panics with a hint when
/// no server answers.
pub async fn connect(url: &str) -> Client {
    try_connect(url).await.unwrap_or_else(|e| panic!("{e}"))
}

async fn try_connect(url: &str) -> Result<Client, String> {
    let mut config =
        Config::from_str(url).map_err(|e| format!("bad connection string `{url}`: {e}"))?;
    config.connect_timeout(Duration::from_secs(10));
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "PostgreSQL not reachable at `{url}` ({}): ./scripts/test starts it, or set WRIT_TEST_PG",
            show(&e)
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A driver error with its cause (the server's message for database errors).
pub fn show(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `base` with its database replaced by `database` (a plain lowercase name).
fn with_dbname(base: &str, database: &str) -> String {
    if !is_url(base) {
        // libpq and tokio-postgres both let a later keyword override an earlier one.
        return format!("{base} dbname={database}");
    }
    let (head, query) = match base.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (base, None),
    };
    let Some((scheme, rest)) = head.split_once("://") else {
        unreachable!("is_url checked the scheme")
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// `wt_<pid>_<time>_<n>_`: unique across processes and runs, short enough to leave
/// room in PostgreSQL's 63-byte names.
fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "wt_{:x}_{:x}_{n}_",
        std::process::id(),
        nanos & 0xff_ffff_ffff
    )
}
