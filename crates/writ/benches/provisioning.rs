//! Provisioning and reconciliation against real targets, in one run:
//!
//! 1. jobs per second into a real slapd (`corp-ldap/vpn-users`) at worker concurrency
//!    1, 8 and 32 (and once with the shipped defaults), provisioning then
//!    deprovisioning N grants;
//! 2. the same into the machine's PostgreSQL (`pg-prod/read-only`);
//! 3. reconciliation of 100,000 live memberships against 100,000 active, provisioned
//!    grants (10,000 identities x 10 directory groups), timed, with the process's peak
//!    memory.
//!
//! The real server (`writ_server::Application`) runs in this process with a TOML
//! configuration, exactly as `crates/writ/tests/provisioning.rs` starts it. Grants are
//! made by executing the core commands against the store as the demo personas would
//! (the beneficiary submits, their manager `priya` approves) before the server's
//! `run()` starts the worker, so the timed part is only the worker draining a full
//! queue. Nothing here asserts a speed; the figures go to BENCHMARKS.md.
//!
//! ```sh
//! CARGO_TARGET_DIR=/root/.cache/writ-target-bench cargo bench -p writ --bench provisioning
//! WRIT_BENCH_SMALL=1 cargo bench -p writ --bench provisioning   # a quick run
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::{env_num, memory, reset_peak};

#[path = "../../writ-connect/tests/peers/postgres.rs"]
mod pg_peer;
#[path = "../../writ-connect/tests/peers/slapd.rs"]
mod slapd;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::oneshot;
use writ::Client;
use writ_core::{
    Actor, Command, Decision, DurationSpec, EmploymentType, Entitlement, EntitlementKind,
    EntitlementRef, Event, GrantId, Human, Identity, IdentityKind, IdentityStatus, JobAction,
    Justification, Name, Reason, Receipt, RequestKind, RiskTier,
};
use writ_server::{AppState, Application, Config, Settings, demo};
use writ_store::{Envelope, Outcome, Store, SystemClock};

/// The server's allocator (`crates/writ/src/main.rs`), so memory figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VPN_GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=com";
const LDAP_ENT: &str = "corp-ldap/vpn-users";
const PG_ENT: &str = "pg-prod/read-only";
/// Commands in flight at once while setting up (the writer commits whatever waits,
/// up to 512 per transaction).
const SETUP_WIDTH: usize = 4096;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn account(i: usize) -> String {
    format!("u{i:06}")
}

fn member_dn(account: &str) -> String {
    format!("uid={account},ou=people,dc=example,dc=com")
}

/// A slapd for the benchmark: the test peer's (its mdb database may grow to 1 GiB,
/// room for 100,000 `member` values).
fn slapd_started() -> slapd::Slapd {
    slapd::Slapd::start()
}

// ---------------------------------------------------------------------------------
// The server, in process

