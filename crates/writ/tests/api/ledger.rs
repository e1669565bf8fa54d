//! The verifiable ledger over HTTP: signed checkpoints, leaves, RFC 9162 proofs that
//! a standard verifier accepts, and evidence bundles checked with no database.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use writ_ledger::evidence::{Bundle, verify};
use writ_ledger::{
    Hash, hash_from_base64, leaf_hash, open_checkpoint, verify_consistency, verify_inclusion,
};

use crate::common::TestApp;

fn hashes(proof: &[String]) -> Vec<Hash> {
    proof.iter().map(|h| hash_from_base64(h).unwrap()).collect()
}

#[tokio::test]
async fn checkpoints_are_signed_notes_that_verify_with_the_published_key() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let key = anon.ledger_key().await.unwrap();
    let parts: Vec<&str> = key.splitn(3, '+').collect();
    assert_eq!(parts.len(), 3, "{key}");
    assert_eq!(parts[1].len(), 8, "{key}");
    assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()), "{key}");

    let note = anon.checkpoint(false).await.unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], parts[0], "the origin line names the log");
    assert_eq!(lines[3], "", "blank line before the signature");
    assert!(lines[4].starts_with(&format!("— {} ", parts[0])), "{note}");
    let first = open_checkpoint(&note, &key).unwrap();
    assert_eq!(first.size, app.event_count().await);

    // Signing on demand is for admins; with nothing new it returns the same checkpoint.
    assert_eq!(anon.checkpoint(true).await.unwrap_err().status(), Some(401));
    let olivia = app.as_("olivia");
    for who in ["olivia", "alice"] {
        let e = app.as_(who).checkpoint(true).await.unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(403), Some("admin-only")),
            "{who}"
        );
    }
    let ada = app.as_("ada");
    assert_eq!(ada.checkpoint(true).await.unwrap(), note);

    app.vpn_grant("alice", "8h").await;
    let later = ada.checkpoint(true).await.unwrap();
    let second = open_checkpoint(&later, &key).unwrap();
    assert_eq!(second.size, app.event_count().await);
    assert!(second.size > first.size);
    assert_eq!(anon.checkpoint(false).await.unwrap(), later);

    // The new tree extends the old one, provably.
    let c = olivia
        .consistency_proof(first.size, Some(second.size))
        .await
        .unwrap();
    assert_eq!((c.old, c.new), (first.size, second.size));
    verify_consistency(
        first.size,
        second.size,
        first.root,
        second.root,
        &hashes(&c.proof),
    )
    .unwrap();
    // A proof for other sizes does not pass for these roots.
    let wrong = olivia
        .consistency_proof(first.size - 1, Some(second.size))
        .await
        .unwrap();
    assert!(
        verify_consistency(
            first.size,
            second.size,
            first.root,
            second.root,
            &hashes(&wrong.proof)
        )
        .is_err()
    );
    // A note edited after signing does not verify.
    let forged = later.replacen(&second.size.to_string(), &(second.size + 1).to_string(), 1);
    assert!(open_checkpoint(&forged, &key).is_err());
}

#[tokio::test]
async fn every_leaf_has_an_inclusion_proof_to_the_signed_root() {
    let app = TestApp::spawn().await;
    app.vpn_grant("alice", "8h").await;
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let cp = open_checkpoint(&app.as_("ada").checkpoint(true).await.unwrap(), &key).unwrap();
    for index in 0..cp.size {
        let e = olivia.ledger_entry(index).await.unwrap();
        assert_eq!(e.index, index);
        assert_eq!(e.event.seq, index + 1);
        let leaf = B64.decode(&e.leaf).unwrap();
        let h = leaf_hash(&leaf);
        assert_eq!(hash_from_base64(&e.leaf_hash).unwrap(), h);
        let p = olivia.inclusion_proof(index, None).await.unwrap();
        assert_eq!((p.index, p.size), (index, cp.size));
        verify_inclusion(index, cp.size, h, &hashes(&p.proof), cp.root).unwrap();
        // The same proof does not place another leaf there.
        let mut other = leaf.clone();
        other.push(b' ');
        assert!(
            verify_inclusion(
                index,
                cp.size,
                leaf_hash(&other),
                &hashes(&p.proof),
                cp.root
            )
            .is_err()
        );
    }
    // Against an older size too.
    let p = olivia.inclusion_proof(0, Some(3)).await.unwrap();
    assert_eq!(p.size, 3);

    // Personal data stays out of the leaf; the entry carries it beside.
    let mut submitted = None;
    for i in 0..cp.size {
        let e = olivia.ledger_entry(i).await.unwrap();
        if e.event.kind == "request_submitted" {
            submitted = Some(e);
        }
    }
    let submitted = submitted.unwrap();
    let leaf = String::from_utf8(B64.decode(&submitted.leaf).unwrap()).unwrap();
    assert!(!leaf.contains("billing export"), "{leaf}");
    assert!(submitted.personal.is_some());
    assert!(
        submitted.event.event.to_string().contains("billing export"),
        "the decoded event shows the justification"
    );
}

