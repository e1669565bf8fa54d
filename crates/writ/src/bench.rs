//! Benchmarks: `writ bench store`, `proofs`, `http` and `policy`. Figures go to BENCHMARKS.md
//! with the command that produced them; nothing here asserts a speed.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use writ_core::{
    Actor, Command, Decision, DurationSpec, EmploymentType, Entitlement, EntitlementKind,
    EntitlementRef, Human, Identity, IdentityKind, IdentityStatus, Justification, Name,
    RequestKind, RiskTier, System, SystemKind,
};
use writ_ledger::{Hash, LedgerKey};
use writ_server::wire::{DecisionBody, NewRequest};
use writ_server::{Application, Config, Settings};
use writ_store::sqlite::{SqliteStore, VerifyOptions, baseline, verify};
use writ_store::{Envelope, Outcome, RandomIds, Store, SystemClock};

use crate::client::Client;

fn n(s: &str) -> anyhow::Result<Name> {
    Name::parse(s).map_err(|e| anyhow!(e))
}

fn person(name: &str, manager: Option<&str>) -> anyhow::Result<Identity> {
    Ok(Identity {
        name: n(name)?,
        display_name: name.to_owned(),
        status: IdentityStatus::Active,
        groups: Default::default(),
        roles: Default::default(),
        kind: IdentityKind::Human(Human {
            email: format!("{name}@bench.example"),
            manager: manager.map(n).transpose()?,
            department: Some("bench".into()),
            employment_type: EmploymentType::Employee,
        }),
    })
}

fn entitlement_ref(k: usize) -> anyhow::Result<EntitlementRef> {
    Ok(EntitlementRef::new(n("bench")?, n(&format!("e{k}"))?))
}

