//! The PostgreSQL connector against the machine's real server (`./scripts/test` starts
//! it). Every test gets its own database and role prefix from [`PgPeer`], dropped even
//! when the test fails; outcomes are checked with direct SQL, not only through the
//! connector.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/postgres.rs"]
mod pg;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use pg::{PgPeer, ident, show};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use writ_connect::postgres::PostgresConnector;
use writ_connect::{
    Assignment, Change, Connector, ConnectorConfig, ConnectorError, Membership, Secret,
    SystemConfig, generate_secret,
};

/// A connector for the peer's database as `user` (default: the superuser).
fn connector_as(url: &str, account_role: &str, extra: &str) -> PostgresConnector {
    let text = format!(
        "connector = \"postgres\"\nurl = {url:?}\naccount_role = {account_role:?}\n{extra}"
    );
    let value: toml::Value = toml::from_str(&text).unwrap();
    let system = SystemConfig::from_toml("app-db", &value).unwrap();
    let ConnectorConfig::Postgres(config) = system.connector else {
        panic!("not a postgres system")
    };
    PostgresConnector::new("app-db", &config).unwrap()
}

fn connector(peer: &PgPeer, account_role: &str) -> PostgresConnector {
    connector_as(&peer.url, account_role, "")
}

fn assignment(account: &str, target: &str) -> Assignment {
    Assignment {
        grant: format!("grant-{account}-{target}"),
        account: account.to_owned(),
        target: target.to_owned(),
        entitlement: format!("app-db/{target}"),
    }
}

async fn create_role(client: &Client, role: &str, options: &str) {
    client
        .batch_execute(&format!("CREATE ROLE {} {options}", ident(role)))
        .await
        .unwrap_or_else(|e| panic!("create role {role}: {}", show(&e)));
}

async fn is_member(client: &Client, target: &str, member: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m \
             JOIN pg_roles t ON t.oid = m.roleid JOIN pg_roles a ON a.oid = m.member \
             WHERE t.rolname = $1::text AND a.rolname = $2::text)",
            &[&target, &member],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", show(&e)))
        .get(0)
}

