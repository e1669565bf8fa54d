//! Tampering with a real data directory, and `writ audit verify` finding it.
//!
//! One demo data dir is filled through the CLI and a checkpoint is saved, as an
//! auditor would. Each case then tampers with a copy of it the way an administrator
//! with database access could, and the offline verifier must fail and say where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use rusqlite::{Connection, params};
use support::{Demo, offline, ok};

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    /// A checkpoint the auditor saved, covering every entry.
    saved: PathBuf,
    /// The data dir's verifier key, as the auditor fetched it from the server.
    key: String,
    events: u64,
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn request(demo: &Demo, data: &Path, who: &str, entitlement: &str, why: &str) -> String {
    let out = ok(&demo.writ(
        data,
        &[
            "--as",
            who,
            "--json",
            "request",
            "create",
            "--entitlement",
            entitlement,
            "--duration",
            "8h",
            "--ticket",
            "INC-7",
            "--justification",
            why,
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let demo = Demo::start(&data);
    let a = request(
        &demo,
        &data,
        "alice",
        "pg-prod/read-only",
        "investigate the billing export",
    );
    ok(&demo.writ(
        &data,
        &[
            "--as",
            "priya",
            "request",
            "approve",
            &a,
            "--comment",
            "spoke to alice about it",
        ],
    ));
    ok(&demo.writ(&data, &["--as", "carol", "request", "approve", &a]));
    let b = request(
        &demo,
        &data,
        "bob",
        "pg-prod/read-only",
        "look at the slow query report",
    );
    ok(&demo.writ(
        &data,
        &[
            "--as",
            "priya",
            "request",
            "deny",
            &b,
            "--comment",
            "not needed",
        ],
    ));
    // Personal data in a delegation: its reason.
    ok(&demo.writ(
        &data,
        &[
            "--as",
            "alice",
            "delegation",
            "create",
            "--to",
            "dan",
            "--for",
            "1d",
            "--reason",
            "alice on holiday in Lisbon",
        ],
    ));
    let saved = dir.path().join("checkpoint.txt");
    let note = ok(&demo.writ(&data, &["--as", "ada", "ledger", "checkpoint", "--sign"]));
    std::fs::write(&saved, &note).unwrap();
    let key = ok(&demo.writ(&data, &["ledger", "key"])).trim().to_owned();
    demo.kill();
    let events = note.lines().nth(1).unwrap().parse().unwrap();
    Fixture {
        _dir: dir,
        data,
        saved,
        key,
        events,
    }
}

impl Fixture {
    /// A copy of the data dir to tamper with.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.data.with_file_name(name);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&self.data).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
        to
    }

    fn verify(&self, data: &Path, saved: bool) -> Output {
        let mut args = vec!["audit", "verify", "--key", &self.key];
        let path = self.saved.to_string_lossy().into_owned();
        if saved {
            args.extend(["--checkpoint", &path]);
        }
        offline(data, &args)
    }
}

fn db(data: &Path) -> Connection {
    Connection::open(data.join("writ.db")).unwrap()
}

fn diverges(out: &Output, needles: &[&str]) {
    let text = stdout(out);
    assert!(!out.status.success(), "verify passed:\n{text}");
    for n in needles {
        assert!(text.contains(n), "`{n}` not in:\n{text}");
    }
}

fn first_step_by(conn: &Connection, approver: &str) -> (i64, Vec<u8>) {
    conn.query_row(
        "SELECT seq, leaf FROM events WHERE kind = 'step_decided' AND instr(leaf, ?1) > 0 ORDER BY seq LIMIT 1",
        [format!("\"approver\":\"{approver}\"")],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn verify_passes_on_an_untouched_log_and_locates_every_kind_of_tampering() {
    let f = fixture();

    let out = f.verify(&f.data, true);
    let text = ok(&out);
    assert!(
        text.starts_with(&format!("OK: {} entries, root ", f.events)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "extends the saved checkpoint of {} entries",
            f.events
        )),
        "{text}"
    );
    let json = offline(&f.data, &["--json", "audit", "verify", "--key", &f.key]);
    let v: serde_json::Value = serde_json::from_str(&ok(&json)).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["size"], f.events);

    // 1. A leaf's bytes edited: the approver of a step changed in the ledger itself.
    let d = f.copy("edited-leaf");
    let conn = db(&d);
    let (seq, leaf) = first_step_by(&conn, "priya");
    let forged = String::from_utf8(leaf)
        .unwrap()
        .replace("\"approver\":\"priya\"", "\"approver\":\"grace\"");
    conn.execute(
        "UPDATE events SET leaf = ?1 WHERE seq = ?2",
        params![forged.as_bytes(), seq],
    )
    .unwrap();
    drop(conn);
    diverges(
        &f.verify(&d, false),
        &[
            &format!("DIVERGENCE at index {} (seq {seq})", seq - 1),
            "leaf hash differs",
        ],
    );

    // 1b. The same edit with the whole stored tree recomputed to match: the signed
    // checkpoint still catches it.
    let d = f.copy("edited-leaf-tree-recomputed");
    let conn = db(&d);
    conn.execute(
        "UPDATE events SET leaf = ?1 WHERE seq = ?2",
        params![forged.as_bytes(), seq],
    )
    .unwrap();
    let roots = recompute_tree(&conn);
    drop(conn);
    diverges(
        &f.verify(&d, false),
        &[
            "does not match the checkpoint stored for size",
            "were changed, removed or reordered",
        ],
    );
    // ...and rewriting the checkpoint rows' roots does not help: the signed notes
    // still name the old roots.
    let conn = db(&d);
    for (size, root) in &roots {
        conn.execute(
            "UPDATE checkpoints SET root = ?1 WHERE size = ?2",
            params![&root.0[..], *size as i64],
        )
        .unwrap();
    }
    drop(conn);
    diverges(&f.verify(&d, false), &["another root than its row says"]);

    // 2. An event deleted.
    let d = f.copy("deleted");
    let conn = db(&d);
    conn.execute("DELETE FROM events WHERE seq = ?1", [seq])
        .unwrap();
    drop(conn);
    diverges(
        &f.verify(&d, false),
        &[
            &format!("DIVERGENCE at index {}", seq - 1),
            &format!("entry {seq} is missing"),
        ],
    );

    // 3. Two events swapped (their contents exchanged between positions).
    let d = f.copy("swapped");
    let conn = db(&d);
    let (a, b) = (seq - 1, seq);
    conn.execute_batch(&format!(
        "UPDATE events SET seq = -1 WHERE seq = {a};
         UPDATE events SET seq = {a} WHERE seq = {b};
         UPDATE events SET seq = {b} WHERE seq = -1;"
    ))
    .unwrap();
    drop(conn);
    diverges(
        &f.verify(&d, false),
        &[&format!("DIVERGENCE at index {}", a - 1)],
    );

    // 5. A projection row edited behind the ledger's back: the approval's approver.
    let d = f.copy("projection");
    let conn = db(&d);
    let changed = conn
        .execute(
            "UPDATE request_steps SET approver = 'grace' WHERE approver = 'priya' AND decision = 'approve'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    diverges(
        &f.verify(&d, false),
        &[
            "DIVERGENCE",
            "table:    request_steps",
            "approver=grace",
            "approver=priya",
        ],
    );
}

#[test]
fn a_truncated_and_rewritten_history_is_caught_against_a_saved_checkpoint() {
    let f = fixture();
    let d = f.copy("rewritten");
    // Cut the log three entries short, tree and checkpoints included, as a thorough
    // attacker would, and rebuild the projections to match.
    let keep = f.events - 3;
    cut(&d, keep, Cut::Everything);
    ok(&offline(&d, &["admin", "rebuild"]));
    // Then write a different history past the old end, signed by the same server.
    let demo = Demo::start(&d);
    for who in ["erin", "frank", "dan", "grace"] {
        request(
            &demo,
            &d,
            who,
            "pg-prod/read-only",
            "a history that never happened",
        );
    }
    ok(&demo.writ(&d, &["--as", "ada", "ledger", "checkpoint", "--sign"]));
    demo.kill();

    // On its own, the rewritten log is self-consistent...
    let alone = f.verify(&d, false);
    assert!(alone.status.success(), "{}", stdout(&alone));
    // ...but it does not extend what the auditor saved.
    diverges(
        &f.verify(&d, true),
        &[&format!(
            "does not match the saved checkpoint at size {}",
            f.events
        )],
    );
    // And a log shorter than the saved checkpoint is refused outright.
    let d = f.copy("truncated");
    cut(&d, keep, Cut::EventsOnly);
    diverges(
        &f.verify(&d, true),
        &["entries were removed since it was signed"],
    );

    // Entries cut from the end, their checkpoints too, but not their tree hashes.
    let d = f.copy("cut-end-tree-kept");
    cut(&d, keep, Cut::KeepTree);
    diverges(
        &f.verify(&d, false),
        &[&format!(
            "the stored tree has hashes beyond its {keep} entries"
        )],
    );
    // Entries and tree cut, but a stored checkpoint still covers them.
    let d = f.copy("cut-end-checkpoint-kept");
    cut(&d, keep, Cut::KeepCheckpoints);
    diverges(
        &f.verify(&d, false),
        &[&format!(
            "a checkpoint covers {} entries but the log has {keep}",
            f.events
        )],
    );
}

#[test]
fn verify_refuses_a_checkpoint_signed_by_another_key() {
    let f = fixture();
    let other = tempfile::tempdir().unwrap();
    let demo = Demo::start(&other.path().join("other"));
    let other_key = ok(&demo.writ(&other.path().join("other"), &["ledger", "key"]));
    demo.kill();
    let out = offline(&f.data, &["audit", "verify", "--key", other_key.trim()]);
    diverges(&out, &["does not verify"]);
}

#[test]
fn the_signing_key_is_private_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let demo = Demo::start_with(&data, "debug", Stdio::from(log));
    let id = request(
        &demo,
        &data,
        "alice",
        "pg-prod/read-only",
        "investigate the billing export",
    );
    ok(&demo.writ(&data, &["--as", "priya", "request", "approve", &id]));
    ok(&demo.writ(&data, &["--as", "ada", "ledger", "checkpoint", "--sign"]));
    demo.kill();

    let key_path = data.join("ledger-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "ledger-key mode {mode:o}");
    }
    let private = std::fs::read_to_string(&key_path).unwrap();
    // PRIVATE+KEY+<name>+<id>+<base64 seed>; the base64 may itself hold `+`.
    let secret = private.trim().splitn(5, '+').nth(4).unwrap().to_owned();
    assert!(secret.len() > 40, "{private}");
    let logged = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        logged.contains("created the ledger signing key"),
        "{logged}"
    );
    assert!(!logged.contains(&secret), "the signing key reached the log");
}

