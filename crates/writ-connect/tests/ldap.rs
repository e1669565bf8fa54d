//! The LDAP connector against a real OpenLDAP server (see `peers/slapd.rs`). Results
//! are checked with `ldapsearch`, not only through the connector.

mod peers {
    pub mod slapd;
}

use std::sync::Arc;

use peers::slapd::Slapd;
use writ_connect::ldap::LdapConnector;
use writ_connect::{Assignment, Change, Connector, ConnectorError, Membership, SystemConfig};

const ACCOUNT_DN: &str = "uid={account},ou=people,dc=example,dc=com";

/// A connector bound as the server's admin, its password read from a file.
struct Fixture {
    slapd: Slapd,
    connector: LdapConnector,
    _secrets: tempfile::TempDir,
}

fn connector_for(
    url: &str,
    bind_dn: &str,
    password: &str,
    timeout_ms: u64,
) -> (LdapConnector, tempfile::TempDir) {
    connector_with(
        url,
        bind_dn,
        password,
        &format!("timeout_ms = {timeout_ms}\n"),
    )
}

/// A connector from the server's TOML, as Writ builds it; `extra` adds fields.
fn connector_with(
    url: &str,
    bind_dn: &str,
    password: &str,
    extra: &str,
) -> (LdapConnector, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = secrets.path().join("bind_password");
    std::fs::write(&path, format!("{password}\n")).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "connector = \"ldap\"\nurl = \"{url}\"\nbind_dn = \"{bind_dn}\"\n\
         bind_password = {{ file = \"{}\" }}\naccount_dn = \"{ACCOUNT_DN}\"\n{extra}",
        path.display()
    );
    let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let system = SystemConfig::from_toml("corp", &value).unwrap_or_else(|e| panic!("{e}"));
    let writ_connect::ConnectorConfig::Ldap(config) = system.connector else {
        panic!("not ldap")
    };
    let connector = LdapConnector::new("corp", &config).unwrap_or_else(|e| panic!("{e}"));
    (connector, secrets)
}

fn fixture() -> Fixture {
    let slapd = Slapd::start();
    let (connector, secrets) =
        connector_for(&slapd.url, &slapd.admin_dn, &slapd.admin_password, 5_000);
    Fixture {
        slapd,
        connector,
        _secrets: secrets,
    }
}

fn dn(uid: &str) -> String {
    format!("uid={uid},ou=people,dc=example,dc=com")
}

fn assignment(account: &str, group: &str) -> Assignment {
    Assignment {
        grant: format!("grant-{account}"),
        account: account.to_owned(),
        target: group.to_owned(),
        entitlement: "corp/group".to_owned(),
    }
}

fn ok<T>(result: Result<T, ConnectorError>) -> T {
    result.unwrap_or_else(|e| panic!("{e:?}"))
}

/// A group holding only its own DN, the connector's default placeholder.
fn empty_group(slapd: &Slapd, cn: &str) -> String {
    let group = format!("cn={cn},{}", slapd.groups);
    slapd.add_group(cn, &group)
}

#[tokio::test]
async fn grant_adds_the_member_and_replaces_the_placeholder() {
    let f = fixture();
    let group = empty_group(&f.slapd, "admins");
    let receipt = ok(f.connector.grant(&assignment("alice", &group)).await);
    assert_eq!(receipt.change, Change::Added);
    assert_eq!(receipt.account_ref, dn("alice"));
    assert_eq!(receipt.target_ref, group);
    assert_eq!(receipt.detail, format!("member added to {group}"));
    assert_eq!(
        f.slapd.members(&group),
        vec![dn("alice")],
        "the placeholder must go"
    );

    let again = ok(f.connector.grant(&assignment("alice", &group)).await);
    assert_eq!(again.change, Change::AlreadyPresent);
    assert_eq!(again.account_ref, dn("alice"));

    let bob = ok(f.connector.grant(&assignment("bob", &group)).await);
    assert_eq!(bob.change, Change::Added);
    assert_eq!(f.slapd.members(&group), vec![dn("alice"), dn("bob")]);
}

