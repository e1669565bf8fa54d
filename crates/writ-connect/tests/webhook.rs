//! The webhook connector against a real HTTP receiver (axum on 127.0.0.1) that checks
//! every signature with the shared key, as a receiver in production would.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use writ_connect::webhook::{WebhookConnector, non_public_range};
use writ_connect::{
    Assignment, Change, Connector, ConnectorConfig, Membership, Secret, SystemConfig,
};

#[path = "peers/webhook_receiver.rs"]
mod receiver;
use receiver::{KEY, Receiver};

fn ok(body: &str) -> (StatusCode, HeaderMap, String) {
    (StatusCode::OK, HeaderMap::new(), body.to_owned())
}

/// A connector for `url`, its key read from a file.
fn connector(url: &str, allow_private: bool) -> WebhookConnector {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{KEY}\n")).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "connector = \"webhook\"\nurl = \"{url}\"\nsecret = {{ file = \"{}\" }}\n\
         allow_private = {allow_private}\ntimeout_ms = 5000\n",
        path.display()
    );
    let config = SystemConfig::from_toml(
        "wiki",
        &toml::from_str(&text).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ConnectorConfig::Webhook(webhook) = config.connector else {
        panic!("not a webhook")
    };
    WebhookConnector::new("wiki", &webhook).unwrap_or_else(|e| panic!("{e}"))
}

fn assignment() -> Assignment {
    Assignment {
        grant: "g-42".to_owned(),
        account: "alice".to_owned(),
        target: "admins".to_owned(),
        entitlement: "wiki/admins".to_owned(),
    }
}

