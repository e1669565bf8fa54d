//! Authentication, tokens, the auditor's read-only role, and who sees what.

use reqwest::Method;
use serde_json::{Value, json};
use writ_server::wire::NewToken;

use crate::common::TestApp;

#[tokio::test]
async fn missing_invalid_and_revoked_tokens_get_401() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let res = anon
        .raw(Method::GET, "/api/v1/requests", None, None)
        .await
        .unwrap();
    assert_eq!(res.status, 401);
    assert_eq!(res.content_type, "application/problem+json");
    let e = anon
        .with_token("writ_notarealtoken")
        .me()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    let res = anon
        .raw(
            Method::POST,
            "/api/v1/requests",
            Some(("application/json", b"{}".to_vec())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        res.status, 401,
        "authentication comes before body validation"
    );

    // An admin issues a token for bob; it works, then is revoked and stops working.
    let issued = app
        .as_("ada")
        .issue_token(&NewToken {
            identity: "bob".into(),
            label: "laptop".into(),
            expires_in: None,
        })
        .await
        .unwrap();
    assert!(issued.secret.starts_with("writ_"));
    assert!(
        issued.secret.len() >= "writ_".len() + 26,
        "at least 128 bits of randomness"
    );
    let bob = anon.with_token(&issued.secret);
    assert_eq!(bob.me().await.unwrap().identity.name, "bob");
    // The listing never shows a secret.
    let listed = serde_json::to_string(&app.as_("ada").tokens().await.unwrap()).unwrap();
    assert!(!listed.contains(&issued.secret));
    // Only an admin issues tokens.
    let e = app
        .as_("alice")
        .issue_token(&NewToken {
            identity: "alice".into(),
            label: "mine".into(),
            expires_in: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    app.as_("ada").revoke_token(&issued.token.id).await.unwrap();
    assert_eq!(bob.me().await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn tokens_expire() {
    let app = TestApp::spawn().await;
    let issued = app
        .as_("ada")
        .issue_token(&NewToken {
            identity: "bob".into(),
            label: "ci".into(),
            expires_in: Some("1h".into()),
        })
        .await
        .unwrap();
    let bob = app.anonymous().with_token(&issued.secret);
    assert!(bob.me().await.is_ok());
    app.clock.advance(writ_core::DurationSpec::hours(1));
    assert_eq!(bob.me().await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn inactive_identities_cannot_use_their_tokens() {
    let app = TestApp::spawn().await;
    let mut bob = app.as_("ada").identity("bob").await.unwrap();
    bob.status = Some("inactive".into());
    app.as_("ada").put_identity("bob", &bob).await.unwrap();
    assert_eq!(app.as_("bob").me().await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn the_auditor_reads_everything_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (r, grant) = app.vpn_grant("alice", "1d").await;
    let olivia = app.as_("olivia");
    assert_eq!(olivia.request(&r.id).await.unwrap().id, r.id);
    assert_eq!(olivia.grant(&grant).await.unwrap().id, grant);
    assert!(
        !olivia
            .requests(&Default::default())
            .await
            .unwrap()
            .requests
            .is_empty()
    );
    assert!(!olivia.audit_events(0, 10).await.unwrap().events.is_empty());
    assert!(!olivia.tokens().await.unwrap().tokens.is_empty());

    let before = app.event_count().await;
    let writes = [
        (
            Method::POST,
            "/api/v1/requests".to_owned(),
            json!({"beneficiary": "olivia", "entitlement": "crm/viewer", "justification": "read the crm for the audit", "duration": "1d"}),
        ),
        (
            Method::POST,
            format!("/api/v1/requests/{}/approve", r.id),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/requests/{}/deny", r.id),
            json!({"comment": "no"}),
        ),
        (
            Method::POST,
            format!("/api/v1/requests/{}/cancel", r.id),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/grants/{grant}/revoke"),
            json!({"reason": "audit finding"}),
        ),
        (
            Method::PUT,
            "/api/v1/identities/olivia".to_owned(),
            json!({"display_name": "O", "kind": "human", "email": "o@example.com", "roles": ["admin"]}),
        ),
        (
            Method::PUT,
            "/api/v1/systems/erp".to_owned(),
            json!({"display_name": "ERP", "kind": "saas", "owner": "olivia"}),
        ),
        (
            Method::POST,
            "/api/v1/tokens".to_owned(),
            json!({"identity": "olivia", "label": "more"}),
        ),
    ];
    for (method, path, body) in writes {
        let res = olivia
            .raw(
                method.clone(),
                &path,
                Some(("application/json", serde_json::to_vec(&body).unwrap())),
                None,
            )
            .await
            .unwrap();
        assert_eq!(res.status, 403, "{method} {path}");
        let p: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(p["code"], json!("read-only"), "{method} {path}");
    }
    assert_eq!(
        app.event_count().await,
        before,
        "the auditor changed nothing"
    );
}

#[tokio::test]
async fn people_see_their_own_requests_and_grants_only() {
    let app = TestApp::spawn().await;
    let (r, grant) = app.vpn_grant("alice", "1d").await;
    // frank is unrelated to alice: he is told neither exists.
    let frank = app.as_("frank");
    assert_eq!(frank.request(&r.id).await.unwrap_err().status(), Some(404));
    assert_eq!(frank.grant(&grant).await.unwrap_err().status(), Some(404));
    assert!(
        frank
            .requests(&Default::default())
            .await
            .unwrap()
            .requests
            .is_empty()
    );
    assert!(
        frank
            .grants(&Default::default())
            .await
            .unwrap()
            .grants
            .is_empty()
    );
    assert_eq!(
        frank.audit_events(0, 10).await.unwrap_err().status(),
        Some(403)
    );
    // Her manager sees both.
    assert_eq!(
        app.as_("priya").grant(&grant).await.unwrap().beneficiary,
        "alice"
    );
}

/// A caller who may not see an object learns nothing about it from any route: every
/// write on it answers exactly what the same write on an id that does not exist
/// answers (404, same code, same words but the id), never a 403 naming who may.
#[tokio::test]
async fn writes_on_objects_one_may_not_see_answer_like_objects_that_do_not_exist() {
    let app = TestApp::spawn().await;
    let pending = app
        .as_("alice")
        .create_request(
            &crate::common::new_request("alice", "corp-ldap/vpn-users", "1d"),
            None,
        )
        .await
        .unwrap();
    let (decided, grant) = app.vpn_grant("bob", "1d").await;
    let token = app
        .as_("ada")
        .issue_token(&NewToken {
            identity: "alice".into(),
            label: "laptop".into(),
            expires_in: None,
        })
        .await
        .unwrap();
    let delegation = app
        .as_("priya")
        .delegate(&writ_server::wire::NewDelegation {
            delegate: "carol".into(),
            for_: Some("3d".into()),
            reason: "priya is at the offsite this week".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let before = app.event_count().await;

    let frank = app.as_("frank");
    let reason = json!({"reason": "no longer needed here", "comment": "fine by me"});
    let writes: Vec<(String, String, Value)> = vec![
        (
            format!("/api/v1/requests/{}/approve", pending.id),
            "req_0000000000000000".into(),
            json!({}),
        ),
        (
            format!("/api/v1/requests/{}/deny", pending.id),
            "req_0000000000000000".into(),
            json!({"comment": "no"}),
        ),
        (
            format!("/api/v1/requests/{}/cancel", pending.id),
            "req_0000000000000000".into(),
            json!({}),
        ),
        (
            format!("/api/v1/requests/{}/approve", decided.id),
            "req_0000000000000000".into(),
            json!({}),
        ),
        (
            format!("/api/v1/grants/{grant}/revoke"),
            "grt_0000000000000000".into(),
            json!({"reason": reason["reason"]}),
        ),
        (
            format!("/api/v1/grants/{grant}/provisioning/retry"),
            "grt_0000000000000000".into(),
            json!({"action": "provision"}),
        ),
        (
            format!("/api/v1/grants/{grant}/provisioning/resolve"),
            "grt_0000000000000000".into(),
            json!({"action": "deprovision", "reason": reason["reason"]}),
        ),
        (
            format!("/api/v1/grants/{grant}/credential"),
            "grt_0000000000000000".into(),
            json!({}),
        ),
        (
            format!("/api/v1/tokens/{}/revoke", token.token.id),
            "tok_0000000000000000".into(),
            json!({}),
        ),
        (
            format!("/api/v1/delegations/{}/revoke", delegation.id),
            "dlg_0000000000000000".into(),
            json!({}),
        ),
    ];
    for (path, ghost, body) in writes {
        let real_id = path.split('/').nth(4).unwrap().to_owned();
        let ghost_path = path.replace(&real_id, &ghost);
        let send = |p: String| {
            let frank = &frank;
            let body = serde_json::to_vec(&body).unwrap();
            async move {
                frank
                    .raw(Method::POST, &p, Some(("application/json", body)), None)
                    .await
                    .unwrap()
            }
        };
        let real = send(path.clone()).await;
        let none = send(ghost_path).await;
        assert_eq!(real.status, 404, "{path}: {}", real.body_text());
        let (a, b): (Value, Value) = (real.json(), none.json());
        assert_eq!(a["code"], b["code"], "{path}");
        assert_eq!(
            a["detail"].as_str().unwrap().replace(&real_id, "ID"),
            b["detail"].as_str().unwrap().replace(&ghost, "ID"),
            "{path}"
        );
    }
    assert_eq!(app.event_count().await, before, "nothing was written");
}