#[tokio::test]
async fn revoke_removes_the_member_and_is_idempotent() {
    let f = fixture();
    let group = f.slapd.add_group("ops", &dn("alice"));
    ok(f.connector.grant(&assignment("bob", &group)).await);
    assert_eq!(f.slapd.members(&group), vec![dn("alice"), dn("bob")]);

    let receipt = ok(f.connector.revoke(&assignment("bob", &group)).await);
    assert_eq!(receipt.change, Change::Removed);
    assert_eq!(
        (receipt.account_ref.as_str(), receipt.target_ref.as_str()),
        (dn("bob").as_str(), group.as_str())
    );
    assert_eq!(f.slapd.members(&group), vec![dn("alice")]);

    let again = ok(f.connector.revoke(&assignment("bob", &group)).await);
    assert_eq!(again.change, Change::AlreadyAbsent);
    assert_eq!(f.slapd.members(&group), vec![dn("alice")]);
}

#[tokio::test]
async fn revoking_the_last_member_leaves_the_placeholder() {
    let f = fixture();
    let group = f.slapd.add_group("solo", &dn("alice"));
    let receipt = ok(f.connector.revoke(&assignment("alice", &group)).await);
    assert_eq!(receipt.change, Change::Removed);
    assert_eq!(f.slapd.members(&group), vec![group.clone()]);
    assert_eq!(
        ok(f.connector.list(std::slice::from_ref(&group)).await),
        vec![]
    );

    // Revoking again is still done, and the placeholder stays.
    let again = ok(f.connector.revoke(&assignment("alice", &group)).await);
    assert_eq!(again.change, Change::AlreadyAbsent);
    assert_eq!(f.slapd.members(&group), vec![group.clone()]);

    // The next grant takes the placeholder out.
    ok(f.connector.grant(&assignment("carol", &group)).await);
    assert_eq!(f.slapd.members(&group), vec![dn("carol")]);
}

#[tokio::test]
async fn a_configured_placeholder_is_used_and_never_listed() {
    let slapd = Slapd::start();
    let placeholder = "cn=nobody,dc=example,dc=com";
    let (connector, _s) = connector_with(
        &slapd.url,
        &slapd.admin_dn,
        &slapd.admin_password,
        &format!("placeholder_member = \"{placeholder}\"\n"),
    );
    let group = slapd.add_group("custom", &dn("alice"));

    ok(connector.revoke(&assignment("alice", &group)).await);
    assert_eq!(slapd.members(&group), vec![placeholder.to_owned()]);
    assert_eq!(
        ok(connector.list(std::slice::from_ref(&group)).await),
        vec![]
    );
    ok(connector.grant(&assignment("bob", &group)).await);
    assert_eq!(slapd.members(&group), vec![dn("bob")]);
}

