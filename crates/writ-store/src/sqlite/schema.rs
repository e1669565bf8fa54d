//! The SQLite schema, applied in order and tracked by `PRAGMA user_version`.
//! Never edit an applied migration: add the next one.

use rusqlite::Connection;

/// The first schema version with the Merkle tree and checkpoints.
pub const LEDGER_SCHEMA: i64 = 2;

const MIGRATIONS: &[&str] = &[
    // 1: ledger, projections, idempotency keys.
    r#"
    CREATE TABLE events (
        seq     INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        actor   TEXT NOT NULL,
        subject TEXT NOT NULL,
        leaf    BLOB NOT NULL
    );
    CREATE INDEX events_subject ON events(subject, seq);

    CREATE TABLE policy (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        version      TEXT NOT NULL,
        body         TEXT NOT NULL,
        activated_at INTEGER NOT NULL
    );

    CREATE TABLE identities (
        name    TEXT PRIMARY KEY,
        kind    TEXT NOT NULL,
        status  TEXT NOT NULL,
        manager TEXT,
        owner   TEXT,
        body    TEXT NOT NULL
    );

    CREATE TABLE systems (
        name  TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        body  TEXT NOT NULL
    );

    CREATE TABLE entitlements (
        system TEXT NOT NULL,
        name   TEXT NOT NULL,
        risk   TEXT NOT NULL,
        owner  TEXT,
        body   TEXT NOT NULL,
        PRIMARY KEY (system, name)
    );

    CREATE TABLE tokens (
        id         TEXT PRIMARY KEY,
        identity   TEXT NOT NULL,
        label      TEXT NOT NULL,
        hash       TEXT NOT NULL UNIQUE,
        issued_at  INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER
    );

    CREATE TABLE requests (
        id            TEXT PRIMARY KEY,
        requester     TEXT NOT NULL,
        beneficiary   TEXT NOT NULL,
        entitlement   TEXT NOT NULL,
        status        TEXT NOT NULL,
        submitted_at  INTEGER NOT NULL,
        closed_at     INTEGER,
        grant_id      TEXT,
        cancel_reason TEXT,
        digest        TEXT NOT NULL,
        submission    TEXT NOT NULL
    );
    CREATE INDEX requests_status ON requests(status, submitted_at);
    CREATE INDEX requests_pair ON requests(beneficiary, entitlement, status);

    CREATE TABLE request_steps (
        request_id     TEXT NOT NULL,
        idx            INTEGER NOT NULL,
        role           TEXT NOT NULL,
        approver       TEXT,
        decision       TEXT,
        comment        TEXT,
        basis          TEXT,
        policy_version TEXT,
        decided_at     INTEGER,
        PRIMARY KEY (request_id, idx)
    ) WITHOUT ROWID;

    CREATE TABLE grants (
        id          TEXT PRIMARY KEY,
        request_id  TEXT NOT NULL,
        beneficiary TEXT NOT NULL,
        entitlement TEXT NOT NULL,
        status      TEXT NOT NULL,
        granted_at  INTEGER NOT NULL,
        -- A grant without an end cannot be stored.
        expires_at  INTEGER NOT NULL CHECK (expires_at > granted_at),
        review_by   INTEGER NOT NULL CHECK (review_by <= expires_at),
        renews      TEXT,
        ended_at    INTEGER,
        ended_by    TEXT,
        end_reason  TEXT,
        successor   TEXT
    ) WITHOUT ROWID;
    CREATE INDEX grants_due ON grants(status, expires_at);
    CREATE INDEX grants_pair ON grants(beneficiary, entitlement, status);

    CREATE TABLE idempotency (
        actor       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        subject     TEXT NOT NULL,
        status      INTEGER,
        body        BLOB,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (actor, key)
    );
    "#,
    // 2: the verifiable ledger. `personal` holds the salted personal values the leaf
    // commits to (erasable without touching the leaf); `tree` the Merkle tree's stored
    // hashes in Go tlog's layout (leaf and complete-subtree hashes, two per leaf);
    // `checkpoints` every signed tree head, one per size.
    r#"
    ALTER TABLE events ADD COLUMN personal BLOB;

    CREATE TABLE tree (
        idx  INTEGER PRIMARY KEY,
        hash BLOB NOT NULL CHECK (length(hash) = 32)
    );

    CREATE TABLE checkpoints (
        size      INTEGER PRIMARY KEY,
        root      BLOB NOT NULL CHECK (length(root) = 32),
        note      TEXT NOT NULL,
        signed_at INTEGER NOT NULL
    );
    "#,
    // 3: provisioning. Grants remember whether a connector provisions them and when
    // the target confirmed; `jobs` is the transactional outbox (a projection: written
    // by the event that opens or closes a job, in its transaction); `findings` the
    // reconciliation findings that still hold; `job_attempts` is the worker's
    // bookkeeping (attempts, next try, last error), outside the ledger.
    r#"
    ALTER TABLE grants ADD COLUMN provision INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN provisioned_at INTEGER;
    ALTER TABLE grants ADD COLUMN deprovisioned_at INTEGER;
    ALTER TABLE grants ADD COLUMN failed TEXT;
    ALTER TABLE grants ADD COLUMN credential TEXT;

    -- Credentials issued to NHIs: fingerprints only, never secrets.
    CREATE TABLE credentials (
        fingerprint TEXT PRIMARY KEY,
        grant_id    TEXT NOT NULL,
        issued_seq  INTEGER NOT NULL,
        issued_at   INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        rotate_by   INTEGER NOT NULL,
        replaces    TEXT,
        ended_at    INTEGER,
        -- `replaced` or `revoked` once it no longer works.
        ended_how   TEXT,
        due_noted   INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX credentials_due ON credentials(ended_at, due_noted, rotate_by);
    CREATE INDEX credentials_grant ON credentials(grant_id, issued_seq);

    CREATE TABLE jobs (
        grant_id     TEXT NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('provision', 'deprovision')),
        -- The event that opened the job: jobs for one account and entitlement run in
        -- this order.
        created_seq  INTEGER NOT NULL UNIQUE,
        system       TEXT NOT NULL,
        entitlement  TEXT NOT NULL,
        beneficiary  TEXT NOT NULL,
        -- The entitlement's external reference when the grant was created: what is
        -- removed is exactly what was added.
        target       TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('queued', 'done', 'dead')),
        finished_seq INTEGER,
        error        TEXT,
        PRIMARY KEY (grant_id, action)
    ) WITHOUT ROWID;
    CREATE INDEX jobs_queue ON jobs(state, created_seq);
    CREATE INDEX jobs_key ON jobs(entitlement, beneficiary, state, created_seq);

    -- Reconciliation findings that still hold, one row per finding.
    CREATE TABLE findings (
        system      TEXT NOT NULL,
        entitlement TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('unexplained', 'missing')),
        account_ref TEXT NOT NULL,
        account     TEXT,
        grant_id    TEXT,
        action      TEXT NOT NULL,
        found_seq   INTEGER NOT NULL,
        PRIMARY KEY (system, entitlement, kind, account_ref)
    ) WITHOUT ROWID;

    CREATE TABLE job_attempts (
        grant_id   TEXT NOT NULL,
        action     TEXT NOT NULL,
        attempts   INTEGER NOT NULL,
        next_at    INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY (grant_id, action)
    ) WITHOUT ROWID;
    "#,
    // 4: access reviews. `campaigns` and `review_items` are projections (an item's row
    // keeps the ledger entries that opened and decided it); `review_notices` the
    // notification records; `reviewer_flags` rubber-stamp flags. `leases` lets one
    // scheduler at a time launch recurring campaigns (not a projection).
    r#"
    CREATE TABLE campaigns (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        owner         TEXT NOT NULL,
        launched_at   INTEGER NOT NULL,
        launched_seq  INTEGER NOT NULL,
        schedule      TEXT,
        occurrence_at INTEGER,
        population    INTEGER NOT NULL,
        open          INTEGER NOT NULL,
        certified     INTEGER NOT NULL,
        revoked       INTEGER NOT NULL,
        kept          INTEGER NOT NULL,
        reminded      INTEGER NOT NULL,
        escalated     INTEGER NOT NULL,
        closed_at     INTEGER,
        closed_seq    INTEGER,
        body          TEXT NOT NULL
    ) WITHOUT ROWID;
    -- One campaign per occurrence of a schedule, whoever launches it.
    CREATE UNIQUE INDEX campaigns_occurrence ON campaigns(schedule, occurrence_at)
        WHERE schedule IS NOT NULL;

    CREATE TABLE review_items (
        campaign       TEXT NOT NULL,
        item           INTEGER NOT NULL,
        grant_id       TEXT NOT NULL,
        reviewer       TEXT NOT NULL,
        basis          TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('open', 'certified', 'revoked', 'kept')),
        opened_seq     INTEGER NOT NULL,
        decided_by     TEXT,
        decided_at     INTEGER,
        decided_seq    INTEGER,
        decision_basis TEXT,
        reason         TEXT,
        bulk           INTEGER NOT NULL DEFAULT 0,
        defaulted      INTEGER NOT NULL DEFAULT 0,
        reassigned_seq INTEGER,
        reassigned_why TEXT,
        prior          TEXT,
        prior_seq      INTEGER,
        PRIMARY KEY (campaign, item)
    ) WITHOUT ROWID;
    CREATE INDEX review_items_reviewer ON review_items(reviewer, status);
    CREATE INDEX review_items_grant ON review_items(grant_id);

    CREATE TABLE review_notices (
        seq       INTEGER PRIMARY KEY,
        campaign  TEXT NOT NULL,
        recipient TEXT NOT NULL,
        notice    TEXT NOT NULL,
        items     INTEGER NOT NULL,
        at        INTEGER NOT NULL
    );

    CREATE TABLE reviewer_flags (
        campaign      TEXT NOT NULL,
        reviewer      TEXT NOT NULL,
        rule          TEXT NOT NULL,
        decisions     INTEGER NOT NULL,
        certified     INTEGER NOT NULL,
        median_gap_ms INTEGER,
        seq           INTEGER NOT NULL,
        PRIMARY KEY (campaign, reviewer)
    ) WITHOUT ROWID;

    CREATE TABLE leases (
        name   TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until  INTEGER NOT NULL
    );

    CREATE INDEX grants_review ON grants(status, review_by);
    "#,
    // 5: approval authority as Cedar policy. A decision keeps the policies and facts
    // it rested on; a step may escalate; a grant whose approver lost authority before
    // provisioning is held.
    r#"
    ALTER TABLE request_steps ADD COLUMN authority TEXT;
    ALTER TABLE request_steps ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE request_steps ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN held TEXT;
    ALTER TABLE grants ADD COLUMN emergency_since INTEGER;

    -- Post-incident reviews of break-glass access, one per emergency request.
    CREATE TABLE incident_reviews (
        request_id   TEXT PRIMARY KEY,
        grant_id     TEXT NOT NULL,
        beneficiary  TEXT NOT NULL,
        entitlement  TEXT NOT NULL,
        incident     TEXT NOT NULL,
        opened_at    INTEGER NOT NULL,
        due          INTEGER NOT NULL,
        escalated_at INTEGER,
        finding      TEXT,
        closed_by    TEXT,
        closed_at    INTEGER,
        notes        TEXT
    );
    CREATE INDEX incident_reviews_open ON incident_reviews(finding, due);

    -- Notification records: who was told what, and when. Real channels come later;
    -- each row comes from a ledger entry.
    CREATE TABLE notifications (
        seq       INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        kind      TEXT NOT NULL,
        subject   TEXT NOT NULL,
        message   TEXT NOT NULL,
        at        INTEGER NOT NULL,
        PRIMARY KEY (seq, recipient)
    ) WITHOUT ROWID;
    CREATE INDEX notifications_recipient ON notifications(recipient, seq);

    -- How far each outside consumer (the notification hook) has read the ledger's
    -- notification records; not a projection.
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        seq  INTEGER NOT NULL
    );

    CREATE TABLE delegations (
        id        TEXT PRIMARY KEY,
        delegator TEXT NOT NULL,
        delegate  TEXT NOT NULL,
        until     INTEGER NOT NULL,
        body      TEXT NOT NULL
    );
    "#,
    // 6: the job state machine closes every pair. An addition the grant's end (or
    // renewal) overtook is `superseded` and never runs; a removal an admin closed by
    // hand is `resolved`. Jobs left queued or dead behind an ended grant by earlier
    // builds are superseded now, and the grants lose the failure and hold of an
    // addition that no longer exists, exactly as a replay of their ledger now gives.
    r#"
    CREATE TABLE jobs_v6 (
        grant_id     TEXT NOT NULL,
        action       TEXT NOT NULL CHECK (action IN ('provision', 'deprovision')),
        created_seq  INTEGER NOT NULL UNIQUE,
        system       TEXT NOT NULL,
        entitlement  TEXT NOT NULL,
        beneficiary  TEXT NOT NULL,
        target       TEXT NOT NULL,
        state        TEXT NOT NULL
            CHECK (state IN ('queued', 'done', 'dead', 'superseded', 'resolved')),
        finished_seq INTEGER,
        error        TEXT,
        PRIMARY KEY (grant_id, action)
    ) WITHOUT ROWID;
    INSERT INTO jobs_v6 SELECT grant_id, action, created_seq, system, entitlement,
        beneficiary, target, state, finished_seq, error FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_v6 RENAME TO jobs;
    CREATE INDEX jobs_queue ON jobs(state, created_seq);
    CREATE INDEX jobs_key ON jobs(entitlement, beneficiary, state, created_seq);

    UPDATE jobs SET state = 'superseded', error = NULL,
        finished_seq = (SELECT MIN(e.seq) FROM events e WHERE e.subject = 'grant:' || jobs.grant_id
            AND e.kind IN ('grant_revoked', 'grant_expired', 'grant_renewed'))
    WHERE action = 'provision' AND state IN ('queued', 'dead')
      AND grant_id IN (SELECT id FROM grants
                       WHERE status IN ('revoking', 'expiring', 'revoked', 'expired', 'renewed'));
    DELETE FROM job_attempts WHERE action = 'provision' AND grant_id IN
        (SELECT grant_id FROM jobs WHERE action = 'provision' AND state = 'superseded');
    UPDATE grants SET failed = CASE WHEN failed = 'provision' THEN NULL ELSE failed END, held = NULL
    WHERE provisioned_at IS NULL
      AND status IN ('revoking', 'expiring', 'revoked', 'expired', 'renewed');
    "#,
    // 7: listings page by keyset (newest first), and each person's requests,
    // decisions and grants are found by index rather than by scanning.
    r#"
    CREATE INDEX IF NOT EXISTS requests_time ON requests(submitted_at, id);
    CREATE INDEX IF NOT EXISTS requests_requester ON requests(requester, submitted_at);
    CREATE INDEX IF NOT EXISTS requests_beneficiary ON requests(beneficiary, submitted_at);
    CREATE INDEX IF NOT EXISTS request_steps_approver ON request_steps(approver);
    CREATE INDEX IF NOT EXISTS grants_time ON grants(granted_at, id);
    "#,
];

