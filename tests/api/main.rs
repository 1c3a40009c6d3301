//! Integration tests: the real router on 127.0.0.1:0, real SQLite files, real HTTP.
//! One binary, so the helpers are compiled once and shared.

mod cli;
mod errors;
mod helpers;
mod hooks;
mod persistence;
mod schema;
mod tenancy;
