//! Group commit for SQLite: one thread owns the only write connection and drains every
//! write that is waiting into one transaction, so N concurrent requests cost one fsync,
//! not N.
//!
//! Writes in a batch share the transaction without savepoints (which cost a journal copy
//! of every page they touch). A write that fails is rare, so then the whole batch is rolled
//! back and every write in it is run again in a transaction of its own: the failing one
//! fails alone and the others still commit. Writes are therefore `Fn`, safe to run twice.
//! A caller hears back only after the transaction that carried its write has committed
//! (or failed to).
//!
//! Durability is per write: a *durable* write (anything acknowledged to a client) is in a
//! transaction committed with `synchronous=FULL`, which syncs the WAL. A *relaxed* write
//! (the queue's own bookkeeping: leases, attempt records) survives a crash of the process
//! but not necessarily a power cut, which is safe because losing one only makes a delivery
//! happen again; a batch of relaxed writes alone skips the sync, and the next durable
//! commit syncs them too.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Upper bound on writes per transaction, so one commit never grows without limit.
const MAX_BATCH: usize = 1024;

/// A write waiting for its turn, type-erased so that one queue carries every kind.
trait Pending: Send {
    /// Runs the write on the batch's connection; `false` when it failed.
    fn execute(&mut self, conn: &Connection) -> bool;
    /// Reports the outcome once the batch's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), Arc<rusqlite::Error>>);
    /// Whether the commit must reach the disk before the caller hears back.
    fn durable(&self) -> bool;
}

struct Job<F, T> {
    work: F,
    durable: bool,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Pending for Job<F, T>
where
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
    T: Send,
{
    fn execute(&mut self, conn: &Connection) -> bool {
        let result = (self.work)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn finish(self: Box<Self>, commit: Result<(), Arc<rusqlite::Error>>) {
        let outcome = match (self.result, commit) {
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(error)) => Err(StoreError::Commit(error)),
            (None, Ok(())) => Err(StoreError::Closed),
        };
        // The caller may have given up waiting; the write stands regardless.
        let _ = self.reply.send(outcome);
    }
}

enum Message {
    Write(Box<dyn Pending>),
    Close,
}

/// Handle to the writer thread.
pub(super) struct Writer {
    queue: mpsc::Sender<Message>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread, which takes ownership of `conn`.
    pub(super) fn start(conn: Connection) -> Self {
        let (queue, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hookpost-sqlite-writer".to_owned())
            .spawn(move || write_loop(&conn, &inbox))
            .expect("the OS can start a thread");
        Writer {
            queue,
            thread: std::sync::Mutex::new(Some(thread)),
        }
    }

    /// Runs `work` in the next transaction and returns its result after the commit has
    /// been synced to disk.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(work, true).await
    }

    /// Runs `work` in the next transaction; its commit is synced by the next durable one.
    pub(super) async fn write_relaxed<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(work, false).await
    }

    async fn submit<T, F>(&self, work: F, durable: bool) -> Result<T, StoreError>
    where
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work,
            durable,
            result: None,
            reply,
        };
        self.queue
            .send(Message::Write(Box::new(job)))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Lets queued writes commit, then stops the thread.
    pub(super) async fn close(&self) {
        let _ = self.queue.send(Message::Close);
        let thread = self.thread.lock().expect("not poisoned").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn write_loop(conn: &Connection, inbox: &mpsc::Receiver<Message>) {
    let mut batch: Vec<Box<dyn Pending>> = Vec::with_capacity(MAX_BATCH);
    let mut syncing = Syncing::Full;
    let mut closing = false;
    while !closing {
        match inbox.recv() {
            Ok(Message::Write(job)) => batch.push(job),
            Ok(Message::Close) | Err(_) => break,
        }
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(Message::Write(job)) => batch.push(job),
                Ok(Message::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        syncing.set(conn, batch.iter().any(|job| job.durable()));
        commit_batch(conn, &mut batch);
    }
}

/// The connection's `synchronous` setting, changed only when a batch needs the other one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Syncing {
    /// Every commit syncs the WAL.
    Full,
    /// Commits are not synced; a later FULL commit syncs them along.
    Normal,
}

impl Syncing {
    fn set(&mut self, conn: &Connection, durable: bool) {
        let wanted = if durable {
            Syncing::Full
        } else {
            Syncing::Normal
        };
        if *self == wanted {
            return;
        }
        let sql = match wanted {
            Syncing::Full => "PRAGMA synchronous = FULL",
            Syncing::Normal => "PRAGMA synchronous = NORMAL",
        };
        match run(conn, sql) {
            Ok(()) => *self = wanted,
            Err(error) => tracing::error!(%error, "could not change SQLite's synchronous setting"),
        }
    }
}

/// Runs a statement from the connection's cache: the writer runs the same few transaction
/// statements for every write, and parsing them each time showed up in profiles.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Pending>>) {
    if let Err(error) = run(conn, "BEGIN IMMEDIATE") {
        let error = Arc::new(error);
        for job in batch.drain(..) {
            job.finish(Err(error.clone()));
        }
        return;
    }
    let mut all_ok = true;
    for job in batch.iter_mut() {
        all_ok &= job.execute(conn);
        if !all_ok {
            break;
        }
    }
    if !all_ok {
        // A failed write may have left part of its changes: undo the batch, then give
        // every write a transaction of its own.
        let _ = run(conn, "ROLLBACK");
        for mut job in batch.drain(..) {
            let commit = run(conn, "BEGIN IMMEDIATE")
                .map_err(Arc::new)
                .and_then(|()| {
                    if job.execute(conn) {
                        run(conn, "COMMIT").map_err(Arc::new)
                    } else {
                        let _ = run(conn, "ROLLBACK");
                        Ok(())
                    }
                });
            job.finish(commit);
        }
        return;
    }
    let commit = run(conn, "COMMIT").map_err(|error| {
        tracing::error!(%error, "SQLite commit failed; rolling the batch back");
        let _ = run(conn, "ROLLBACK");
        Arc::new(error)
    });
    for job in batch.drain(..) {
        job.finish(commit.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        Writer::start(conn)
    }

    #[tokio::test]
    async fn a_failed_write_does_not_undo_its_batch_mates() {
        let writer = Arc::new(writer());
        let mut tasks = Vec::new();
        for v in [1, 2, 2, 3] {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |conn| Ok(conn.execute("INSERT INTO t VALUES (?1)", [v])?))
                    .await
            }));
        }
        let mut failures = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                failures += 1;
            }
        }
        assert_eq!(failures, 1);
        let count = writer
            .write(|conn| {
                Ok(conn.query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0))?)
            })
            .await
            .unwrap();
        assert_eq!(count, 3);
        writer.close().await;
        assert!(matches!(
            writer.write(|_| Ok(())).await,
            Err(StoreError::Closed)
        ));
    }
}