#[test]
fn erasing_a_person_keeps_the_tree_and_every_checkpoint_valid() {
    let f = fixture();
    let d = f.copy("erased");
    let out = ok(&offline(&d, &["admin", "erase", "alice"]));
    assert!(out.starts_with("Erased "), "{out}");
    assert!(out.contains("about `alice`"), "{out}");
    let numbers: Vec<u64> = out
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (fields, entries) = (numbers[0], numbers[1]);
    assert!(fields > entries, "{out}");
    let json = offline(&d, &["--json", "audit", "verify", "--key", &f.key]);
    let v: serde_json::Value = serde_json::from_str(&ok(&json)).unwrap();
    assert_eq!(
        v["erased_events"], entries,
        "verify reports what the erasure recorded"
    );
    let recorded: Vec<u8> = db(&d)
        .query_row(
            "SELECT leaf FROM events WHERE kind = 'personal_data_erased'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let recorded = String::from_utf8(recorded).unwrap();
    assert!(
        recorded.contains(&format!("\"entries\":{entries},\"fields\":{fields}")),
        "{recorded}"
    );

    let text = ok(&f.verify(&d, true));
    assert!(text.contains("extends the saved checkpoint"), "{text}");
    assert!(text.contains("entries have erased personal data"), "{text}");
    let conn = db(&d);
    let leaks: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM events WHERE instr(personal, 'investigate the billing') > 0)
                  + (SELECT COUNT(*) FROM requests WHERE instr(submission, 'investigate the billing') > 0)
                  + (SELECT COUNT(*) FROM identities WHERE instr(body, 'Alice Martin') > 0)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        leaks, 0,
        "alice's personal data is gone from ledger and projections"
    );
    // Comments others wrote on her requests, and her token labels, went with it.
    let comment: Option<String> = conn
        .query_row(
            "SELECT comment FROM request_steps WHERE approver = 'priya' AND decision = 'approve'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(comment.as_deref(), Some(writ_core::ERASED));
    let stray: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE instr(personal, 'spoke to alice') > 0
                  OR instr(personal, 'holiday in Lisbon') > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stray, 0);
    // Her delegation's reason went too, from the ledger and from the projection.
    let reason: String = conn
        .query_row(
            "SELECT body FROM delegations WHERE delegator = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.contains(writ_core::ERASED), "{reason}");
    let labels: Vec<String> = conn
        .prepare("SELECT label FROM tokens WHERE identity = 'alice'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!labels.is_empty());
    assert!(labels.iter().all(|l| l == writ_core::ERASED), "{labels:?}");
    // Other people's data is untouched.
    let kept: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE instr(submission, 'slow query report') > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1);
    drop(conn);

    let again = ok(&offline(&d, &["admin", "erase", "alice"]));
    assert!(again.starts_with("Nothing left to erase"), "{again}");
    let unknown = offline(&d, &["admin", "erase", "nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no identity `nobody`"));
}

