//! The durable store: webhook events plus the aggregate rows stats are read from.
//!
//! Every database detail lives behind this module's API. Two backends share
//! one set of queries (`sql.rs`, `ingest.rs`, `snapshot.rs`): SQLite (the default, one file) and
//! Postgres (several nodes); `connect.rs` opens either.

mod account_conversation_sketches;
pub mod account_figures;
pub mod account_history;
pub mod account_history_rebuild;
pub mod admins;
pub mod alerts;
pub mod backup;
pub mod business_accounts;
mod checkpoints;
mod connect;
mod conversation_sketches;
mod conversations;
mod group_commit;
pub mod history;
mod ingest;
pub mod latest_events;
pub mod login_failures;
pub mod replies;
pub mod retention;
mod sketch;
mod slots;
pub mod snapshot;
mod sql;
mod steps;
pub use steps::PassRun;
mod storage;
mod transaction;
pub mod write_health;

use std::num::NonZeroUsize;

use sqlx::AnyPool;

use crate::event::{Rejection, WebhookEvent};
pub use account_figures::Today;
pub use business_accounts::{
    AccountDetail, AccountOrder, AccountRecord, AccountRecords, PageRequest,
};
pub use conversation_sketches::ActiveByStep;
pub use snapshot::SnapshotRows;
pub use storage::{DiskSpace, StorageUse};
use write_health::WriteHealth;

/// What one [`Store::ingest`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events that were new and are now stored.
    pub stored: u64,
    /// Events already stored earlier (same natural key), skipped.
    pub duplicates: u64,
    /// The store version after this delivery's commit: every snapshot with
    /// this version or a later one counts its events.
    pub version: i64,
    /// New events per kind label (see `EventKind::label`).
    pub stored_by_kind: std::collections::BTreeMap<&'static str, u64>,
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
    #[error("unsupported DATABASE_URL scheme {0:?}; use sqlite://PATH or postgres://…")]
    UnsupportedBackend(String),
    /// An in-memory SQLite database: the writer and the readers would each see
    /// a different, empty database, and nothing would be durable.
    #[error(
        "in-memory SQLite databases are not supported; use a file, e.g. sqlite://data/pulse.db"
    )]
    InMemory,
    /// The SQLite database file could not be created.
    #[error("cannot create the database file {path}")]
    File {
        /// The file in question.
        path: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// More than one writer asked of SQLite, which takes one at a time.
    #[error("PULSE_STORE_WRITERS is {0}, but SQLite takes one writer at a time; set it to 1 or leave it unset")]
    SqliteWriters(usize),
    /// More writers asked than there are writer slots.
    #[error("PULSE_STORE_WRITERS is {0}; at most {max} writers can run on one database", max = slots::MAX_SLOTS)]
    TooManyWriters(usize),
    /// The database refused or failed a query.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A newer `pulse` has upgraded the database beyond what this one can
    /// work with.
    #[error(
        "the database's schema is at migration {found}, newer than this pulse knows (up to {known}), \
         and needs a pulse that carries migration {needs}: a newer pulse upgraded it. Run that \
         version or a newer one, or restore a backup taken before the upgrade onto a new data \
         directory"
    )]
    SchemaNewer {
        /// The newest migration the database has.
        found: i64,
        /// The newest migration this build carries.
        known: i64,
        /// The oldest migration a node must carry to run on it.
        needs: i64,
    },
    /// The database's files or disk could not be measured.
    #[error("cannot measure the database's files and disk")]
    Measure(#[source] std::io::Error),
    /// A delivery's transaction failed (the database's reason, as text: one
    /// failure is reported to every delivery of its group).
    #[error("storing the delivery failed: {0}")]
    Commit(String),
}

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (WAL, `synchronous = FULL`): the embedded default.
    Sqlite,
    /// A Postgres server shared by several nodes.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::UnsupportedBackend(other.to_string())),
        }
    }

    /// Concurrent writers when none are configured: one on SQLite (it takes
    /// one writer at a time); on Postgres the number measured best on a
    /// two-core machine (BENCHMARKS.md, "Ingestion").
    pub fn default_writers(self) -> NonZeroUsize {
        match self {
            Backend::Sqlite => NonZeroUsize::MIN,
            Backend::Postgres => NonZeroUsize::new(DEFAULT_POSTGRES_WRITERS).expect("not zero"),
        }
    }
}

