//! What only the SQLite backend can show: group commit batching, restart and crash
//! images of the same file, and rebuilding or checking the projections offline after
//! someone edited the database behind the ledger's back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::task::Poll;

use common::*;
use rusqlite::{Connection, params};
use writ_core::{
    Actor, Command, DurationSpec, Event, GrantStatus, Justification, ManualClock, RequestKind,
    RequestStatus, Timestamp,
};
use writ_store::sqlite::{
    ProjectionCheck, RebuildReport, SqliteStore, check_projections, dump_projections, rebuild,
};
use writ_store::{ExecError, Outcome, Store, StoreError, StoredEvent};

fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn dump(path: &Path) -> writ_store::sqlite::Dump {
    dump_projections(&raw(path)).unwrap()
}

fn expect_match(path: &Path, events: u64) -> usize {
    match check_projections(path).unwrap() {
        ProjectionCheck::Match { events: e, rows } => {
            assert_eq!(e, events, "events replayed");
            rows
        }
        other => panic!("expected the projections to match the ledger, got {other:?}"),
    }
}

fn expect_corrupt(result: Result<impl std::fmt::Debug, StoreError>, needles: &[&str]) {
    match result {
        Err(StoreError::Corrupt(message)) => {
            for needle in needles {
                assert!(
                    message.contains(needle),
                    "`{message}` should mention `{needle}`"
                );
            }
        }
        other => panic!("expected StoreError::Corrupt mentioning {needles:?}, got {other:?}"),
    }
}

/// Seeds the organisation plus `n` employees reporting to `mia`.
async fn seed_people(store: &dyn Store, n: usize) -> Vec<String> {
    seed(store).await;
    let people: Vec<String> = (0..n).map(|i| format!("emp-{i:03}")).collect();
    for p in &people {
        exec(
            store,
            sys(Command::UpsertIdentity {
                identity: human(p, Some(MANAGER), &[], &[]),
            }),
        )
        .await;
    }
    people
}

// ---- group commit --------------------------------------------------------------------

/// While another connection holds SQLite's write lock, 200 concurrent commands (a
/// tenth of them invalid) all reach the writer's queue; once the lock is released
/// they commit in at most two transactions. The valid ones all commit with contiguous
/// sequence numbers; the refused ones, sharing those transactions, change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_queued_commands() {
    const N: usize = 200;
    let b = open_sqlite();
    let store: Arc<dyn Store> = b.store.clone();
    let people = seed_people(&*store, N).await;
    b.clock.advance_millis(60_000);
    let seq_before = last_seq(&*store).await;
    let commits_before = b.store.commits();
    let appended_before = b.store.events_appended();

    let envelopes: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 10 == 7 {
                let too_short = Command::Submit {
                    beneficiary: n(p),
                    entitlement: eref(LOW),
                    justification: Justification::parse("short").unwrap(),
                    ticket: None,
                    duration: DurationSpec::days(1),
                    kind: RequestKind::Standard,
                    constraints: None,
                    sod_exception: None,
                };
                by(p, too_short)
            } else {
                by(p, submit(p, LOW, DurationSpec::days(1)))
            }
        })
        .collect();

    // Hold the write lock: the writer can take commands but cannot commit any.
    let lock = raw(&b.path);
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (queued_tx, mut queued) = tokio::sync::mpsc::unbounded_channel();
    let handles: Vec<_> = envelopes
        .into_iter()
        .map(|env| {
            let store = store.clone();
            let queued_tx = queued_tx.clone();
            tokio::spawn(async move {
                let mut fut = store.execute(env);
                // The first poll hands the command to the writer's queue.
                let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                queued_tx.send(()).unwrap();
                match first {
                    Poll::Ready(result) => result,
                    Poll::Pending => fut.await,
                }
            })
        })
        .collect();
    for _ in 0..N {
        queued.recv().await.unwrap();
    }
    assert_eq!(
        b.store.commits(),
        commits_before,
        "nothing commits while another connection holds the write lock"
    );
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    let mut outcomes = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let result = h.await.unwrap();
        if i % 10 == 7 {
            match result {
                Err(ExecError::Refused(r)) => assert_eq!(r.code, "justification-too-short"),
                other => panic!("command {i}: expected a refusal, got {other:?}"),
            }
        } else {
            outcomes.push(committed(result));
        }
    }
    let valid = N - N / 10;
    assert_eq!(outcomes.len(), valid);
    let mut seqs: Vec<u64> = outcomes.iter().flatten().map(|r| r.seq).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (seq_before + 1..=seq_before + valid as u64).collect();
    assert_eq!(seqs, expected, "contiguous, no gaps, no duplicates");

    let commits = b.store.commits() - commits_before;
    assert!(commits >= 1);
    assert!(
        commits < N as u64,
        "batching happened: {commits} commits for {N} commands"
    );
    assert!(
        commits <= 2,
        "every queued command joins the next batch: {commits} commits"
    );
    assert_eq!(b.store.events_appended() - appended_before, valid as u64);

    let events = all_events(&*store).await;
    assert_contiguous(&events);
    assert_eq!(events.len() as u64, seq_before + valid as u64);
    let pending = store
        .requests(writ_store::RequestFilter {
            status: Some(RequestStatus::Pending),
            ..all_requests()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), valid);
    b.store.shutdown();
    expect_match(&b.path, events.len() as u64);
}