/// `(exists, rolcanlogin)` of a role.
async fn role(client: &Client, role: &str) -> Option<bool> {
    client
        .query_opt(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1::text",
            &[&role],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", show(&e)))
        .map(|row| row.get(0))
}

/// `(rolcanlogin, rolpassword, rolvaliduntil in Unix ms)` from `pg_authid`.
async fn credential(client: &Client, role: &str) -> (bool, Option<String>, Option<i64>) {
    let row = client
        .query_one(
            "SELECT rolcanlogin, rolpassword, \
                    (extract(epoch FROM rolvaliduntil) * 1000)::int8 \
             FROM pg_authid WHERE rolname = $1::text",
            &[&role],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", show(&e)));
    (row.get(0), row.get(1), row.get(2))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Recompute what a SCRAM-SHA-256 secret must hold for `password`, independently of
/// the connector: `(salt, StoredKey, ServerKey)` must agree with the stored text.
fn check_scram(stored: &str, password: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let rest = stored
        .strip_prefix("SCRAM-SHA-256$4096:")
        .unwrap_or_else(|| panic!("not a SCRAM-SHA-256 secret with 4096 iterations: {stored}"));
    let (salt, keys) = rest.split_once('$').unwrap();
    let (stored_key, server_key) = keys.split_once(':').unwrap();
    let salt = b64.decode(salt).unwrap();
    assert_eq!(salt.len(), 16, "salt length");

    let hmac = |key: &[u8], data: &[u8]| -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    };
    let mut block = salt.clone();
    block.extend_from_slice(&[0, 0, 0, 1]);
    let mut u = hmac(password.as_bytes(), &block);
    let mut salted = u.clone();
    for _ in 1..4096 {
        u = hmac(password.as_bytes(), &u);
        salted.iter_mut().zip(&u).for_each(|(s, x)| *s ^= x);
    }
    let client_key = hmac(&salted, b"Client Key");
    assert_eq!(
        b64.decode(stored_key).unwrap(),
        Sha256::digest(&client_key).to_vec(),
        "StoredKey"
    );
    assert_eq!(
        b64.decode(server_key).unwrap(),
        hmac(&salted, b"Server Key"),
        "ServerKey"
    );
}

fn permanent(result: Result<impl std::fmt::Debug, ConnectorError>) -> String {
    match result {
        Err(ConnectorError::Permanent(message)) => message,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn grant_and_revoke_are_idempotent_and_land_in_the_catalog() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let target = peer.role("readers");
    create_role(&sql, &target, "NOLOGIN").await;
    let template = format!("{}acc_{{account}}", peer.prefix);
    let db = connector(&peer, &template);
    let alice = peer.role("acc_alice");
    let a = assignment("alice", &target);

    let receipt = db.grant(&a).await.unwrap();
    assert_eq!(receipt.change, Change::Added, "{receipt:?}");
    assert_eq!(
        (receipt.account_ref.as_str(), receipt.target_ref.as_str()),
        (alice.as_str(), target.as_str())
    );
    assert_eq!(
        role(&sql, &alice).await,
        Some(false),
        "account role created NOLOGIN"
    );
    assert!(is_member(&sql, &target, &alice).await);

    let again = db.grant(&a).await.unwrap();
    assert_eq!(again.change, Change::AlreadyPresent, "{again:?}");

    let receipt = db.revoke(&a).await.unwrap();
    assert_eq!(receipt.change, Change::Removed, "{receipt:?}");
    assert!(!is_member(&sql, &target, &alice).await);
    assert_eq!(
        role(&sql, &alice).await,
        Some(false),
        "revoke keeps the account role"
    );

    let again = db.revoke(&a).await.unwrap();
    assert_eq!(again.change, Change::AlreadyAbsent, "{again:?}");
    let nobody = db.revoke(&assignment("nobody", &target)).await.unwrap();
    assert_eq!(nobody.change, Change::AlreadyAbsent, "{nobody:?}");
    assert_eq!(
        role(&sql, &peer.role("acc_nobody")).await,
        None,
        "revoke creates nothing"
    );

    // An account role that already exists (made by hand) is used as it is.
    let bob = peer.role("acc_bob");
    create_role(&sql, &bob, "LOGIN").await;
    let receipt = db.grant(&assignment("bob", &target)).await.unwrap();
    assert_eq!(receipt.change, Change::Added);
    assert!(is_member(&sql, &target, &bob).await);
    assert_eq!(role(&sql, &bob).await, Some(true));
    peer.cleanup().await;
}

#[tokio::test]
async fn names_are_quoted_never_interpolated() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let target = peer.role("odd \"Role\"; DROP ROLE x; --");
    create_role(&sql, &target, "NOLOGIN").await;
    let db = connector(&peer, &format!("{}{{account}}", peer.prefix));
    let a = assignment("Mixed Case \"quoted\"", &target);
    assert_eq!(db.grant(&a).await.unwrap().change, Change::Added);
    let account = peer.role("Mixed Case \"quoted\"");
    assert!(is_member(&sql, &target, &account).await);
    let listed = db.list(std::slice::from_ref(&target)).await.unwrap();
    assert_eq!(
        listed,
        vec![Membership {
            target: target.clone(),
            account: Some("Mixed Case \"quoted\"".to_owned()),
            account_ref: account.clone(),
        }]
    );
    assert_eq!(db.revoke(&a).await.unwrap().change, Change::Removed);
    assert!(!is_member(&sql, &target, &account).await);

    // A name PostgreSQL would truncate is refused before anything is created.
    let long = "x".repeat(64);
    let message = permanent(db.grant(&assignment(&long, &target)).await);
    assert!(message.contains("63 bytes"), "{message}");
    peer.cleanup().await;
}

#[tokio::test]
async fn a_missing_target_or_account_is_permanent() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let template = format!("{}{{account}}", peer.prefix);
    let db = connector(&peer, &template);
    let missing = peer.role("no_such_group");

    let message = permanent(db.grant(&assignment("carol", &missing)).await);
    assert!(
        message.contains(&missing) && message.contains("app-db"),
        "{message}"
    );
    assert_eq!(
        role(&sql, &peer.role("carol")).await,
        None,
        "nothing created for a missing target"
    );

    let message = permanent(db.list(std::slice::from_ref(&missing)).await);
    assert!(message.contains(&missing), "{message}");

    // Revoking from a group that does not exist: the access is absent.
    let receipt = db.revoke(&assignment("carol", &missing)).await.unwrap();
    assert_eq!(receipt.change, Change::AlreadyAbsent);

    // With create_accounts off a missing account role is refused, not created.
    let target = peer.role("readers");
    create_role(&sql, &target, "NOLOGIN").await;
    let strict = connector_as(&peer.url, &template, "create_accounts = false\n");
    let message = permanent(strict.grant(&assignment("dave", &target)).await);
    assert!(message.contains("create_accounts"), "{message}");
    assert_eq!(role(&sql, &peer.role("dave")).await, None);
    peer.cleanup().await;
}

#[tokio::test]
async fn permission_denied_is_permanent_and_never_shows_the_secret() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let limited = peer.role("limited");
    create_role(&sql, &limited, "LOGIN").await;
    let target = peer.role("admins");
    create_role(&sql, &target, "NOLOGIN").await;
    let template = format!("{}{{account}}", peer.prefix);
    create_role(&sql, &peer.role("erin"), "NOLOGIN").await;
    let db = connector_as(&peer.url_as(&limited), &template, "");

    let message = permanent(db.grant(&assignment("erin", &target)).await);
    assert!(message.contains("42501"), "{message}");
    assert!(!is_member(&sql, &target, &peer.role("erin")).await);

    let secret = generate_secret();
    let result = db
        .rotate(
            &assignment("svc_x", &target),
            &secret,
            now_ms() + 86_400_000,
        )
        .await;
    let message = permanent(result);
    assert!(!message.contains(secret.expose()), "{message}");
    peer.cleanup().await;
}

