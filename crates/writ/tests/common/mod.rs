//! Start the real server on port 0 with a fresh data directory and the demo
//! organisation, and drive it through the same typed client the CLI uses.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tempfile::TempDir;
use tokio::sync::oneshot;
use writ::Client;
use writ_core::{ManualClock, Timestamp};
use writ_server::{AppState, Application, Config, Settings, demo};

/// 2026-11-29T09:00:00Z.
pub const START: Timestamp = Timestamp(1_795_942_800_000);

pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub tokens: BTreeMap<String, String>,
    dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Config::default(), false).await
    }

    pub async fn spawn_with(config: Config, scheduler: bool) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        Self::start(dir, clock, config, scheduler).await
    }

    pub async fn start(
        dir: TempDir,
        clock: Arc<ManualClock>,
        config: Config,
        scheduler: bool,
    ) -> TestApp {
        let app = Application::build(Settings {
            data_dir: dir.path().to_owned(),
            listen: "127.0.0.1:0".parse().unwrap(),
            config,
            clock: clock.clone(),
            scheduler,
        })
        .await
        .unwrap();
        demo::seed(app.state(), app.data_dir()).await.unwrap();
        let tokens: BTreeMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(demo::tokens_path(app.data_dir())).unwrap(),
        )
        .unwrap();
        let base = format!("http://{}", app.address());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            clock,
            state,
            tokens,
            dir: Some(dir),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A client acting as a demo persona.
    pub fn as_(&self, persona: &str) -> Client {
        Client::new(&self.base, Some(self.tokens[persona].clone())).unwrap()
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.base, None).unwrap()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// Stops the server (the store flushes and closes) and hands back the data dir.
    pub async fn stop(mut self) -> TempDir {
        drop(self.state);
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap();
        self.dir.take().unwrap()
    }

    /// `persona` asks for `corp-ldap/vpn-users` (low risk) for themself and their
    /// manager priya approves: returns the approved request and the grant's id.
    pub async fn vpn_grant(
        &self,
        persona: &str,
        duration: &str,
    ) -> (writ_server::wire::RequestView, String) {
        let r = self
            .as_(persona)
            .create_request(&new_request(persona, "corp-ldap/vpn-users", duration), None)
            .await
            .unwrap();
        let done = self
            .as_("priya")
            .approve(&r.id, &Default::default(), None)
            .await
            .unwrap();
        assert_eq!(done.status, "approved");
        let grant = done.grant.clone().unwrap();
        (done, grant)
    }

    /// Number of ledger events, read as the auditor.
    pub async fn event_count(&self) -> u64 {
        let mut after = 0;
        let mut n = 0;
        loop {
            let page = self.as_("olivia").audit_events(after, 1000).await.unwrap();
            n += page.events.len() as u64;
            match page.next_after {
                Some(next) => after = next,
                None => return n,
            }
        }
    }
}

pub fn new_request(
    beneficiary: &str,
    entitlement: &str,
    duration: &str,
) -> writ_server::wire::NewRequest {
    writ_server::wire::NewRequest {
        beneficiary: beneficiary.into(),
        entitlement: entitlement.into(),
        justification: "needed to investigate the billing export failures in INC-4411 today".into(),
        duration: duration.into(),
        ticket: Some("INC-4411".into()),
        kind: None,
        constraints: None,
        sod_exception: None,
    }
}

pub fn comment(text: &str) -> writ_server::wire::DecisionBody {
    writ_server::wire::DecisionBody {
        comment: Some(text.into()),
        step: None,
    }
}

/// A refusal's HTTP status and problem code.
pub fn refusal(e: &writ::client::ClientError) -> (Option<u16>, Option<&str>) {
    (e.status(), e.code())
}

/// Who may decide step `index` (0-based) of a request now, sorted.
pub fn eligible(r: &writ_server::wire::RequestView, index: usize) -> Vec<String> {
    let mut names: Vec<String> = r.steps[index]
        .eligible
        .iter()
        .map(|e| e.identity.clone())
        .collect();
    names.sort();
    names
}

/// Every ledger entry, as the auditor reads them.
pub async fn all_events(app: &TestApp) -> Vec<writ_server::wire::AuditEvent> {
    let olivia = app.as_("olivia");
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = olivia.audit_events(after, 1000).await.unwrap();
        out.extend(page.events);
        match page.next_after {
            Some(next) => after = next,
            None => return out,
        }
    }
}

/// The ledger entries of one event type.
pub async fn events_of_kind(app: &TestApp, kind: &str) -> Vec<writ_server::wire::AuditEvent> {
    all_events(app)
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// The Cedar text Writ ships (`approvers.cedar`).
pub fn shipped() -> &'static str {
    writ_core::authority::SHIPPED
        .iter()
        .find(|(name, _)| *name == "approvers.cedar")
        .expect("the shipped set has approvers.cedar")
        .1
}

/// A policy directory holding `files`.
pub fn policy_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The Prometheus text the server exposes.
pub async fn metrics(app: &TestApp) -> String {
    let res = app
        .anonymous()
        .raw(reqwest::Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    String::from_utf8(res.body).unwrap()
}