/// The names of the tables rebuilt from the ledger, in dump order.
pub const PROJECTION_TABLES: [&str; 18] = [
    "policy",
    "identities",
    "systems",
    "entitlements",
    "tokens",
    "requests",
    "request_steps",
    "grants",
    "jobs",
    "findings",
    "credentials",
    "campaigns",
    "review_items",
    "review_notices",
    "reviewer_flags",
    "delegations",
    "notifications",
    "incident_reviews",
];

/// The tables rebuilt from the ledger with their primary keys, in dump order.
pub const PROJECTIONS: &[(&str, &str)] = &[
    ("policy", "id"),
    ("identities", "name"),
    ("systems", "name"),
    ("entitlements", "system, name"),
    ("tokens", "id"),
    ("requests", "id"),
    ("request_steps", "request_id, idx"),
    ("grants", "id"),
    ("jobs", "grant_id, action"),
    ("findings", "system, entitlement, kind, account_ref"),
    ("credentials", "fingerprint"),
    ("campaigns", "id"),
    ("review_items", "campaign, item"),
    ("review_notices", "seq"),
    ("reviewer_flags", "campaign, reviewer"),
    ("delegations", "id"),
    ("notifications", "seq, recipient"),
    ("incident_reviews", "request_id"),
];

pub fn configure(conn: &Connection, writable: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if writable {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before Writ acknowledges it.
        conn.pragma_update(None, "synchronous", "FULL")?;
    } else {
        conn.pragma_update(None, "query_only", true)?;
    }
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -32_768)?;
    if writable {
        // Checkpoints run on their own thread (`SqliteStore`'s checkpointer), not in
        // the middle of a commit on the writer thread.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {current} is newer than this build of Writ knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if i as i64 + 1 == LEDGER_SCHEMA {
            // Events written before the ledger had a tree get theirs now.
            super::ledger::backfill(&tx)
                .map_err(|e| rusqlite::Error::InvalidParameterName(e.to_string()))?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