/// What an attacker removes from the end of the log past `keep` entries.
enum Cut {
    Everything,
    EventsOnly,
    KeepTree,
    KeepCheckpoints,
}

fn cut(data: &Path, keep: u64, what: Cut) {
    let conn = db(data);
    conn.execute("DELETE FROM events WHERE seq > ?1", [keep as i64])
        .unwrap();
    if matches!(what, Cut::Everything | Cut::KeepCheckpoints) {
        conn.execute(
            "DELETE FROM tree WHERE idx >= ?1",
            [writ_ledger::stored_hash_index(0, keep) as i64],
        )
        .unwrap();
    }
    if matches!(what, Cut::Everything | Cut::KeepTree) {
        conn.execute("DELETE FROM checkpoints WHERE size > ?1", [keep as i64])
            .unwrap();
    }
}

/// What an attacker with the database would do to hide an edited leaf: recompute
/// every stored tree hash from the (edited) leaves.
fn recompute_tree(conn: &Connection) -> Vec<(u64, writ_ledger::Hash)> {
    let sizes: Vec<i64> = conn
        .prepare("SELECT size FROM checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut roots = Vec::new();
    let leaves: Vec<Vec<u8>> = conn
        .prepare("SELECT leaf FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    conn.execute("DELETE FROM tree", []).unwrap();
    let mut frontier = writ_ledger::Frontier::new();
    let mut idx = 0i64;
    for leaf in leaves {
        for h in frontier.push(writ_ledger::leaf_hash(&leaf)) {
            conn.execute(
                "INSERT INTO tree (idx, hash) VALUES (?1, ?2)",
                params![idx, &h.0[..]],
            )
            .unwrap();
            idx += 1;
        }
        if sizes.contains(&(frontier.size() as i64)) {
            roots.push((frontier.size(), frontier.root()));
        }
    }
    roots
}
