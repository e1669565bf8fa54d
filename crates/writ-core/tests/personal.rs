//! Personal data in the ledger: sealed out of the leaf by a salted commitment, kept in
//! a personal document beside it, checked on open, and erasable without touching the
//! leaf.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{every_recorded, name, seal, text};
use serde_json::{Value, json};
use writ_core::{
    Actor, DecodeError, ERASED, Event, IdentityKind, PERSONAL_FIELDS, Personal, Reason, Recorded,
    RequestId, Timestamp, canonical_bytes, sha256_hex,
};

/// Every personal string in the fixtures, written by hand rather than read back from
/// the personal documents, so a field that is not sealed at all fails the tests.
const PERSONAL_STRINGS: &[&str] = &[
    "Alice Ärcher",
    "alice@example.com",
    "ETL job",
    "loads the warehouse every night",
    "full control",
    "laptop cli",
    "café \"migration\" of a/b\nand the ü index, 40+ chars",
    "ok — within the change window",
    "project cancelled",
    "Carol Ng",
    "carol.ng@example.org",
    "Finance & Payroll",
    "asked for the wrong database",
];

fn doc(personal: &[u8]) -> Value {
    serde_json::from_slice(personal).unwrap()
}

fn paths(personal: &[u8]) -> Vec<String> {
    Personal::parse(personal)
        .unwrap()
        .paths()
        .map(str::to_owned)
        .collect()
}

fn cancelled(reason: Option<&str>) -> Recorded {
    Recorded {
        seq: 3,
        at: Timestamp::from_millis(1_000),
        actor: Actor::Identity(name("alice")),
        event: Event::RequestCancelled {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            reason: reason.map(|r| Reason::parse(r).unwrap()),
        },
    }
}

fn with(personal: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = doc(personal);
    edit(&mut v);
    canonical_bytes(&v).unwrap()
}

#[test]
fn seal_and_open_round_trip_for_every_event_kind() {
    let mut kinds = BTreeSet::new();
    for rec in every_recorded() {
        let kind = rec.event.kind();
        let sealed = seal(&rec);
        let opened = Recorded::open(&sealed.leaf, Some(&sealed.personal))
            .unwrap_or_else(|e| panic!("{kind}: {e}\n{}", text(&sealed.leaf)));
        assert_eq!(opened.recorded, rec, "{kind}");
        assert!(opened.erased.is_empty(), "{kind}: {:?}", opened.erased);
        assert_eq!(
            seal(&opened.recorded),
            sealed,
            "{kind}: seals back the same"
        );
        kinds.insert(kind);
    }
    assert_eq!(
        kinds.len(),
        common::EVENT_KINDS,
        "every event kind: {kinds:?}"
    );
}

#[test]
fn leaves_hold_no_personal_string_and_documents_hold_them_all() {
    let mut found = BTreeSet::new();
    for rec in every_recorded() {
        let sealed = seal(&rec);
        let leaf = text(&sealed.leaf);
        let personal = text(&sealed.personal);
        for s in PERSONAL_STRINGS {
            let escaped = serde_json::to_string(s).unwrap();
            assert!(
                !leaf.contains(*s) && !leaf.contains(&escaped),
                "{}: the leaf holds `{s}`:\n{leaf}",
                rec.event.kind()
            );
            if personal.contains(&escaped) {
                found.insert(*s);
            }
        }
        // And the plain encoding did hold them, so the search can find what it seeks.
        let plain = String::from_utf8(rec.encode().unwrap()).unwrap();
        for s in PERSONAL_STRINGS {
            let escaped = serde_json::to_string(s).unwrap();
            assert_eq!(
                plain.contains(&escaped),
                personal.contains(&escaped),
                "{}: `{s}`",
                rec.event.kind()
            );
        }
    }
    let missing: Vec<_> = PERSONAL_STRINGS
        .iter()
        .filter(|s| !found.contains(*s))
        .collect();
    assert!(missing.is_empty(), "never sealed: {missing:?}");
}

