//! The ledger's leaf encoding: canonical, versioned, integers only, and strict on
//! decode, so that two different byte strings can never mean the same event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use writ_core::{
    Actor, ApprovalPolicy, CURRENT_ENCODING, CanonicalError, Comment, Constraints, Decision,
    DecodeError, DurationSpec, EmploymentType, Entitlement, EntitlementKind, EntitlementRef, Event,
    GrantId, Human, Identity, IdentityKind, IdentityStatus, Justification, Name, Nhi, NhiKind,
    Reason, Recorded, RequestId, RequestKind, RiskTier, Role, StepRole, Submission, System,
    SystemKind, TicketRef, Timestamp, Token, TokenId, canonical_bytes, sha256_hex,
};

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn submission() -> Submission {
    Submission {
        id: RequestId::parse("req_0000000000000001").unwrap(),
        requester: name("bob"),
        beneficiary: name("svc-etl"),
        entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
        risk: RiskTier::High,
        privileged: true,
        // Non-ASCII, a quote, a slash and a newline: all have one canonical spelling.
        justification: Justification::parse(
            "café \"migration\" of a/b\nand the ü index, 40+ chars",
        )
        .unwrap(),
        ticket: Some(TicketRef::parse("CHG-1042").unwrap()),
        duration: DurationSpec::hours(8),
        kind: RequestKind::Renewal,
        renews: Some(GrantId::parse("grt_0000000000000002").unwrap()),
        constraints: Some(Constraints {
            api_scopes: vec!["crm.read".into(), "crm.write".into()],
            environment: Some("prod".into()),
            source_ranges: vec!["10.0.0.0/8".into()],
        }),
        steps: vec![
            StepRole::Manager,
            StepRole::EntitlementOwner,
            StepRole::Security,
            StepRole::Group("helpdesk".into()),
        ],
        policy_version: ApprovalPolicy::default().version(),
        submitted_at: at("2026-03-02T09:00:00.123Z"),
    }
}

