//! `Application`: the data directory, the store, the HTTP server and the scheduler
//! in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::TcpListener;
use writ_core::{Actor, Clock, Command};
use writ_store::sqlite::SqliteStore;
use writ_store::{Envelope, LedgerKey, RandomIds, Store};

use crate::config::Config;
use crate::datadir::{DataDir, DataDirError, Pepper};
use crate::metrics::Metrics;
use crate::policy::PolicyConfig;
use crate::problem::ApiError;
use crate::provisioner::{self, Connectors, Provisioner};
use crate::{api, reconcile, scheduler, signer};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot open the database: {0}")]
    Store(#[from] writ_store::StoreError),
    #[error("the approval policy was refused: {0}")]
    Policy(String),
    #[error("configuration: {0}")]
    Connector(String),
    #[error("cannot listen on `{addr}`: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub pepper: Pepper,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub sqlite: Arc<SqliteStore>,
    /// Signs checkpoints; never serialised, printed or logged.
    pub ledger_key: Arc<LedgerKey>,
    /// The configured target systems and their connectors.
    pub connectors: Arc<Connectors>,
    /// Where the approval policy comes from, for reloads.
    pub policy: Arc<PolicyConfig>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Callers' reach under the organisation and policy in force.
    pub reach: Arc<crate::api::reach::ReachCache>,
}

#[derive(Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Run the background scheduler (expiry). Tests may drive it by hand instead.
    pub scheduler: bool,
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    data_dir: DataDir,
    config: Config,
    scheduler: bool,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, ServerError> {
        // Connector configuration is checked before anything else is opened.
        let connectors =
            Arc::new(Connectors::build(&settings.config.systems).map_err(ServerError::Connector)?);
        let data_dir = DataDir::open(&settings.data_dir)?;
        let ledger_key = Arc::new(data_dir.ledger_key(&settings.config.ledger)?);
        let clock = settings.clock.clone();
        let sqlite = Arc::new(SqliteStore::open(
            &data_dir.database(),
            clock.clone(),
            Box::new(RandomIds),
        )?);
        let store: Arc<dyn Store> = sqlite.clone();
        // Record the policy in force; a no-op when it is unchanged since last start.
        let policy = settings.config.policy();
        store
            .execute(Envelope::new(
                Actor::system("startup"),
                Command::ActivatePolicy {
                    policy: policy.load().map_err(ServerError::Policy)?,
                },
            ))
            .await
            .map_err(|e| ServerError::Policy(e.to_string()))?;
        store.set_provisioned_systems(connectors.names()).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let address = listener.local_addr().map_err(ServerError::Serve)?;
        let state = AppState {
            store,
            pepper: data_dir.pepper().clone(),
            clock,
            metrics: Arc::new(Metrics::default()),
            sqlite,
            ledger_key,
            connectors,
            policy: Arc::new(policy),
            body_timeout: settings.config.http.body_timeout(),
            reach: Arc::default(),
        };
        Ok(Application {
            listener,
            address,
            state,
            data_dir,
            config: settings.config,
            scheduler: settings.scheduler,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.root()
    }

    /// Serves until `shutdown` completes, then stops the scheduler and the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = self.scheduler.then(|| {
            scheduler::spawn(
                self.state.store.clone(),
                self.state.clock.clone(),
                Duration::from_millis(self.config.scheduler_interval_ms),
                stop_rx,
            )
        });
        let reviewer = self.scheduler.then(|| {
            crate::reviews::spawn(
                self.state.store.clone(),
                self.state.clock.clone(),
                self.config.reviews.clone(),
                stop_tx.subscribe(),
            )
        });
        let hook = self.config.notify_hook.clone().map(|h| {
            crate::hook::spawn(
                self.state.store.clone(),
                h,
                Duration::from_millis(self.config.notify_interval_ms),
                stop_tx.subscribe(),
            )
        });
        let signer = signer::spawn(
            self.state.store.clone(),
            self.state.ledger_key.clone(),
            Duration::from_millis(self.config.ledger.checkpoint_interval_ms),
            stop_tx.subscribe(),
        )
        .await;
        let provisioner = (!self.state.connectors.is_empty()).then(|| {
            provisioner::spawn(
                Provisioner::new(
                    self.state.store.clone(),
                    self.state.clock.clone(),
                    self.state.connectors.clone(),
                    self.config.provisioning.clone(),
                    self.state.metrics.clone(),
                ),
                stop_tx.subscribe(),
            )
        });
        let reconciler = (!self.state.connectors.is_empty()
            && self.config.provisioning.reconcile_interval_ms > 0)
            .then(|| {
                let (store, connectors) = (self.state.store.clone(), self.state.connectors.clone());
                // The first run one interval after start: a restart is not a reason to
                // reconcile, and work under way at start is not mistaken for drift.
                let every = Duration::from_millis(self.config.provisioning.reconcile_interval_ms);
                scheduler::periodic_from(every, every, stop_tx.subscribe(), move || {
                    let (store, connectors) = (store.clone(), connectors.clone());
                    async move {
                        for r in reconcile::reconcile_all(store.as_ref(), &connectors).await {
                            match r {
                                Ok(r) => tracing::info!(system = %r.system,
                                        unexplained = r.unexplained, missing = r.missing,
                                        "reconciled"),
                                Err(e) => tracing::error!(error = %e, "reconciliation failed"),
                            }
                        }
                    }
                })
            });
        let router = router(self.state.clone());
        let served = crate::http::serve(self.listener, router, &self.config.http, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(handle) = scheduler {
            let _ = handle.await;
        }
        if let Some(handle) = reviewer {
            let _ = handle.await;
        }
        if let Some(handle) = hook {
            let _ = handle.await;
        }
        let _ = signer.await;
        if let Some(handle) = provisioner {
            let _ = handle.await;
        }
        if let Some(handle) = reconciler {
            let _ = handle.await;
        }
        let sqlite = self.state.sqlite.clone();
        drop(self.state);
        let _ = tokio::task::spawn_blocking(move || sqlite.shutdown()).await;
        drop(self.data_dir);
        served.map_err(ServerError::Serve)
    }
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::routes().split_for_parts();
    let openapi = Arc::new(openapi);
    api.merge(api::meta::routes(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "no-such-route",
        "no such endpoint; see /api/v1/openapi.json",
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    let detail = if req.uri().path().starts_with("/api/v1/requests/") {
        format!(
            "{} is not allowed here: a request is frozen once submitted; submit a new request instead",
            req.method()
        )
    } else {
        format!("{} is not allowed on this endpoint", req.method())
    };
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", detail)
}

/// Counts and times every request by route template (never by raw path, which
/// would put identifiers into metric labels).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    state
        .metrics
        .observe(&method, &route, res.status().as_u16(), started.elapsed());
    res
}