/// A manager `boss`, a system owner `owner`, `workers` people reporting to `boss`,
/// and `entitlements` medium-risk entitlements, so each lifecycle needs exactly two
/// approvals (manager, system owner) and never collides with another.
async fn seed(store: &dyn Store, workers: usize, entitlements: usize) -> anyhow::Result<()> {
    let actor = Actor::system("bench");
    let mut commands = vec![
        Command::UpsertIdentity {
            identity: person("boss", None)?,
        },
        Command::UpsertIdentity {
            identity: person("owner", None)?,
        },
    ];
    for w in 0..workers {
        commands.push(Command::UpsertIdentity {
            identity: person(&format!("u{w}"), Some("boss"))?,
        });
    }
    commands.push(Command::UpsertSystem {
        system: System {
            name: n("bench")?,
            display_name: "Benchmark system".into(),
            kind: SystemKind::Other,
            owner: n("owner")?,
            description: String::new(),
        },
    });
    for k in 0..entitlements {
        let r = entitlement_ref(k)?;
        commands.push(Command::UpsertEntitlement {
            entitlement: Entitlement {
                system: r.system,
                name: r.entitlement,
                display_name: format!("bench e{k}"),
                kind: EntitlementKind::Group,
                external_ref: format!("cn=e{k}"),
                risk: RiskTier::Medium,
                privileged: false,
                max_duration: DurationSpec::days(30),
                owner: None,
                break_glass: false,
                description: String::new(),
            },
        });
    }
    for command in commands {
        store.execute(Envelope::new(actor.clone(), command)).await?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct StoreReport {
    pub lifecycles: usize,
    pub concurrency: usize,
    pub commands: u64,
    pub events: u64,
    pub transactions: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub commands_per_second: f64,
    pub mean_leaf_bytes: f64,
    pub mean_events_per_transaction: f64,
    pub raw_rows: usize,
    pub raw_seconds: f64,
    pub raw_rows_per_second: f64,
    /// Checkpoints signed while the benchmark ran (one a second when the log grew).
    pub checkpoints: u64,
    pub verify: VerifyFigures,
}

/// `writ audit verify` over the benchmark's database, next to plain SHA-256 over the
/// same leaf bytes in the same run.
#[derive(Debug, Serialize)]
pub struct VerifyFigures {
    pub leaves: u64,
    pub megabytes: f64,
    pub tree_seconds: f64,
    pub tree_leaves_per_second: f64,
    pub tree_megabytes_per_second: f64,
    pub replay_seconds: f64,
    pub sha256_seconds: f64,
    pub sha256_megabytes_per_second: f64,
}

impl fmt::Display for StoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "store: {} lifecycles (submit, approve, approve → grant), {} concurrent submitters",
            self.lifecycles, self.concurrency
        )?;
        writeln!(
            f,
            "  {} commands, {} events in {:.2} s, {} transactions ({:.1} events each)",
            self.commands,
            self.events,
            self.seconds,
            self.transactions,
            self.mean_events_per_transaction
        )?;
        writeln!(f, "  durable events/s:   {:>10.0}", self.events_per_second)?;
        writeln!(
            f,
            "  commands/s:         {:>10.0}",
            self.commands_per_second
        )?;
        writeln!(
            f,
            "  mean leaf size:     {:>10.0} bytes",
            self.mean_leaf_bytes
        )?;
        writeln!(
            f,
            "raw SQLite, same run: {} rows of {:.0} bytes, {:.1} per transaction, WAL + synchronous=FULL",
            self.raw_rows, self.mean_leaf_bytes, self.mean_events_per_transaction
        )?;
        writeln!(
            f,
            "  rows/s:             {:>10.0}  (store reaches {:.0}% of it while also deciding, projecting and hashing)",
            self.raw_rows_per_second,
            100.0 * self.events_per_second / self.raw_rows_per_second
        )?;
        writeln!(f, "checkpoints signed during the run: {}", self.checkpoints)?;
        let v = &self.verify;
        writeln!(
            f,
            "audit verify: {} leaves, {:.1} MB; tree {:.2} s = {:.0} leaves/s, {:.1} MB/s; replay {:.2} s",
            v.leaves,
            v.megabytes,
            v.tree_seconds,
            v.tree_leaves_per_second,
            v.tree_megabytes_per_second,
            v.replay_seconds
        )?;
        writeln!(
            f,
            "  SHA-256 over the same leaves, same run: {:.1} MB/s (verify's tree pass reaches {:.0}% of it)",
            v.sha256_megabytes_per_second,
            100.0 * v.tree_megabytes_per_second / v.sha256_megabytes_per_second
        )
    }
}

pub async fn store(lifecycles: usize, concurrency: usize) -> anyhow::Result<StoreReport> {
    if lifecycles == 0 || concurrency == 0 {
        bail!("--lifecycles and --concurrency must be positive");
    }
    let dir = tempfile::tempdir()?;
    let sqlite = Arc::new(SqliteStore::open(
        &dir.path().join("bench.db"),
        Arc::new(SystemClock),
        Box::new(RandomIds),
    )?);
    let per_worker = lifecycles.div_ceil(concurrency);
    seed(sqlite.as_ref(), concurrency, per_worker).await?;
    let (events0, commits0) = (sqlite.events_appended(), sqlite.commits());

    // Sign a checkpoint every second while the log grows, as the server does.
    let mut seed_bytes = [0u8; 32];
    getrandom::fill(&mut seed_bytes).map_err(|e| anyhow!("no OS randomness: {e}"))?;
    let key = Arc::new(LedgerKey::from_seed("bench.writ.local/ledger", seed_bytes)?);
    let (stop_signing, mut stopped) = tokio::sync::watch::channel(false);
    let signer = {
        let store = sqlite.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut signed = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if store.sign_checkpoint(key.clone()).await.is_ok() {
                            signed += 1;
                        }
                    }
                    _ = stopped.changed() => return signed,
                }
            }
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let store = sqlite.clone();
        let count = lifecycles.saturating_sub(w * per_worker).min(per_worker);
        tasks.push(tokio::spawn(
            async move { store_worker(store, w, count).await },
        ));
    }
    let mut commands = 0;
    for t in tasks {
        commands += t.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop_signing.send(true);
    let checkpoints = signer.await?;
    sqlite.sign_checkpoint(key.clone()).await?;
    let events = sqlite.events_appended() - events0;
    let transactions = sqlite.commits() - commits0;
    let tail = sqlite.events(0, 10_000).await?;
    let mean_leaf_bytes =
        tail.iter().map(|e| e.leaf.len() as f64).sum::<f64>() / tail.len().max(1) as f64;
    let per_tx = events as f64 / transactions.max(1) as f64;
    sqlite.shutdown();

    let raw_rows = events as usize;
    let raw = baseline::raw_inserts(
        &dir.path().join("raw.db"),
        raw_rows,
        mean_leaf_bytes as usize,
        per_tx.round() as usize,
    )?;
    let raw_seconds = raw.as_secs_f64();
    let verify = verify_figures(&dir.path().join("bench.db"), &key.verifier_key())?;
    Ok(StoreReport {
        lifecycles,
        concurrency,
        commands,
        events,
        transactions,
        seconds,
        events_per_second: events as f64 / seconds,
        commands_per_second: commands as f64 / seconds,
        mean_leaf_bytes,
        mean_events_per_transaction: per_tx,
        raw_rows,
        raw_seconds,
        raw_rows_per_second: raw_rows as f64 / raw_seconds,
        checkpoints,
        verify,
    })
}

