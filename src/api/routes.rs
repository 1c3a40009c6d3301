//! The route table. Every API route is added through [`Routes::add`], which registers the
//! handler with the router *and* records the operation with its [`Doc`], and the OpenAPI
//! document at `GET /api/v3/openapi.json` is made from those records (`super::openapi`): it
//! describes exactly what the router serves and cannot drift from it.

use super::openapi::Doc;
use crate::web::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

/// One documented operation.
#[derive(Clone)]
pub struct Operation {
    pub method: Method,
    /// Relative to `/api/v3`, with `{name}` parameters as axum writes them.
    pub path: String,
    /// GitHub's operationId where GitHub has the operation, `hookpost/…` for extensions.
    pub operation_id: String,
    pub summary: &'static str,
    /// What the handler reads and answers.
    pub doc: Doc,
}

/// A router under construction and the operations it serves.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    operations: Vec<Operation>,
}

impl Routes {
    /// Serves `handler` for `method` on `path` and documents it as `operation_id`.
    pub fn add<H, T>(
        mut self,
        method: Method,
        path: &str,
        operation_id: &str,
        summary: &'static str,
        doc: Doc,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.operations.push(Operation {
            method,
            path: path.to_owned(),
            operation_id: operation_id.to_owned(),
            summary,
            doc,
        });
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
