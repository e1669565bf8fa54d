//! Access-review campaigns at scale (issue 6): launching a campaign over every active
//! grant (1,000,000 by default), producing its auditor's report, and one reviewer's bulk
//! decision inside it.
//!
//! The real server state (`writ_server::Application`, with `SystemClock`, never
//! `run()`) in a fresh data directory, with the demo organisation; every grant is made
//! by executing the core commands against the store as people would:
//!
//! - the admin `ada` activates a policy whose low tier is approved by the system owner
//!   (the shipped default has the manager approve, and an approver can never review
//!   the access they approved, so a manager-reviewed campaign would send every item
//!   to the fallback reviewer), upserts 100 managers, 4 system owners, a fallback
//!   reviewer, 4 systems and 100 low-risk entitlements (25 per system), then N / 100
//!   people, each reporting to one of the managers;
//! - each person submits a request for each of the 100 entitlements and the system's
//!   owner approves it: N active grants, 4 ledger entries each.
//!
//! Commands are sent `SETUP_WIDTH` at a time so that the store's writer commits full
//! batches (group commit, up to 512 commands per transaction). Setting up 1,000,000
//! grants (4,000,000 ledger entries, a 3.7 GB database) takes about 2.5 minutes on the
//! 2-vCPU machine of BENCHMARKS.md's issue 6 section (about 7,000 grants/s), the whole
//! run 3 to 3.5 minutes; `WRIT_BENCH_SMALL=1` (20,000 grants) takes 3 seconds. The
//! store is then closed, the disk flushed (`sync`) and the server state built again on
//! the same directory, so the timed parts start as on a server restarted on its
//! database.
//!
//! Timed, each after resetting the process's peak memory (`VmHWM`, Linux `clear_refs`
//! 5), with a thread sampling `VmRSS` every 5 ms to say when the peak came:
//!
//! 1. `ada` launches a campaign over every active grant (reviewers: the beneficiary's
//!    manager; fallback: an independent person);
//! 2. the report as `GET /api/v1/campaigns/{id}/report` builds it:
//!    `Store::review_report`, `ReviewReportView::from`, then `to_csv()` and JSON;
//! 3. one manager certifies 1,000 of their items in one `DecideReview` (the API's
//!    bulk limit), and another decides a single item.
//!
//! Nothing here asserts a speed; the figures go to BENCHMARKS.md.
//!
//! ```sh
//! CARGO_TARGET_DIR=/root/.cache/writ-target-bench cargo bench -p writ --bench reviews
//! WRIT_BENCH_SMALL=1 cargo bench -p writ --bench reviews          # 20,000 grants
//! WRIT_BENCH_GRANTS=200000 cargo bench -p writ --bench reviews    # any multiple of 100
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::{env_num, memory, reset_peak, status_field};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use writ_core::{
    Actor, ApprovalPolicy, CampaignId, CampaignSpec, Clock as _, Command, DeadlineAction, Decision,
    DurationSpec, EmploymentType, Entitlement, EntitlementKind, EntitlementRef, Event, Human,
    Identity, IdentityKind, IdentityStatus, ItemStatus, Justification, Name, RequestKind,
    ReviewDecision, ReviewerStrategy, RiskTier, Scope, StepRole, System, SystemKind,
};
use writ_server::wire::ReviewReportView;
use writ_server::{Application, Config, Settings, demo};
use writ_store::{Envelope, ExecError, ItemFilter, Outcome, Store, SystemClock};

/// The server's allocator (`crates/writ/src/main.rs`), so memory figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Commands in flight at once while setting up (the writer commits whatever waits,
/// up to 512 per transaction).
const SETUP_WIDTH: usize = 4096;
/// Entitlements in the benchmark's catalogue; every person holds each of them.
const ENTITLEMENTS: usize = 100;
const SYSTEMS: usize = 4;
const MANAGERS: usize = 100;
const FALLBACK: &str = "fallback-reviewer";
/// Items in one bulk decision: the API's limit (`writ_core::MAX_BULK`).
const BULK: usize = writ_core::MAX_BULK;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn person_name(i: usize) -> String {
    format!("p{i:06}")
}

fn manager_name(k: usize) -> String {
    format!("mgr{k:03}")
}

fn owner_name(s: usize) -> String {
    format!("owner{s}")
}

fn system_name(s: usize) -> String {
    format!("bench-sys{s}")
}

