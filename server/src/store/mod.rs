//! The durable store: webhook events plus the aggregate rows stats are read from.
//!
//! Every database detail lives behind this module's API so that a Postgres
//! backend can join SQLite without touching the webhook or stats code.

mod sqlite;

use std::time::Duration;

use app::model::{SnapshotSource, StatsSnapshot};

use crate::webhook::payload::WebhookEvent;

/// What one [`Store::ingest`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events that were new and are now stored.
    pub stored: u64,
    /// Events already stored earlier (same natural key), skipped.
    pub duplicates: u64,
}

/// Why a webhook request was refused before anything was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Missing, malformed or wrong `X-Hub-Signature-256`.
    Signature,
    /// Not a readable Instagram delivery.
    Payload,
    /// Body over the size limit.
    TooLarge,
    /// The body could not be read for another reason.
    Body,
    /// A failed subscription handshake (wrong verify token or mode).
    Verification,
}

impl Rejection {
    /// Name stored in the `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Signature => "signature",
            Rejection::Payload => "payload",
            Rejection::TooLarge => "too_large",
            Rejection::Body => "body",
            Rejection::Verification => "verification",
        }
    }
}

impl IngestOutcome {
    /// Whether the stored data (and so the stats) changed.
    pub fn changed(&self) -> bool {
        self.stored > 0
    }
}

/// Failures of the store. Their text is for logs, never for HTTP clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names a backend this build does not support.
    #[error("unsupported DATABASE_URL scheme {0:?}; this version supports sqlite:// only")]
    UnsupportedBackend(String),
    /// An in-memory SQLite database: the writer and the readers would each see
    /// a different, empty database, and nothing would be durable.
    #[error(
        "in-memory SQLite databases are not supported; use a file, e.g. sqlite://data/pulse.db"
    )]
    InMemory,
    /// The database refused or failed a query.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: sqlite::SqliteStore,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            let scheme = url.split(':').next().unwrap_or_default().to_string();
            return Err(StoreError::UnsupportedBackend(scheme));
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::InMemory);
        }
        Ok(Store {
            backend: sqlite::SqliteStore::open(url, BUSY_TIMEOUT).await?,
        })
    }

    /// Stores `events` and updates the aggregates in one transaction. Returns
    /// only after the commit is durable; events whose natural key is already
    /// stored are skipped (a redelivered webhook counts once).
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn ingest(
        &self,
        events: &[WebhookEvent],
        received_at_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        Ok(self.backend.ingest(events, received_at_ms).await?)
    }

    /// Computes the stats snapshot as of `now_ms` from the aggregate rows only
    /// (its cost does not grow with the number of stored events).
    #[tracing::instrument(skip(self))]
    pub async fn snapshot(
        &self,
        now_ms: i64,
        source: SnapshotSource,
    ) -> Result<StatsSnapshot, StoreError> {
        Ok(self.backend.snapshot(now_ms, source).await?)
    }

    /// Counts a refused webhook request (never stored as an event).
    pub async fn record_rejection(
        &self,
        rejection: Rejection,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(self.backend.record_rejection(rejection, at_ms).await?)
    }

    /// Number of stored events of every kind.
    pub async fn event_count(&self) -> Result<i64, StoreError> {
        Ok(self.backend.event_count().await?)
    }
}

/// How long a query waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Length of one per-minute bucket.
pub const MINUTE_MS: i64 = 60_000;
/// Length of one UTC day.
pub const DAY_MS: i64 = 86_400_000;
/// Number of minutes in the snapshot's series.
pub const SERIES_MINUTES: i64 = 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsupported_databases_are_refused_with_a_clear_reason() {
        let postgres = Store::open("postgres://user:pw@localhost/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            postgres.contains("\"postgres\"") && !postgres.contains("pw"),
            "{postgres}"
        );
        assert!(matches!(
            Store::open("sqlite::memory:").await,
            Err(StoreError::InMemory)
        ));
    }
}