struct Running {
    state: AppState,
    base: String,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

async fn build(dir: &Path, config: &str) -> Application {
    Application::build(Settings {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config: Config::parse(config, "bench.toml").unwrap(),
        clock: Arc::new(SystemClock),
        scheduler: false,
    })
    .await
    .unwrap()
}

/// `run()`: the HTTP server, the signer and the provisioning worker start now.
fn start(app: Application) -> Running {
    let base = format!("http://{}", app.address());
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run(async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running {
        state,
        base,
        stop,
        handle,
    }
}

impl Running {
    /// Stops the server; the store flushes and closes, the data directory is released.
    async fn stop(self) {
        drop(self.state);
        let _ = self.stop.send(());
        self.handle.await.unwrap();
    }
}

fn config_text(concurrency: usize, poll_ms: u64, systems: &str) -> String {
    format!(
        "[provisioning]\nconcurrency = {concurrency}\npoll_interval_ms = {poll_ms}\n\
         reconcile_interval_ms = 0\n\n{systems}"
    )
}

fn ldap_system(ldap: &slapd::Slapd, secret: &Path) -> String {
    std::fs::write(secret, format!("{}\n", ldap.admin_password)).unwrap();
    format!(
        r#"[systems.corp-ldap]
connector = "ldap"
url = "{url}"
bind_dn = "{bind}"
bind_password = {{ file = "{secret}" }}
account_dn = "uid={{account}},ou=people,dc=example,dc=com"
"#,
        url = ldap.url,
        bind = ldap.admin_dn,
        secret = secret.display(),
    )
}

fn pg_system(pg: &pg_peer::PgPeer) -> String {
    format!(
        r#"[systems.pg-prod]
connector = "postgres"
url = "{url}"
account_role = "{prefix}{{account}}"
"#,
        url = pg.url,
        prefix = pg.prefix,
    )
}

fn count(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

/// Polls the store until no provisioning job is queued; returns the time it took
/// (measured from `since`) and the number of dead-lettered jobs.
async fn drain(store: &dyn Store, since: Instant) -> (Duration, u64) {
    loop {
        let stats = store.stats().await.unwrap();
        if count(&stats.jobs_by_state, "queued") == 0 {
            return (since.elapsed(), count(&stats.jobs_by_state, "dead"));
        }
        assert!(
            since.elapsed() < Duration::from_secs(900),
            "the queue never drained: {:?}",
            stats.jobs_by_state
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connector calls the worker retried, from the server's own metrics.
fn retries(state: &AppState, stats: &writ_store::Stats) -> u64 {
    state
        .metrics
        .render(stats, 0)
        .lines()
        .filter(|l| {
            l.starts_with("writ_provisioning_attempts_total") && l.contains("outcome=\"retry\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------
// Making identities and grants through the core commands

fn person(i: usize) -> Identity {
    let n = account(i);
    Identity {
        name: name(&n),
        display_name: format!("Bench person {i}"),
        status: IdentityStatus::Active,
        groups: Default::default(),
        roles: Default::default(),
        kind: IdentityKind::Human(Human {
            email: format!("{n}@bench.example.com"),
            manager: Some(name("priya")),
            department: Some("engineering".into()),
            employment_type: EmploymentType::Employee,
        }),
    }
}

/// Upserts `n` people reporting to `priya`, `SETUP_WIDTH` commands in flight.
async fn upsert_people(store: &dyn Store, n: usize) {
    let actor = Actor::system("bench");
    futures::stream::iter(0..n)
        .map(|i| {
            store.execute(Envelope::new(
                actor.clone(),
                Command::UpsertIdentity {
                    identity: person(i),
                },
            ))
        })
        .buffer_unordered(SETUP_WIDTH)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
}

/// Person `i` asks for `entitlement`, `priya` approves: the grant's id.
async fn lifecycle(store: &dyn Store, i: usize, entitlement: &EntitlementRef) -> GrantId {
    let beneficiary = name(&account(i));
    let submitted = store
        .execute(Envelope::new(
            Actor::Identity(beneficiary.clone()),
            Command::Submit {
                beneficiary,
                entitlement: entitlement.clone(),
                justification: Justification::parse("benchmark: provisioning throughput").unwrap(),
                ticket: None,
                duration: DurationSpec::days(1),
                kind: RequestKind::Standard,
                constraints: None,
                sod_exception: None,
            },
        ))
        .await
        .unwrap();
    let Outcome::Committed(events) = submitted else {
        panic!("unexpected replay")
    };
    let request = events
        .iter()
        .find_map(|e| match &e.event {
            Event::RequestSubmitted { request, .. } => Some(request.id.clone()),
            _ => None,
        })
        .expect("a request_submitted event");
    let decided = store
        .execute(Envelope::new(
            Actor::Identity(name("priya")),
            Command::Decide {
                request,
                step: None,
                decision: Decision::Approve,
                comment: None,
            },
        ))
        .await
        .unwrap();
    let Outcome::Committed(events) = decided else {
        panic!("unexpected replay")
    };
    events
        .iter()
        .find_map(|e| match &e.event {
            Event::GrantCreated { grant, .. } => Some(grant.clone()),
            _ => None,
        })
        .expect("a low-risk request is approved by the manager alone")
}

/// `n` granted lifecycles, `SETUP_WIDTH / 2` in flight; grant ids in person order.
async fn grants(store: &dyn Store, n: usize, entitlement: &str) -> Vec<GrantId> {
    let entitlement = EntitlementRef::parse(entitlement).unwrap();
    let entitlement = &entitlement;
    futures::stream::iter(0..n)
        .map(|i| async move { lifecycle(store, i, entitlement).await })
        .buffered(SETUP_WIDTH / 2)
        .collect()
        .await
}

async fn revoke_all(store: &dyn Store, grants: &[GrantId]) {
    let reason = Reason::parse("benchmark: deprovisioning throughput").unwrap();
    futures::stream::iter(grants)
        .map(|g| {
            store.execute(Envelope::new(
                Actor::Identity(name("priya")),
                Command::RevokeGrant {
                    grant: g.clone(),
                    reason: reason.clone(),
                },
            ))
        })
        .buffer_unordered(SETUP_WIDTH)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
}

/// Points the demo's `pg-prod/read-only` at `role` and makes it low risk (manager
/// approval only), as the admin `ada` would through the API.
async fn point_pg_entitlement(store: &dyn Store, role: &str) {
    let r = EntitlementRef::parse(PG_ENT).unwrap();
    let mut e = store.org().await.unwrap().entitlement(&r).unwrap().clone();
    e.external_ref = role.to_owned();
    e.risk = RiskTier::Low;
    store
        .execute(Envelope::new(
            Actor::Identity(name("ada")),
            Command::UpsertEntitlement { entitlement: e },
        ))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------
// 1 and 2: jobs per second

enum Target {
    Ldap(slapd::Slapd, tempfile::TempDir),
    Pg(pg_peer::PgPeer, String),
}

impl Target {
    async fn new(ldap: bool) -> Target {
        if ldap {
            let server = slapd_started();
            server.add_group("vpn-users", VPN_GROUP);
            Target::Ldap(server, tempfile::tempdir().unwrap())
        } else {
            let pg = pg_peer::PgPeer::start().await;
            let role = pg.role("billing_ro");
            pg.client()
                .await
                .batch_execute(&format!("CREATE ROLE {} NOLOGIN", pg_peer::ident(&role)))
                .await
                .unwrap();
            Target::Pg(pg, role)
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Target::Ldap(..) => "LDAP (slapd)",
            Target::Pg(..) => "PostgreSQL",
        }
    }

    fn entitlement(&self) -> &'static str {
        match self {
            Target::Ldap(..) => LDAP_ENT,
            Target::Pg(..) => PG_ENT,
        }
    }

    fn system(&self) -> String {
        match self {
            Target::Ldap(s, dir) => ldap_system(s, &dir.path().join("ldap-password")),
            Target::Pg(pg, _) => pg_system(pg),
        }
    }

    /// Members the target really holds (read with ldapsearch / the catalog, not
    /// through the connector).
    async fn members(&self) -> usize {
        match self {
            Target::Ldap(s, _) => s
                .members(VPN_GROUP)
                .iter()
                .filter(|m| m.as_str() != VPN_GROUP)
                .count(),
            Target::Pg(pg, role) => {
                let row = pg
                    .client()
                    .await
                    .query_one(
                        "SELECT count(*) FROM pg_auth_members am \
                         JOIN pg_roles r ON r.oid = am.roleid WHERE r.rolname = $1",
                        &[role],
                    )
                    .await
                    .unwrap();
                row.get::<_, i64>(0) as usize
            }
        }
    }

    async fn cleanup(self) {
        match self {
            Target::Ldap(..) => {}
            Target::Pg(pg, _) => pg.cleanup().await,
        }
    }
}

#[derive(Debug)]
struct JobsRow {
    target: &'static str,
    concurrency: usize,
    poll_ms: u64,
    jobs: usize,
    setup: Duration,
    provision: Duration,
    deprovision: Duration,
    retries: u64,
    dead: u64,
}

/// A fresh target and server: `n` pending grants, then the worker provisions them;
/// then all revoked, and the worker deprovisions them.
async fn jobs_round(ldap: bool, n: usize, concurrency: usize, poll_ms: u64) -> JobsRow {
    let target = Target::new(ldap).await;
    let data = tempfile::tempdir().unwrap();
    let config = config_text(concurrency, poll_ms, &target.system());

    // The worker starts only in `run()`: make every grant before that.
    let app = build(data.path(), &config).await;
    demo::seed(app.state(), app.data_dir()).await.unwrap();
    let store = app.state().store.clone();
    if let Target::Pg(_, role) = &target {
        point_pg_entitlement(store.as_ref(), role).await;
    }
    let t = Instant::now();
    upsert_people(store.as_ref(), n).await;
    let ids = grants(store.as_ref(), n, target.entitlement()).await;
    let setup = t.elapsed();
    let stats = store.stats().await.unwrap();
    assert_eq!(count(&stats.jobs_by_state, "queued"), n as u64);
    assert_eq!(count(&stats.grants_by_status, "pending"), n as u64);

    let t = Instant::now();
    let running = start(app);
    let (provision, dead_p) = drain(store.as_ref(), t).await;
    let stats = store.stats().await.unwrap();
    let retries_p = retries(&running.state, &stats);
    assert_eq!(count(&stats.grants_by_status, "active"), n as u64);
    drop(store);
    running.stop().await;
    let held = target.members().await;
    assert_eq!(held, n, "{}: every grant is in the target", target.label());

    // Revoked while the worker is stopped, then the same measurement.
    let app = build(data.path(), &config).await;
    let store = app.state().store.clone();
    revoke_all(store.as_ref(), &ids).await;
    let stats = store.stats().await.unwrap();
    assert_eq!(count(&stats.jobs_by_state, "queued"), n as u64);
    let t = Instant::now();
    let running = start(app);
    let (deprovision, dead_d) = drain(store.as_ref(), t).await;
    let stats = store.stats().await.unwrap();
    let retries_d = retries(&running.state, &stats);
    assert_eq!(count(&stats.grants_by_status, "revoked"), n as u64);
    drop(store);
    running.stop().await;
    assert_eq!(target.members().await, 0, "{}: all removed", target.label());

    let row = JobsRow {
        target: target.label(),
        concurrency,
        poll_ms,
        jobs: n,
        setup,
        provision,
        deprovision,
        retries: retries_p + retries_d,
        dead: dead_p + dead_d,
    };
    target.cleanup().await;
    row
}

// ---------------------------------------------------------------------------------
// 3: reconciliation

#[derive(Debug, Default)]
struct ReconcileRow {
    how: String,
    seconds: f64,
    memberships: usize,
    live_grants: usize,
    explained: usize,
    unexplained: usize,
    missing: usize,
    recorded: String,
    unchecked: usize,
    rss_before: f64,
    peak: f64,
    body_mb: f64,
}

struct ReconcileResult {
    memberships: usize,
    identities: usize,
    groups: usize,
    drift: usize,
    setup: Vec<(&'static str, Duration)>,
    breakdown: Vec<(String, Duration)>,
    rows: Vec<ReconcileRow>,
    peak_reset: bool,
}

/// What a run recorded, as `count kind/action` (actions cut at their first colon).
fn recorded(lines: &[writ_server::reconcile::FindingLine]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for f in lines {
        let action = f.action.split(':').next().unwrap_or_default();
        *by.entry(format!("{}/{action}", f.kind)).or_default() += 1;
    }
    if by.is_empty() {
        return "0".into();
    }
    by.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bench_group(k: usize) -> String {
    format!("cn=bench-{k:02},ou=groups,dc=example,dc=com")
}

fn bench_entitlement(k: usize) -> String {
    format!("corp-ldap/bench-{k:02}")
}

/// `groups` low-risk `corp-ldap` entitlements, each a `groupOfNames` in slapd.
async fn bench_groups(store: &dyn Store, ldap: &slapd::Slapd, groups: usize) {
    for k in 0..groups {
        let dn = bench_group(k);
        ldap.add_group(&format!("bench-{k:02}"), &dn);
        let r = EntitlementRef::parse(&bench_entitlement(k)).unwrap();
        store
            .execute(Envelope::new(
                Actor::Identity(name("ada")),
                Command::UpsertEntitlement {
                    entitlement: Entitlement {
                        system: r.system,
                        name: r.entitlement,
                        display_name: format!("Benchmark group {k}"),
                        kind: EntitlementKind::Group,
                        external_ref: dn,
                        risk: RiskTier::Low,
                        privileged: false,
                        max_duration: DurationSpec::days(180),
                        owner: None,
                        break_glass: false,
                        description: String::new(),
                    },
                },
            ))
            .await
            .unwrap();
    }
}

/// `memberships` active, provisioned grants: `memberships / groups` identities, each
/// granted every one of `groups` `corp-ldap` entitlements, and the same members in
/// slapd; then, in the first group, `drift` members removed by hand and `drift`
/// strangers added; then reconciliation timed.
///
/// Two shortcuts, so that setting up takes seconds, not many minutes:
/// - identities x groups rather than 100,000 identities in one group: the store's
///   writer copies the whole organisation for every `UpsertIdentity` (it still holds
///   the `Arc<Org>` snapshot it decided with when `Arc::make_mut` applies the event),
///   so loading N identities is O(N²): 10,000 take ≈ 7 s here, 100,000 ≈ 10 minutes;
/// - the members are written to slapd with one `ldapmodify`, and the worker's
///   confirmation (`ConfirmProvisioning`, with a receipt that says so) is executed
///   here, instead of one modify per grant by the worker. The grants are exactly what
///   the worker leaves behind (active, provisioned by a connector), so `missing` is
///   computed for them.
async fn reconcile_bench(memberships: usize, groups: usize, drift: usize) -> ReconcileResult {
    let identities = memberships / groups;
    let memberships = identities * groups;
    let mut setup = Vec::new();
    let ldap = slapd_started();
    let secrets = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = config_text(
        8,
        10,
        &ldap_system(&ldap, &secrets.path().join("ldap-password")),
    );
    let app = build(data.path(), &config).await;
    demo::seed(app.state(), app.data_dir()).await.unwrap();
    let state = app.state().clone();
    let store = state.store.clone();
    bench_groups(store.as_ref(), &ldap, groups).await;

    let t = Instant::now();
    upsert_people(store.as_ref(), identities).await;
    setup.push(("upsert identities", t.elapsed()));
    let t = Instant::now();
    let mut ids = Vec::new();
    for k in 0..groups {
        ids.push(grants(store.as_ref(), identities, &bench_entitlement(k)).await);
    }
    setup.push((
        "submit + approve (pending grants, queued jobs)",
        t.elapsed(),
    ));

    // Every member in one ldapmodify (each placeholder goes in the same modify).
    let t = Instant::now();
    let mut ldif = String::new();
    for k in 0..groups {
        let group = bench_group(k);
        let _ = writeln!(ldif, "dn: {group}\nchangetype: modify\nadd: member");
        for i in 0..identities {
            let _ = writeln!(ldif, "member: {}", member_dn(&account(i)));
        }
        let _ = write!(ldif, "-\ndelete: member\nmember: {group}\n\n");
    }
    ldap.modify_ldif(&ldif);
    setup.push(("slapd: one ldapmodify adding every member", t.elapsed()));

    let t = Instant::now();
    let provisioner = Actor::system("provisioner");
    let all = ids
        .iter()
        .enumerate()
        .flat_map(|(k, g)| g.iter().enumerate().map(move |(i, g)| (k, i, g)));
    futures::stream::iter(all)
        .map(|(k, i, g)| {
            store.execute(Envelope::new(
                provisioner.clone(),
                Command::ConfirmProvisioning {
                    grant: g.clone(),
                    action: JobAction::Provision,
                    receipt: Receipt {
                        connector: "ldap".into(),
                        change: "added".into(),
                        account_ref: member_dn(&account(i)),
                        target_ref: bench_group(k),
                        detail: "bulk-loaded by the provisioning benchmark (one ldapmodify)".into(),
                    },
                },
            ))
        })
        .buffer_unordered(SETUP_WIDTH)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
    setup.push(("confirm every grant (ConfirmProvisioning)", t.elapsed()));
    let stats = store.stats().await.unwrap();
    assert_eq!(count(&stats.grants_by_status, "active"), memberships as u64);
    assert_eq!(count(&stats.jobs_by_state, "queued"), 0);

    // Drift behind Writ's back, in the first group: members removed, strangers added.
    let first = bench_group(0);
    let mut ldif = format!("dn: {first}\nchangetype: modify\ndelete: member\n");
    for i in identities - drift..identities {
        let _ = writeln!(ldif, "member: {}", member_dn(&account(i)));
    }
    ldif.push_str("-\nadd: member\n");
    for i in 0..drift {
        let _ = writeln!(
            ldif,
            "member: cn=stranger{i},ou=contractors,dc=example,dc=com"
        );
    }
    ldap.modify_ldif(&ldif);
    let held: usize = (0..groups)
        .map(|k| ldap.members(&bench_group(k)).len())
        .sum();
    assert_eq!(held, memberships);

    let system = name("corp-ldap");
    let mut rows = Vec::new();
    let mut peak_reset = true;
    for how in [
        "reconcile() call, first run",
        "reconcile() call, second run",
    ] {
        let (_, rss_before) = memory();
        peak_reset &= reset_peak();
        let t = Instant::now();
        let report = writ_server::reconcile::reconcile(store.as_ref(), &state.connectors, &system)
            .await
            .unwrap();
        let seconds = t.elapsed().as_secs_f64();
        let (peak, _) = memory();
        rows.push(ReconcileRow {
            how: how.into(),
            seconds,
            memberships: report.memberships,
            live_grants: report.live_grants,
            explained: report.explained,
            unexplained: report.unexplained,
            missing: report.missing,
            recorded: recorded(&report.recorded),
            unchecked: report.unchecked.len(),
            rss_before,
            peak,
            body_mb: f64::NAN,
        });
        drop(report);
    }

    // Where a run's time goes: its steps one by one, through the same calls.
    let connector = state.connectors.get(&system).unwrap().clone();
    let targets: Vec<String> = (0..groups).map(bench_group).collect();
    let t = Instant::now();
    let listed = connector.list(&targets).await.unwrap();
    let list = t.elapsed();
    let t = Instant::now();
    let live = store.live_grants(&system).await.unwrap();
    let live_read = t.elapsed();
    let t = Instant::now();
    let ids: Vec<_> = live.iter().map(|g| g.request.clone()).collect();
    let approvals = store.approvals(ids).await.unwrap();
    assert_eq!(approvals.len(), live.len());
    let requests = t.elapsed();
    let breakdown = vec![
        (
            format!(
                "connector.list of {} groups ({} members)",
                groups,
                listed.len()
            ),
            list,
        ),
        (
            format!("store.live_grants ({} grants)", live.len()),
            live_read,
        ),
        (
            format!(
                "store.approvals for every explaining request ({} requests, one read)",
                live.len()
            ),
            requests,
        ),
    ];
    drop((listed, live));

    // Through the API, as `writ reconcile` does: the server runs (its worker first
    // puts back the members the first run found missing).
    let tokens: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(demo::tokens_path(app.data_dir())).unwrap())
            .unwrap();
    let running = start(app);
    let (requeued, dead) = drain(store.as_ref(), Instant::now()).await;
    assert_eq!(dead, 0, "every missing member was put back");
    setup.push(("worker re-provisions the missing members", requeued));
    let admin = Client::new(&running.base, Some(tokens["ada"].clone())).unwrap();
    let (_, rss_before) = memory();
    peak_reset &= reset_peak();
    let t = Instant::now();
    let res = admin
        .raw(
            reqwest::Method::POST,
            "/api/v1/reconcile?system=corp-ldap",
            None,
            None,
        )
        .await
        .unwrap();
    let seconds = t.elapsed().as_secs_f64();
    let (peak, _) = memory();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    let reports: writ_server::reconcile::ReconcileReports =
        serde_json::from_slice(&res.body).unwrap();
    let report = &reports.reports[0];
    rows.push(ReconcileRow {
        how: "POST /api/v1/reconcile, server running".into(),
        seconds,
        memberships: report.memberships,
        live_grants: report.live_grants,
        explained: report.explained,
        unexplained: report.unexplained,
        missing: report.missing,
        recorded: recorded(&report.recorded),
        unchecked: report.unchecked.len(),
        rss_before,
        peak,
        body_mb: res.body.len() as f64 / 1e6,
    });
    drop(reports);
    drop(res);
    drop(store);
    drop(state);
    running.stop().await;
    ReconcileResult {
        memberships,
        identities,
        groups,
        drift,
        setup,
        breakdown,
        rows,
        peak_reset,
    }
}

// ---------------------------------------------------------------------------------

/// `WRIT_BENCH_SMALL=1`: a quick run (N = 200, 5,000 memberships, one repeat).
/// Development aids: `WRIT_BENCH_ONLY=ldap,pg,defaults,reconcile` (a subset),
/// `WRIT_BENCH_REPEATS`, `WRIT_BENCH_JOBS`, `WRIT_BENCH_RECONCILE_N`,
/// `WRIT_BENCH_RECONCILE_GROUPS` (1 = every membership in one group, one identity
/// each: loading 100,000 identities then takes about ten minutes, see
/// `reconcile_bench`).
fn main() {
    let small = std::env::var("WRIT_BENCH_SMALL").is_ok_and(|v| v == "1");
    let (n, reconcile_n, drift, repeats) = if small {
        (200, 5_000, 50, 1)
    } else {
        (2_000, 100_000, 100, 3)
    };
    let n = env_num("WRIT_BENCH_JOBS", n);
    let repeats = env_num("WRIT_BENCH_REPEATS", repeats);
    let reconcile_n = env_num("WRIT_BENCH_RECONCILE_N", reconcile_n);
    let groups = env_num("WRIT_BENCH_RECONCILE_GROUPS", 10);
    let only = std::env::var("WRIT_BENCH_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    // (LDAP?, concurrency, poll interval ms): a fast poll, then the shipped defaults.
    let mut configs = Vec::new();
    for (part, ldap) in [("ldap", true), ("pg", false)] {
        if wanted(part) {
            for concurrency in [1, 8, 32] {
                configs.push((ldap, concurrency, 10));
            }
        }
    }
    if wanted("defaults") {
        configs.push((true, 8, 250));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let started = Instant::now();
        let mut jobs: Vec<Vec<JobsRow>> = configs.iter().map(|_| Vec::new()).collect();
        // Repeats interleaved, so a slow minute of the machine spreads over configurations.
        for _ in 0..repeats {
            for (k, &(ldap, concurrency, poll_ms)) in configs.iter().enumerate() {
                let row = jobs_round(ldap, n, concurrency, poll_ms).await;
                eprintln!(
                    "{} c={concurrency} poll={poll_ms}: provision {:.2} s, deprovision {:.2} s",
                    row.target,
                    row.provision.as_secs_f64(),
                    row.deprovision.as_secs_f64()
                );
                jobs[k].push(row);
            }
        }
        let rec = if wanted("reconcile") {
            Some(reconcile_bench(reconcile_n, groups, drift).await)
        } else {
            None
        };
        print_results(&jobs, rec.as_ref(), started.elapsed(), small, repeats);
    });
}

/// Median, min and max.
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn print_jobs(jobs: &[Vec<JobsRow>], repeats: usize) {
    println!();
    println!("1-2. Provisioning jobs: N pending grants made before the worker starts, timed from");
    println!("     run() until no job is queued; then all revoked and timed the same way. A fresh");
    println!("     target and data directory per run; {repeats} run(s) each, median (min-max).");
    println!();
    println!(
        "| target | concurrency | poll ms | jobs | provision jobs/s | provision s | deprovision jobs/s | deprovision s | retries | dead |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for runs in jobs {
        let Some(r) = runs.first() else { continue };
        let rate = |f: fn(&JobsRow) -> Duration| {
            let (m, lo, hi) = spread(
                runs.iter()
                    .map(|r| r.jobs as f64 / f(r).as_secs_f64())
                    .collect(),
            );
            let (s, _, _) = spread(runs.iter().map(|r| f(r).as_secs_f64()).collect());
            if runs.len() > 1 {
                (format!("{m:.0} ({lo:.0}-{hi:.0})"), format!("{s:.2}"))
            } else {
                (format!("{m:.0}"), format!("{s:.2}"))
            }
        };
        let (p_rate, p_s) = rate(|r| r.provision);
        let (d_rate, d_s) = rate(|r| r.deprovision);
        println!(
            "| {} | {} | {} | {} | {p_rate} | {p_s} | {d_rate} | {d_s} | {} | {} |",
            r.target,
            r.concurrency,
            r.poll_ms,
            r.jobs,
            runs.iter().map(|r| r.retries).sum::<u64>(),
            runs.iter().map(|r| r.dead).sum::<u64>(),
        );
    }
    let setups: Vec<f64> = jobs
        .iter()
        .flatten()
        .map(|r| r.setup.as_secs_f64())
        .collect();
    if !setups.is_empty() {
        let (m, lo, hi) = spread(setups);
        println!();
        println!(
            "     setup per run (identities + submit + approve, through the store): median {m:.2} s ({lo:.2}-{hi:.2})"
        );
    }
}

fn print_results(
    jobs: &[Vec<JobsRow>],
    rec: Option<&ReconcileResult>,
    total: Duration,
    small: bool,
    repeats: usize,
) {
    println!();
    println!(
        "writ provisioning benchmark{} — {} cores, total {:.0} s",
        if small { " (WRIT_BENCH_SMALL)" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        total.as_secs_f64()
    );
    if !jobs.is_empty() {
        print_jobs(jobs, repeats);
    }
    let Some(rec) = rec else { return };
    println!();
    println!(
        "3. Reconciliation: {} active provisioned grants = {} identities x {} corp-ldap groups,",
        rec.memberships, rec.identities, rec.groups
    );
    println!(
        "   the same {} members in slapd; then in the first group {} members removed by hand",
        rec.memberships, rec.drift
    );
    println!("   and {} strangers added.", rec.drift);
    println!();
    println!("   setup:");
    for (what, d) in &rec.setup {
        println!("   - {what}: {:.2} s", d.as_secs_f64());
    }
    println!();
    println!(
        "| run | seconds | memberships | live grants | explained | unexplained | missing | recorded | unchecked | RSS before MiB | peak (VmHWM) MiB | body MB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rec.rows {
        println!(
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
            r.how,
            r.seconds,
            r.memberships,
            r.live_grants,
            r.explained,
            r.unexplained,
            r.missing,
            r.recorded,
            r.unchecked,
            r.rss_before,
            r.peak,
            if r.body_mb.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.1}", r.body_mb)
            }
        );
    }
    println!();
    println!("   where a run's time goes (each step alone, same data, same process):");
    for (what, d) in &rec.breakdown {
        println!("   - {what}: {:.2} s", d.as_secs_f64());
    }
    println!();
    println!(
        "   VmHWM {} before each run, so each peak is that run's own; the process also holds",
        if rec.peak_reset {
            "was reset to the current RSS (clear_refs 5)"
        } else {
            "could NOT be reset (clear_refs refused): peaks are cumulative"
        }
    );
    println!("   the whole server (store caches, the organisation with every identity).");
}