// ---- durability ----------------------------------------------------------------------

/// Shut the store down, reopen the same file with a clock that is behind the ledger and
/// a fresh id generator: everything is still there, idempotency keys still replay, and
/// the ledger continues at the next sequence number without going back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart() {
    let b = open_sqlite();
    let w = varied_workload(&*b.store, &b.clock).await;
    b.clock.advance_millis(60_000);
    let keyed_submit = keyed(
        by("alice", submit("alice", MEDIUM, DurationSpec::days(7))),
        "restart-key",
        "fp",
    );
    let r = request_id(&committed(b.store.execute(keyed_submit.clone()).await));
    let alice = Actor::Identity(n("alice"));
    b.store
        .save_response(&alice, "restart-key", 201, b"created".to_vec())
        .await
        .unwrap();
    let before = snapshot(&*b.store).await;
    let events_before = all_events(&*b.store).await;
    let last = events_before.last().unwrap().recorded.clone();

    b.store.shutdown();
    match b.store.execute(sys(issue_token("bob", 9))).await {
        Err(ExecError::Store(StoreError::Unavailable(_))) => {}
        other => panic!("a closed store must refuse work, got {other:?}"),
    }
    assert!(matches!(
        b.store
            .save_response(&alice, "restart-key", 500, vec![])
            .await,
        Err(StoreError::Unavailable(_))
    ));
    let path = b.path.clone();
    let _dir = b.dir;
    drop(b.store);

    let clock = Arc::new(ManualClock::new(t0()));
    assert!(t0() < last.at, "the new clock is behind the ledger");
    let store = reopen_sqlite(&path, clock.clone(), "b");
    assert_eq!(snapshot(&*store).await, before, "every read is as before");
    let leaves: Vec<_> = all_events(&*store)
        .await
        .into_iter()
        .map(|e| e.leaf)
        .collect();
    let leaves_before: Vec<_> = events_before.into_iter().map(|e| e.leaf).collect();
    assert_eq!(
        leaves, leaves_before,
        "the ledger is byte for byte the same"
    );
    assert_eq!(
        store.request(&w.pending).await.unwrap().unwrap().status,
        RequestStatus::Pending
    );
    assert_eq!(
        store.grant(&w.active_grant).await.unwrap().unwrap().status,
        GrantStatus::Active
    );

    match store.execute(keyed_submit).await {
        Ok(Outcome::Replayed(rec)) => {
            assert_eq!(rec.subject, format!("request:{r}"));
            assert_eq!(rec.status, Some(201));
            assert_eq!(rec.body.as_deref(), Some(&b"created"[..]));
        }
        other => panic!("the key survives a restart, got {other:?}"),
    }

    // The writer picks up where it left off.
    let recs = exec(&*store, by(OWNER, approve(&w.pending, Some(2)))).await;
    assert_eq!(
        kinds(&recs),
        ["step_decided", "request_approved", "grant_created"]
    );
    assert_eq!(
        recs[0].seq,
        last.seq + 1,
        "the next sequence number, no gap"
    );
    assert!(
        recs.iter().all(|r| r.at == last.at),
        "no going back in time"
    );
    let g = grant_id(&recs);
    assert!(
        g.as_str().starts_with("grt_b"),
        "ids come from the new generator: {g}"
    );
    assert_eq!(
        store.request(&w.pending).await.unwrap().unwrap().status,
        RequestStatus::Approved
    );
    assert_contiguous(&all_events(&*store).await);

    store.shutdown();
    expect_match(&path, last.seq + 3);
}