/// See [`Backend::default_writers`].
const DEFAULT_POSTGRES_WRITERS: usize = 2;

/// The thresholds some figures are judged by (from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// A customer waiting longer than this for a reply is counted apart
    /// (`AUTOMATION_REPLY_ALERT_S`).
    pub reply_alert: std::time::Duration,
    /// An account with at least this many events in the previous 24 h …
    /// (`ACCOUNT_SILENCE_MIN_EVENTS`)
    pub silence_min_events: i64,
    /// … and none for this long is silent (`ACCOUNT_SILENCE_ALERT_MIN`).
    pub silence_after: std::time::Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            reply_alert: std::time::Duration::from_secs(300),
            silence_min_events: 20,
            silence_after: std::time::Duration::from_secs(120 * 60),
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Takes every write. SQLite allows one writer at a time, so there it
    /// holds a single connection: queueing in the pool beats lock retries.
    writer: AnyPool,
    /// Serves snapshot reads without waiting behind writes.
    reader: AnyPool,
    /// Commits concurrent webhook deliveries together.
    deliveries: group_commit::GroupCommit,
    /// This node's ordered figures of the accounts page.
    account_figures: std::sync::Arc<account_figures::AccountFigures>,
    /// Whether the database takes writes, from every write's outcome.
    writes: std::sync::Arc<WriteHealth>,
    /// SQLite: the database file.
    sqlite_file: Option<std::path::PathBuf>,
    /// When ingestion began writing the accounts' quarter-hours (see
    /// [`Store::account_precision`]).
    account_quarters_began_ms: i64,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `url`, with
    /// the default number of writers ([`Backend::default_writers`]).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let writers = Backend::from_url(url)?.default_writers();
        Self::open_with_writers(url, writers).await
    }

    /// [`Store::open`] with `writers` concurrent writers for webhook
    /// deliveries (SQLite takes exactly one).
    pub async fn open_with_writers(url: &str, writers: NonZeroUsize) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url)?;
        if backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
            return Err(StoreError::InMemory);
        }
        if backend == Backend::Sqlite && writers.get() > 1 {
            return Err(StoreError::SqliteWriters(writers.get()));
        }
        if writers.get() as i64 > slots::MAX_SLOTS {
            return Err(StoreError::TooManyWriters(writers.get()));
        }
        let connect::Pools {
            writer,
            reader,
            checkpointer,
        } = connect::open(backend, url).await?;
        let (running, ended) = tokio::sync::mpsc::channel(1);
        let lanes = match backend {
            Backend::Sqlite => vec![group_commit::Writer::Pool {
                pool: writer.clone(),
                checkpoints: checkpointer.map(|pool| checkpoints::start(pool, running.clone())),
            }],
            Backend::Postgres => (0..writers.get())
                .map(|_| group_commit::Writer::Own {
                    url: url.to_string(),
                    claimed: None,
                })
                .collect(),
        };
        let (account_quarters_began_ms,): (i64,) =
            sqlx::query_as("SELECT quarters_began_ms FROM account_history_start")
                .fetch_one(&reader)
                .await?;
        let writes = std::sync::Arc::<WriteHealth>::default();
        Ok(Store {
            backend,
            deliveries: group_commit::GroupCommit::start(
                lanes,
                backend,
                writes.clone(),
                (running, ended),
            ),
            writer,
            reader,
            account_figures: Default::default(),
            writes,
            sqlite_file: (backend == Backend::Sqlite)
                .then(|| std::path::PathBuf::from(connect::sqlite_path(url))),
            account_quarters_began_ms,
        })
    }

    /// Stores the deliveries already queued, then stops the writers and
    /// waits for them (and the checkpoints they started) to end; a delivery
    /// sent afterwards is refused. Called once the node has stopped serving.
    pub async fn close(&self) {
        self.deliveries.close().await;
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database takes writes (a full disk, say, fails them all).
    pub fn write_health(&self) -> &WriteHealth {
        &self.writes
    }

    /// Stores `events` and updates the aggregates in one transaction (shared
    /// with deliveries arriving at the same moment: group commit). Returns
    /// only after the commit is durable; events whose natural key is already
    /// stored are skipped (a redelivered webhook counts once). The events are
    /// handed to the writer task, not copied.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn ingest(
        &self,
        events: Vec<WebhookEvent>,
        received_at_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        self.deliveries
            .ingest(events, received_at_ms)
            .await
            .map_err(StoreError::Commit)
    }

    /// The count of each of `figures` (`history::EVERY_FIGURE` for all, or
    /// `account_history::ACCOUNT_FIGURES` for an account's) in each of
    /// `spans` (`[start, end)` on UTC quarter-hours; whole hours for an
    /// account) of `whose` history, from the history rollups: one query however long the
    /// spans (see [`history`]).
    #[tracing::instrument(skip_all, fields(spans = spans.len()))]
    pub async fn history(
        &self,
        whose: history::Whose<'_>,
        spans: &[(i64, i64)],
        figures: &[history::Figure],
    ) -> Result<Vec<history::StepCount>, StoreError> {
        Ok(history::read(&self.reader, self.backend, whose, spans, figures).await?)
    }

    /// The active conversations (with a DM) of each step of each of `runs` (runs of
    /// consecutive spans on quarter-hours, a range's steps say) and of each
    /// run as a whole, estimated, in one read (see [`conversation_sketches`]).
    pub async fn active_conversations_by_step(
        &self,
        runs: &[&[(i64, i64)]],
    ) -> Result<Vec<ActiveByStep>, StoreError> {
        Ok(conversation_sketches::read_by_step(&self.reader, self.backend, runs).await?)
    }

    /// `account`'s active conversations in each step of each of `runs`
    /// (spans placed by [`Store::account_precision`]) and in each run as a
    /// whole (see [`account_conversation_sketches`]).
    pub async fn account_active_conversations_by_step(
        &self,
        account: &str,
        runs: &[&[(i64, i64)]],
    ) -> Result<Vec<ActiveByStep>, StoreError> {
        Ok(
            account_conversation_sketches::read_by_step(&self.reader, self.backend, account, runs)
                .await?,
        )
    }

    /// Adds the DMs stored before the accounts' conversation sketches were
    /// kept to them, for about a minute at most, each in the unit its time
    /// is kept in as of `now_ms` (see [`account_conversation_sketches`]).
    pub async fn fill_account_conversation_sketches(
        &self,
        now_ms: i64,
    ) -> Result<PassRun, StoreError> {
        let outcome = account_conversation_sketches::fill(&self.writer, self.backend, now_ms).await;
        Ok(self.writes.observe(
            "adding stored DMs to the accounts' conversation sketches",
            outcome,
        )?)
    }

    /// Adds the DMs stored before the conversations' sketches were kept to
    /// them, for about a minute at most (see [`conversation_sketches`]).
    pub async fn fill_conversation_sketches(&self) -> Result<PassRun, StoreError> {
        let outcome = conversation_sketches::fill(&self.writer, self.backend).await;
        Ok(self
            .writes
            .observe("adding stored DMs to the conversations' sketches", outcome)?)
    }

    /// How precisely one account's history places an instant as of `now_ms`
    /// (see [`account_history::Precision`]): it holds quarter-hours from when
    /// ingestion began writing them (this database's creation, or the
    /// upgrade that brought them).
    pub fn account_precision(&self, now_ms: i64) -> account_history::Precision {
        account_history::Precision::at(now_ms, self.account_quarters_began_ms)
    }

    /// When the accounts' history began, if the database held events from
    /// before (an upgrade: their metrics are counted into it by the rebuild,
    /// their replies never); `None` when it holds every event stored.
    pub async fn account_history_since(
        &self,
    ) -> Result<Option<account_history::HistoryStart>, StoreError> {
        Ok(account_history::since(&self.reader).await?)
    }

    /// Whether the DMs stored before the accounts' conversation sketches
    /// were kept are still being added to them (an upgraded database).
    pub async fn account_sketches_filling(&self) -> Result<bool, StoreError> {
        Ok(account_conversation_sketches::filling(&self.reader).await?)
    }

    /// Fills the accounts' latest events from the events stored before they
    /// were kept, for about a minute at most (see [`latest_events`]).
    pub async fn fill_latest_events(&self) -> Result<PassRun, StoreError> {
        let outcome = latest_events::fill(&self.writer, self.backend).await;
        Ok(self
            .writes
            .observe("filling the accounts' latest events", outcome)?)
    }

    /// Counts events stored before the accounts' history began into it, as
    /// of `now_ms`, for about a minute at most (see
    /// [`account_history_rebuild`]).
    pub async fn rebuild_account_history(&self, now_ms: i64) -> Result<PassRun, StoreError> {
        let outcome = account_history_rebuild::run(&self.writer, self.backend, now_ms).await;
        Ok(self
            .writes
            .observe("rebuilding the accounts' history", outcome)?)
    }

    /// Whether the business account `id` was ever seen.
    pub async fn is_account(&self, id: &str) -> Result<bool, StoreError> {
        Ok(business_accounts::is_known(&self.reader, id).await?)
    }

    /// Adds refused webhook requests (never stored as events) to the counts
    /// of their minutes, in one statement: `(at_ms, reason, count)` rows, each
    /// (minute, reason) at most once.
    pub async fn record_rejections(
        &self,
        counts: &[(i64, Rejection, i64)],
    ) -> Result<(), StoreError> {
        let outcome = ingest::record_rejections(&self.writer, self.backend, counts).await;
        Ok(self
            .writes
            .observe("counting refused webhook requests", outcome)?)
    }

    /// The rows of every figure of the dashboard as of `now_ms`, from one
    /// consistent view of the aggregates (its cost does not grow with the
    /// number of stored events).
    #[tracing::instrument(skip(self))]
    pub async fn snapshot_rows(&self, now_ms: i64) -> Result<SnapshotRows, StoreError> {
        Ok(snapshot::read(&self.reader, self.backend, now_ms).await?)
    }

    /// Deletes the per-account rows that no time window reaches any more as
    /// of `now_ms` (they would otherwise pile up, one per account and minute);
    /// returns how many.
    pub async fn purge_expired_account_rows(&self, now_ms: i64) -> Result<u64, StoreError> {
        let outcome = business_accounts::purge(&self.writer, now_ms).await;
        Ok(self
            .writes
            .observe("deleting expired per-account rows", outcome)?)
    }

    /// Brings this node's ordered figures of the accounts page up to
    /// `now_ms`, the UTC day's and those of the days `chosen` (the admins'
    /// zones) among others, reading every account the first time (see
    /// `account_figures`); returns how many accounts it recomputed. Pages
    /// catch them up too, so this only keeps the catch-ups small and the
    /// first page from reading every account.
    pub async fn keep_account_figures_up(
        &self,
        now_ms: i64,
        chosen: &[Today],
    ) -> Result<usize, StoreError> {
        Ok(self
            .account_figures
            .keep_up(
                &self.reader,
                self.backend,
                self.account_precision(now_ms),
                chosen,
            )
            .await?)
    }

    /// How many business accounts are silent as of `now_ms`. It reads every
    /// account whose newest event falls in the silence window (most of them
    /// on a quiet night), so it is asked for once a minute, not per snapshot.
    pub async fn silent_accounts(
        &self,
        now_ms: i64,
        thresholds: &Thresholds,
    ) -> Result<i64, StoreError> {
        let mut connection = self.reader.acquire().await?;
        Ok(business_accounts::silent_count(&mut connection, now_ms, thresholds).await?)
    }

    /// The rows of one page of accounts as of `now_ms`, silence judged by
    /// `thresholds`.
    #[tracing::instrument(skip(self))]
    pub async fn account_records(
        &self,
        now_ms: i64,
        request: &PageRequest,
        thresholds: &Thresholds,
    ) -> Result<AccountRecords, StoreError> {
        Ok(business_accounts::page(
            &self.account_figures,
            &self.reader,
            self.backend,
            self.account_precision(now_ms),
            request,
            thresholds,
        )
        .await?)
    }

    /// Removes the raw events received more than `events_kept` before
    /// `now_ms`, the per-minute rows past their windows, and, going on from
    /// `walks`, each account's latest events past its newest 20 and from the
    /// conversations' chains what no late DM can need, in short steps (see
    /// [`retention`]).
    pub async fn remove_expired(
        &self,
        now_ms: i64,
        events_kept: std::time::Duration,
        walks: &mut retention::Walks,
    ) -> Result<retention::Removed, StoreError> {
        let kept_ms = i64::try_from(events_kept.as_millis()).unwrap_or(i64::MAX);
        let outcome = async {
            let mut removed = retention::run(
                &self.writer,
                self.backend,
                now_ms,
                now_ms.saturating_sub(kept_ms),
                &mut walks.latest,
            )
            .await?;
            removed.chain_rows = retention::prune_chains(
                &self.reader,
                &self.writer,
                self.backend,
                &mut walks.chains,
                now_ms,
            )
            .await?;
            Ok(removed)
        }
        .await;
        Ok(self
            .writes
            .observe("removing rows past their retention", outcome)?)
    }

    /// Every account `request` matches, in its order (offset and limit
    /// ignored), as of `now_ms`: the ids alone, fixed for a download that
    /// then reads their rows a chunk at a time ([`Store::account_rows`]).
    pub async fn ordered_account_ids(
        &self,
        now_ms: i64,
        request: &PageRequest,
    ) -> Result<Vec<String>, StoreError> {
        Ok(business_accounts::ordered_ids(
            &self.account_figures,
            &self.reader,
            self.backend,
            self.account_precision(now_ms),
            request,
        )
        .await?)
    }

    /// Gives the account `id` the display name `name` (none: its id alone);
    /// false when no such account was ever seen.
    pub async fn set_account_name(
        &self,
        id: &str,
        name: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let set = business_accounts::set_name(&self.writer, id, name, now_ms).await;
        Ok(self.writes.observe("naming an account", set)?)
    }

    /// The account `id` as of `now_ms` (today counted in `today`), for its
    /// page; `None` when it was never seen.
    pub async fn account_detail(
        &self,
        now_ms: i64,
        today: &Today,
        id: &str,
        thresholds: &Thresholds,
    ) -> Result<Option<AccountDetail>, StoreError> {
        Ok(business_accounts::detail(
            &self.reader,
            self.backend,
            self.account_precision(now_ms),
            today,
            id,
            thresholds,
        )
        .await?)
    }

    /// The rows of the accounts `ids`, in that order, as of `now_ms` (today
    /// counted in `today`), from one consistent view (an id no longer stored
    /// is left out).
    pub async fn account_rows(
        &self,
        now_ms: i64,
        today: &Today,
        ids: Vec<String>,
        thresholds: &Thresholds,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        Ok(business_accounts::records(
            &self.reader,
            self.backend,
            self.account_precision(now_ms),
            today,
            ids,
            thresholds,
        )
        .await?)
    }

    /// How much room the database takes, and (SQLite) how much its disk has
    /// left.
    pub async fn storage(&self) -> Result<StorageUse, StoreError> {
        match &self.sqlite_file {
            Some(file) => storage::of_sqlite(file).map_err(StoreError::Measure),
            None => Ok(storage::of_postgres(&self.reader).await?),
        }
    }

    /// Whether the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(snapshot::ping(&self.reader).await?)
    }

    /// The key the nodes sign the snapshots they share through Redis with:
    /// made (32 random bytes) by the first node that asks, the same for
    /// every node on this database. Never logged.
    pub async fn relay_key(&self) -> Result<secrecy::SecretSlice<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|error| {
            StoreError::Commit(format!("no random bytes for the relay key: {error}"))
        })?;
        let made = sqlx::query(
            "INSERT INTO relay_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(hex::encode(fresh))
        .execute(&self.writer)
        .await;
        self.writes.observe("making the relay key", made)?;
        let (key,): (String,) = sqlx::query_as("SELECT key FROM relay_key WHERE id = 1")
            .fetch_one(&self.writer)
            .await?;
        let key = hex::decode(key)
            .map_err(|_| StoreError::Commit("the stored relay key is not hex".to_string()))?;
        Ok(key.into())
    }

    /// Writes one row that nothing reads, as `/readyz` does while the
    /// database refuses writes: its commit ends the condition.
    pub async fn probe_write(&self, now_ms: i64) -> Result<(), StoreError> {
        let written = sqlx::query(
            "INSERT INTO write_probe (id, probed_at_ms) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET probed_at_ms = excluded.probed_at_ms",
        )
        .bind(now_ms)
        .execute(&self.writer)
        .await;
        self.writes.observe("a readiness check's write", written)?;
        Ok(())
    }

    /// Number of stored events of every kind.
    pub async fn event_count(&self) -> Result<i64, StoreError> {
        Ok(snapshot::event_count(&self.reader).await?)
    }
}

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
    async fn sqlite_commits_are_durable_and_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pulse.db").display());
        let store = Store::open(&url).await.unwrap();
        let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(
            (journal.as_str(), synchronous),
            ("wal", 2),
            "WAL with synchronous = FULL"
        );
        let write = sqlx::query("DELETE FROM events")
            .execute(&store.reader)
            .await;
        assert!(write.is_err(), "the reader pool is read-only");
    }

    fn received_dm(mid: &str) -> WebhookEvent {
        let kind = crate::event::EventKind::DmReceived { story_reply: false };
        WebhookEvent {
            dedupe_key: format!("{}:{mid}", kind.as_str()),
            kind,
            account_id: "account".to_string(),
            peer_id: Some("customer".to_string()),
            occurred_at_ms: 1_795_631_405_000,
            raw: format!(r#"{{"mid":"{mid}"}}"#),
            error: None,
        }
    }

    /// A trigger that fails the insert of a DM whose id contains `rollback`
    /// (and SQLite then rolls the whole transaction back by itself, as it
    /// may on a full disk) or `abort` (only the statement fails).
    const FAILING_TRIGGERS: &str = "\
        CREATE TRIGGER forced_rollback BEFORE INSERT ON events \
          WHEN NEW.dedupe_key LIKE '%rollback%' \
          BEGIN SELECT RAISE(ROLLBACK, 'forced rollback'); END; \
        CREATE TRIGGER forced_abort BEFORE INSERT ON events \
          WHEN NEW.dedupe_key LIKE '%abort%' \
          BEGIN SELECT RAISE(ABORT, 'forced abort'); END;";

    #[tokio::test]
    async fn after_failed_transactions_every_acknowledged_delivery_is_committed_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pulse.db").display());
        let store = Store::open(&url).await.unwrap();
        sqlx::raw_sql(FAILING_TRIGGERS)
            .execute(&store.writer)
            .await
            .unwrap();
        // A rollback SQLite did itself, then a failed statement: the
        // sequence that used to leave the writer inside a savepoint.
        for (round, failing) in [
            "rollback-1",
            "abort-1",
            "rollback-2",
            "rollback-3",
            "abort-2",
        ]
        .iter()
        .enumerate()
        {
            let refused = store.ingest(vec![received_dm(failing)], 0).await;
            assert!(refused.is_err(), "{failing} is refused");
            let stored = store
                .ingest(vec![received_dm(&format!("fine-{round}"))], 0)
                .await
                .expect("the next delivery is stored");
            assert_eq!(stored.stored, 1);
            assert_eq!(
                store.event_count().await.unwrap(),
                round as i64 + 1,
                "the readers see every acknowledged delivery (round {round})"
            );
        }
        // Several at once: a group with a failing delivery is retried one by one.
        let (first, second, third) = tokio::join!(
            store.ingest(vec![received_dm("together-1")], 0),
            store.ingest(vec![received_dm("together-rollback")], 0),
            store.ingest(vec![received_dm("together-2")], 0),
        );
        assert!(
            first.is_ok() && second.is_err() && third.is_ok(),
            "{first:?} {second:?} {third:?}"
        );
        assert_eq!(store.event_count().await.unwrap(), 7);
        drop(store);
        let reopened = Store::open(&url).await.unwrap();
        assert_eq!(
            reopened.event_count().await.unwrap(),
            7,
            "every acknowledged delivery outlives the node"
        );
    }

    #[tokio::test]
    async fn writer_counts_sqlite_cannot_take_are_refused_with_the_setting_named() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pulse.db").display());
        let two = NonZeroUsize::new(2).unwrap();
        let refused = Store::open_with_writers(&url, two).await.unwrap_err();
        assert!(matches!(refused, StoreError::SqliteWriters(2)));
        assert!(
            refused.to_string().contains("PULSE_STORE_WRITERS"),
            "{refused}"
        );
        assert!(
            !dir.path().join("pulse.db").exists(),
            "nothing is created for a refused setting"
        );
        let too_many = NonZeroUsize::new(65).unwrap();
        assert!(matches!(
            Store::open_with_writers("postgres://user:pw@127.0.0.1:1/db", too_many).await,
            Err(StoreError::TooManyWriters(65))
        ));
        assert!(Store::open_with_writers(&url, NonZeroUsize::MIN)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn unsupported_databases_are_refused_with_a_clear_reason() {
        let mysql = Store::open("mysql://user:pw@localhost/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            mysql.contains("\"mysql\"") && !mysql.contains("pw"),
            "{mysql}"
        );
        assert!(matches!(
            Store::open("sqlite::memory:").await,
            Err(StoreError::InMemory)
        ));
    }
}