fn verify_figures(db: &Path, verifier_key: &str) -> anyhow::Result<VerifyFigures> {
    let options = VerifyOptions {
        verifier_key: verifier_key.to_owned(),
        saved_checkpoint: None,
    };
    let report = match verify(db, &options, &mut |_, _, _| {})? {
        Ok(r) => r,
        Err(d) => bail!("the benchmark's own ledger does not verify: {}", d.message),
    };
    let leaves = baseline::read_leaves(db)?;
    let started = Instant::now();
    let mut sink = 0u8;
    for leaf in &leaves {
        sink ^= Hash::sha256(leaf).0[0];
    }
    let sha256_seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    let megabytes = report.leaf_bytes as f64 / 1e6;
    let tree_seconds = report.tree_time.as_secs_f64();
    Ok(VerifyFigures {
        leaves: report.size,
        megabytes,
        tree_seconds,
        tree_leaves_per_second: report.size as f64 / tree_seconds,
        tree_megabytes_per_second: megabytes / tree_seconds,
        replay_seconds: report.replay_time.as_secs_f64(),
        sha256_seconds,
        sha256_megabytes_per_second: megabytes / sha256_seconds,
    })
}

#[derive(Debug, Serialize)]
pub struct ProofReport {
    pub size: u64,
    pub build_seconds: f64,
    pub samples: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl fmt::Display for ProofReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inclusion proofs in a tree of {} leaves (built in {:.1} s): {} random leaves",
            self.size, self.build_seconds, self.samples
        )?;
        writeln!(
            f,
            "  p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            self.p50_us, self.p99_us, self.max_us
        )
    }
}

/// Inclusion-proof latency over a synthetic tree of `size` leaves on disk.
pub fn proofs(size: u64, samples: usize) -> anyhow::Result<ProofReport> {
    if size < 2 || samples == 0 {
        bail!("--size must be at least 2 and --samples positive");
    }
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tree.db");
    let built = baseline::synthetic_tree(&db, size)?;
    // Warm the page cache as a running server's would be, then measure.
    baseline::proof_latencies(&db, size, samples.min(1000))?;
    let mut times = baseline::proof_latencies(&db, size, samples)?;
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(ProofReport {
        size,
        build_seconds: built.as_secs_f64(),
        samples,
        p50_us: us(at(0.50)),
        p99_us: us(at(0.99)),
        max_us: us(times[times.len() - 1]),
    })
}

