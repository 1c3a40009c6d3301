//! The API contract: schemathesis (property-based, every check, a fixed example budget and
//! seed) against the real binary and the OpenAPI document it serves, by `.ci/api_test.py`.
//! Any 5xx, any answer the document does not describe, any schema-valid request refused or
//! schema-violating request accepted fails it.

use crate::harness::API_TEST_PYTHON;

async fn the_live_server_keeps_the_contract_of_its_openapi_document() {
    let python = std::env::var_os(API_TEST_PYTHON).expect("checked by the harness");
    let root = env!("CARGO_MANIFEST_DIR");
    let status = tokio::process::Command::new(python)
        .arg(format!("{root}/.ci/api_test.py"))
        .env("HOOKPOST_BINARY", env!("CARGO_BIN_EXE_hookpost"))
        .current_dir(root)
        .status()
        .await
        .expect("the API test starts");
    assert!(
        status.success(),
        "schemathesis found failures (its report is above)"
    );
}

crate::harness::tests!(; ApiContract the_live_server_keeps_the_contract_of_its_openapi_document);
