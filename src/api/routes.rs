//! The route table. Every API route is added through [`Routes::add`], which registers the
//! handler with the router *and* records the operation, and the OpenAPI document at
//! `GET /api/v3/openapi.json` is made from those records: it describes exactly what the
//! router serves and cannot drift from it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value, json};

use crate::web::AppState;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// Relative to `/api/v3`, with `{name}` parameters as axum writes them.
    pub path: String,
    /// GitHub's operationId where GitHub has the operation, `hookpost/…` for extensions.
    pub operation_id: String,
    pub summary: &'static str,
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

/// Path parameters that are numbers; every other parameter is a name.
const NUMERIC_PARAMETERS: [&str; 3] = ["hook_id", "delivery_id", "app_id"];

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let kind = if NUMERIC_PARAMETERS.contains(&name) {
                "integer"
            } else {
                "string"
            };
            json!({"name": name, "in": "path", "required": true, "schema": {"type": kind}})
        })
        .collect()
}

/// The OpenAPI 3.0 document of `operations`.
pub fn openapi_document(operations: &[Operation]) -> Value {
    let mut paths = Map::new();
    for operation in operations {
        let tag = operation
            .operation_id
            .split('/')
            .next()
            .unwrap_or("hookpost");
        let entry = paths
            .entry(operation.path.clone())
            .or_insert_with(|| json!({}));
        entry[operation.method.as_str().to_ascii_lowercase()] = json!({
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [tag],
            "parameters": parameters(&operation.path),
            "responses": {
                "default": {
                    "description": "GitHub's object for the operation, or an error in GitHub's shape",
                    "content": {"application/json": {"schema": {}}}
                }
            }
        });
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Hookpost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "GitHub-compatible webhook management, publishing and delivery log"
        },
        "servers": [{"url": "/api/v3"}],
        "security": [{"token": []}],
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_typed() {
        let found = parameters("/repos/{owner}/{repo}/hooks/{hook_id}");
        let kinds: Vec<(&str, &str)> = found
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap(),
                    p["schema"]["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("owner", "string"),
                ("repo", "string"),
                ("hook_id", "integer")
            ]
        );
    }
}