async fn store_worker(store: Arc<SqliteStore>, w: usize, count: usize) -> anyhow::Result<u64> {
    let me = Actor::Identity(n(&format!("u{w}"))?);
    let boss = Actor::Identity(n("boss")?);
    let owner = Actor::Identity(n("owner")?);
    let justification = Justification::parse("benchmark lifecycle").map_err(|e| anyhow!(e))?;
    let mut commands = 0;
    for k in 0..count {
        let submitted = store
            .execute(Envelope::new(
                me.clone(),
                Command::Submit {
                    beneficiary: n(&format!("u{w}"))?,
                    entitlement: entitlement_ref(k)?,
                    justification: justification.clone(),
                    ticket: None,
                    duration: DurationSpec::hours(8),
                    kind: RequestKind::Standard,
                    constraints: None,
                    sod_exception: None,
                },
            ))
            .await?;
        let Outcome::Committed(events) = submitted else {
            bail!("unexpected replay");
        };
        let request = match events.first().map(|e| &e.event) {
            Some(writ_core::Event::RequestSubmitted { request, .. }) => request.id.clone(),
            _ => bail!("submission produced no request"),
        };
        for approver in [&boss, &owner] {
            store
                .execute(Envelope::new(
                    approver.clone(),
                    Command::Decide {
                        request: request.clone(),
                        step: None,
                        decision: Decision::Approve,
                        comment: None,
                    },
                ))
                .await?;
        }
        commands += 3;
    }
    Ok(commands)
}

#[derive(Debug, Serialize)]
pub struct HttpReport {
    pub lifecycles: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub lifecycles_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub call_p50_ms: f64,
    pub call_p99_ms: f64,
}

