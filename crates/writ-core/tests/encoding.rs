//! The ledger's leaf encoding: canonical, versioned, integers only, and strict on
//! decode, so that two different byte strings can never mean the same event.
//!
//! Most tests run over both encodings: the sealed leaves the ledger writes now
//! (version 2, with their personal documents) and the plain leaves of version 1,
//! which are still read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt;

use common::{at, every_recorded, seal, submission, text};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use writ_core::{
    Actor, CURRENT_ENCODING, CanonicalError, DecodeError, DurationSpec, Event, GrantId,
    PLAIN_ENCODING, Recorded, Timestamp, canonical_bytes, sha256_hex,
};

/// The leaf the ledger writes for `rec`.
fn leaf(rec: &Recorded) -> Vec<u8> {
    seal(rec).leaf
}

/// Both encodings of `rec`: (leaf, personal document to open it with).
fn both(rec: &Recorded) -> [(Vec<u8>, Option<Vec<u8>>); 2] {
    let sealed = seal(rec);
    [
        (sealed.leaf, Some(sealed.personal)),
        (rec.encode().unwrap(), None),
    ]
}

/// Walks JSON and fails on an object whose keys are not strictly increasing (sorted,
/// no duplicates) or on any floating-point number.
struct Canonical;

impl<'de> Deserialize<'de> for Canonical {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CanonicalVisitor)
    }
}

struct CanonicalVisitor;

