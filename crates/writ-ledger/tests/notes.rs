//! Ledger keys and signed checkpoints, checked against signed_note's own signer
//! and verifier and against the Go note package's published example key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use writ_ledger::{
    Hash, KeyError, LedgerKey, NoteError, hash_to_base64, leaf_hash, open_checkpoint,
};

const ORIGIN: &str = "writ.example.com/ledger";

fn key() -> LedgerKey {
    LedgerKey::from_seed(ORIGIN, [7; 32]).unwrap()
}

fn root() -> Hash {
    leaf_hash(b"some root")
}

/// Go's `golang.org/x/mod/sumdb/note` package documentation example (also in
/// signed_note 0.2.0's docs): a signer key and the verifier key it implies.
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

#[test]
fn go_example_key_parses_and_gives_the_published_verifier_key() {
    let key = LedgerKey::parse(GO_SKEY).unwrap();
    assert_eq!(key.origin(), "PeterNeumann");
    assert_eq!(key.key_id(), 0xc74f_20a3);
    assert_eq!(key.verifier_key(), GO_VKEY);
    assert_eq!(key.to_private_string(), GO_SKEY);
}

#[test]
fn checkpoint_layout_is_exact() {
    let key = key();
    let note = key.sign_checkpoint(42, root()).unwrap();
    let lines: Vec<&str> = note.split('\n').collect();
    assert_eq!(lines.len(), 6, "{note:?}");
    assert_eq!(lines[0], ORIGIN);
    assert_eq!(lines[1], "42");
    assert_eq!(lines[2], hash_to_base64(&root()));
    assert_eq!(lines[3], "");
    assert_eq!(lines[5], "", "note ends with a newline");

    let sig_line = lines[4].strip_prefix("— ").expect("em dash and space");
    let (name, sig64) = sig_line.split_once(' ').unwrap();
    assert_eq!(name, ORIGIN);
    let sig = STANDARD.decode(sig64).unwrap();
    assert_eq!(sig.len(), 4 + 64);
    assert_eq!(
        u32::from_be_bytes(sig[..4].try_into().unwrap()),
        key.key_id()
    );
}

#[test]
fn signed_note_verifies_our_checkpoints_and_signs_them_identically() {
    let key = key();
    let ours = key.sign_checkpoint(1000, root()).unwrap();

    // signed_note's verifier, from our verifier key, accepts it.
    let verifier = StandardVerifier::new(&key.verifier_key()).unwrap();
    let note = Note::from_bytes(ours.as_bytes()).unwrap();
    let (verified, unverified) = note
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert!(unverified.is_empty());

    // signed_note's signer, from our private string, writes the same bytes
    // (Ed25519 signatures are deterministic).
    let signer = StandardSigner::new(&key.to_private_string()).unwrap();
    let body = format!("{ORIGIN}\n1000\n{}\n", hash_to_base64(&root()));
    let mut theirs = Note::new(body.as_bytes(), &[]).unwrap();
    theirs.add_sigs(&[&signer]).unwrap();
    assert_eq!(String::from_utf8(theirs.to_bytes()).unwrap(), ours);
}

#[test]
fn open_checkpoint_round_trips() {
    let key = key();
    for size in [0, 1, 42, u64::MAX] {
        let note = key.sign_checkpoint(size, root()).unwrap();
        let cp = open_checkpoint(&note, &key.verifier_key()).unwrap();
        assert_eq!(cp.origin, ORIGIN);
        assert_eq!(cp.size, size);
        assert_eq!(cp.root, root());
        assert_eq!(cp.note, note);
    }
}

#[test]
fn another_keys_verifier_is_refused() {
    let note = key().sign_checkpoint(5, root()).unwrap();
    let same_name = LedgerKey::from_seed(ORIGIN, [8; 32]).unwrap();
    let other_name = LedgerKey::from_seed("other.example/log", [7; 32]).unwrap();
    for other in [same_name, other_name] {
        let err = open_checkpoint(&note, &other.verifier_key()).unwrap_err();
        assert!(matches!(err, NoteError::UnknownKey { .. }), "{err}");
        // The message names the key that did sign.
        assert!(
            err.to_string()
                .contains(&format!("{ORIGIN}+{:08x}", key().key_id())),
            "{err}"
        );
    }
}