impl fmt::Display for HttpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "http: {} lifecycles (POST request, approve, approve → grant), {} concurrent clients",
            self.lifecycles, self.concurrency
        )?;
        writeln!(
            f,
            "  {:.2} s, {:.0} lifecycles/s",
            self.seconds, self.lifecycles_per_second
        )?;
        writeln!(
            f,
            "  lifecycle latency  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.p50_ms, self.p99_ms, self.max_ms
        )?;
        writeln!(
            f,
            "  single call        p50 {:.2} ms  p99 {:.2} ms",
            self.call_p50_ms, self.call_p99_ms
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

pub async fn http(lifecycles: usize, concurrency: usize) -> anyhow::Result<HttpReport> {
    if lifecycles == 0 || concurrency == 0 {
        bail!("--lifecycles and --concurrency must be positive");
    }
    let dir = tempfile::tempdir()?;
    let app = Application::build(Settings {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".parse()?,
        config: Config::default(),
        clock: Arc::new(SystemClock),
        scheduler: false,
    })
    .await?;
    let per_worker = lifecycles.div_ceil(concurrency);
    let state = app.state().clone();
    seed(state.store.as_ref(), concurrency, per_worker).await?;
    let mut names = vec!["boss".to_owned(), "owner".to_owned()];
    names.extend((0..concurrency).map(|w| format!("u{w}")));
    let mut tokens = std::collections::HashMap::new();
    for name in &names {
        let secret =
            writ_server::auth::new_token().map_err(|e| anyhow!("no OS randomness: {e}"))?;
        state
            .store
            .execute(Envelope::new(
                Actor::system("bench"),
                Command::IssueToken {
                    identity: n(name)?,
                    label: "bench".into(),
                    hash: writ_server::auth::token_hash(&state.pepper, secret.expose()),
                    expires_at: None,
                },
            ))
            .await?;
        tokens.insert(name.clone(), secret.expose().to_owned());
    }
    let base = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let client = Client::new(&base, None)?;
    let token = |name: &str| tokens.get(name).cloned().context("token");
    let boss = client.with_token(&token("boss")?);
    let owner = client.with_token(&token("owner")?);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let me = client.with_token(&token(&format!("u{w}"))?);
        let (boss, owner) = (boss.clone(), owner.clone());
        let count = lifecycles.saturating_sub(w * per_worker).min(per_worker);
        tasks.push(tokio::spawn(async move {
            let mut lifecycles = Vec::with_capacity(count);
            let mut calls = Vec::with_capacity(count * 3);
            for k in 0..count {
                let t0 = Instant::now();
                let r = me
                    .create_request(
                        &NewRequest {
                            beneficiary: format!("u{w}"),
                            entitlement: format!("bench/e{k}"),
                            justification: "benchmark lifecycle".into(),
                            duration: "8h".into(),
                            ticket: None,
                            kind: None,
                            constraints: None,
                            sod_exception: None,
                        },
                        None,
                    )
                    .await?;
                calls.push(t0.elapsed());
                let t1 = Instant::now();
                boss.approve(&r.id, &DecisionBody::default(), None).await?;
                calls.push(t1.elapsed());
                let t2 = Instant::now();
                let done = owner.approve(&r.id, &DecisionBody::default(), None).await?;
                calls.push(t2.elapsed());
                if done.status != "approved" || done.grant.is_none() {
                    bail!(
                        "lifecycle {k} of u{w} ended `{}` without a grant",
                        done.status
                    );
                }
                lifecycles.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>((lifecycles, calls))
        }));
    }
    let mut all = Vec::new();
    let mut calls = Vec::new();
    for t in tasks {
        let (l, c) = t.await??;
        all.extend(l);
        calls.extend(c);
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;
    all.sort();
    calls.sort();
    Ok(HttpReport {
        lifecycles: all.len(),
        concurrency,
        seconds,
        lifecycles_per_second: all.len() as f64 / seconds,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        max_ms: percentile(&all, 1.0),
        call_p50_ms: percentile(&calls, 0.50),
        call_p99_ms: percentile(&calls, 0.99),
    })
}

#[derive(Debug, Serialize)]
pub struct PolicyReport {
    pub people: usize,
    pub compile_ms: f64,
    pub samples: usize,
    /// One decision judged: `standing` for the approver (what every approval costs).
    pub decide_p50_us: f64,
    pub decide_p99_us: f64,
    /// Who may decide both steps (what `request show` costs): the shipped policies,
    /// whose permits name where their principals come from.
    pub show_p50_ms: f64,
    pub show_p99_ms: f64,
    /// The same with one more permit on an attribute of the principal (a department),
    /// which could allow anyone: every person is asked.
    pub show_everyone_p50_ms: f64,
    pub show_everyone_p99_ms: f64,
}

impl fmt::Display for PolicyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Cedar approval authority, shipped policy set, organisation of {} people (compiled in {:.1} ms), {} samples",
            self.people, self.compile_ms, self.samples
        )?;
        writeln!(
            f,
            "  judging one approver (every decision): p50 {:.1} µs, p99 {:.1} µs",
            self.decide_p50_us, self.decide_p99_us
        )?;
        writeln!(
            f,
            "  eligibility of a 2-step request (request show), shipped policies: p50 {:.2} ms, p99 {:.2} ms",
            self.show_p50_ms, self.show_p99_ms
        )?;
        writeln!(
            f,
            "  the same with a permit on a principal's department (everyone asked): p50 {:.2} ms, p99 {:.2} ms",
            self.show_everyone_p50_ms, self.show_everyone_p99_ms
        )
    }
}