#[tokio::test]
async fn list_maps_accounts_and_reports_foreign_members() {
    let f = fixture();
    let group = empty_group(&f.slapd, "readers");
    let other = empty_group(&f.slapd, "writers");
    ok(f.connector.grant(&assignment("alice", &group)).await);
    // A name that needs escaping; the receipt's DN is the one the directory reports.
    let smith = ok(f.connector.grant(&assignment("smith, j", &group)).await);
    assert_eq!(
        smith.account_ref,
        "uid=smith\\2C j,ou=people,dc=example,dc=com"
    );
    ok(f.connector.grant(&assignment("bob", &other)).await);
    // Someone adds members by hand, outside the account mapping (one of them under
    // ou=people, but one level deeper than the template allows).
    let mallory = "cn=mallory,ou=contractors,dc=example,dc=com";
    let eve = "uid=eve,ou=contractors,ou=people,dc=example,dc=com";
    f.slapd.modify_ldif(&format!(
        "dn: {group}\nchangetype: modify\nadd: member\nmember: {mallory}\nmember: {eve}\n"
    ));
    assert_eq!(f.slapd.members(&group).len(), 4);

    let mut listed = ok(f.connector.list(&[group.clone(), other.clone()]).await);
    listed.sort();
    let mut expected = vec![
        Membership {
            target: group.clone(),
            account: Some("alice".into()),
            account_ref: dn("alice"),
        },
        Membership {
            target: group.clone(),
            account: Some("smith, j".into()),
            account_ref: "uid=smith\\2C j,ou=people,dc=example,dc=com".into(),
        },
        Membership {
            target: group.clone(),
            account: None,
            account_ref: mallory.into(),
        },
        Membership {
            target: group.clone(),
            account: None,
            account_ref: eve.into(),
        },
        Membership {
            target: other.clone(),
            account: Some("bob".into()),
            account_ref: dn("bob"),
        },
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(ok(f.connector.list(&[]).await), vec![]);
}

#[tokio::test]
async fn a_missing_group_is_permanent() {
    let f = fixture();
    let group = format!("cn=ghosts,{}", f.slapd.groups);
    for result in [
        f.connector
            .grant(&assignment("alice", &group))
            .await
            .map(|_| ()),
        f.connector
            .revoke(&assignment("alice", &group))
            .await
            .map(|_| ()),
        f.connector
            .list(std::slice::from_ref(&group))
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(ConnectorError::Permanent(message)) => {
                assert!(message.contains(&group), "{message}")
            }
            other => panic!("expected a permanent error naming the group, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_outage_is_transient_and_the_connector_reconnects() {
    let mut f = fixture();
    let group = empty_group(&f.slapd, "ops");
    ok(f.connector.grant(&assignment("alice", &group)).await);

    f.slapd.stop();
    let error = f
        .connector
        .grant(&assignment("bob", &group))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let error = f
        .connector
        .list(std::slice::from_ref(&group))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");

    f.slapd.restart();
    let receipt = ok(f.connector.grant(&assignment("bob", &group)).await);
    assert_eq!(receipt.change, Change::Added);
    assert_eq!(f.slapd.members(&group), vec![dn("alice"), dn("bob")]);

    // A restart under a live connection: the next call reconnects by itself.
    f.slapd.restart();
    let receipt = ok(f.connector.revoke(&assignment("alice", &group)).await);
    assert_eq!(receipt.change, Change::Removed);
    assert_eq!(f.slapd.members(&group), vec![dn("bob")]);
}

#[tokio::test]
async fn unreachable_and_silent_directories_are_transient() {
    // Nothing listens: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let (connector, _s) = connector_for(
        &format!("ldap://127.0.0.1:{port}"),
        "cn=admin,dc=example,dc=com",
        "pw",
        2_000,
    );
    let error = connector
        .grant(&assignment("alice", "cn=g,dc=example,dc=com"))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(error.to_string().contains("cannot connect"), "{error}");

    // Something accepts but never answers: the timeout ends the call.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = silent.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let (connector, _s) = connector_for(
        &format!("ldap://127.0.0.1:{port}"),
        "cn=admin,dc=example,dc=com",
        "pw",
        300,
    );
    let started = std::time::Instant::now();
    let error = connector
        .list(&["cn=g,dc=example,dc=com".to_owned()])
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(error.to_string().contains("within 300 ms"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn the_bind_password_is_never_shown() {
    let f = fixture();
    let shown = format!("{:?}", f.connector);
    assert!(!shown.contains(&f.slapd.admin_password), "{shown}");
    assert!(
        shown.contains(&f.slapd.url) && shown.contains(&f.slapd.admin_dn),
        "{shown}"
    );

    // A wrong password: the bind is refused, transient (an operator fixes it), and the
    // message names the bind DN but neither password.
    let wrong = "wrong-password-do-not-print";
    let (bad, _s) = connector_for(&f.slapd.url, &f.slapd.admin_dn, wrong, 5_000);
    assert!(!format!("{bad:?}").contains(wrong));
    let group = empty_group(&f.slapd, "ops");
    let error = bad.grant(&assignment("alice", &group)).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let message = format!("{error} {error:?}");
    assert!(
        message.contains("bind") && message.contains(&f.slapd.admin_dn),
        "{message}"
    );
    assert!(
        !message.contains(wrong) && !message.contains(&f.slapd.admin_password),
        "{message}"
    );

    // Nor in errors and receipts of a working connector.
    let receipt = ok(f.connector.grant(&assignment("alice", &group)).await);
    assert!(!format!("{receipt:?}").contains(&f.slapd.admin_password));
    let missing = format!("cn=ghosts,{}", f.slapd.groups);
    let error = f
        .connector
        .grant(&assignment("alice", &missing))
        .await
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains(&f.slapd.admin_password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grants_all_land() {
    let f = fixture();
    let group = empty_group(&f.slapd, "crowd");
    let connector = Arc::new(f.connector);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let connector = Arc::clone(&connector);
            let group = group.clone();
            tokio::spawn(async move {
                connector
                    .grant(&assignment(&format!("user{i:02}"), &group))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let receipt = ok(task.await.unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(receipt.change, Change::Added);
    }
    let mut members = f.slapd.members(&group);
    members.sort();
    let expected: Vec<String> = (0..20).map(|i| dn(&format!("user{i:02}"))).collect();
    assert_eq!(
        members, expected,
        "every grant lands and the placeholder is gone"
    );
}
