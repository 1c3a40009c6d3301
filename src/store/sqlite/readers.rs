//! A small pool of read-only SQLite connections.
//!
//! In WAL mode readers never wait for the writer, so reads run concurrently on blocking
//! threads while the writer thread commits. A semaphore permit guarantees an idle
//! connection, so taking one never blocks the async runtime.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::store::StoreError;

pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    /// One permit per idle connection.
    permits: Semaphore,
}

impl Readers {
    pub(super) fn new(connections: Vec<Connection>) -> Self {
        let permits = Semaphore::new(connections.len());
        Readers {
            idle: Mutex::new(connections),
            permits,
        }
    }

    /// Runs `work` on an idle connection, on a blocking thread.
    pub(super) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self
            .idle
            .lock()
            .expect("not poisoned")
            .pop()
            .expect("a permit guarantees an idle connection");
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = work(&conn);
            (conn, result)
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        self.idle.lock().expect("not poisoned").push(conn);
        result
    }

    pub(super) fn close(&self) {
        self.permits.close();
    }
}
