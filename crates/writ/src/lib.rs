//! The `writ` binary's library half: the typed API client that both the CLI and
//! the end-to-end tests use, and the benchmarks.

pub mod bench;
pub mod client;

pub use client::{Client, ClientError, GrantQuery, RequestQuery};