#[test]
fn edited_size_or_root_is_refused() {
    let key = key();
    let note = key.sign_checkpoint(5, root()).unwrap();
    let edits = [
        note.replacen("\n5\n", "\n6\n", 1),
        note.replacen(
            &hash_to_base64(&root()),
            &hash_to_base64(&leaf_hash(b"x")),
            1,
        ),
        note.replacen(ORIGIN, "writ.example.com/ledgeR", 1),
    ];
    for edited in edits {
        assert_ne!(edited, note);
        let err = open_checkpoint(&edited, &key.verifier_key()).unwrap_err();
        assert!(matches!(err, NoteError::BadSignature { .. }), "{err}");
    }
    // A signature from the right key over a different body is also refused.
    let other = key.sign_checkpoint(6, root()).unwrap();
    let other_sig = other.rsplit_once("\n\n").unwrap().1;
    let spliced = format!("{}\n\n{other_sig}", note.rsplit_once("\n\n").unwrap().0);
    assert!(matches!(
        open_checkpoint(&spliced, &key.verifier_key()),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn malformed_input_is_named_as_such() {
    let key = key();
    let note = key.sign_checkpoint(5, root()).unwrap();
    assert!(matches!(
        open_checkpoint("not a note", &key.verifier_key()),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_checkpoint(note.trim_end(), &key.verifier_key()),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_checkpoint(&note, "nonsense"),
        Err(NoteError::BadVerifierKey(_))
    ));
    assert!(matches!(
        open_checkpoint(&note, &key.to_private_string()),
        Err(NoteError::BadVerifierKey(_))
    ));
}

/// Notes signed by the right key but whose body Writ would never write.
#[test]
fn signed_but_foreign_bodies_are_refused() {
    let key = key();
    let signer = StandardSigner::new(&key.to_private_string()).unwrap();
    let sign = |body: &str| {
        let mut n = Note::new(body.as_bytes(), &[]).unwrap();
        n.add_sigs(&[&signer]).unwrap();
        String::from_utf8(n.to_bytes()).unwrap()
    };
    let r = hash_to_base64(&root());

    let err =
        open_checkpoint(&sign(&format!("other/log\n5\n{r}\n")), &key.verifier_key()).unwrap_err();
    assert!(matches!(err, NoteError::OriginMismatch { .. }), "{err}");

    for body in [
        format!("{ORIGIN}\n5\n{r}\nextension line\n"),
        format!("{ORIGIN}\n05\n{r}\n"),
        format!("{ORIGIN}\nfive\n{r}\n"),
        format!("{ORIGIN}\n5\n"),
    ] {
        let err = open_checkpoint(&sign(&body), &key.verifier_key()).unwrap_err();
        assert!(matches!(err, NoteError::Malformed(_)), "{body:?}: {err}");
    }
}

#[test]
fn verifier_key_has_the_c2sp_form() {
    let key = key();
    let vkey = key.verifier_key();
    let parts: Vec<&str> = vkey.split('+').collect();
    assert_eq!(parts.len(), 3, "{vkey}");
    assert_eq!(parts[0], ORIGIN);
    assert_eq!(parts[1].len(), 8);
    assert!(
        parts[1]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let data = STANDARD.decode(parts[2]).unwrap();
    assert_eq!(data.len(), 33);
    assert_eq!(data[0], 0x01);
    let id = signed_note::key_id(ORIGIN, &data);
    assert_eq!(parts[1], format!("{id:08x}"));
    assert_eq!(key.key_id(), id);
}

#[test]
fn private_string_round_trips_and_stays_out_of_debug() {
    let key = key();
    let private = key.to_private_string();
    assert!(private.starts_with(&format!("PRIVATE+KEY+{ORIGIN}+{:08x}+", key.key_id())));
    for text in [
        private.clone(),
        format!("{private}\n"),
        format!("{private}\r\n"),
    ] {
        let parsed = LedgerKey::parse(&text).unwrap();
        assert_eq!(parsed.to_private_string(), private);
        assert_eq!(parsed.verifier_key(), key.verifier_key());
    }

    let debug = format!("{key:?}");
    let secret = private.rsplit('+').next().unwrap();
    assert!(!debug.contains(&private), "{debug}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
    assert!(debug.contains(ORIGIN), "{debug}");
}

#[test]
fn bad_keys_are_refused_without_echoing_the_secret() {
    let private = key().to_private_string();
    let secret = private.rsplit('+').next().unwrap().to_owned();

    // A flipped key-id digit no longer matches the key.
    let mut chars: Vec<char> = private.chars().collect();
    let id_at = "PRIVATE+KEY+".len() + ORIGIN.len() + 1;
    chars[id_at] = if chars[id_at] == '0' { '1' } else { '0' };
    let wrong_id: String = chars.into_iter().collect();

    let mut alg2 = vec![0x02u8];
    alg2.extend_from_slice(&[7; 32]);
    let other_alg = format!(
        "PRIVATE+KEY+{ORIGIN}+{:08x}+{}",
        key().key_id(),
        STANDARD.encode(alg2)
    );

    let cases = [
        (wrong_id, "id"),
        (private.replace("PRIVATE+KEY", "PUBLIC+KEY"), "format"),
        (private.replacen(&secret, "AQ==", 1), "format"),
        (other_alg, "alg"),
        (String::new(), "format"),
    ];
    for (text, kind) in cases {
        let err = LedgerKey::parse(&text).unwrap_err();
        let ok = match kind {
            "id" => matches!(err, KeyError::KeyIdMismatch),
            "alg" => matches!(err, KeyError::UnsupportedAlgorithm),
            _ => matches!(err, KeyError::Malformed),
        };
        assert!(ok, "{kind}: {err:?}");
        assert!(!err.to_string().contains(&secret));
        assert!(!format!("{err:?}").contains(&secret));
    }

    for origin in ["", "has space", "has+plus", "tab\there", "ctl\u{7}"] {
        assert!(
            matches!(
                LedgerKey::from_seed(origin, [1; 32]),
                Err(KeyError::InvalidOrigin { .. })
            ),
            "{origin:?}"
        );
    }
}