/// One event of every kind, with optional fields both set and unset.
fn every_event() -> Vec<Event> {
    let policy = ApprovalPolicy::default();
    let request = RequestId::parse("req_0000000000000001").unwrap();
    let grant = GrantId::parse("grt_0000000000000003").unwrap();
    let old = GrantId::parse("grt_0000000000000002").unwrap();
    let s = submission();
    let digest = sha256_hex(&canonical_bytes(&s).unwrap());
    let events = vec![
        Event::PolicyActivated {
            version: policy.version(),
            policy,
        },
        Event::IdentityUpserted {
            identity: Identity {
                name: name("alice"),
                display_name: "Alice Ärcher".into(),
                status: IdentityStatus::Active,
                groups: BTreeSet::from(["security".into(), "sre".into()]),
                roles: BTreeSet::from([Role::Admin]),
                kind: IdentityKind::Human(Human {
                    email: "alice@example.com".into(),
                    manager: Some(name("bob")),
                    department: None,
                    employment_type: EmploymentType::Employee,
                }),
            },
        },
        Event::IdentityUpserted {
            identity: Identity {
                name: name("svc-etl"),
                display_name: "ETL job".into(),
                status: IdentityStatus::Inactive,
                groups: BTreeSet::new(),
                roles: BTreeSet::new(),
                kind: IdentityKind::Nhi(Nhi {
                    nhi_kind: NhiKind::Workload,
                    owner: name("bob"),
                    purpose: "loads the warehouse every night".into(),
                    environment: "prod".into(),
                    rotation_period: DurationSpec::days(30),
                }),
            },
        },
        Event::SystemUpserted {
            system: System {
                name: name("pg-prod"),
                display_name: "Production PostgreSQL".into(),
                kind: SystemKind::Database,
                owner: name("dave"),
                description: String::new(),
            },
        },
        Event::EntitlementUpserted {
            entitlement: Entitlement {
                system: name("pg-prod"),
                name: name("dba"),
                display_name: "Database administrator".into(),
                kind: EntitlementKind::Role,
                external_ref: "cn=dba,ou=groups,dc=example,dc=com".into(),
                risk: RiskTier::High,
                privileged: true,
                max_duration: DurationSpec::days(30),
                owner: None,
                break_glass: false,
                description: "full control".into(),
            },
        },
        Event::TokenIssued {
            token: Token {
                id: TokenId::parse("tok_0000000000000004").unwrap(),
                identity: name("alice"),
                label: "laptop cli".into(),
                hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                issued_at: at("2026-03-02T09:00:00Z"),
                expires_at: Some(at("2026-04-01T09:00:00Z")),
                revoked_at: None,
            },
        },
        Event::TokenRevoked {
            token: TokenId::parse("tok_0000000000000004").unwrap(),
        },
        Event::RequestSubmitted {
            request: s,
            digest: digest.clone(),
        },
        Event::StepDecided {
            request: request.clone(),
            step: 2,
            role: StepRole::EntitlementOwner,
            approver: name("dave"),
            decision: Decision::Approve,
            comment: Some(Comment::parse("ok — within the change window").unwrap()),
            basis: "owner of system `pg-prod` (entitlement `pg-prod/dba` has no owner of its own)"
                .into(),
            policy_version: ApprovalPolicy::default().version(),
            request_digest: digest,
        },
        Event::RequestApproved {
            request: request.clone(),
            grant: grant.clone(),
        },
        Event::RequestDenied {
            request: request.clone(),
            step: 1,
        },
        Event::RequestCancelled {
            request: request.clone(),
            reason: None,
        },
        Event::GrantCreated {
            grant: grant.clone(),
            request,
            beneficiary: name("svc-etl"),
            entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
            expires_at: at("2026-03-02T17:00:00Z"),
            review_by: at("2026-03-02T17:00:00Z"),
            renews: Some(old.clone()),
        },
        Event::GrantRenewed {
            grant: old,
            successor: grant.clone(),
        },
        Event::GrantRevoked {
            grant: grant.clone(),
            reason: Reason::parse("project cancelled").unwrap(),
            basis: "manager of `alice`, per organisation data at 2026-03-02T10:00:00.000Z".into(),
        },
        Event::GrantExpired { grant },
    ];
    // Fails to compile when a kind is added, and fails the assertion when one is
    // missing from the list above.
    let covered: BTreeSet<u8> = events
        .iter()
        .map(|e| match e {
            Event::PolicyActivated { .. } => 0,
            Event::IdentityUpserted { .. } => 1,
            Event::SystemUpserted { .. } => 2,
            Event::EntitlementUpserted { .. } => 3,
            Event::TokenIssued { .. } => 4,
            Event::TokenRevoked { .. } => 5,
            Event::RequestSubmitted { .. } => 6,
            Event::StepDecided { .. } => 7,
            Event::RequestApproved { .. } => 8,
            Event::RequestDenied { .. } => 9,
            Event::RequestCancelled { .. } => 10,
            Event::GrantCreated { .. } => 11,
            Event::GrantRenewed { .. } => 12,
            Event::GrantRevoked { .. } => 13,
            Event::GrantExpired { .. } => 14,
        })
        .collect();
    assert_eq!(covered.len(), 15, "every event kind is exercised");
    events
}

fn every_recorded() -> Vec<Recorded> {
    every_event()
        .into_iter()
        .enumerate()
        .map(|(i, event)| Recorded {
            seq: i as u64 + 1,
            at: Timestamp::from_millis(1_772_442_000_123 + i as i64 * 1000),
            actor: if i % 2 == 0 {
                Actor::Identity(name("alice"))
            } else {
                Actor::system("scheduler")
            },
            event,
        })
        .collect()
}

fn leaf(rec: &Recorded) -> Vec<u8> {
    rec.encode().unwrap()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
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
        let bytes = leaf(&rec);
        let back = Recorded::decode(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", rec.event.kind(), text(&bytes)));
        assert_eq!(back, rec, "{}", rec.event.kind());
        assert_eq!(leaf(&back), bytes, "{}", rec.event.kind());
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
        r#"{"actor":"system:scheduler","at":1000,"event":{"grant":"grt_0000000000000003","type":"grant_expired"},"seq":7,"v":1}"#
    );
}