/// The cost of Cedar authority: one approver judged (each decision), and everyone
/// asked for a request's open steps (each `request show`), in an organisation of
/// `people` (managers of 10, 20 in `security`), with the shipped policies.
pub fn policy(people: usize, samples: usize) -> anyhow::Result<PolicyReport> {
    use writ_core::{
        ApprovalPolicy, Authority, Org, PolicySource, Request, Standing, StepRole, Submission,
        Timestamp, eligibility, standing,
    };
    if people < 20 || samples == 0 {
        bail!("--people must be at least 20 and --samples positive");
    }
    let t0 = Instant::now();
    let authority = Authority::compile(&PolicySource::shipped()).map_err(|e| anyhow!(e))?;
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let policy = ApprovalPolicy::default();
    let mut org = Org::default();
    for i in 0..people {
        let manager = (i > 0).then(|| format!("p{}", (i - 1) / 10));
        let mut p = person(&format!("p{i}"), manager.as_deref())?;
        if i % (people / 20) == 0 {
            p.groups.insert("security".into());
        }
        org.identities.insert(p.name.clone(), p);
    }
    let system = System {
        name: n("bench")?,
        display_name: "bench".into(),
        kind: SystemKind::Database,
        owner: n("p1")?,
        description: String::new(),
    };
    let e = Entitlement {
        system: n("bench")?,
        name: n("e0")?,
        display_name: "e0".into(),
        kind: EntitlementKind::Role,
        external_ref: "e0".into(),
        risk: RiskTier::Medium,
        privileged: false,
        max_duration: DurationSpec::days(1),
        owner: None,
        break_glass: false,
        description: String::new(),
    };
    org.systems.insert(system.name.clone(), system);
    org.entitlements.insert(e.reference(), e);
    let worker = format!("p{}", people - 1);
    let submission = Submission {
        id: writ_core::RequestId::parse("req_0000000000000001").map_err(|e| anyhow!(e))?,
        requester: n(&worker)?,
        beneficiary: n(&worker)?,
        entitlement: entitlement_ref(0)?,
        risk: RiskTier::Medium,
        privileged: false,
        justification: Justification::parse("benchmark the policy").map_err(|e| anyhow!(e))?,
        ticket: None,
        duration: DurationSpec::hours(8),
        kind: RequestKind::Standard,
        renews: None,
        constraints: None,
        steps: vec![StepRole::Manager, StepRole::SystemOwner],
        policy_version: policy.version(),
        submitted_at: Timestamp(0),
        sod_exception: None,
        pre_approved: None,
        emergency: None,
    };
    let request = Request::submitted(submission, String::new());
    let rules = writ_core::Rules {
        policy: &policy,
        authority: &authority,
    };
    let manager = n(&format!("p{}", (people - 2) / 10))?;
    let now = Timestamp(1);
    let mut decide = Vec::with_capacity(samples);
    let mut show = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let s = standing(&org, rules, &request, 1, &manager, now);
        decide.push(t.elapsed());
        if !matches!(s, Standing::Eligible(_)) {
            bail!("the manager should be eligible: {s:?}");
        }
        let t = Instant::now();
        let e = eligibility(&org, rules, &request, now);
        show.push(t.elapsed());
        if e.len() != 2 || e.iter().any(|s| s.eligible.is_empty()) {
            bail!("both steps should have someone eligible: {e:?}");
        }
    }
    let mut open_source = PolicySource::shipped();
    open_source.files.insert(
        "department.cedar".into(),
        r#"permit (principal, action == Writ::Action::"decide", resource)
           when { context.step == "security" && principal has department && principal.department == "audit" };"#
            .into(),
    );
    let open = Authority::compile(&open_source).map_err(|e| anyhow!(e))?;
    let open_rules = writ_core::Rules {
        policy: &policy,
        authority: &open,
    };
    let mut everyone = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let e = eligibility(&org, open_rules, &request, now);
        everyone.push(t.elapsed());
        if e.len() != 2 {
            bail!("two steps expected: {e:?}");
        }
    }
    decide.sort();
    show.sort();
    everyone.sort();
    Ok(PolicyReport {
        people,
        compile_ms,
        samples,
        decide_p50_us: percentile(&decide, 0.5) * 1e3,
        decide_p99_us: percentile(&decide, 0.99) * 1e3,
        show_p50_ms: percentile(&show, 0.5),
        show_p99_ms: percentile(&show, 0.99),
        show_everyone_p50_ms: percentile(&everyone, 0.5),
        show_everyone_p99_ms: percentile(&everyone, 0.99),
    })
}