/// Entitlement `j` of the catalogue, on system `j % SYSTEMS`.
fn entitlement_ref(j: usize) -> String {
    format!("{}/ent{j:03}", system_name(j % SYSTEMS))
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Samples `VmRSS` every 5 ms on its own thread: when the peak came, and a check on
/// `VmHWM` should the kernel refuse to reset it.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(f64, Duration)>,
}

impl Sampler {
    fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t = Instant::now();
            let (mut max, mut at) = (0.0_f64, Duration::ZERO);
            loop {
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                let rss = status_field(&status, "VmRSS:");
                if rss > max {
                    (max, at) = (rss, t.elapsed());
                }
                if flag.load(Ordering::Relaxed) {
                    return (max, at);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sampler { stop, handle }
    }

    /// The largest `VmRSS` seen (MiB) and when, from the start.
    fn stop(self) -> (f64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// A timed section: wall time, the peak (`VmHWM` since the reset), RSS before and
/// after, and the sampled peak with its time.
#[derive(Debug, Clone, Copy)]
struct Measured {
    seconds: f64,
    rss_before: f64,
    peak: f64,
    rss_after: f64,
    sampled_peak: f64,
    sampled_at: f64,
}

struct Section {
    t: Instant,
    rss_before: f64,
    sampler: Sampler,
}

/// Starts a timed section; `reset` turns false if the kernel refuses to reset the peak.
fn section(reset: &mut bool) -> Section {
    let (_, rss_before) = memory();
    *reset &= reset_peak();
    Section {
        sampler: Sampler::start(),
        rss_before,
        t: Instant::now(),
    }
}

impl Section {
    fn end(self) -> Measured {
        let seconds = self.t.elapsed().as_secs_f64();
        let (sampled_peak, at) = self.sampler.stop();
        let (peak, rss_after) = memory();
        Measured {
            seconds,
            rss_before: self.rss_before,
            peak,
            rss_after,
            sampled_peak,
            sampled_at: at.as_secs_f64(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Setting up, through the core commands

async fn build(dir: &Path) -> Application {
    Application::build(Settings {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        config: Config::default(),
        clock: Arc::new(SystemClock),
        scheduler: false,
    })
    .await
    .unwrap()
}

fn ada() -> Actor {
    Actor::Identity(name("ada"))
}

fn human(n: &str, manager: Option<String>, department: &str) -> Identity {
    Identity {
        name: name(n),
        display_name: format!("Bench {n}"),
        status: IdentityStatus::Active,
        groups: Default::default(),
        roles: Default::default(),
        kind: IdentityKind::Human(Human {
            email: format!("{n}@bench.example.com"),
            manager: manager.map(|m| name(&m)),
            department: Some(department.into()),
            employment_type: EmploymentType::Employee,
        }),
    }
}

/// Executes every command as `actor`, `SETUP_WIDTH` in flight.
async fn run_all(store: &dyn Store, actor: &Actor, commands: impl Iterator<Item = Command>) {
    futures::stream::iter(commands)
        .map(|command| store.execute(Envelope::new(actor.clone(), command)))
        .buffer_unordered(SETUP_WIDTH)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
}

/// The policy, the catalogue, the managers, owners and fallback reviewer, then the
/// `people` people.
async fn organisation(store: &dyn Store, people: usize) {
    let mut policy = ApprovalPolicy::default();
    policy.tiers.low.steps = vec![StepRole::SystemOwner];
    store
        .execute(Envelope::new(ada(), Command::ActivatePolicy { policy }))
        .await
        .unwrap();
    let staff = (0..MANAGERS)
        .map(|k| human(&manager_name(k), Some("dan".into()), "engineering"))
        .chain((0..SYSTEMS).map(|s| human(&owner_name(s), Some("dan".into()), "it")))
        .chain([human(FALLBACK, Some("morgan".into()), "internal-audit")])
        .map(|identity| Command::UpsertIdentity { identity });
    run_all(store, &ada(), staff).await;
    let systems = (0..SYSTEMS).map(|s| Command::UpsertSystem {
        system: System {
            name: name(&system_name(s)),
            display_name: format!("Benchmark system {s}"),
            kind: SystemKind::Other,
            owner: name(&owner_name(s)),
            description: String::new(),
        },
    });
    run_all(store, &ada(), systems).await;
    let entitlements = (0..ENTITLEMENTS).map(|j| {
        let r = EntitlementRef::parse(&entitlement_ref(j)).unwrap();
        Command::UpsertEntitlement {
            entitlement: Entitlement {
                system: r.system,
                name: r.entitlement,
                display_name: format!("Benchmark entitlement {j}"),
                kind: EntitlementKind::Group,
                external_ref: format!("cn=ent{j:03}"),
                risk: RiskTier::Low,
                privileged: false,
                max_duration: DurationSpec::days(365),
                owner: None,
                break_glass: false,
                description: String::new(),
            },
        }
    });
    run_all(store, &ada(), entitlements).await;
    let people = (0..people).map(|i| Command::UpsertIdentity {
        identity: human(
            &person_name(i),
            Some(manager_name(i % MANAGERS)),
            "engineering",
        ),
    });
    run_all(store, &ada(), people).await;
}

fn committed(r: Result<Outcome, ExecError>) -> Vec<writ_core::Recorded> {
    match r.unwrap() {
        Outcome::Committed(events) => events,
        Outcome::Replayed(_) | Outcome::Preview(_) => panic!("unexpected replay or preview"),
    }
}

/// Grant `g`: person `g / 100` asks for entitlement `g % 100`, the system's owner
/// approves.
async fn lifecycle(store: &dyn Store, g: usize) {
    let (i, j) = (g / ENTITLEMENTS, g % ENTITLEMENTS);
    let beneficiary = name(&person_name(i));
    let events = committed(
        store
            .execute(Envelope::new(
                Actor::Identity(beneficiary.clone()),
                Command::Submit {
                    beneficiary,
                    entitlement: EntitlementRef::parse(&entitlement_ref(j)).unwrap(),
                    justification: Justification::parse("benchmark: access review population")
                        .unwrap(),
                    ticket: None,
                    duration: DurationSpec::days(180),
                    kind: RequestKind::Standard,
                    constraints: None,
                    sod_exception: None,
                },
            ))
            .await,
    );
    let request = events
        .iter()
        .find_map(|e| match &e.event {
            Event::RequestSubmitted { request, .. } => Some(request.id.clone()),
            _ => None,
        })
        .expect("a request_submitted event");
    let events = committed(
        store
            .execute(Envelope::new(
                Actor::Identity(name(&owner_name(j % SYSTEMS))),
                Command::Decide {
                    request,
                    step: None,
                    decision: Decision::Approve,
                    comment: None,
                },
            ))
            .await,
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e.event, Event::GrantCreated { .. })),
        "a low-risk request is approved by the system owner alone"
    );
}

/// `n` granted lifecycles, `SETUP_WIDTH / 2` in flight, with progress on stderr.
async fn grants(store: &dyn Store, n: usize) {
    let done = AtomicUsize::new(0);
    let done = &done;
    let t = Instant::now();
    let step = (n / 20).max(1);
    futures::stream::iter(0..n)
        .map(|g| lifecycle(store, g))
        .buffer_unordered(SETUP_WIDTH / 2)
        .for_each(|()| async move {
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            if k.is_multiple_of(step) || k == n {
                let s = t.elapsed().as_secs_f64();
                eprintln!(
                    "  {k:>9} / {n} grants, {s:.0} s ({:.0} grants/s, {:.0} events/s)",
                    k as f64 / s,
                    4.0 * k as f64 / s
                );
            }
        })
        .await;
}

fn count(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
}

// ---------------------------------------------------------------------------------
// The timed parts

struct Launch {
    m: Measured,
    events: usize,
    population: u64,
    live_grants: u64,
    items: usize,
    /// Items by reviewer basis (`manager`, `fallback:…`).
    bases: BTreeMap<String, usize>,
    reviewers: usize,
    rss_after_drop: f64,
}

async fn launch(store: &dyn Store, reset: &mut bool) -> (CampaignId, Launch) {
    let now = SystemClock.now();
    let spec = CampaignSpec {
        name: "Benchmark: every active grant".into(),
        scope: Scope::default(),
        reviewers: ReviewerStrategy::Manager,
        fallback: name(FALLBACK),
        due_at: now.plus(DurationSpec::days(30)),
        final_at: now.plus(DurationSpec::days(45)),
        remind_before: None,
        on_deadline: DeadlineAction::Keep,
    };
    let s = section(reset);
    let events = committed(
        store
            .execute(Envelope::new(
                ada(),
                Command::LaunchCampaign {
                    spec,
                    schedule: None,
                },
            ))
            .await,
    );
    let m = s.end();
    let (id, population, live_grants) = events
        .iter()
        .find_map(|e| match &e.event {
            Event::CampaignLaunched {
                campaign,
                population,
                live_grants,
                ..
            } => Some((campaign.clone(), *population, *live_grants)),
            _ => None,
        })
        .expect("a campaign_launched event");
    let mut bases: BTreeMap<String, usize> = BTreeMap::new();
    let mut reviewers = std::collections::BTreeSet::new();
    let mut items = 0;
    for e in &events {
        if let Event::ReviewItemsOpened { items: opened, .. } = &e.event {
            items += opened.len();
            for i in opened {
                *bases.entry(i.basis.clone()).or_default() += 1;
                reviewers.insert(i.reviewer.to_string());
            }
        }
    }
    let n = events.len();
    drop(events);
    let (_, rss_after_drop) = memory();
    (
        id,
        Launch {
            m,
            events: n,
            population,
            live_grants,
            items,
            bases,
            reviewers: reviewers.len(),
            rss_after_drop,
        },
    )
}

struct Report {
    fetch: Measured,
    view: Measured,
    csv: Measured,
    json: Measured,
    csv_bytes: usize,
    csv_lines: usize,
    json_bytes: usize,
    lines: usize,
    reconciled: bool,
    reviewers: usize,
}

/// As the report handler does: the store's report, the wire view, then the CSV (and,
/// separately, the JSON body). The peak of each step is measured from the start of
/// the report: what the handler holds at once.
async fn report(store: &dyn Store, id: &CampaignId, reset: &mut bool) -> Report {
    let s = section(reset);
    let report = store
        .review_report(id)
        .await
        .unwrap()
        .expect("the campaign");
    let fetch = s.end();
    let t = Instant::now();
    let sampler = Sampler::start();
    let view = ReviewReportView::from(&report);
    let view_m = end_after(t, sampler, fetch.rss_before);
    let t = Instant::now();
    let sampler = Sampler::start();
    let csv = view.to_csv();
    let csv_m = end_after(t, sampler, fetch.rss_before);
    let csv_bytes = csv.len();
    let csv_lines = csv.matches("\r\n").count();
    drop(csv);
    // The JSON body instead of the CSV: the report and the view are still held.
    let s = section(reset);
    let json = serde_json::to_vec(&view).unwrap();
    let json_m = s.end();
    Report {
        fetch,
        view: view_m,
        csv: csv_m,
        json: json_m,
        csv_bytes,
        csv_lines,
        json_bytes: json.len(),
        lines: report.lines.len(),
        reconciled: view.population.reconciled,
        reviewers: view.reviewers.len(),
    }
}

/// Ends a step timed from `t` whose peak counts from an earlier reset.
fn end_after(t: Instant, sampler: Sampler, rss_before: f64) -> Measured {
    let seconds = t.elapsed().as_secs_f64();
    let (sampled_peak, at) = sampler.stop();
    let (peak, rss_after) = memory();
    Measured {
        seconds,
        rss_before,
        peak,
        rss_after,
        sampled_peak,
        sampled_at: at.as_secs_f64(),
    }
}

struct Decisions {
    list: Duration,
    bulk: Measured,
    bulk_items: usize,
    bulk_events: usize,
    single: Duration,
}

/// A manager's open items (as `GET …/items?mine` reads them), certified in one bulk
/// decision; then another manager decides one item.
async fn decisions(store: &dyn Store, id: &CampaignId, reset: &mut bool) -> Decisions {
    let open_of = |reviewer: String, limit: usize| ItemFilter {
        reviewer: Some(name(&reviewer)),
        status: Some(ItemStatus::Open),
        limit: limit as u32,
        ..ItemFilter::all(id)
    };
    let t = Instant::now();
    let mine = store
        .review_items(open_of(manager_name(0), BULK))
        .await
        .unwrap();
    let list = t.elapsed();
    let items: Vec<u32> = mine.iter().map(|r| r.item.item).collect();
    let bulk_items = items.len();
    let decide = |reviewer: String, items: Vec<u32>| {
        store.execute(Envelope::new(
            Actor::Identity(name(&reviewer)),
            Command::DecideReview {
                campaign: id.clone(),
                items,
                decision: ReviewDecision::Certify,
                reason: None,
            },
        ))
    };
    let s = section(reset);
    let events = committed(decide(manager_name(0), items).await);
    let bulk = s.end();
    let decided = events
        .iter()
        .filter(|e| matches!(e.event, Event::ReviewDecided { .. }))
        .count();
    assert_eq!(decided, bulk_items, "every named item is decided");
    let one = store
        .review_items(open_of(manager_name(1), 1))
        .await
        .unwrap();
    let t = Instant::now();
    committed(decide(manager_name(1), vec![one[0].item.item]).await);
    let single = t.elapsed();
    Decisions {
        list,
        bulk,
        bulk_items,
        bulk_events: events.len(),
        single,
    }
}

// ---------------------------------------------------------------------------------

/// A fresh data directory with the demo organisation and `people` x 100 active
/// grants; the store is closed on return. How long the organisation and the grants
/// took.
async fn seed(dir: &Path, people: usize) -> (Duration, Duration) {
    let n = people * ENTITLEMENTS;
    let app = build(dir).await;
    demo::seed(app.state(), app.data_dir()).await.unwrap();
    let store = app.state().store.clone();
    eprintln!("setting up {n} active grants ({people} people x {ENTITLEMENTS} entitlements)");
    let t = Instant::now();
    organisation(store.as_ref(), people).await;
    let org_setup = t.elapsed();
    eprintln!("  organisation: {:.1} s", org_setup.as_secs_f64());
    let t = Instant::now();
    grants(store.as_ref(), n).await;
    let grant_setup = t.elapsed();
    let stats = store.stats().await.unwrap();
    assert_eq!(count(&stats.grants_by_status, "active"), n as u64);
    (org_setup, grant_setup)
}

/// `WRIT_BENCH_GRANTS` (default 1,000,000; rounded down to a multiple of 100), or
/// `WRIT_BENCH_SMALL=1` for 20,000. `WRIT_BENCH_KEEP=1` keeps the data directory (its
/// path is printed) for looking into the database afterwards; `WRIT_BENCH_DATA=<dir>`
/// runs the timed parts on such a directory instead of setting one up (give it a copy:
/// each run adds a campaign).
fn main() {
    let small = std::env::var("WRIT_BENCH_SMALL").is_ok_and(|v| v == "1");
    let wanted = env_num("WRIT_BENCH_GRANTS", if small { 20_000 } else { 1_000_000 });
    let reuse = std::env::var_os("WRIT_BENCH_DATA").map(std::path::PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let started = Instant::now();
        let data = tempfile::tempdir().unwrap();
        let dir = reuse.clone().unwrap_or_else(|| data.path().to_owned());
        let (org_setup, grant_setup) = if reuse.is_some() {
            (Duration::ZERO, Duration::ZERO)
        } else {
            let people = (wanted / ENTITLEMENTS).max(1);
            seed(&dir, people).await
        };
        // The timed parts run on a server started on the database, as after a restart:
        // the setup's WAL was checkpointed when its store closed, and the 3.7 GB it wrote
        // are flushed, so its write-back does not compete with what is measured.
        let _ = std::process::Command::new("sync").status();
        let app = build(&dir).await;
        let store = app.state().store.clone();
        let store = store.as_ref();
        let stats = store.stats().await.unwrap();
        let n = count(&stats.grants_by_status, "active") as usize;
        let people = n / ENTITLEMENTS;
        if reuse.is_some() {
            eprintln!("reusing {} with {n} active grants", dir.display());
        }
        let db_bytes = std::fs::metadata(dir.join("writ.db")).map_or(0, |m| m.len());

        let mut reset = true;
        eprintln!("launching the campaign");
        let (id, launch) = launch(store, &mut reset).await;
        assert_eq!(
            launch.population, n as u64,
            "every active grant is in scope"
        );
        assert_eq!(launch.live_grants, n as u64);
        assert_eq!(launch.items, n);
        eprintln!("  {:.2} s", launch.m.seconds);

        eprintln!("building the report");
        let report = report(store, &id, &mut reset).await;
        assert_eq!(report.lines, n);
        assert_eq!(report.csv_lines, n + 1, "a header and a line per item");
        assert!(report.reconciled, "the report reconciles with the launch");

        eprintln!("deciding");
        let decisions = decisions(store, &id, &mut reset).await;

        drop(app);
        if std::env::var_os("WRIT_BENCH_KEEP").is_some() {
            eprintln!("data directory kept: {}", data.keep().display());
        }
        Summary {
            n,
            people,
            small,
            org_setup,
            grant_setup,
            events_before: stats.events,
            db_bytes,
            launch,
            report,
            decisions,
            reset,
            total: started.elapsed(),
        }
        .print();
    });
}

struct Summary {
    n: usize,
    people: usize,
    small: bool,
    org_setup: Duration,
    grant_setup: Duration,
    events_before: u64,
    db_bytes: u64,
    launch: Launch,
    report: Report,
    decisions: Decisions,
    reset: bool,
    total: Duration,
}

fn row(what: &str, m: &Measured, note: &str) {
    println!(
        "| {what} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} at {:.1} s | {note} |",
        m.seconds, m.rss_before, m.peak, m.rss_after, m.sampled_peak, m.sampled_at
    );
}

impl Summary {
    fn print(&self) {
        let l = &self.launch;
        let r = &self.report;
        let d = &self.decisions;
        println!();
        println!(
            "writ access-review benchmark{} — {} cores, total {:.0} s",
            if self.small {
                " (WRIT_BENCH_SMALL)"
            } else {
                ""
            },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.total.as_secs_f64()
        );
        println!();
        println!(
            "Setup: {} active grants = {} people x {ENTITLEMENTS} low-risk entitlements on {SYSTEMS} systems,",
            self.n, self.people
        );
        println!(
            "{MANAGERS} managers; organisation {:.1} s, submit + approve {:.0} s ({:.0} grants/s); {} ledger entries,",
            self.org_setup.as_secs_f64(),
            self.grant_setup.as_secs_f64(),
            self.n as f64 / self.grant_setup.as_secs_f64(),
            self.events_before
        );
        println!("database {:.0} MiB.", mib(self.db_bytes as usize));
        println!();
        println!(
            "| step | seconds | RSS before MiB | peak (VmHWM) MiB | RSS after MiB | sampled peak MiB | note |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        row(
            "launch (`LaunchCampaign`, all active grants)",
            &l.m,
            &format!(
                "{} events, population {}, live grants {}; RSS {:.0} MiB once the events are dropped",
                l.events, l.population, l.live_grants, l.rss_after_drop
            ),
        );
        row(
            "report: `Store::review_report`",
            &r.fetch,
            &format!("{} lines", r.lines),
        );
        row(
            "report: `ReviewReportView::from`",
            &r.view,
            &format!("{} reviewers; peak since the report began", r.reviewers),
        );
        row(
            "report: `to_csv()`",
            &r.csv,
            &format!(
                "{:.0} MiB, {} lines; peak since the report began",
                mib(r.csv_bytes),
                r.csv_lines
            ),
        );
        row(
            "report: JSON body (`serde_json::to_vec`)",
            &r.json,
            &format!(
                "{:.0} MiB; peak reset after the CSV was dropped",
                mib(r.json_bytes)
            ),
        );
        row(
            &format!("bulk decision: {} items, one `DecideReview`", d.bulk_items),
            &d.bulk,
            &format!(
                "{} events; listing the reviewer's open items first: {:.3} s",
                d.bulk_events,
                d.list.as_secs_f64()
            ),
        );
        println!();
        println!(
            "Report total (store + view + CSV): {:.2} s. Single-item decision: {:.3} s.",
            r.fetch.seconds + r.view.seconds + r.csv.seconds,
            d.single.as_secs_f64()
        );
        println!(
            "Reviewers: {} ({}).",
            l.reviewers,
            l.bases
                .iter()
                .map(|(b, k)| format!("{k} {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "Goal (launch under 10 s and 1 GiB): {:.2} s, peak {:.0} MiB -> {}.",
            l.m.seconds,
            l.m.peak,
            if l.m.seconds < 10.0 && l.m.peak < 1024.0 {
                "met"
            } else {
                "NOT met"
            }
        );
        println!(
            "VmHWM {} before each timed step.",
            if self.reset {
                "was reset to the current RSS (clear_refs 5)"
            } else {
                "could NOT be reset (clear_refs refused): use the sampled peaks"
            }
        );
    }
}
