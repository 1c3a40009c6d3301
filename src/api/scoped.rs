//! [`Scoped`]: the hook collection, hook and delivery a request path names, once the caller
//! is known to manage it.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::extract::PathParams;
use crate::auth::Principal;
use crate::core::access::{ManagedScope, authorize};
use crate::error::ApiError;
use crate::store::{AttemptId, HookId};
use crate::web::{AppState, scope_from_path_params};

/// The hook collection (and hook id) a request names, once the caller is known to manage it.
///
/// Runs before the body is read, so a caller who may not see the scope gets 404 whatever it
/// sent.
pub struct Scoped {
    pub scope: ManagedScope,
    hook_id: Option<HookId>,
    delivery_id: Option<AttemptId>,
    recovery_id: Option<i64>,
}

impl Scoped {
    pub fn hook_id(&self) -> Result<HookId, ApiError> {
        self.hook_id.ok_or(ApiError::NotFound)
    }

    pub fn delivery_id(&self) -> Result<AttemptId, ApiError> {
        self.delivery_id.ok_or(ApiError::NotFound)
    }

    pub fn recovery_id(&self) -> Result<i64, ApiError> {
        self.recovery_id.ok_or(ApiError::NotFound)
    }
}

/// A numeric path parameter; anything else names nothing (404).
pub fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|text| text.parse::<i64>().map_err(|_| ApiError::NotFound))
        .transpose()
}

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let PathParams(params) = PathParams::from_request_parts(parts, state).await?;
        let scope = scope_from_path_params(&params).ok_or(ApiError::NotFound)?;
        let hook_id = number(&params, "hook_id")?.map(HookId);
        let delivery_id = number(&params, "delivery_id")?.map(AttemptId);
        let recovery_id = number(&params, "recovery_id")?;
        Ok(Scoped {
            scope: authorize(&principal, scope)?,
            hook_id,
            delivery_id,
            recovery_id,
        })
    }
}
