//! `hookpost serve`'s settings: each a command-line flag that also reads `HOOKPOST_<FLAG>`,
//! validated once here so that the rest of the program takes them as given.

use std::net::SocketAddr;

use crate::connections::ConnectionLimits;
use crate::delivery::DeliveryConfig;
use crate::store::StoreConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address the API, web UI and metrics listen on.
    #[arg(long, env = "HOOKPOST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreConfig,

    #[command(flatten)]
    pub delivery: DeliveryConfig,

    #[command(flatten)]
    pub connections: ConnectionLimits,

    /// Origin (scheme://host[:port], without /api/v3) of every absolute URL Hookpost returns;
    /// by default taken from each request's Host header.
    #[arg(long, env = "HOOKPOST_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "HOOKPOST_MAX_PAYLOAD_BYTES", default_value_t = 26_214_400)]
    pub max_payload_bytes: usize,

    /// Names of mirror header families sent with every delivery (`Gogs` → `X-Gogs-Event`, …),
    /// comma-separated; a hook's custom headers may not use them.
    #[arg(long, env = "HOOKPOST_HEADER_ALIAS", value_delimiter = ',', value_parser = parse_alias)]
    pub header_alias: Vec<String>,

    /// Failed authentications (API tokens, app JWTs, web sign-ins) a client address may
    /// make per minute; past it, its failures get `429` with `Retry-After` (valid
    /// credentials never do). `0`: no limit.
    #[arg(long, env = "HOOKPOST_AUTH_FAILURE_LIMIT", default_value_t = 100)]
    pub auth_failure_limit: u32,

    /// When set, `GET /metrics` requires `Authorization: Bearer <this>`.
    #[arg(long, env = "HOOKPOST_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// The admin token (at least 16 characters); when unset, one is generated at the first
    /// start and written to `<data-dir>/admin-token`.
    #[arg(long, env = "HOOKPOST_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

impl ServeConfig {
    /// Settings for tests and embedding: everything default, data in `data_dir`.
    pub fn for_data_dir(data_dir: impl Into<std::path::PathBuf>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreConfig {
                data_dir: data_dir.into(),
                database: None,
            },
            delivery: DeliveryConfig::default(),
            connections: ConnectionLimits::default(),
            public_url: None,
            max_payload_bytes: 26_214_400,
            header_alias: Vec::new(),
            admin_token: None,
            metrics_token: None,
            auth_failure_limit: 100,
        }
    }
}

/// An origin: http(s), a host, no path, query or fragment; returned without a trailing `/`.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) origin such as https://hooks.example.com".to_owned());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin only, without a path (Hookpost adds /api/v3)".to_owned());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The shortest admin token `serve` accepts.
const SHORTEST_ADMIN_TOKEN: usize = 16;

/// An admin token worth the name: an empty or blank one would let anyone in (a client that
/// sends `Authorization: token ` with nothing after it), a short one is guessable. Checked
/// when `serve` starts (not by the argument parser, whose message would print the token).
///
/// # Errors
/// What is wrong with the token, without the token.
pub fn check_admin_token(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(
            "the admin token must not be empty or blank; unset it to have one generated".to_owned(),
        );
    }
    if text.trim() != text {
        return Err("the admin token must not begin or end with whitespace".to_owned());
    }
    let length = text.chars().count();
    if length < SHORTEST_ADMIN_TOKEN {
        return Err(format!(
            "the admin token must be at least {SHORTEST_ADMIN_TOKEN} characters, not {length}"
        ));
    }
    Ok(())
}

/// A header family name: a header token without `-`, e.g. `Gogs`.
fn parse_alias(text: &str) -> Result<String, String> {
    let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a header alias (letters and digits only)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_tokens_are_neither_blank_nor_short() {
        assert!(check_admin_token("hp_0123456789abcdef").is_ok());
        for bad in ["", "   ", "\t", "short", " hp_0123456789abcdef"] {
            assert!(check_admin_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn public_url_is_an_origin() {
        assert_eq!(
            parse_public_url("https://h.example/").unwrap(),
            "https://h.example"
        );
        assert_eq!(
            parse_public_url("http://h.example:8080").unwrap(),
            "http://h.example:8080"
        );
        assert!(parse_public_url("https://h.example/api/v3").is_err());
        assert!(parse_public_url("ftp://h.example").is_err());
    }

    #[test]
    fn aliases_are_plain_words() {
        assert!(parse_alias("Gogs").is_ok());
        assert!(parse_alias("X-Gogs").is_err());
    }
}
