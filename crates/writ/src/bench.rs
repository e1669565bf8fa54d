//! Benchmarks: `writ bench store` and `writ bench http`. Figures go to BENCHMARKS.md
//! with the command that produced them; nothing here asserts a speed.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use writ_core::{
    Actor, Command, Decision, DurationSpec, EmploymentType, Entitlement, EntitlementKind,
    EntitlementRef, Human, Identity, IdentityKind, IdentityStatus, Justification, Name,
    RequestKind, RiskTier, System, SystemKind,
};
use writ_server::wire::{DecisionBody, NewRequest};
use writ_server::{Application, Config, Settings};
use writ_store::sqlite::{SqliteStore, baseline};
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
            "  rows/s:             {:>10.0}  (store reaches {:.0}% of it while also deciding and projecting)",
            self.raw_rows_per_second,
            100.0 * self.events_per_second / self.raw_rows_per_second
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
