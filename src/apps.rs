//! GitHub Apps: key pairs for registration (the private half is handed out once), and
//! authentication of the app by a JWT it signs with that key, checked as GitHub checks it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use serde_json::Value;

use crate::domain::timestamp::Timestamp;
use crate::store::{AccountStore, AppId, AppKey, AppRecord, StoreError};

/// Why an app's JWT was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppAuthError {
    /// Refused, with GitHub's message (clients match on it).
    #[error("{0}")]
    Refused(&'static str),
    /// This client address failed too often lately; it may try again after the wait.
    #[error("Too many failed authentication attempts")]
    TooManyFailures(std::time::Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored public key could not be read.
    #[error("the app's stored key is unreadable: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
}

/// Size of generated keys, as GitHub's.
const KEY_BITS: usize = 2048;
/// Longest life GitHub allows a JWT (`exp − iat`), in seconds.
const MAX_LIFETIME: i64 = 600;
/// How far ahead of our clock `iat` may be (the issuer's clock may run fast).
const CLOCK_SKEW: i64 = 60;

/// GitHub's messages for rejected JWTs, verbatim: clients match on them.
pub const UNDECODABLE: &str = "A JSON web token could not be decoded";
pub const EXPIRED: &str = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
pub const TOO_LONG: &str = "'Expiration time' claim ('exp') is too far in the future";
pub const ISSUED_IN_FUTURE: &str = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
pub const UNKNOWN_APP: &str = "Integration not found";

/// A new key pair as (private PKCS#1 PEM, public PKCS#1 PEM).
///
/// # Errors
/// When the OS random source fails.
pub fn generate_key() -> anyhow::Result<(String, String)> {
    let mut rng = rsa::rand_core::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, KEY_BITS)?;
    let public = rsa::RsaPublicKey::from(&private);
    let private_pem = private.to_pkcs1_pem(LineEnding::LF)?.to_string();
    let public_pem = public.to_pkcs1_pem(LineEnding::LF)?;
    Ok((private_pem, public_pem))
}

/// The URL-friendly name GitHub derives from an app's name: `My App!` → `my-app`.
pub fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

fn claim_integer(claims: &Value, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

/// The app a `Bearer` JWT authenticates, checked as GitHub checks it: RS256 only, signed by
/// the app's key, `iss` the app id (number or string) or client id, `exp` in the future and
/// at most 600 s after `iat`, `iat` at most 60 s ahead.
///
/// # Errors
/// GitHub's message for each way a JWT is refused.
pub async fn authenticate(
    store: &dyn AccountStore,
    token: &str,
    now: Timestamp,
) -> Result<AppRecord, AppAuthError> {
    let refuse = AppAuthError::Refused;
    let header = jsonwebtoken::decode_header(token).map_err(|_| refuse(UNDECODABLE))?;
    if header.alg != Algorithm::RS256 {
        return Err(refuse(UNDECODABLE));
    }
    let claims: Value = token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refuse(UNDECODABLE))?;
    let key = match claims.get("iss") {
        Some(Value::Number(id)) => id.as_i64().map(|id| AppKey::Id(AppId(id))),
        Some(Value::String(text)) => Some(match text.parse::<i64>() {
            Ok(id) => AppKey::Id(AppId(id)),
            Err(_) => AppKey::ClientId(text.clone()),
        }),
        _ => None,
    }
    .ok_or_else(|| refuse(UNKNOWN_APP))?;
    let app = store
        .find_app(key)
        .await?
        .ok_or_else(|| refuse(UNKNOWN_APP))?;

    let decoding = DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes())?;
    let mut validation = Validation::new(Algorithm::RS256);
    // The time claims are checked below, with GitHub's rules and messages.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    // GitHub ignores `aud`; so do we.
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map_err(|_| refuse(UNDECODABLE))?;

    let now = now.0.div_euclid(1000);
    let issued = claim_integer(&claims, "iat").ok_or_else(|| refuse(ISSUED_IN_FUTURE))?;
    let expires = claim_integer(&claims, "exp").ok_or_else(|| refuse(EXPIRED))?;
    if issued > now + CLOCK_SKEW {
        return Err(refuse(ISSUED_IN_FUTURE));
    }
    if expires <= now {
        return Err(refuse(EXPIRED));
    }
    // Claims are any i64: a difference that overflows is too long a life, not a wrap.
    if expires
        .checked_sub(issued)
        .is_none_or(|life| life > MAX_LIFETIME)
    {
        return Err(refuse(TOO_LONG));
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slug("My Great App!"), "my-great-app");
        assert_eq!(slug("  CI -- bot "), "ci-bot");
    }

    #[test]
    fn generated_keys_are_pkcs1_pem() {
        let (private, public) = generate_key().unwrap();
        assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    }
}