#[tokio::test]
async fn list_maps_accounts_and_reports_members_added_by_hand() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let (readers, writers, empty) = (
        peer.role("readers"),
        peer.role("writers"),
        peer.role("empty"),
    );
    for r in [&readers, &writers, &empty] {
        create_role(&sql, r, "NOLOGIN").await;
    }
    let db = connector(&peer, &format!("{}app_{{account}}", peer.prefix));
    for (account, target) in [("alice", &readers), ("bob", &readers), ("bob", &writers)] {
        assert_eq!(
            db.grant(&assignment(account, target)).await.unwrap().change,
            Change::Added
        );
    }
    // Someone grants access by hand, to a role outside the `app_{account}` mapping.
    let mallory = peer.role("mallory");
    create_role(&sql, &mallory, "LOGIN").await;
    sql.batch_execute(&format!("GRANT {} TO {}", ident(&readers), ident(&mallory)))
        .await
        .unwrap();

    let mut listed = db
        .list(&[readers.clone(), writers.clone(), empty.clone()])
        .await
        .unwrap();
    listed.sort();
    let m = |target: &str, account: Option<&str>, account_ref: String| Membership {
        target: target.to_owned(),
        account: account.map(str::to_owned),
        account_ref,
    };
    let mut expected = vec![
        m(&readers, Some("alice"), peer.role("app_alice")),
        m(&readers, Some("bob"), peer.role("app_bob")),
        m(&readers, None, mallory.clone()),
        m(&writers, Some("bob"), peer.role("app_bob")),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(db.list(&[]).await.unwrap(), vec![]);
    peer.cleanup().await;
}