#[test]
fn keys_are_sorted_with_no_whitespace_and_no_floats() {
    for rec in every_recorded() {
        let bytes = leaf(&rec);
        let kind = rec.event.kind();
        check_canonical(&bytes).unwrap_or_else(|e| panic!("{kind}: {e}\n{}", text(&bytes)));
        assert!(
            !has_insignificant_whitespace(&bytes),
            "{kind}: {}",
            text(&bytes)
        );
        assert!(std::str::from_utf8(&bytes).is_ok(), "{kind}: leaf is UTF-8");
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
        assert_eq!(CURRENT_ENCODING, 1);
        assert!(text(&bytes).ends_with(r#","v":1}"#), "{}", text(&bytes));
        assert_eq!(v["event"]["type"], json!(rec.event.kind()));
        assert_eq!(v["seq"], json!(rec.seq));
        assert_eq!(v["actor"], json!(rec.actor.to_string()));
    }
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    match Recorded::decode(bytes) {
        Ok(r) => panic!(
            "decoded a non-canonical leaf as {}: {}",
            r.event.kind(),
            String::from_utf8_lossy(bytes)
        ),
        Err(e) => e,
    }
}

#[test]
fn reordered_keys_are_not_canonical() {
    for rec in every_recorded() {
        let bytes = leaf(&rec);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        let mut out = String::new();
        reversed(&value, &mut out);
        assert_ne!(out.as_bytes(), &bytes[..]);
        // The same value, only the order differs …
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), value);
        // … and it is refused.
        let e = decode_err(out.as_bytes());
        assert!(
            matches!(e, DecodeError::NotCanonical),
            "{}: {e}",
            rec.event.kind()
        );
    }
    // Moving only `v` to the front is enough.
    let rec = &every_recorded()[0];
    let t = String::from_utf8(leaf(rec)).unwrap();
    let moved = format!("{{\"v\":1,{}}}", &t[1..t.len() - ",\"v\":1}".len()]);
    assert!(matches!(
        decode_err(moved.as_bytes()),
        DecodeError::NotCanonical
    ));
}

#[test]
fn altered_whitespace_is_not_canonical() {
    for rec in every_recorded() {
        let t = String::from_utf8(leaf(&rec)).unwrap();
        let variants = [
            t.replacen(':', ": ", 1),
            t.replacen(',', ", ", 1),
            format!(" {t}"),
            format!("{t}\n"),
            format!("{t} "),
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&t).unwrap()).unwrap(),
        ];
        for v in variants {
            let e = decode_err(v.as_bytes());
            assert!(
                matches!(e, DecodeError::NotCanonical),
                "{}: {e}: {v}",
                rec.event.kind()
            );
        }
    }
}

#[test]
fn other_string_escapes_are_not_canonical() {
    let rec = every_recorded()
        .into_iter()
        .find(|r| r.event.kind() == "request_submitted")
        .unwrap();
    let t = String::from_utf8(leaf(&rec)).unwrap();
    assert!(t.contains("café"), "non-ASCII is written as UTF-8: {t}");
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
    }
}

#[test]
fn other_versions_and_shapes_are_refused() {
    let rec = &every_recorded()[0];
    let t = String::from_utf8(leaf(rec)).unwrap();
    let base = &t[..t.len() - ",\"v\":1}".len()];

    let v2 = format!("{base},\"v\":2}}");
    assert!(matches!(decode_err(v2.as_bytes()), DecodeError::Version(2)));
    let v0 = format!("{base},\"v\":0}}");
    assert!(matches!(decode_err(v0.as_bytes()), DecodeError::Version(0)));
    let missing = format!("{base}}}");
    assert!(matches!(
        decode_err(missing.as_bytes()),
        DecodeError::Malformed(_)
    ));
    let extra = format!("{base},\"v\":1,\"w\":1}}");
    assert!(matches!(
        decode_err(extra.as_bytes()),
        DecodeError::Malformed(_)
    ));
    let float_v = format!("{base},\"v\":1.0}}");
    assert!(matches!(
        decode_err(float_v.as_bytes()),
        DecodeError::Malformed(_)
    ));

    // An unknown field inside the event, an unknown event type, a float time.
    let expired = Recorded {
        seq: 1,
        at: Timestamp::from_millis(5),
        actor: Actor::system("scheduler"),
        event: Event::GrantExpired {
            grant: GrantId::parse("grt_0000000000000003").unwrap(),
        },
    };
    let t = String::from_utf8(leaf(&expired)).unwrap();
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
    for bad in [&b""[..], b"null", b"[]", b"{}", b"\xff"] {
        assert!(matches!(decode_err(bad), DecodeError::Malformed(_)));
    }
}

#[test]
fn the_request_digest_is_the_hash_of_the_canonical_submission() {
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