#[tokio::test]
async fn grant_is_signed_and_its_receipt_parsed() {
    let receiver = Receiver::start(|seen| {
        if !seen.signature_ok {
            return (StatusCode::UNAUTHORIZED, HeaderMap::new(), r#"{"detail":"bad signature"}"#.into());
        }
        ok(r#"{"change":"already_present","account_ref":"u-17","target_ref":"grp-admins","detail":"alice was an admin already"}"#)
    })
    .await;
    let hook = connector(&receiver.url("/hooks/writ"), true);
    let receipt = hook.grant(&assignment()).await.unwrap();
    assert_eq!(receipt.change, Change::AlreadyPresent);
    assert_eq!(receipt.account_ref, "u-17");
    assert_eq!(receipt.target_ref, "grp-admins");
    assert_eq!(receipt.detail, "alice was an admin already");

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "one POST per call");
    let request = &seen[0];
    assert!(
        request.signature_ok,
        "the receiver verified the HMAC: {request:?}"
    );
    assert_eq!(request.path, "/hooks/writ");
    assert_eq!(request.header("idempotency-key"), "g-42:grant");
    assert_eq!(request.header("content-type"), "application/json");
    let sent_at = request.body["sent_at"].as_u64().unwrap();
    assert_eq!(request.header("x-writ-timestamp"), sent_at.to_string());
    assert_eq!(
        request.body,
        json!({
            "action": "grant", "grant": "g-42", "account": "alice", "target": "admins",
            "entitlement": "wiki/admins", "sent_at": sent_at,
        })
    );
}

#[tokio::test]
async fn a_wrong_key_fails_the_receivers_check() {
    // The receiver refuses what it cannot verify; the connector's key is another one.
    let receiver = Receiver::start(|seen| {
        if seen.signature_ok {
            ok("")
        } else {
            (
                StatusCode::UNAUTHORIZED,
                HeaderMap::new(),
                r#"{"detail":"bad signature"}"#.into(),
            )
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, "another-key").unwrap();
    let text = format!(
        "connector = \"webhook\"\nurl = \"{}\"\nsecret = {{ file = \"{}\" }}\nallow_private = true\n",
        receiver.url("/"),
        path.display()
    );
    let ConnectorConfig::Webhook(config) =
        SystemConfig::from_toml("wiki", &toml::from_str(&text).unwrap())
            .unwrap()
            .connector
    else {
        panic!("not a webhook")
    };
    let e = WebhookConnector::new("wiki", &config)
        .unwrap()
        .grant(&assignment())
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(
        e.to_string().contains("401") && e.to_string().contains("bad signature"),
        "{e}"
    );
    assert!(!receiver.seen()[0].signature_ok);
}

#[tokio::test]
async fn an_empty_reply_means_done() {
    let receiver =
        Receiver::start(|_| (StatusCode::NO_CONTENT, HeaderMap::new(), String::new())).await;
    let hook = connector(&receiver.url("/"), true);
    let a = assignment();
    let granted = hook.grant(&a).await.unwrap();
    assert_eq!(granted.change, Change::Added);
    assert_eq!(
        (granted.account_ref.as_str(), granted.target_ref.as_str()),
        ("alice", "admins")
    );
    assert_eq!(granted.detail, "HTTP 204, no receipt body");
    assert_eq!(hook.revoke(&a).await.unwrap().change, Change::Removed);
    assert_eq!(
        hook.disable_credential(&a).await.unwrap().change,
        Change::CredentialDisabled
    );
    let seen = receiver.seen();
    let actions: Vec<_> = seen
        .iter()
        .map(|s| s.body["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["grant", "revoke", "disable_credential"]);
    let keys: Vec<_> = seen
        .iter()
        .map(|s| s.header("idempotency-key").to_owned())
        .collect();
    assert_eq!(
        keys,
        ["g-42:grant", "g-42:revoke", "g-42:disable_credential"]
    );
    assert!(seen.iter().all(|s| s.signature_ok));
}

#[tokio::test]
async fn a_receipt_that_does_not_fit_the_action_is_refused() {
    let receiver = Receiver::start(|_| ok(r#"{"change":"removed"}"#)).await;
    let e = connector(&receiver.url("/"), true)
        .grant(&assignment())
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    let receiver = Receiver::start(|_| ok("<html>hello</html>")).await;
    let e = connector(&receiver.url("/"), true)
        .grant(&assignment())
        .await
        .unwrap_err();
    assert!(
        !e.is_transient() && e.to_string().contains("not a receipt"),
        "{e}"
    );
}

#[tokio::test]
async fn redirects_are_permanent_and_not_followed() {
    let receiver = Receiver::start(|seen| {
        if seen.path == "/moved" {
            let mut headers = HeaderMap::new();
            headers.insert("location", HeaderValue::from_static("/elsewhere"));
            (StatusCode::TEMPORARY_REDIRECT, headers, String::new())
        } else {
            ok("")
        }
    })
    .await;
    let hook = connector(&receiver.url("/moved"), true);
    let e = hook.grant(&assignment()).await.unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
    let paths: Vec<_> = receiver.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/moved"], "the redirect target saw no request");
}

#[tokio::test]
async fn server_errors_are_transient_and_client_errors_permanent() {
    let receiver = Receiver::start(|seen| {
        let status = match seen.path.as_str() {
            "/500" => StatusCode::INTERNAL_SERVER_ERROR,
            "/503" => StatusCode::SERVICE_UNAVAILABLE,
            "/429" => StatusCode::TOO_MANY_REQUESTS,
            "/408" => StatusCode::REQUEST_TIMEOUT,
            "/404" => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        (
            status,
            HeaderMap::new(),
            r#"{"detail":"no such wiki group"}"#.into(),
        )
    })
    .await;
    for (path, transient) in [
        ("/500", true),
        ("/503", true),
        ("/429", true),
        ("/408", true),
        ("/404", false),
        ("/400", false),
    ] {
        let e = connector(&receiver.url(path), true)
            .grant(&assignment())
            .await
            .unwrap_err();
        assert_eq!(e.is_transient(), transient, "{path}: {e:?}");
        assert!(e.to_string().contains("no such wiki group"), "{e}");
        assert!(e.to_string().contains(&path[1..]), "{e}");
    }
}

#[tokio::test]
async fn an_unreachable_receiver_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let e = connector(&url, true)
        .grant(&assignment())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test]
async fn private_addresses_are_refused_before_any_request() {
    let receiver = Receiver::start(|_| ok("")).await;
    let port = receiver.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0x7f.1:{port}/"),
    ] {
        let e = connector(&url, false)
            .grant(&assignment())
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{url}: {e:?}");
        let message = e.to_string();
        assert!(message.contains("allow_private = true"), "{message}");
        assert!(
            message.contains("127.0.0.1") || message.contains("::1"),
            "names the address: {message}"
        );
    }
    assert!(
        receiver.seen().is_empty(),
        "no request reached the receiver"
    );
    // The same receiver with allow_private.
    connector(&format!("http://localhost:{port}/"), true)
        .grant(&assignment())
        .await
        .unwrap();
    assert_eq!(receiver.seen().len(), 1);
}

#[tokio::test]
async fn list_maps_accounts_through_and_null_is_foreign() {
    let receiver = Receiver::start(|_| {
        ok(r#"{"memberships":[
            {"target":"admins","account":"alice","account_ref":"u-1"},
            {"target":"admins","account":null,"account_ref":"root"},
            {"target":"readers","account":"bob","account_ref":"u-2"},
            {"target":"not-asked","account":"carol","account_ref":"u-3"}
        ]}"#)
    })
    .await;
    let hook = connector(&receiver.url("/"), true);
    let got = hook
        .list(&["admins".to_owned(), "readers".to_owned()])
        .await
        .unwrap();
    let m = |target: &str, account: Option<&str>, id: &str| Membership {
        target: target.into(),
        account: account.map(Into::into),
        account_ref: id.into(),
    };
    assert_eq!(
        got,
        vec![
            m("admins", None, "root"),
            m("admins", Some("alice"), "u-1"),
            m("readers", Some("bob"), "u-2")
        ]
    );
    let seen = receiver.seen();
    assert!(seen[0].signature_ok);
    assert_eq!(seen[0].body["action"], "list");
    assert_eq!(seen[0].body["targets"], json!(["admins", "readers"]));
    assert!(seen[0].headers.get("idempotency-key").is_none());
}

#[tokio::test]
async fn rotate_sends_the_secret_signed_and_never_shows_it() {
    let credential = Secret::new("fresh-credential-value".to_owned());
    let receiver = Receiver::start(|seen| {
        if seen.body["account"] == "echo" {
            // A careless receiver quoting the request in its error.
            let detail = format!(
                "cannot store {}",
                seen.body["secret"].as_str().unwrap_or("")
            );
            (
                StatusCode::BAD_REQUEST,
                HeaderMap::new(),
                json!({ "detail": detail }).to_string(),
            )
        } else {
            ok(r#"{"change":"credential_set","account_ref":"svc-reports"}"#)
        }
    })
    .await;
    let hook = connector(&receiver.url("/"), true);
    let receipt = hook
        .rotate(&assignment(), &credential, 1_767_225_600_500)
        .await
        .unwrap();
    assert_eq!(receipt.change, Change::CredentialSet);
    assert_eq!(receipt.account_ref, "svc-reports");
    let seen = &receiver.seen()[0];
    assert!(seen.signature_ok);
    assert_eq!(seen.body["action"], "rotate");
    assert_eq!(seen.body["secret"], "fresh-credential-value");
    assert_eq!(seen.body["valid_until"], 1_767_225_600);
    assert_eq!(seen.header("idempotency-key"), "g-42:rotate");

    let echo = Assignment {
        account: "echo".into(),
        ..assignment()
    };
    let e = hook.rotate(&echo, &credential, 0).await.unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("cannot store [redacted]"), "{e}");
    let shown = format!("{e} {e:?} {receipt:?} {hook:?}");
    assert!(
        !shown.contains(credential.expose()) && !shown.contains(KEY),
        "{shown}"
    );
}

#[tokio::test]
async fn rotate_over_plain_http_needs_allow_private() {
    let credential = Secret::new("fresh-credential-value".to_owned());
    // A public address: refused for the scheme before any connection is tried.
    let hook = connector("http://1.1.1.1/hooks", false);
    let e = hook
        .rotate(&assignment(), &credential, 0)
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("plain http"), "{e}");
    assert!(!e.to_string().contains(credential.expose()));
}

#[test]
fn the_url_is_checked_and_the_key_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, KEY).unwrap();
    let config = |url: &str| {
        let text = format!(
            "connector = \"webhook\"\nurl = \"{url}\"\nsecret = {{ file = \"{}\" }}\n",
            path.display()
        );
        SystemConfig::from_toml("wiki", &toml::from_str(&text).unwrap())
            .unwrap()
            .connector
    };
    for url in [
        "ftp://example.com/",
        "not a url",
        "https://user:pw@example.com/",
        "mailto:x@example.com",
    ] {
        let e = writ_connect::connect("wiki", &config(url)).unwrap_err();
        assert_eq!(e.field, "url", "{url}: {e}");
    }
    let hook =
        writ_connect::connect("wiki", &config("https://hooks.example.com/writ?token=abc")).unwrap();
    let shown = format!("{hook:?}");
    assert!(!shown.contains(KEY) && !shown.contains("abc"), "{shown}");
    assert!(shown.contains("hooks.example.com"), "{shown}");
}

#[test]
fn the_address_classifier_refuses_every_non_public_range() {
    let refused = [
        "127.0.0.1",
        "127.255.0.9",
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.169.254",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "192.0.0.8",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "::ffff:192.168.0.1",
        "::127.0.0.1",
        "64:ff9b::10.0.0.1",
        "2002:7f00:1::1",
    ];
    for ip in refused {
        let parsed: IpAddr = ip.parse().unwrap();
        assert!(non_public_range(parsed).is_some(), "{ip} must be refused");
    }
    let allowed = [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "192.169.0.1",
        "169.253.0.1",
        "223.255.255.255",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "2a00:1450:4001::1",
        "::ffff:1.1.1.1",
        "64:ff9b::8.8.8.8",
        "2002:0808:0808::1",
    ];
    for ip in allowed {
        let parsed: IpAddr = ip.parse().unwrap();
        assert_eq!(non_public_range(parsed), None, "{ip} is public");
    }
    assert_eq!(
        non_public_range("127.0.0.1".parse().unwrap()),
        Some("loopback")
    );
    assert_eq!(
        non_public_range("100.64.0.1".parse().unwrap()),
        Some("shared (CGNAT)")
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_transiently() {
    // Accepts connections (the kernel's backlog) but never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, KEY).unwrap();
    let text = format!(
        "connector = \"webhook\"\nurl = \"http://{}/\"\nsecret = {{ file = \"{}\" }}\n\
         allow_private = true\ntimeout_ms = 300\n",
        silent.local_addr().unwrap(),
        path.display()
    );
    let ConnectorConfig::Webhook(config) =
        SystemConfig::from_toml("wiki", &toml::from_str(&text).unwrap())
            .unwrap()
            .connector
    else {
        panic!("not a webhook")
    };
    let e = WebhookConnector::new("wiki", &config)
        .unwrap()
        .grant(&assignment())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
}