/// An acknowledged command is on disk before `execute` returns: a copy of the
/// database files taken while the store is still running (what a crash leaves
/// behind) holds every acknowledged event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_image_holds_every_acknowledged_command() {
    let b = open_sqlite();
    varied_workload(&*b.store, &b.clock).await;
    let before = snapshot(&*b.store).await;

    let crash = tempfile::tempdir().unwrap();
    let image = crash.path().join("writ.db");
    std::fs::copy(&b.path, &image).unwrap();
    let wal = b.path.with_file_name("writ.db-wal");
    if wal.exists() {
        std::fs::copy(&wal, crash.path().join("writ.db-wal")).unwrap();
    }

    let recovered = reopen_sqlite(&image, Arc::new(ManualClock::new(t0())), "c");
    assert_eq!(snapshot(&*recovered).await, before);
    recovered.shutdown();
    expect_match(&image, before.stats.events);
    b.store.shutdown();
}

// ---- rebuild and check ---------------------------------------------------------------

/// After a varied workload the projections match a replay of the ledger. Each edit of
/// a projection table behind the ledger's back is reported as a divergence naming the
/// table and both versions of the row, and `rebuild` restores the table from the
/// ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_projection_edits_and_rebuild_repairs_them() {
    let b = open_sqlite();
    let w = varied_workload(&*b.store, &b.clock).await;
    let total = last_seq(&*b.store).await;
    b.store.shutdown();
    let path = b.path.clone();

    let rows = expect_match(&path, total);
    let pristine = dump(&path);
    assert_eq!(rows, pristine.len());
    for table in [
        "policy",
        "identities",
        "systems",
        "entitlements",
        "tokens",
        "requests",
        "request_steps",
        "grants",
    ] {
        assert!(
            pristine
                .keys()
                .any(|(t, _)| writ_store::sqlite::PROJECTION_TABLES[*t] == table),
            "the workload leaves rows in `{table}`"
        );
    }
    // Rebuilding an intact database changes nothing.
    assert_eq!(rebuild(&path).unwrap(), RebuildReport { events: total });
    assert_eq!(dump(&path), pristine);

    let approved = w.approved.to_string();
    let expired = w.expired_grant.to_string();
    let policy_version = writ_core::ApprovalPolicy::default().version();
    let edits: Vec<(&str, String, String, String, &str)> = vec![
        (
            "a decided step's approver",
            format!("UPDATE request_steps SET approver = 'bob' WHERE request_id = '{approved}' AND idx = 1"),
            "approver=bob".into(),
            "approver=mia".into(),
            "request_steps",
        ),
        (
            "an expired grant made active again",
            format!("UPDATE grants SET status = 'active', ended_at = NULL, ended_by = NULL, end_reason = NULL WHERE id = '{expired}'"),
            "status=active".into(),
            "status=expired".into(),
            "grants",
        ),
        (
            "a grant's expiry pushed back a year",
            format!("UPDATE grants SET expires_at = expires_at + 31536000000, review_by = review_by + 31536000000 WHERE id = '{}'", w.active_grant),
            format!("id={} | ", w.active_grant),
            format!("id={} | ", w.active_grant),
            "grants",
        ),
        (
            "a forged grant",
            "INSERT INTO grants (id, request_id, beneficiary, entitlement, status, granted_at, expires_at, review_by)
             VALUES ('grt_zzforged', 'req_zzforged', 'bob', 'pg-prod/read-only', 'active', 1, 2, 2)"
                .to_owned(),
            "id=grt_zzforged".into(),
            String::new(),
            "grants",
        ),
        (
            "a denied request turned approved",
            format!("UPDATE requests SET status = 'approved' WHERE id = '{}'", w.denied),
            "status=approved".into(),
            "status=denied".into(),
            "requests",
        ),
        (
            "an inactive person made active",
            "UPDATE identities SET status = 'active' WHERE name = 'carl'".to_owned(),
            "status=active".into(),
            "status=inactive".into(),
            "identities",
        ),
        (
            "a revoked token un-revoked",
            "UPDATE tokens SET revoked_at = NULL WHERE revoked_at IS NOT NULL".to_owned(),
            "revoked_at=NULL".into(),
            "identity=bob".into(),
            "tokens",
        ),
        (
            "the policy's version",
            "UPDATE policy SET version = 'forged'".to_owned(),
            "version=forged".into(),
            format!("version={policy_version}"),
            "policy",
        ),
    ];
    for (what, sql, live_has, replayed_has, table) in edits {
        let changed = raw(&path).execute(&sql, []).unwrap();
        assert_eq!(changed, 1, "{what}: the edit touches one row");
        match check_projections(&path).unwrap() {
            ProjectionCheck::Diverges {
                table: t,
                live,
                replayed,
            } => {
                assert_eq!(t, table, "{what}");
                let live = live.unwrap_or_default();
                assert!(live.contains(&live_has), "{what}: live row `{live}`");
                let replayed = replayed.unwrap_or_default();
                assert!(
                    replayed.contains(&replayed_has),
                    "{what}: replayed row `{replayed}`"
                );
            }
            other => panic!("{what}: expected a divergence, got {other:?}"),
        }
        assert_eq!(
            rebuild(&path).unwrap(),
            RebuildReport { events: total },
            "{what}"
        );
        assert_eq!(dump(&path), pristine, "{what}: rebuild restores every row");
        expect_match(&path, total);
    }

    // The store reads the repaired tables.
    let store = reopen_sqlite(&path, b.clock.clone(), "r");
    let req = store.request(&w.approved).await.unwrap().unwrap();
    assert_eq!(req.steps[0].decision.as_ref().unwrap().approver, n(MANAGER));
    assert_eq!(
        store.grant(&w.expired_grant).await.unwrap().unwrap().status,
        GrantStatus::Expired
    );
    let forged = writ_core::GrantId::parse("grt_zzforged").unwrap();
    assert_eq!(store.grant(&forged).await.unwrap(), None);
    assert!(
        store
            .due_grants(Timestamp(i64::MAX), 100)
            .await
            .unwrap()
            .iter()
            .all(|g| g != &w.expired_grant)
    );
    store.shutdown();
}