#[tokio::test]
async fn rotate_stores_a_scram_verifier_and_disable_removes_it() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let target = peer.role("reporting");
    create_role(&sql, &target, "NOLOGIN").await;
    let db = connector(&peer, &format!("{}nhi_{{account}}", peer.prefix));
    let account = peer.role("nhi_svc_reports");
    let a = assignment("svc_reports", &target);

    let secret = generate_secret();
    let until = now_ms() + 90 * 86_400_000 + 123;
    let receipt = db.rotate(&a, &secret, until).await.unwrap();
    assert_eq!(receipt.change, Change::CredentialSet, "{receipt:?}");
    assert_eq!(receipt.account_ref, account);
    let shown = format!("{receipt:?} {}", serde_json::to_string(&receipt).unwrap());
    assert!(!shown.contains(secret.expose()), "{shown}");
    assert!(receipt.detail.contains("valid until"), "{}", receipt.detail);
    assert!(!format!("{db:?}").contains(secret.expose()));

    let (can_login, password, valid_until) = credential(&sql, &account).await;
    assert!(can_login);
    let first = password.expect("a password is set");
    assert!(first.starts_with("SCRAM-SHA-256$4096:"), "{first}");
    check_scram(&first, secret.expose());
    assert_eq!(valid_until, Some(until));

    // The login works (trust authentication checks LOGIN, not the password).
    pg::connect(&peer.url_as(&account)).await;

    // No statement the server saw carried the plaintext; the ALTER ROLE it did see
    // carried the verifier only.
    let queries: Vec<String> = sql
        .query("SELECT coalesce(query, '') FROM pg_stat_activity", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        queries.iter().all(|q| !q.contains(secret.expose())),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("PASSWORD 'SCRAM-SHA-256$4096:")),
        "the connector's last statement should be visible: {queries:?}"
    );

    // A second rotation replaces the verifier (new salt, new secret).
    let second = generate_secret();
    let receipt = db.rotate(&a, &second, until + 1000).await.unwrap();
    assert_eq!(receipt.change, Change::CredentialSet);
    let (can_login, password, valid_until) = credential(&sql, &account).await;
    let password = password.expect("a password is set");
    assert!(can_login);
    assert_ne!(password, first);
    check_scram(&password, second.expose());
    assert_eq!(valid_until, Some(until + 1000));

    let receipt = db.disable_credential(&a).await.unwrap();
    assert_eq!(receipt.change, Change::CredentialDisabled, "{receipt:?}");
    let (can_login, password, _) = credential(&sql, &account).await;
    assert!(!can_login);
    assert_eq!(password, None);
    let mut config: tokio_postgres::Config = peer.url_as(&account).parse().unwrap();
    config.connect_timeout(Duration::from_secs(5));
    let refused = config
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("login refused");
    assert!(
        show(&refused).contains("not permitted to log in"),
        "{}",
        show(&refused)
    );

    // Disabling is idempotent, also for a role that never existed.
    assert_eq!(
        db.disable_credential(&a).await.unwrap().change,
        Change::CredentialDisabled
    );
    let ghost = db
        .disable_credential(&assignment("ghost", &target))
        .await
        .unwrap();
    assert_eq!(ghost.change, Change::CredentialDisabled);
    assert!(ghost.detail.contains("does not exist"), "{}", ghost.detail);
    assert_eq!(role(&sql, &peer.role("nhi_ghost")).await, None);

    // Rotating an existing NOLOGIN account role (made by a grant) makes it a login.
    let b = assignment("svc_batch", &target);
    assert_eq!(db.grant(&b).await.unwrap().change, Change::Added);
    let batch = peer.role("nhi_svc_batch");
    assert_eq!(role(&sql, &batch).await, Some(false));
    let third: Secret = generate_secret();
    db.rotate(&b, &third, until).await.unwrap();
    let (can_login, password, _) = credential(&sql, &batch).await;
    assert!(can_login);
    check_scram(&password.expect("a password is set"), third.expose());

    let message = permanent(db.rotate(&b, &third, -5).await);
    assert!(!message.contains(third.expose()), "{message}");
    peer.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_or_silent_server_is_transient() {
    let peer = PgPeer::start().await;
    let template = format!("{}{{account}}", peer.prefix);
    let closed = connector_as(
        "host=127.0.0.1 port=1 user=postgres dbname=test",
        &template,
        "timeout_ms = 2000\n",
    );
    let a = assignment("frank", "readers");
    match closed.grant(&a).await {
        Err(ConnectorError::Transient(message)) => {
            assert!(
                message.contains("app-db") && message.contains("127.0.0.1:1"),
                "{message}"
            )
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(
        closed
            .list(&["readers".to_owned()])
            .await
            .unwrap_err()
            .is_transient()
    );

    // A server that accepts the connection and never answers: bounded by timeout_ms.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let silent = connector_as(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=test"),
        &template,
        "timeout_ms = 300\n",
    );
    let started = std::time::Instant::now();
    let result = silent.grant(&a).await;
    assert!(
        matches!(result, Err(ConnectorError::Transient(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    holder.abort();
    peer.cleanup().await;
}

#[tokio::test]
async fn the_connection_is_reopened_after_the_server_drops_it() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let target = peer.role("readers");
    create_role(&sql, &target, "NOLOGIN").await;
    let db = connector(&peer, &format!("{}{{account}}", peer.prefix));
    assert_eq!(
        db.grant(&assignment("gina", &target)).await.unwrap().change,
        Change::Added
    );

    let killed: i64 = sql
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1::text AND application_name = 'writ'",
            &[&peer.database],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the connector keeps one connection");

    // At most one call may see the broken connection (as a transient error).
    let h = assignment("hank", &target);
    let receipt = match db.grant(&h).await {
        Ok(receipt) => receipt,
        Err(ConnectorError::Transient(_)) => db.grant(&h).await.unwrap(),
        Err(e) => panic!("expected success or a transient error, got {e:?}"),
    };
    assert_eq!(receipt.change, Change::Added);
    assert!(is_member(&sql, &target, &peer.role("hank")).await);
    peer.cleanup().await;
}

#[tokio::test]
async fn concurrent_grants_for_distinct_accounts_all_land() {
    let peer = PgPeer::start().await;
    let sql = peer.client().await;
    let target = peer.role("readers");
    create_role(&sql, &target, "NOLOGIN").await;
    let db = Arc::new(connector(&peer, &format!("{}{{account}}", peer.prefix)));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let db = db.clone();
            let a = assignment(&format!("user{i:02}"), &target);
            tokio::spawn(async move { db.grant(&a).await })
        })
        .collect();
    for task in tasks {
        let receipt = task.await.unwrap().unwrap();
        assert_eq!(receipt.change, Change::Added, "{receipt:?}");
    }
    let members: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles t ON t.oid = m.roleid \
             WHERE t.rolname = $1::text",
            &[&target],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 20);
    let listed = db.list(std::slice::from_ref(&target)).await.unwrap();
    assert_eq!(listed.len(), 20);
    assert!(
        listed
            .iter()
            .all(|m| m.account.as_deref().is_some_and(|a| a.starts_with("user")))
    );
}

/// Whether the connector's own session (application_name `writ`) on this test's
/// database runs over TLS.
async fn connector_uses_tls(admin: &Client, database: &str) -> bool {
    admin
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'writ' AND a.datname = $1",
            &[&database],
        )
        .await
        .unwrap()
        .get::<_, Option<bool>>(0)
        .expect("the connector has a session")
}

