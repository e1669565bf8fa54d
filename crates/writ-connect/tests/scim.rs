//! The SCIM connector against a real SCIM 2.0 service provider (PyPI `scim2-server`).
//! What the connector did is checked by reading the server directly, not only through
//! the connector.

#[path = "peers/scim.rs"]
mod peer;

use peer::Scim2Server;
use writ_connect::scim::ScimConnector;
use writ_connect::{Assignment, Change, Connector, ConnectorError, Membership, SecretSource};

/// A connector for `server` with `user_name = "ext-{account}"`; the token is read from
/// a file (the tempdir must outlive `new`, not the connector).
fn connector(server: &Scim2Server, token: &str) -> ScimConnector {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "connector = \"scim\"\nbase_url = \"{}\"\ntoken = {{ file = \"{}\" }}\n\
         user_name = \"ext-{{account}}\"\ntimeout_ms = 5000\n",
        server.base_url,
        path.display()
    );
    let config = writ_connect::SystemConfig::from_toml(
        "idp",
        &toml::from_str(&text).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let writ_connect::ConnectorConfig::Scim(scim) = config.connector else {
        panic!("not scim: {config:?}");
    };
    assert!(matches!(scim.token, SecretSource::File(_)));
    ScimConnector::new("idp", &scim).unwrap_or_else(|e| panic!("{e}"))
}

fn assignment(account: &str, target: &str) -> Assignment {
    Assignment {
        grant: format!("g-{account}"),
        account: account.to_owned(),
        target: target.to_owned(),
        entitlement: "idp/admins".to_owned(),
    }
}

#[tokio::test]
async fn grant_and_revoke_are_idempotent_and_really_change_the_group() {
    let server = Scim2Server::start();
    let alice = server.create_user("ext-alice");
    let bob = server.create_user("ext-bob");
    let admins = server.create_group("admins");
    server.add_member(&admins, &bob);
    let scim = connector(&server, &server.token);
    let a = assignment("alice", &admins);

    let receipt = scim.grant(&a).await.unwrap();
    assert_eq!(receipt.change, Change::Added, "{receipt:?}");
    assert_eq!(
        (receipt.account_ref.as_str(), receipt.target_ref.as_str()),
        (alice.as_str(), admins.as_str())
    );
    let mut members = server.members(&admins);
    members.sort();
    let mut expected = vec![alice.clone(), bob.clone()];
    expected.sort();
    assert_eq!(
        members, expected,
        "the server itself shows alice added and bob kept"
    );

    let again = scim.grant(&a).await.unwrap();
    assert_eq!(again.change, Change::AlreadyPresent, "{again:?}");
    assert_eq!(server.members(&admins).len(), 2, "no duplicate member");

    let removed = scim.revoke(&a).await.unwrap();
    assert_eq!(removed.change, Change::Removed, "{removed:?}");
    assert_eq!(removed.account_ref, alice);
    assert_eq!(
        server.members(&admins),
        vec![bob.clone()],
        "only alice was removed"
    );

    let absent = scim.revoke(&a).await.unwrap();
    assert_eq!(absent.change, Change::AlreadyAbsent, "{absent:?}");
    assert_eq!(server.members(&admins), vec![bob]);
}