/// A row deleted from a projection table is reported against that table, whichever
/// row it was, with the deleted row as the replayed version and no live version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_table_a_row_was_deleted_from() {
    let b = open_sqlite();
    varied_workload(&*b.store, &b.clock).await;
    let total = last_seq(&*b.store).await;
    b.store.shutdown();
    let path = b.path.clone();
    let pristine = dump(&path);

    let mut misreported = Vec::new();
    for (table, key) in [
        ("identities", "name"),
        ("tokens", "id"),
        ("requests", "id"),
        ("grants", "id"),
    ] {
        // The row that sorts last in its table.
        let sql = format!("DELETE FROM {table} WHERE {key} = (SELECT MAX({key}) FROM {table})");
        assert_eq!(raw(&path).execute(&sql, []).unwrap(), 1);
        match check_projections(&path).unwrap() {
            ProjectionCheck::Diverges {
                table: t,
                live,
                replayed,
            } => {
                let deleted_row_reported = replayed
                    .as_deref()
                    .is_some_and(|r| r.contains(&format!("{key}=")));
                if t != table || live.is_some() || !deleted_row_reported {
                    misreported.push(format!(
                        "deleted the last row of `{table}`; reported table `{t}`, live {live:?}, replayed {replayed:?}"
                    ));
                }
            }
            other => panic!("{table}: expected a divergence, got {other:?}"),
        }
        rebuild(&path).unwrap();
        assert_eq!(dump(&path), pristine);
        expect_match(&path, total);
    }
    assert!(misreported.is_empty(), "{}", misreported.join("\n"));
}

