//! Hookpost: a self-hosted, GitHub-compatible webhook delivery server.
//!
//! The binary (`src/main.rs`) only parses the command line and installs signal handlers;
//! everything else lives in this library so that tests can start the real server on an
//! injected listener with [`server::run`].

pub mod api;
pub mod apps;
pub mod auth;
pub mod config;
pub mod connections;
pub mod core;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod server;
pub mod store;
pub mod tools;
pub mod ui;
pub mod web;
pub mod wire;

pub use server::run;
