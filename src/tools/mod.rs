//! Developer tools that talk HTTP from the command line: `hookpost publish` (a client of a
//! running server) and `hookpost listen` (a receiver for developing against webhooks).

pub mod listen;
pub mod publish;

/// A plain HTTP client for the tools, with the process's TLS crypto installed.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
