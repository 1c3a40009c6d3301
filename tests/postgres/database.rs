//! What the PostgreSQL-only tests share: a delivering node on a database of its own, and a
//! connection of the test's own to that database, to look at or lock what the node stored.

use std::sync::Arc;

use crate::helpers::{Storage, TestApp, start};

/// A node on `storage` that delivers, allowed to reach receivers on loopback.
pub async fn delivering_node(storage: &Arc<Storage>) -> TestApp {
    start(storage, |config| {
        config.delivery.deliver = true;
        config.delivery.allow_target = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

/// A connection to `storage`'s database, beside the node's.
pub async fn connect(storage: &Storage) -> tokio_postgres::Client {
    let url = storage.database_url().expect("a PostgreSQL storage");
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
