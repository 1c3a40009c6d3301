//! Cross-node wake-ups: one connection per node LISTENs on the work channel and pokes the
//! worker on every notification, so a node picks up work another node queued at once
//! rather than at its next timer. Notifications its own store sent on queueing are
//! skipped: the core woke the worker already.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::LISTEN_WORK;

/// How long to wait before connecting again after the connection was lost.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Listens until `closed`, reconnecting whenever the connection drops.
pub(super) async fn run(
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    origin: Arc<str>,
    closed: CancellationToken,
) {
    loop {
        tokio::select! {
            () = closed.cancelled() => return,
            outcome = listen(&config, &wake, &origin) => {
                if let Err(error) = outcome {
                    tracing::warn!(%error, "lost the connection that listens for work; reconnecting");
                }
            }
        }
        tokio::select! {
            () = closed.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

async fn listen(
    config: &tokio_postgres::Config,
    wake: &Notify,
    origin: &str,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (messages, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection delivers notifications only while it is polled, which this task does.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(message)) => {
                    if messages.send(message).is_err() {
                        return Ok(());
                    }
                }
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(LISTEN_WORK).await?;
    // Work queued while this node was not listening would otherwise wait for a timer.
    wake.notify_one();
    while let Some(message) = notifications.recv().await {
        if let AsyncMessage::Notification(notification) = message
            && notification.payload() != origin
        {
            wake.notify_one();
        }
    }
    drop(client);
    driver.await.unwrap_or(Ok(()))
}
