//! End-to-end tests of the HTTP API: the real server on port 0, a fresh data
//! directory each, driven through the typed client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod access;
mod clients;
mod inbox;
mod input;
mod ledger;
mod lifecycle;
mod operations;
mod rules;