#[test]
fn every_listed_field_is_sealed_somewhere_and_nothing_else_is() {
    let mut seen = BTreeSet::new();
    for rec in every_recorded() {
        let sealed = seal(&rec);
        let leaf: Value = serde_json::from_slice(&sealed.leaf).unwrap();
        for path in paths(&sealed.personal) {
            assert!(
                PERSONAL_FIELDS
                    .iter()
                    .any(|f| f.event == rec.event.kind() && f.pointer == path),
                "{path} is not a listed field of {}",
                rec.event.kind()
            );
            let commitment = leaf.pointer(&path).unwrap();
            let c = commitment["sealed"].as_str().unwrap();
            assert_eq!(commitment.as_object().unwrap().len(), 1);
            assert_eq!(c.len(), 64);
            seen.insert((rec.event.kind(), path));
        }
    }
    for f in PERSONAL_FIELDS {
        assert!(
            seen.contains(&(f.event, f.pointer.to_owned())),
            "{f:?} is never sealed: a typo in its pointer?"
        );
    }
}

#[test]
fn the_commitment_is_sha256_of_salt_and_canonical_value() {
    let rec = cancelled(Some("wrong box"));
    let sealed = rec.seal(&mut || [7; 16]).unwrap();
    let mut pre = vec![7u8; 16];
    pre.extend_from_slice(br#""wrong box""#);
    let commitment = sha256_hex(&pre);
    assert_eq!(
        text(&sealed.leaf),
        format!(
            r#"{{"actor":"alice","at":1000,"event":{{"reason":{{"sealed":"{commitment}"}},"request":"req_0000000000000001","type":"request_cancelled"}},"seq":3,"v":2}}"#
        )
    );
    assert_eq!(
        text(&sealed.personal),
        format!(
            r#"{{"/event/reason":{{"salt":"{}","value":"wrong box"}}}}"#,
            "07".repeat(16)
        )
    );
}

#[test]
fn different_salts_give_different_leaves() {
    for rec in every_recorded() {
        let a = rec.seal(&mut || [1; 16]).unwrap();
        let b = rec.seal(&mut || [2; 16]).unwrap();
        if paths(&a.personal).is_empty() {
            // Nothing sealed, nothing salted: the leaf is the event's only spelling.
            assert_eq!(a, b, "{}", rec.event.kind());
            assert_eq!(a.personal, b"{}", "{}", rec.event.kind());
        } else {
            assert_ne!(a.leaf, b.leaf, "{}", rec.event.kind());
            assert_ne!(a.personal, b.personal, "{}", rec.event.kind());
        }
    }
}

#[test]
fn sealing_is_deterministic_given_the_salts() {
    for rec in every_recorded() {
        let mut calls = Vec::new();
        let mut n = 40u8;
        let a = rec
            .seal(&mut || {
                n += 1;
                calls.push(n);
                [n; 16]
            })
            .unwrap();
        let mut replay = calls.clone().into_iter();
        let b = rec.seal(&mut || [replay.next().unwrap(); 16]).unwrap();
        assert_eq!(a, b, "{}", rec.event.kind());
        assert_eq!(
            calls.len(),
            paths(&a.personal).len(),
            "{}: one salt per sealed field",
            rec.event.kind()
        );
    }
    // Salts are asked for in the order of PERSONAL_FIELDS.
    let identity = every_recorded()
        .into_iter()
        .find(|r| matches!(&r.event, Event::IdentityUpserted { identity } if identity.name.as_str() == "carol"))
        .unwrap();
    let mut n = 0u8;
    let sealed = identity
        .seal(&mut || {
            n += 1;
            [n; 16]
        })
        .unwrap();
    let d = doc(&sealed.personal);
    assert_eq!(
        d["/event/identity/display_name"]["salt"],
        json!("01".repeat(16))
    );
    assert_eq!(
        d["/event/identity/kind/email"]["salt"],
        json!("02".repeat(16))
    );
    assert_eq!(
        d["/event/identity/kind/department"]["salt"],
        json!("03".repeat(16))
    );
}

#[test]
fn a_tampered_personal_value_is_refused_naming_its_path() {
    for rec in every_recorded() {
        let sealed = seal(&rec);
        for path in paths(&sealed.personal) {
            // Another value that is valid for the field.
            let forged = with(&sealed.personal, |v| {
                v[&path]["value"] = json!("something else, of ample length");
            });
            match Recorded::open(&sealed.leaf, Some(&forged)) {
                Err(DecodeError::Tampered(p)) => assert_eq!(p, path),
                other => panic!("{path}: {other:?}"),
            }
            // The right value under another salt.
            let resalted = with(&sealed.personal, |v| {
                v[&path]["salt"] = json!("ff".repeat(16));
            });
            match Recorded::open(&sealed.leaf, Some(&resalted)) {
                Err(DecodeError::Tampered(p)) => assert_eq!(p, path),
                other => panic!("{path}: {other:?}"),
            }
            let e = Recorded::open(&sealed.leaf, Some(&forged)).unwrap_err();
            assert!(e.to_string().contains(&format!("`{path}`")), "{e}");
        }
    }
    // A commitment changed in the leaf: the value no longer matches it (and the tree
    // would notice the leaf anyway).
    let rec = cancelled(Some("wrong box"));
    let sealed = seal(&rec);
    let t = text(&sealed.leaf);
    let c = doc(&sealed.leaf)["event"]["reason"]["sealed"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = t.replace(
        &c,
        &format!("{}{}", &c[..63], if c.ends_with('0') { '1' } else { '0' }),
    );
    assert!(matches!(
        Recorded::open(flipped.as_bytes(), Some(&sealed.personal)),
        Err(DecodeError::Tampered(p)) if p == "/event/reason"
    ));
}

#[test]
fn an_erased_field_opens_with_the_placeholder_and_is_listed() {
    let rec = every_recorded()
        .into_iter()
        .find(|r| matches!(&r.event, Event::IdentityUpserted { identity } if identity.name.as_str() == "alice"))
        .unwrap();
    let sealed = seal(&rec);
    let mut personal = Personal::parse(&sealed.personal).unwrap();
    let removed = personal.erase(&["/event/identity/kind/email", "/event/not/there"]);
    assert_eq!(removed, ["/event/identity/kind/email"]);
    assert!(
        personal.erase(&["/event/identity/kind/email"]).is_empty(),
        "idempotent"
    );
    let erased = personal.to_bytes().unwrap();
    assert!(!text(&erased).contains("alice@example.com"));

    let opened = Recorded::open(&sealed.leaf, Some(&erased)).unwrap();
    assert_eq!(opened.erased, ["/event/identity/kind/email"]);
    let Event::IdentityUpserted { identity } = &opened.recorded.event else {
        panic!("{:?}", opened.recorded.event);
    };
    let IdentityKind::Human(h) = &identity.kind else {
        panic!("{:?}", identity.kind);
    };
    assert_eq!(h.email, ERASED);
    assert_eq!(identity.display_name, "Alice Ärcher", "the rest is intact");
    assert_eq!(h.manager, Some(name("bob")));

    // Without any personal document, every sealed field of every kind is erased, and
    // the placeholder is accepted wherever it lands (justification, comment, reason…).
    for rec in every_recorded() {
        let sealed = seal(&rec);
        for personal in [None, Some(&b"{}"[..])] {
            let opened = Recorded::open(&sealed.leaf, personal)
                .unwrap_or_else(|e| panic!("{}: {e}", rec.event.kind()));
            assert_eq!(
                opened.erased,
                paths(&sealed.personal),
                "{}",
                rec.event.kind()
            );
            let plain = text(&opened.recorded.encode().unwrap()).to_owned();
            for s in PERSONAL_STRINGS {
                assert!(!plain.contains(&serde_json::to_string(s).unwrap()), "{s}");
            }
            if !opened.erased.is_empty() {
                assert!(plain.contains(ERASED), "{plain}");
            }
        }
    }
}

#[test]
fn the_personal_document_may_lack_values_but_not_add_them() {
    let rec = cancelled(Some("wrong box"));
    let sealed = seal(&rec);
    // An entry for a field this leaf does not seal.
    let extra = with(&sealed.personal, |v| {
        v["/event/comment"] = json!({"salt": "00".repeat(16), "value": "hello"});
    });
    assert!(matches!(
        Recorded::open(&sealed.leaf, Some(&extra)),
        Err(DecodeError::UnexpectedPersonal(p)) if p == "/event/comment"
    ));
    // A value for a field that is null in the leaf.
    let none = seal(&cancelled(None));
    assert_eq!(none.personal, b"{}");
    assert!(text(&none.leaf).contains(r#""reason":null"#));
    assert!(matches!(
        Recorded::open(&none.leaf, Some(&sealed.personal)),
        Err(DecodeError::UnexpectedPersonal(p)) if p == "/event/reason"
    ));
    // A plain (version 1) leaf seals nothing.
    assert!(matches!(
        Recorded::open(&rec.encode().unwrap(), Some(&sealed.personal)),
        Err(DecodeError::UnexpectedPersonal(_))
    ));
    assert!(Recorded::open(&rec.encode().unwrap(), Some(b"{}")).is_ok());
    // Not a document at all.
    for bad in [&b""[..], b"null", b"{ }", b"[]"] {
        assert!(matches!(
            Recorded::open(&sealed.leaf, Some(bad)),
            Err(DecodeError::PersonalMalformed(_))
        ));
    }
}

#[test]
fn a_value_must_be_in_the_form_its_field_gives_it() {
    // A reason with surrounding spaces would read back trimmed: the document must hold
    // exactly what sealing wrote, even when the commitment is to the padded text.
    let rec = cancelled(Some("wrong box"));
    let sealed = seal(&rec);
    let leaf = text(&sealed.leaf).to_owned();
    let mut pre = vec![0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    pre.extend_from_slice(br#""  wrong box  ""#);
    let old = doc(&sealed.leaf)["event"]["reason"]["sealed"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged_leaf = leaf.replace(&old, &sha256_hex(&pre));
    let padded = with(&sealed.personal, |v| {
        v["/event/reason"]["value"] = json!("  wrong box  ");
    });
    assert!(matches!(
        Recorded::open(forged_leaf.as_bytes(), Some(&padded)),
        Err(DecodeError::PersonalMalformed(_))
    ));
}

#[test]
fn a_leaf_with_a_non_canonical_byte_is_refused() {
    for rec in every_recorded() {
        let sealed = seal(&rec);
        let t = text(&sealed.leaf);
        for bad in [
            t.replacen(':', ": ", 1),
            format!("{t} "),
            t.replacen("{\"sealed\":", "{ \"sealed\":", 1),
        ] {
            if bad == t {
                continue;
            }
            assert!(
                matches!(
                    Recorded::open(bad.as_bytes(), Some(&sealed.personal)),
                    Err(DecodeError::NotCanonical)
                ),
                "{bad}"
            );
        }
    }
    let rec = cancelled(Some("wrong box"));
    let sealed = seal(&rec);
    let t = text(&sealed.leaf);
    let c = doc(&sealed.leaf)["event"]["reason"]["sealed"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [
        // Upper-case hex: the same commitment, another spelling.
        t.replace(&c, &c.to_uppercase()),
        // A commitment with a second key.
        t.replace("{\"sealed\":", "{\"salt\":\"00\",\"sealed\":"),
        // The value in clear in a version-2 leaf: it could never be erased.
        t.replace(&format!("{{\"sealed\":\"{c}\"}}"), "\"wrong box\""),
    ] {
        assert_ne!(bad, t);
        assert!(
            matches!(
                Recorded::open(bad.as_bytes(), Some(&sealed.personal)),
                Err(DecodeError::Malformed(_))
            ),
            "{bad}"
        );
    }
    // A commitment where nothing personal belongs.
    let moved = t.replace(
        "\"req_0000000000000001\"",
        &format!("{{\"sealed\":\"{c}\"}}"),
    );
    assert!(matches!(
        Recorded::open(moved.as_bytes(), Some(b"{}")),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn decode_reads_a_leaf_that_seals_nothing_and_refuses_one_that_does() {
    for rec in every_recorded() {
        let sealed = seal(&rec);
        let sealed_paths = paths(&sealed.personal);
        match Recorded::decode(&sealed.leaf) {
            Ok(back) => {
                assert!(sealed_paths.is_empty(), "{}", rec.event.kind());
                assert_eq!(back, rec);
            }
            Err(DecodeError::Sealed(p)) => assert_eq!(p, sealed_paths),
            Err(e) => panic!("{}: {e}", rec.event.kind()),
        }
    }
    let e = Recorded::decode(&seal(&cancelled(Some("wrong box"))).leaf).unwrap_err();
    assert_eq!(
        e.to_string(),
        "leaf seals personal values (`/event/reason`): open it with its personal document"
    );
}

#[test]
fn sealed_debug_shows_the_leaf_but_not_the_personal_values() {
    let sealed = seal(&cancelled(Some("wrong box")));
    let shown = format!("{sealed:?}");
    assert!(shown.contains("request_cancelled"), "{shown}");
    assert!(!shown.contains("wrong box"), "{shown}");
}