/// TLS follows `sslmode`; when used, the server's certificate and name are verified
/// (against `ca_file`, or the system's roots). Needs a server with TLS: the test server's
/// certificate is `$WRIT_TEST_PG_CA` (Debian's snakeoil certificate, for `localhost`).
#[tokio::test]
async fn tls_is_verified_and_loopback_defaults_to_plain() {
    let peer = PgPeer::start().await;
    let admin = peer.client().await;
    let target = peer.role("tls_target");
    create_role(&admin, &target, "NOLOGIN").await;
    let ca = std::env::var("WRIT_TEST_PG_CA")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".to_owned());
    let account_role = format!("{}{{account}}", peer.prefix);

    // Loopback without an sslmode: plain, as traffic never leaves the machine.
    let plain = connector(&peer, &account_role);
    plain.grant(&assignment("plain", &target)).await.unwrap();
    assert!(!connector_uses_tls(&admin, &peer.database).await);
    drop(plain);

    // Required, with the server's certificate trusted and its name matching.
    let url = format!("{} host=localhost sslmode=require", peer.url);
    let extra = format!("ca_file = {ca:?}");
    let tls = connector_as(&url, &account_role, &extra);
    let r = tls.grant(&assignment("secure", &target)).await.unwrap();
    assert_eq!(r.change, Change::Added);
    // The plain connector's session may linger a moment; wait for it to go.
    let mut uses_tls = false;
    for _ in 0..50 {
        uses_tls = connector_uses_tls(&admin, &peer.database).await;
        if uses_tls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(uses_tls, "the connector's session is encrypted");
    drop(tls);

    // An untrusted certificate, or one for another name, is refused.
    let other_ca = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/unrelated-ca.pem"
    );
    let untrusted = connector_as(&url, &account_role, &format!("ca_file = {other_ca:?}"));
    let err = untrusted
        .grant(&assignment("x", &target))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let ip = format!("{} host=127.0.0.1 sslmode=require", peer.url);
    let mismatch = connector_as(&ip, &account_role, &extra);
    let err = mismatch.grant(&assignment("x", &target)).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(!is_member(&admin, &target, &peer.role("x")).await);
    peer.cleanup().await;
}
