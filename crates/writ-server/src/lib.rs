//! Writ's server: the HTTP API, authentication, the scheduler and the demo
//! organisation. The only crate that knows HTTP and the JSON wire types.
//!
//! Start reading at [`app::Application`]; handlers live in `api`, wire types in
//! [`wire`], the single error-to-HTTP mapping in [`problem`].

mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod datadir;
pub mod demo;
mod extract;
pub mod hook;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod problem;
pub mod provisioner;
pub mod reconcile;
pub mod reviews;
pub mod scheduler;
pub mod signer;
pub mod wire;

pub use app::{AppState, Application, ServerError, Settings};
pub use config::Config;
pub use problem::Problem;