// ---- ledger damage -------------------------------------------------------------------

/// A ledger entry deleted from the middle is a gap: rebuild and check fail with
/// `Corrupt` naming the missing entry, and a failed rebuild leaves the projections as
/// they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_the_ledger_is_corruption() {
    let b = open_sqlite();
    varied_workload(&*b.store, &b.clock).await;
    b.store.shutdown();
    let path = b.path.clone();
    let pristine = dump(&path);

    assert_eq!(
        raw(&path)
            .execute("DELETE FROM events WHERE seq = 5", [])
            .unwrap(),
        1
    );
    expect_corrupt(
        rebuild(&path),
        &["ledger entry 5 is missing", "next entry is 6"],
    );
    assert_eq!(dump(&path), pristine, "a failed rebuild changes nothing");
    expect_corrupt(check_projections(&path), &["ledger entry 5 is missing"]);
    assert_eq!(dump(&path), pristine, "a check changes nothing");
}

/// Truncating the ledger's last entry leaves no gap; the check still notices that the
/// projections hold its effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_ledger_no_longer_matches() {
    let b = open_sqlite();
    let w = varied_workload(&*b.store, &b.clock).await;
    let total = last_seq(&*b.store).await;
    b.store.shutdown();
    let path = b.path.clone();
    let (seq, kind): (i64, String) = raw(&path)
        .query_row(
            "SELECT seq, kind FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((seq as u64, kind.as_str()), (total, "grant_expired"));
    raw(&path)
        .execute("DELETE FROM events WHERE seq = ?1", params![seq])
        .unwrap();
    match check_projections(&path).unwrap() {
        ProjectionCheck::Diverges {
            table,
            live,
            replayed,
        } => {
            assert_eq!(table, "grants");
            assert!(
                live.unwrap()
                    .contains(&format!("id={} | ", w.expired_grant))
            );
            assert!(replayed.unwrap().contains("status=active"));
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
}

/// Edits of a leaf's bytes: anything that is not the canonical encoding of an event,
/// or that disagrees with its position or its index columns, makes rebuild, check and
/// reads fail with `Corrupt` naming the entry. A canonical edit of an event's content
/// decodes, but the check finds the projections disagree with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_leaves_are_detected() {
    let b = open_sqlite();
    let w = varied_workload(&*b.store, &b.clock).await;
    let events = all_events(&*b.store).await;
    let total = events.len() as u64;
    b.store.shutdown();
    let path = b.path.clone();
    let pristine = dump(&path);

    // The manager's decision of step 1 of the approved request.
    let target: &StoredEvent = events
        .iter()
        .find(|e| {
            matches!(&e.recorded.event,
                Event::StepDecided { request, step: 1, .. } if request == &w.approved)
        })
        .unwrap();
    let seq = target.recorded.seq;
    let leaf = String::from_utf8(target.leaf.clone()).unwrap();
    let at = target.recorded.at.millis();
    assert!(leaf.contains(r#""approver":"mia""#), "{leaf}");

    let set_leaf = |bytes: &[u8]| {
        raw(&path)
            .execute(
                "UPDATE events SET leaf = ?1 WHERE seq = ?2",
                params![bytes, seq as i64],
            )
            .unwrap();
    };
    let entry = format!("ledger entry {seq}");
    let says_next = format!("says it is entry {}", seq + 1);
    let corrupting: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "white space added",
            leaf.replacen(r#"{"actor":"#, r#"{ "actor":"#, 1)
                .into_bytes(),
            "canonical",
        ),
        (
            "keys reordered",
            reorder_seq_first(&leaf).into_bytes(),
            "canonical",
        ),
        (
            "bytes cut off",
            leaf.as_bytes()[..leaf.len() / 2].to_vec(),
            "not a Writ event",
        ),
        (
            "not JSON at all",
            b"\x00\x01garbage".to_vec(),
            "not a Writ event",
        ),
        (
            "unknown encoding version",
            leaf.replacen(r#""v":2}"#, r#""v":9}"#, 1).into_bytes(),
            "encoding version 9",
        ),
        (
            "another entry's position",
            leaf.replacen(
                &format!(r#""seq":{seq},"#),
                &format!(r#""seq":{},"#, seq + 1),
                1,
            )
            .into_bytes(),
            &says_next,
        ),
        (
            "time moved",
            leaf.replacen(
                &format!(r#""at":{at},"#),
                &format!(r#""at":{},"#, at + 1),
                1,
            )
            .into_bytes(),
            "index columns disagree",
        ),
        (
            "actor changed",
            leaf.replacen(r#""actor":"mia""#, r#""actor":"bob""#, 1)
                .into_bytes(),
            "index columns disagree",
        ),
    ];
    for (what, bytes, message) in corrupting {
        assert_ne!(bytes, target.leaf, "{what}: the edit changes the leaf");
        set_leaf(&bytes);
        expect_corrupt(rebuild(&path), &[&entry, message]);
        expect_corrupt(check_projections(&path), &[&entry, message]);
        assert_eq!(
            dump(&path),
            pristine,
            "{what}: a failed rebuild changes nothing"
        );
        if message != "index columns disagree" {
            // Reads decode every leaf they return.
            let store = reopen_sqlite(&path, b.clock.clone(), "x");
            expect_corrupt(store.events(0, 10_000).await, &[&entry]);
            expect_corrupt(
                store.events_of(&target.recorded.event.subject()).await,
                &[&entry],
            );
            store.shutdown();
        }
        set_leaf(&target.leaf);
        expect_match(&path, total);
    }

    // A canonical edit of the content: it decodes, its index columns agree, and only
    // the projections (and, later, the Merkle tree) can tell.
    let forged = leaf.replacen(r#""approver":"mia""#, r#""approver":"bob""#, 1);
    set_leaf(forged.as_bytes());
    assert_eq!(
        writ_core::Recorded::open(forged.as_bytes(), None)
            .unwrap()
            .recorded
            .seal(&mut || [0; 16])
            .unwrap()
            .leaf,
        forged.as_bytes(),
        "the forged leaf is canonical"
    );
    match check_projections(&path).unwrap() {
        ProjectionCheck::Diverges {
            table,
            live,
            replayed,
        } => {
            assert_eq!(table, "request_steps");
            assert!(live.unwrap().contains("approver=mia"));
            assert!(replayed.unwrap().contains("approver=bob"));
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    set_leaf(&target.leaf);
    expect_match(&path, total);
}

/// The same JSON with `seq` moved to the front: valid, but not canonical.
fn reorder_seq_first(leaf: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(leaf).unwrap();
    let seq = value["seq"].as_u64().unwrap();
    let without = leaf.replacen(&format!(r#","seq":{seq}"#), "", 1);
    format!(r#"{{"seq":{seq},{}"#, &without[1..])
}

/// A copy of a data dir written by the last build before the verifiable ledger.
fn schema1_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("writ.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/schema1-demo.db"
        ),
        &path,
    )
    .unwrap();
    (dir, path)
}

/// A data dir written by the last build before the verifiable ledger (schema 1, v1
/// leaves in clear, no tree): the demo, one approved request with a grant, one
/// cancelled. Opening it migrates it and builds the tree for every old event.
#[tokio::test]
async fn a_schema_1_database_is_upgraded_and_then_verifies() {
    let (_dir, path) = schema1_copy();
    let key = Arc::new(writ_ledger::LedgerKey::from_seed("upgrade.test/ledger", [3; 32]).unwrap());
    let options = writ_store::sqlite::VerifyOptions {
        verifier_key: key.verifier_key(),
        saved_checkpoint: None,
    };
    let before = writ_store::sqlite::verify(&path, &options, &mut |_, _, _| {});
    assert!(
        before
            .unwrap_err()
            .to_string()
            .contains("start Writ on it once to migrate"),
        "verify refuses a database without a tree"
    );

    let clock = Arc::new(ManualClock::new(Timestamp(1_900_000_000_000)));
    let store = reopen_sqlite(&path, clock.clone(), "u");
    let old = store.events(0, 10_000).await.unwrap();
    assert_eq!(old.len(), 50);
    let submitted = old
        .iter()
        .find(|e| e.recorded.event.kind() == "request_submitted")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&submitted.leaf).contains("investigate the billing export"),
        "old leaves stay exactly as written (v1, in clear)"
    );
    // New events are sealed and extend the same tree; sign it.
    let grant = old
        .iter()
        .find_map(|e| match &e.recorded.event {
            Event::GrantCreated { grant, .. } => Some(grant.clone()),
            _ => None,
        })
        .unwrap();
    let revoked = match store
        .execute(by(
            "ada",
            Command::RevokeGrant {
                grant,
                reason: writ_core::Reason::parse("upgrade test revocation").unwrap(),
            },
        ))
        .await
        .unwrap()
    {
        Outcome::Committed(events) => events,
        other => panic!("{other:?}"),
    };
    assert_eq!(revoked[0].seq, 51);
    let new = store.events(50, 10).await.unwrap();
    assert!(!String::from_utf8_lossy(&new[0].leaf).contains("upgrade test revocation"));
    let checkpoint = store.sign_checkpoint(key.clone()).await.unwrap();
    assert_eq!(checkpoint.size, 51);
    let proof = store.inclusion_proof(7, 51).await.unwrap();
    writ_ledger::verify_inclusion(
        7,
        51,
        writ_ledger::leaf_hash(&old[7].leaf),
        &proof,
        checkpoint.root,
    )
    .unwrap();
    store.shutdown();

    match writ_store::sqlite::verify(&path, &options, &mut |_, _, _| {}).unwrap() {
        Ok(r) => {
            assert_eq!(r.size, 51);
            assert_eq!(r.checkpoints, 1);
            assert_eq!(r.root, checkpoint.root);
        }
        Err(d) => panic!("{}", d.message),
    }
}

#[tokio::test]
async fn a_restart_with_nothing_new_returns_the_signed_checkpoint_again() {
    let b = open_sqlite();
    seed(b.store.as_ref()).await;
    let key = Arc::new(writ_ledger::LedgerKey::from_seed("restart.test/ledger", [5; 32]).unwrap());
    let first = b.store.sign_checkpoint(key.clone()).await.unwrap();
    b.store.shutdown();
    let store = reopen_sqlite(&b.path, b.clock.clone(), "r");
    let again = store.sign_checkpoint(key.clone()).await.unwrap();
    assert_eq!(
        again, first,
        "the same size is never signed twice, even after a restart"
    );
    store.shutdown();
}

#[tokio::test]
async fn a_gap_in_an_old_ledger_stops_the_upgrade() {
    let (_dir, path) = schema1_copy();
    raw(&path)
        .execute("DELETE FROM events WHERE seq = 7", [])
        .unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_900_000_000_000)));
    let err = SqliteStore::open(&path, clock, Box::new(TestIds::new("g"))).unwrap_err();
    assert!(
        err.to_string().contains("ledger entry 7 is missing"),
        "{err}"
    );
    let version: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the failed migration changed nothing");
}

/// `audit verify` beside a live writer: it checks one consistent snapshot, however
/// many entries are appended while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_beside_a_live_writer_sees_one_snapshot() {
    let b = open_sqlite();
    seed(b.store.as_ref()).await;
    let key = Arc::new(writ_ledger::LedgerKey::from_seed("live.test/ledger", [9; 32]).unwrap());
    b.store.sign_checkpoint(key.clone()).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Several writers, so that entries land between any two reads of the verifier.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop) = (b.store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut k = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let who = human(&format!("live{w}x{k}"), None, &[], &[]);
                    store
                        .execute(sys(Command::UpsertIdentity { identity: who }))
                        .await
                        .unwrap();
                    k += 1;
                }
                k
            })
        })
        .collect();
    let options = writ_store::sqlite::VerifyOptions {
        verifier_key: key.verifier_key(),
        saved_checkpoint: None,
    };
    let mut sizes = Vec::new();
    for _ in 0..20 {
        let path = b.path.clone();
        let options = options.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            writ_store::sqlite::verify(&path, &options, &mut |_, _, _| {})
        })
        .await
        .unwrap()
        .unwrap();
        match verdict {
            Ok(r) => sizes.push(r.size),
            Err(d) => panic!("a live log diverged: {}", d.message),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut appended = 0;
    for w in writers {
        appended += w.await.unwrap();
    }
    assert!(appended > 0);
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    b.store.shutdown();
}

/// A database that an earlier build left with an addition stuck behind its ended
/// grant — the job still queued (so the worker kept asking about it), the grant still
/// showing the addition's dead letter — is mended when a build with migration 6 opens
/// it: the addition is superseded and the removal is the one job due, exactly as a
/// replay of the same ledger now gives.
#[tokio::test]
async fn migration_6_supersedes_an_addition_stuck_behind_an_ended_grant() {
    let b = open_sqlite();
    seed(b.store.as_ref()).await;
    b.store
        .set_provisioned_systems([n("wiki")].into_iter().collect())
        .await
        .unwrap();
    let r = request_id(
        &exec(
            b.store.as_ref(),
            by("alice", submit("alice", LOW, DurationSpec::hours(8))),
        )
        .await,
    );
    let g = grant_id(&exec(b.store.as_ref(), by(MANAGER, approve(&r, None))).await);
    let fail = writ_core::Command::FailProvisioning {
        grant: g.clone(),
        action: writ_core::JobAction::Provision,
        attempts: 8,
        error: "connection refused".into(),
    };
    exec(
        b.store.as_ref(),
        writ_store::Envelope::new(Actor::system("provisioner"), fail),
    )
    .await;
    exec(b.store.as_ref(), by(MANAGER, revoke(&g))).await;
    let events = last_seq(b.store.as_ref()).await;
    b.store.shutdown();

    // What the earlier build's projection held, on its schema version.
    let conn = raw(&b.path);
    conn.execute_batch(
        "UPDATE jobs SET state = 'queued', finished_seq = NULL WHERE action = 'provision';
         UPDATE grants SET failed = 'provision';
         INSERT INTO job_attempts (grant_id, action, attempts, next_at, last_error)
             SELECT grant_id, action, 3, 0, 'authority recheck refused' FROM jobs WHERE action = 'provision';
         PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    assert!(
        matches!(
            check_projections(&b.path).unwrap(),
            ProjectionCheck::Diverges { .. }
        ),
        "the stuck rows are what a replay no longer gives"
    );

    let store = reopen_sqlite(&b.path, b.clock.clone(), "m");
    let due = store
        .due_jobs(writ_core::Clock::now(b.clock.as_ref()), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|j| j.action).collect::<Vec<_>>(),
        [writ_core::JobAction::Deprovision]
    );
    let grant = store.grant(&g).await.unwrap().unwrap();
    assert_eq!((grant.status, grant.failed), (GrantStatus::Revoking, None));
    store.shutdown();
    expect_match(&b.path, events);
}