impl<'de> Visitor<'de> for CanonicalVisitor {
    type Value = Canonical;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("canonical JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Canonical, E> {
        Ok(Canonical)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Canonical, E> {
        Ok(Canonical)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Canonical, E> {
        Ok(Canonical)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Canonical, E> {
        Err(E::custom(format!("floating-point number {v}")))
    }

    fn visit_str<E>(self, _: &str) -> Result<Canonical, E> {
        Ok(Canonical)
    }

    fn visit_unit<E>(self) -> Result<Canonical, E> {
        Ok(Canonical)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Canonical, A::Error> {
        while seq.next_element::<Canonical>()?.is_some() {}
        Ok(Canonical)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Canonical, A::Error> {
        let mut last: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if let Some(prev) = &last
                && key.as_str() <= prev.as_str()
            {
                return Err(de::Error::custom(format!("key `{key}` follows `{prev}`")));
            }
            map.next_value::<Canonical>()?;
            last = Some(key);
        }
        Ok(Canonical)
    }
}

fn check_canonical(bytes: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<Canonical>(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// True if the JSON has white space between tokens (white space inside strings is data).
fn has_insignificant_whitespace(bytes: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            return true;
        }
    }
    false
}

/// The same JSON value with every object's keys in reverse order.
fn reversed(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.reverse();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                reversed(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                reversed(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

#[test]
fn encoding_round_trips_for_every_event_kind() {
    for rec in every_recorded() {
        let kind = rec.event.kind();
        for (bytes, personal) in both(&rec) {
            let back = Recorded::open(&bytes, personal.as_deref())
                .unwrap_or_else(|e| panic!("{kind}: {e}\n{}", text(&bytes)));
            assert_eq!(back.recorded, rec, "{kind}");
            assert!(back.erased.is_empty(), "{kind}");
        }
        let back = Recorded::decode(&rec.encode().unwrap()).unwrap();
        assert_eq!(back.encode().unwrap(), rec.encode().unwrap(), "{kind}");
        let sealed = seal(&rec);
        let back = Recorded::open(&sealed.leaf, Some(&sealed.personal)).unwrap();
        assert_eq!(seal(&back.recorded), sealed, "{kind}");
    }
}

#[test]
fn encoding_is_deterministic() {
    for (a, b) in every_recorded().into_iter().zip(every_recorded()) {
        let kind = a.event.kind();
        assert_eq!(leaf(&a), leaf(&a), "{kind}: twice the same value");
        assert_eq!(leaf(&a), leaf(&b), "{kind}: two equal values built apart");
        // An equal value that went through serde_json's own (non-canonical) form.
        let via_json: Recorded =
            serde_json::from_str(&serde_json::to_string_pretty(&a).unwrap()).unwrap();
        assert_eq!(leaf(&a), leaf(&via_json), "{kind}: after a JSON round trip");
    }
    // And the bytes are exactly what we expect for a small event.
    let rec = Recorded {
        seq: 7,
        at: Timestamp::from_millis(1_000),
        actor: Actor::system("scheduler"),
        event: Event::GrantExpired {
            grant: GrantId::parse("grt_0000000000000003").unwrap(),
        },
    };
    assert_eq!(
        text(&leaf(&rec)),
        r#"{"actor":"system:scheduler","at":1000,"event":{"grant":"grt_0000000000000003","type":"grant_expired"},"seq":7,"v":2}"#
    );
    assert_eq!(
        text(&rec.encode().unwrap()),
        r#"{"actor":"system:scheduler","at":1000,"event":{"grant":"grt_0000000000000003","type":"grant_expired"},"seq":7,"v":1}"#
    );
}

#[test]
fn keys_are_sorted_with_no_whitespace_and_no_floats() {
    for rec in every_recorded() {
        let sealed = seal(&rec);
        let kind = rec.event.kind();
        for bytes in [sealed.leaf, sealed.personal, rec.encode().unwrap()] {
            check_canonical(&bytes).unwrap_or_else(|e| panic!("{kind}: {e}\n{}", text(&bytes)));
            assert!(
                !has_insignificant_whitespace(&bytes),
                "{kind}: {}",
                text(&bytes)
            );
            assert!(std::str::from_utf8(&bytes).is_ok(), "{kind}: leaf is UTF-8");
        }
    }
    // The walker itself tells sorted from unsorted and integers from floats.
    assert!(check_canonical(br#"{"a":1,"b":{"c":[1,2],"d":null}}"#).is_ok());
    assert!(check_canonical(br#"{"b":1,"a":2}"#).is_err());
    assert!(check_canonical(br#"{"a":{"d":1,"c":2}}"#).is_err());
    assert!(check_canonical(br#"{"a":1,"a":1}"#).is_err());
    assert!(check_canonical(br#"{"a":[1.5]}"#).is_err());
    assert!(check_canonical(br#"{"a":1e3}"#).is_err());
    assert!(has_insignificant_whitespace(br#"{"a": 1}"#));
    assert!(!has_insignificant_whitespace(br#"{"a":"x y\" z"}"#));
}

#[test]
fn times_and_durations_are_integers() {
    let rec = every_recorded()
        .into_iter()
        .find(|r| r.event.kind() == "request_submitted")
        .unwrap();
    let v: Value = serde_json::from_slice(&leaf(&rec)).unwrap();
    assert_eq!(v["at"], json!(rec.at.millis()));
    assert!(v["at"].is_i64());
    let s = &v["event"]["request"];
    assert_eq!(s["duration"], json!(8 * 3600), "durations in whole seconds");
    assert_eq!(
        s["submitted_at"],
        json!(at("2026-03-02T09:00:00.123Z").millis()),
        "times in milliseconds"
    );
    assert_eq!(s["submitted_at"], json!(1_772_442_000_123_i64));
    // The policy's durations too.
    let rec = every_recorded()
        .into_iter()
        .find(|r| r.event.kind() == "policy_activated")
        .unwrap();
    let v: Value = serde_json::from_slice(&leaf(&rec)).unwrap();
    assert_eq!(v["event"]["policy"]["review_period"], json!(90 * 86_400));
    assert_eq!(
        v["event"]["policy"]["tiers"]["critical"]["max_duration"],
        json!(8 * 3600)
    );
    // A float has no canonical encoding at all.
    assert!(matches!(
        canonical_bytes(&json!({"x": 0.5})),
        Err(CanonicalError::Float(_))
    ));
}

#[test]
fn every_leaf_names_its_version_and_kind() {
    for rec in every_recorded() {
        let bytes = leaf(&rec);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(top, ["actor", "at", "event", "seq", "v"]);
        assert_eq!(v["v"], json!(CURRENT_ENCODING));
        assert_eq!(CURRENT_ENCODING, 2);
        assert!(text(&bytes).ends_with(r#","v":2}"#), "{}", text(&bytes));
        let plain = rec.encode().unwrap();
        assert_eq!(PLAIN_ENCODING, 1);
        assert!(text(&plain).ends_with(r#","v":1}"#), "{}", text(&plain));
        assert_eq!(v["event"]["type"], json!(rec.event.kind()));
        assert_eq!(v["seq"], json!(rec.seq));
        assert_eq!(v["actor"], json!(rec.actor.to_string()));
    }
}

fn open_err(bytes: &[u8], personal: Option<&[u8]>) -> DecodeError {
    match Recorded::open(bytes, personal) {
        Ok(r) => panic!(
            "opened a non-canonical leaf as {}: {}",
            r.recorded.event.kind(),
            String::from_utf8_lossy(bytes)
        ),
        Err(e) => e,
    }
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    open_err(bytes, None)
}

#[test]
fn reordered_keys_are_not_canonical() {
    for rec in every_recorded() {
        for (bytes, personal) in both(&rec) {
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            let mut out = String::new();
            reversed(&value, &mut out);
            assert_ne!(out.as_bytes(), &bytes[..]);
            // The same value, only the order differs …
            assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), value);
            // … and it is refused.
            let e = open_err(out.as_bytes(), personal.as_deref());
            assert!(
                matches!(e, DecodeError::NotCanonical),
                "{}: {e}",
                rec.event.kind()
            );
        }
    }
    // Moving only `v` to the front is enough.
    let rec = &every_recorded()[0];
    for (bytes, personal) in both(rec) {
        let t = String::from_utf8(bytes).unwrap();
        let (rest, v) = t.rsplit_once(",\"v\":").unwrap();
        let moved = format!("{{\"v\":{},{}}}", &v[..v.len() - 1], &rest[1..]);
        assert!(matches!(
            open_err(moved.as_bytes(), personal.as_deref()),
            DecodeError::NotCanonical
        ));
    }
}

#[test]
fn altered_whitespace_is_not_canonical() {
    for (bytes, personal) in every_recorded().iter().flat_map(both) {
        let t = String::from_utf8(bytes).unwrap();
        let kind = serde_json::from_str::<Value>(&t).unwrap()["event"]["type"].clone();
        let variants = [
            t.replacen(':', ": ", 1),
            t.replacen(',', ", ", 1),
            format!(" {t}"),
            format!("{t}\n"),
            format!("{t} "),
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&t).unwrap()).unwrap(),
        ];
        for v in variants {
            let e = open_err(v.as_bytes(), personal.as_deref());
            assert!(matches!(e, DecodeError::NotCanonical), "{kind}: {e}: {v}");
        }
    }
}

#[test]
fn other_string_escapes_are_not_canonical() {
    let rec = every_recorded()
        .into_iter()
        .find(|r| r.event.kind() == "request_submitted")
        .unwrap();
    // The plain leaf holds the justification; the sealed one keeps it in the personal
    // document, which has one spelling too.
    let sealed = seal(&rec);
    let t = String::from_utf8(rec.encode().unwrap()).unwrap();
    let p = String::from_utf8(sealed.personal.clone()).unwrap();
    assert!(!text(&sealed.leaf).contains("café"));
    assert!(t.contains("café"), "non-ASCII is written as UTF-8: {t}");
    assert!(p.contains("café"), "non-ASCII is written as UTF-8: {p}");
    assert!(t.contains(r#"a/b"#), "the slash is not escaped");
    assert!(t.contains(r#"\"migration\""#));
    assert!(t.contains(r"\n"));
    for (from, to) in [
        ("café", r"caf\u00e9"),
        ("a/b", r"a\/b"),
        (r"\n", r"\u000a"),
        (r#"\"migration"#, r#"\u0022migration"#),
    ] {
        let v = t.replacen(from, to, 1);
        assert_ne!(v, t);
        assert_eq!(
            serde_json::from_str::<Value>(&v).unwrap(),
            serde_json::from_str::<Value>(&t).unwrap(),
            "{to} means the same"
        );
        assert!(
            matches!(decode_err(v.as_bytes()), DecodeError::NotCanonical),
            "{to}"
        );
        let v = p.replacen(from, to, 1);
        assert_ne!(v, p);
        assert!(
            matches!(
                open_err(&sealed.leaf, Some(v.as_bytes())),
                DecodeError::PersonalMalformed(_)
            ),
            "{to} in the personal document"
        );
    }
}

#[test]
fn other_versions_and_shapes_are_refused() {
    let rec = &every_recorded()[0];
    let t = String::from_utf8(leaf(rec)).unwrap();
    let base = &t[..t.len() - ",\"v\":2}".len()];

    let v3 = format!("{base},\"v\":3}}");
    assert!(matches!(decode_err(v3.as_bytes()), DecodeError::Version(3)));
    let v0 = format!("{base},\"v\":0}}");
    assert!(matches!(decode_err(v0.as_bytes()), DecodeError::Version(0)));
    let huge = format!("{base},\"v\":4294967297}}");
    assert!(matches!(
        decode_err(huge.as_bytes()),
        DecodeError::Malformed(_)
    ));
    let missing = format!("{base}}}");
    assert!(matches!(
        decode_err(missing.as_bytes()),
        DecodeError::Malformed(_)
    ));
    let extra = format!("{base},\"v\":2,\"w\":1}}");
    assert!(matches!(
        decode_err(extra.as_bytes()),
        DecodeError::Malformed(_)
    ));
    for float_v in [format!("{base},\"v\":2.0}}"), format!("{base},\"v\":1.0}}")] {
        assert!(matches!(
            decode_err(float_v.as_bytes()),
            DecodeError::Malformed(_)
        ));
    }

    // An unknown field inside the event, an unknown event type, a float time.
    let expired = Recorded {
        seq: 1,
        at: Timestamp::from_millis(5),
        actor: Actor::system("scheduler"),
        event: Event::GrantExpired {
            grant: GrantId::parse("grt_0000000000000003").unwrap(),
        },
    };
    let t = String::from_utf8(expired.encode().unwrap()).unwrap();
    for bad in [
        t.replace(r#""grant":"#, r#""extra":1,"grant":"#),
        t.replace("grant_expired", "grant_vanished"),
        t.replace(r#""at":5"#, r#""at":5.0"#),
        t.replace(r#""at":5"#, r#""at":"5""#),
        t.replace("grt_0000000000000003", "req_0000000000000003"),
        t.replace("system:scheduler", "Not A Name"),
    ] {
        assert_ne!(bad, t);
        assert!(
            matches!(decode_err(bad.as_bytes()), DecodeError::Malformed(_)),
            "{bad}"
        );
    }
    for t in [t.clone(), text(&leaf(&expired)).to_owned()] {
        for bad in [
            t.replace(r#""grant":"#, r#""extra":1,"grant":"#),
            t.replace("grant_expired", "grant_vanished"),
            t.replace(r#""at":5"#, r#""at":5.0"#),
        ] {
            assert!(
                matches!(decode_err(bad.as_bytes()), DecodeError::Malformed(_)),
                "{bad}"
            );
        }
    }
    for bad in [&b""[..], b"null", b"[]", b"{}", b"\xff"] {
        assert!(matches!(decode_err(bad), DecodeError::Malformed(_)));
    }
}

#[test]
fn the_request_digest_is_the_hash_of_the_canonical_submission_without_its_justification() {
    let s = submission();
    let mut masked = serde_json::to_value(&s).unwrap();
    masked["justification"] = Value::Null;
    // The exception's justification is personal too.
    masked["sod_exception"]["justification"] = Value::Null;
    assert_eq!(
        s.digest().unwrap(),
        sha256_hex(&canonical_bytes(&masked).unwrap())
    );
    assert_ne!(
        s.digest().unwrap(),
        sha256_hex(&canonical_bytes(&s).unwrap())
    );
    // Another justification, the same digest: a guess at an erased one cannot be
    // checked against it …
    let mut other = s.clone();
    other.justification = writ_core::Justification::parse("something else entirely").unwrap();
    assert_eq!(other.digest().unwrap(), s.digest().unwrap());
    // … while everything else the approver approves still changes it.
    let mut longer = s.clone();
    longer.duration = DurationSpec::hours(9);
    assert_ne!(longer.digest().unwrap(), s.digest().unwrap());
    let mut no_constraints = s.clone();
    no_constraints.constraints = None;
    assert_ne!(no_constraints.digest().unwrap(), s.digest().unwrap());
}

#[test]
fn canonical_bytes_of_a_submission_are_stable() {
    let s = submission();
    let bytes = canonical_bytes(&s).unwrap();
    check_canonical(&bytes).unwrap();
    assert_eq!(sha256_hex(&bytes).len(), 64);
    assert_eq!(
        sha256_hex(&bytes),
        sha256_hex(&canonical_bytes(&s.clone()).unwrap())
    );
    // Any change to what the approver approves changes the digest.
    let mut longer = s.clone();
    longer.duration = DurationSpec::hours(9);
    assert_ne!(
        sha256_hex(&canonical_bytes(&longer).unwrap()),
        sha256_hex(&bytes)
    );
    let mut other = s;
    other.constraints = None;
    assert_ne!(
        sha256_hex(&canonical_bytes(&other).unwrap()),
        sha256_hex(&bytes)
    );
}
