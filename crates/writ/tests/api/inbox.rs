//! The approver's inbox and paging: an inbox is answered for its approver however
//! many other requests are pending, and every list pages with an opaque cursor.

use reqwest::Method;
use writ::{GrantQuery, RequestQuery};
use writ_server::wire::{IdentityBody, RequestList};

use writ::Client;
use writ::client::RawResponse;

use crate::common::{TestApp, new_request, refusal};

async fn get(client: &Client, path: &str) -> RawResponse {
    client.raw(Method::GET, path, None, None).await.unwrap()
}

/// `n` new engineers reporting to grace, each with a pending request for
/// corp-ldap/vpn-users made by grace: requests priya has no part in.
async fn pending_elsewhere(app: &TestApp, n: usize) {
    let (ada, grace) = (app.as_("ada"), app.as_("grace"));
    for i in 0..n {
        let name = format!("hire{i:04}");
        let body = IdentityBody {
            display_name: format!("New Hire {i}"),
            kind: "human".into(),
            email: Some(format!("{name}@example.com")),
            manager: Some("grace".into()),
            department: Some("sales".into()),
            employment_type: Some("employee".into()),
            ..IdentityBody::default()
        };
        ada.put_identity(&name, &body).await.unwrap();
        let r = grace
            .create_request(&new_request(&name, "corp-ldap/vpn-users", "30d"), None)
            .await
            .unwrap();
        assert_eq!(r.status, "pending");
    }
}

#[tokio::test]
async fn the_inbox_is_answered_for_its_approver_however_many_requests_are_pending() {
    let app = TestApp::spawn().await;
    let alice = app
        .as_("alice")
        .create_request(&new_request("alice", "corp-ldap/vpn-users", "30d"), None)
        .await
        .unwrap();
    // Newer than alice's: 1,001 pending requests priya may not decide.
    pending_elsewhere(&app, 1001).await;

    let priya = app.as_("priya");
    let to_decide = RequestQuery {
        to_decide: Some(true),
        ..RequestQuery::default()
    };
    let inbox = priya.requests(&to_decide).await.unwrap();
    let ids: Vec<_> = inbox.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [alice.id.as_str()],
        "priya's inbox holds alice's request"
    );
    assert_eq!(inbox.next, None, "and nothing more to page through");

    // The admin sees all 1,002 pending, a page at a time, each exactly once.
    let ada = app.as_("ada");
    let pending = RequestQuery {
        status: Some("pending".into()),
        limit: Some(400),
        ..RequestQuery::default()
    };
    let mut seen = Vec::new();
    let mut q = pending.clone();
    loop {
        let page = ada.requests(&q).await.unwrap();
        assert!(page.requests.len() <= 400);
        seen.extend(page.requests.into_iter().map(|r| r.id));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 1002, "every pending request, none twice");
    assert_eq!(unique.len(), 1002);
    assert!(seen.contains(&alice.id));
    // What the CLI does for `--all`.
    let all = ada.requests_upto(&pending, None).await.unwrap();
    assert_eq!(all.requests.len(), 1002);
    assert_eq!(all.next, None);
    let first = ada.requests_upto(&pending, Some(1001)).await.unwrap();
    assert_eq!(first.requests.len(), 1001);
    assert!(first.next.is_some(), "a cut list says more exist");

    // grace's grants list pages the same way (empty here, but no cursor).
    let grants = app
        .as_("grace")
        .grants(&GrantQuery::default())
        .await
        .unwrap();
    assert_eq!(grants.next, None);
}

#[tokio::test]
async fn limits_outside_their_range_and_foreign_cursors_are_refused() {
    let app = TestApp::spawn().await;
    pending_elsewhere(&app, 3).await;
    let ada = app.as_("ada");
    for path in [
        "/api/v1/requests?limit=0",
        "/api/v1/requests?limit=1001",
        "/api/v1/grants?limit=0",
        "/api/v1/identities?limit=5000",
        "/api/v1/audit/events?limit=0",
        "/api/v1/requests?cursor=not-a-cursor",
        "/api/v1/requests?limit=-1",
    ] {
        let res = get(&ada, path).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body_text());
        assert_eq!(res.content_type, "application/problem+json", "{path}");
    }

    let page: RequestList = get(&ada, "/api/v1/requests?limit=1").await.json();
    assert_eq!(page.requests.len(), 1);
    let cursor = page
        .next
        .expect("three requests, one per page: more follow");
    // The cursor is opaque and sealed: edited, or taken to another listing, it is refused.
    let mut edited = cursor.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).unwrap();
    for path in [
        format!("/api/v1/requests?limit=1&cursor={edited}"),
        format!("/api/v1/grants?cursor={cursor}"),
        format!("/api/v1/identities?cursor={cursor}"),
        // Bound to its filters too: the same listing with others refuses it.
        format!("/api/v1/requests?limit=1&status=approved&cursor={cursor}"),
        format!("/api/v1/requests?limit=1&mine=true&cursor={cursor}"),
    ] {
        let res = get(&ada, &path).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body_text());
    }
    // … and to its caller.
    let res = get(
        &app.as_("grace"),
        &format!("/api/v1/requests?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(res.status, 400, "{}", res.body_text());
    // Only the page size may change between pages.
    let res = get(&ada, &format!("/api/v1/requests?limit=5&cursor={cursor}")).await;
    assert_eq!(res.status, 200, "{}", res.body_text());
    let second: RequestList = get(&ada, &format!("/api/v1/requests?limit=1&cursor={cursor}"))
        .await
        .json();
    assert_eq!(second.requests.len(), 1);
    assert_ne!(second.requests[0].id, page.requests[0].id);

    // The typed client sees the same refusal.
    let e = ada
        .requests(&RequestQuery {
            limit: Some(1001),
            ..RequestQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refusal(&e).0, Some(400));
}
