//! SQLite's WAL checkpoints, off the writer's path. By default the connection
//! that commits copies the WAL back into the database file whenever the WAL
//! passes 1,000 pages, inside its `COMMIT`: at batch ingestion that was a
//! third of the writer's time per group, and it grew with the file. Here a
//! connection of its own copies it instead, at most every
//! [`CHECKPOINT_INTERVAL`] while commits come in, so the writer only
//! appends to the WAL and syncs it. The writer keeps a checkpoint of its own
//! for a WAL past [`WRITER_CHECKPOINT_PAGES`] (should this one fall behind
//! or fail), so the WAL stays bounded either way.
//!
//! A `PASSIVE` checkpoint never waits for the writer or the readers: it copies
//! what every reader is done with. The WAL starts over from its beginning once
//! all of it has been copied, at the writer's next transaction; under steady
//! ingestion a commit usually lands while this connection copies, so the WAL
//! grows to the writer's threshold, whose checkpoint (of the few pages not
//! copied yet) lets it start over. A threshold of 1,000 or 3,000 pages
//! measured the same.

use std::time::Duration;

use sqlx::{AnyPool, Executor};
use tokio::sync::mpsc;

use crate::repeated_warning::RepeatedWarning;

/// How often, at most, the WAL is copied back while commits come in.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// The writer's own checkpoint threshold, in pages (`wal_autocheckpoint`):
/// about 40 MB of WAL.
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// Where the writer says it committed; dropping it stops the checkpoints.
#[derive(Debug)]
pub(super) struct Committed(mpsc::Sender<()>);

impl Committed {
    /// Notes a commit (never waits: commits between two checkpoints are one).
    pub(super) fn note(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts checkpointing the database of `connection` (a pool of one
/// read-write connection, used by nothing else) after the commits noted
/// through the returned handle, until it is dropped; `running` is held
/// until the connection is closed.
pub(super) fn start(connection: AnyPool, running: mpsc::Sender<()>) -> Committed {
    let (sender, mut commits) = mpsc::channel(1);
    tokio::spawn(async move {
        let _running = running;
        let failures = RepeatedWarning::default();
        while commits.recv().await.is_some() {
            if let Err(error) = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                if let Some(times) = failures.note() {
                    tracing::warn!(
                        error = %crate::error_chain(&error),
                        failed_checkpoints = times,
                        "WAL checkpoint failed; the writer checkpoints past its own threshold"
                    );
                }
            }
            tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        }
        connection.close().await;
    });
    Committed(sender)
}