#[tokio::test]
async fn ledger_reads_refuse_bad_input_and_non_auditors() {
    let app = TestApp::spawn().await;
    let olivia = app.as_("olivia");
    let size = app.event_count().await;
    let problem = |r: Result<_, writ::client::ClientError>| {
        let e = r.unwrap_err();
        (e.status().unwrap(), e.code().unwrap_or("").to_owned())
    };
    assert_eq!(
        problem(olivia.inclusion_proof(size, Some(size)).await.map(|_| ())),
        (404, "beyond-tree".into())
    );
    assert_eq!(
        problem(olivia.inclusion_proof(0, Some(size + 1)).await.map(|_| ())),
        (404, "beyond-tree".into())
    );
    assert_eq!(
        problem(olivia.consistency_proof(0, Some(size)).await.map(|_| ())),
        (400, "bad-range".into())
    );
    assert_eq!(
        problem(
            olivia
                .consistency_proof(size, Some(size - 1))
                .await
                .map(|_| ())
        ),
        (422, "bad-range".into())
    );
    // An index past any ledger is a missing entry, not a server error.
    assert_eq!(
        problem(olivia.ledger_entry(i64::MAX as u64).await.map(|_| ())),
        (404, "no-such-entry".into())
    );
    let raw = olivia
        .raw(
            Method::GET,
            "/api/v1/ledger/proof/inclusion?index=abc",
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    assert!(raw.content_type.starts_with("application/problem+json"));
    assert_eq!(
        problem(olivia.ledger_entry(size).await.map(|_| ())),
        (404, "no-such-entry".into())
    );
    let alice = app.as_("alice");
    assert_eq!(
        problem(alice.ledger_entry(0).await.map(|_| ())),
        (403, "audit-only".into())
    );
    assert_eq!(
        problem(alice.evidence("req_x").await.map(|_| ())),
        (403, "audit-only".into())
    );
    assert_eq!(
        problem(olivia.evidence("grt_nothing").await.map(|_| ())),
        (404, "unknown-subject".into())
    );
    assert_eq!(
        problem(app.anonymous().inclusion_proof(0, None).await.map(|_| ())).0,
        401
    );
}

#[tokio::test]
async fn an_evidence_bundle_proves_who_asked_who_approved_and_when_access_ended() {
    let app = TestApp::spawn().await;
    let (request, grant) = app.vpn_grant("alice", "8h").await;
    app.as_("ada")
        .revoke_grant(&grant, "left the project; access no longer needed")
        .await
        .unwrap();
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let value = olivia.evidence(&grant).await.unwrap();
    let bundle: Bundle = serde_json::from_value(value).unwrap();
    assert_eq!(bundle.subject, format!("request:{}", request.id));
    let by_request: Bundle =
        serde_json::from_value(olivia.evidence(&request.id).await.unwrap()).unwrap();
    assert_eq!(by_request.entries, bundle.entries);

    let story = verify(&bundle, &key).unwrap();
    assert_eq!(story.request.requester, "alice");
    assert_eq!(story.request.beneficiary, "alice");
    assert_eq!(story.request.ticket.as_deref(), Some("INC-4411"));
    assert!(story.request.justification.contains("billing export"));
    assert!(
        story.policy_proven,
        "the policy the request was decided under is in the bundle"
    );
    assert_eq!(story.decisions.len(), 1);
    let d = &story.decisions[0];
    assert_eq!(
        (d.approver.as_str(), d.decision.as_str()),
        ("priya", "approve")
    );
    assert!(d.basis.contains("manager"), "{}", d.basis);
    assert_eq!(d.policy_version, story.request.policy_version);
    let g = story.grant.as_ref().unwrap();
    assert_eq!(g.id, grant);
    let ended = g.ended.as_deref().unwrap();
    assert!(ended.starts_with("revoked by ada"), "{ended}");
    assert!(ended.contains("left the project"), "{ended}");
    let told = story.to_string();
    for words in [
        "alice requested corp-ldap/vpn-users",
        "priya approved",
        "Access ended: revoked by ada",
    ] {
        assert!(told.contains(words), "`{words}` not in:\n{told}");
    }

    // Tampering with any part is caught.
    let mut t = bundle.clone();
    let mut leaf = B64.decode(&t.entries[2].leaf).unwrap();
    let at = leaf.len() / 2;
    leaf[at] ^= 1;
    t.entries[2].leaf = B64.encode(&leaf);
    assert!(
        verify(&t, &key)
            .unwrap_err()
            .to_string()
            .contains("not in the signed log")
    );

    let mut t = bundle.clone();
    let personal_of = |e: &writ_ledger::evidence::BundleEntry| {
        String::from_utf8(B64.decode(e.personal.as_deref().unwrap_or("")).unwrap()).unwrap()
    };
    let submitted = t
        .entries
        .iter()
        .position(|e| personal_of(e).contains("billing export"))
        .unwrap();
    let personal = personal_of(&t.entries[submitted]);
    let edited = personal.replacen("billing export", "billing exports", 1);
    assert_ne!(edited, personal);
    t.entries[submitted].personal = Some(B64.encode(edited));
    assert!(
        verify(&t, &key).is_err(),
        "an edited personal value breaks its commitment"
    );

    let mut t = bundle.clone();
    t.entries[1].proof.pop();
    assert!(verify(&t, &key).is_err());

    let other = TestApp::spawn().await;
    let other_key = other.anonymous().ledger_key().await.unwrap();
    assert!(
        verify(&bundle, &other_key)
            .unwrap_err()
            .to_string()
            .contains("checkpoint")
    );
}

#[tokio::test]
async fn a_configured_signing_key_is_used_and_a_missing_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("ledger-key");
    let key = writ_ledger::LedgerKey::from_seed("writ.example.com/ledger", [7; 32]).unwrap();
    std::fs::write(&key_file, key.to_private_string()).unwrap();
    let mut config = writ_server::Config::default();
    config.ledger.key_file = Some(key_file.clone());
    let app = TestApp::spawn_with(config.clone(), false).await;
    let published = app.anonymous().ledger_key().await.unwrap();
    assert_eq!(published, key.verifier_key());
    let note = app.anonymous().checkpoint(false).await.unwrap();
    assert!(note.starts_with("writ.example.com/ledger\n"), "{note}");
    assert!(
        !app.data_dir().join("ledger-key").exists(),
        "no second key is made"
    );

    config.ledger.key_file = Some(dir.path().join("absent"));
    let err = writ_server::Application::build(writ_server::Settings {
        data_dir: tempfile::tempdir().unwrap().path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config,
        clock: std::sync::Arc::new(writ_core::ManualClock::new(crate::common::START)),
        scheduler: false,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[tokio::test]
async fn proofs_default_to_the_latest_signed_checkpoint_not_the_live_size() {
    let mut config = writ_server::Config::default();
    // Only the signature at start-up and the ones asked for.
    config.ledger.checkpoint_interval_ms = 3_600_000;
    let app = TestApp::spawn_with(config, false).await;
    let olivia = app.as_("olivia");
    let key = olivia.ledger_key().await.unwrap();
    let signed = open_checkpoint(&app.as_("ada").checkpoint(true).await.unwrap(), &key).unwrap();
    app.vpn_grant("alice", "8h").await;
    assert!(app.event_count().await > signed.size);

    let p = olivia.inclusion_proof(0, None).await.unwrap();
    assert_eq!(p.size, signed.size);
    let leaf = B64
        .decode(olivia.ledger_entry(0).await.unwrap().leaf)
        .unwrap();
    verify_inclusion(0, p.size, leaf_hash(&leaf), &hashes(&p.proof), signed.root).unwrap();
    let c = olivia.consistency_proof(1, None).await.unwrap();
    assert_eq!(c.new, signed.size);
}