#[tokio::test]
async fn user_names_with_quotes_are_escaped_in_the_filter() {
    let server = Scim2Server::start();
    let odd = server.create_user(r#"ext-o"brien\x"#);
    server.create_user("ext-o");
    let group = server.create_group("quoted");
    let scim = connector(&server, &server.token);
    let receipt = scim
        .grant(&assignment(r#"o"brien\x"#, &group))
        .await
        .unwrap();
    assert_eq!(
        (receipt.change, receipt.account_ref.as_str()),
        (Change::Added, odd.as_str())
    );
    assert_eq!(server.members(&group), vec![odd]);
}

#[tokio::test]
async fn unknown_users_and_groups_are_permanent_errors() {
    let server = Scim2Server::start();
    server.create_user("ext-alice");
    let group = server.create_group("admins");
    let scim = connector(&server, &server.token);

    let e = scim.grant(&assignment("nobody", &group)).await.unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(
        e.to_string()
            .contains("no SCIM user with userName `ext-nobody`"),
        "{e}"
    );
    assert!(server.members(&group).is_empty());

    let e = scim
        .grant(&assignment("alice", "no-such-group"))
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(
        e.to_string().contains("no SCIM group `no-such-group`"),
        "{e}"
    );
    let e = scim
        .revoke(&assignment("alice", "no-such-group"))
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    let e = scim.list(&["no-such-group".to_owned()]).await.unwrap_err();
    assert!(!e.is_transient(), "{e:?}");

    // A user who is gone is in no group: revoking is done, not an error.
    let gone = scim.revoke(&assignment("nobody", &group)).await.unwrap();
    assert_eq!(gone.change, Change::AlreadyAbsent, "{gone:?}");
}

#[tokio::test]
async fn list_maps_user_names_back_and_reports_hand_added_members_as_foreign() {
    let server = Scim2Server::start();
    let alice = server.create_user("ext-alice");
    let bob = server.create_user("ext-bob");
    let mallory = server.create_user("mallory");
    // Enough other users to need more than one page of /Users.
    for i in 0..210 {
        server.create_user(&format!("filler-{i}"));
    }
    let admins = server.create_group("admins");
    let readers = server.create_group("readers");
    let empty = server.create_group("empty");
    let scim = connector(&server, &server.token);
    scim.grant(&assignment("alice", &admins)).await.unwrap();
    scim.grant(&assignment("bob", &readers)).await.unwrap();
    scim.grant(&assignment("alice", &readers)).await.unwrap();
    // Someone adds mallory by hand; her userName does not follow `ext-{account}`.
    server.add_member(&admins, &mallory);
    let late = server.create_user("ext-zed");
    server.add_member(&readers, &late);

    let targets = [admins.clone(), readers.clone(), empty.clone()];
    let got = scim.list(&targets).await.unwrap();
    let member = |target: &str, account: Option<&str>, id: &str| Membership {
        target: target.to_owned(),
        account: account.map(str::to_owned),
        account_ref: id.to_owned(),
    };
    let mut expected = vec![
        member(&admins, Some("alice"), &alice),
        member(&admins, None, &mallory),
        member(&readers, Some("alice"), &alice),
        member(&readers, Some("bob"), &bob),
        member(&readers, Some("zed"), &late),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(scim.list(&[empty]).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_wrong_token_is_transient_and_never_shown() {
    let server = Scim2Server::start();
    server.create_user("ext-alice");
    let group = server.create_group("admins");
    let wrong = "wrong-token-must-not-leak";
    let scim = connector(&server, wrong);
    let e = scim.grant(&assignment("alice", &group)).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(!e.to_string().contains(wrong), "{e}");
    let shown = format!("{scim:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(shown.contains(&server.base_url), "{shown}");
    let right = connector(&server, &server.token);
    assert!(!format!("{right:?}").contains(&server.token));
}

#[tokio::test]
async fn a_stopped_server_is_transient() {
    let mut server = Scim2Server::start();
    server.create_user("ext-alice");
    let group = server.create_group("admins");
    let scim = connector(&server, &server.token);
    server.stop();
    for result in [
        scim.grant(&assignment("alice", &group)).await,
        scim.revoke(&assignment("alice", &group)).await,
    ] {
        let e = result.unwrap_err();
        assert!(matches!(e, ConnectorError::Transient(_)), "{e:?}");
        assert!(!e.to_string().contains(&server.token), "{e}");
    }
    let e = scim.list(&[group]).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[test]
fn new_reads_the_token_and_checks_the_fields_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let config = |base_url: &str, user_name: &str, file: &str| {
        let text = format!(
            "connector = \"scim\"\nbase_url = \"{base_url}\"\nuser_name = \"{user_name}\"\n\
             token = {{ file = \"{}\" }}\n",
            dir.path().join(file).display()
        );
        writ_connect::SystemConfig::from_toml("idp", &toml::from_str(&text).unwrap())
            .unwrap()
            .connector
    };
    std::fs::write(dir.path().join("t"), "tok").unwrap();
    // Nothing listens on this port: `new` must not connect.
    let ok = config("http://127.0.0.1:9/scim/v2", "{account}@example.com", "t");
    writ_connect::connect("idp", &ok).unwrap();
    for (base, user, file, field) in [
        ("ldap://x/scim", "{account}", "t", "base_url"),
        ("https://x/scim", "fixed", "t", "user_name"),
        ("https://x/scim", "{account}", "missing", "token"),
    ] {
        let e = writ_connect::connect("idp", &config(base, user, file)).unwrap_err();
        assert_eq!(e.field, field, "{e}");
    }
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_transiently() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t"), "tok").unwrap();
    let text = format!(
        "connector = \"scim\"\nbase_url = \"http://{}/v2\"\ntoken = {{ file = \"{}\" }}\ntimeout_ms = 300\n",
        silent.local_addr().unwrap(),
        dir.path().join("t").display()
    );
    let config =
        writ_connect::SystemConfig::from_toml("idp", &toml::from_str(&text).unwrap()).unwrap();
    let scim = writ_connect::connect("idp", &config.connector).unwrap();
    let e = scim.grant(&assignment("alice", "g")).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(!e.to_string().contains("tok\""), "{e}");
}
