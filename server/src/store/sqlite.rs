//! SQLite backend: a single-connection writer pool (SQLite allows one writer
//! at a time; queueing in the pool is cheaper than lock retries) and a small
//! reader pool. WAL journal with `synchronous = FULL`, so a committed
//! transaction survives a power cut.

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use app::model::{DmCounts, MinuteBucket, SnapshotSource, StatsSnapshot};
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
    Sqlite, Transaction,
};

use super::{IngestOutcome, DAY_MS, MINUTE_MS, SERIES_MINUTES};
use crate::webhook::payload::{EventKind, WebhookEvent};

#[derive(Clone, Debug)]
pub(super) struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Sent and received counts for one aggregate row.
#[derive(Clone, Copy, Default)]
struct Pair {
    sent: i64,
    received: i64,
}

/// The aggregate changes of one transaction, summed in memory so that each
/// aggregate row is written once per transaction, however large the batch.
#[derive(Default)]
struct AggregateDelta {
    minutes: BTreeMap<i64, Pair>,
    days: BTreeMap<i64, Pair>,
    conversations: BTreeMap<(String, String), i64>,
    accounts: BTreeMap<String, i64>,
    totals: Pair,
    last_event_at_ms: Option<i64>,
}

impl AggregateDelta {
    fn count(&mut self, event: &WebhookEvent) {
        let one = match event.kind {
            EventKind::DmSent => Pair {
                sent: 1,
                received: 0,
            },
            EventKind::DmReceived => Pair {
                sent: 0,
                received: 1,
            },
            EventKind::Unmodelled(_) => return,
        };
        let at = event.occurred_at_ms;
        for (map, key) in [
            (&mut self.minutes, floor(at, MINUTE_MS)),
            (&mut self.days, floor(at, DAY_MS)),
        ] {
            let pair = map.entry(key).or_default();
            pair.sent += one.sent;
            pair.received += one.received;
        }
        self.totals.sent += one.sent;
        self.totals.received += one.received;
        if let Some(peer) = &event.peer_id {
            let last = self
                .conversations
                .entry((event.account_id.clone(), peer.clone()))
                .or_insert(at);
            *last = (*last).max(at);
        }
        let first = self.accounts.entry(event.account_id.clone()).or_insert(at);
        *first = (*first).min(at);
        self.last_event_at_ms = Some(self.last_event_at_ms.map_or(at, |last| last.max(at)));
    }
}

fn floor(value: i64, unit: i64) -> i64 {
    value - value.rem_euclid(unit)
}

impl SqliteStore {
    pub(super) async fn open(url: &str, busy_timeout: Duration) -> Result<Self, super::StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    pub(super) async fn ingest(
        &self,
        events: &[WebhookEvent],
        received_at_ms: i64,
    ) -> Result<IngestOutcome, sqlx::Error> {
        let mut tx = self.writer.begin().await?;
        let mut outcome = IngestOutcome::default();
        let mut delta = AggregateDelta::default();
        for event in events {
            let inserted = sqlx::query(
                "INSERT INTO events (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(event.kind.as_str())
            .bind(&event.dedupe_key)
            .bind(&event.account_id)
            .bind(&event.peer_id)
            .bind(event.occurred_at_ms)
            .bind(received_at_ms)
            .bind(&event.raw)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                outcome.stored += 1;
                delta.count(event);
            } else {
                outcome.duplicates += 1;
            }
        }
        if outcome.changed() {
            apply(&mut tx, &delta).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    pub(super) async fn snapshot(
        &self,
        now_ms: i64,
        source: SnapshotSource,
    ) -> Result<StatsSnapshot, sqlx::Error> {
        let current_minute = floor(now_ms, MINUTE_MS);
        let first_minute = current_minute - (SERIES_MINUTES - 1) * MINUTE_MS;

        // One read transaction: every figure comes from the same committed state.
        let mut tx = self.reader.begin().await?;
        let (version, sent_total, received_total, accounts, last_event_at_ms): (i64, i64, i64, i64, Option<i64>) =
            sqlx::query_as(
                "SELECT version, dms_sent, dms_received, accounts, last_event_at_ms FROM stats_totals WHERE id = 1",
            )
            .fetch_one(&mut *tx)
            .await?;
        let minutes: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT minute_ms, sent, received FROM dm_minutes WHERE minute_ms BETWEEN ? AND ? ORDER BY minute_ms",
        )
        .bind(first_minute)
        .bind(current_minute)
        .fetch_all(&mut *tx)
        .await?;
        let today: Option<(i64, i64)> =
            sqlx::query_as("SELECT sent, received FROM dm_days WHERE day_ms = ?")
                .bind(floor(now_ms, DAY_MS))
                .fetch_optional(&mut *tx)
                .await?;
        let (active_conversations_24h,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM conversations WHERE last_dm_at_ms > ?")
                .bind(now_ms - DAY_MS)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;

        let per_minute = fill_series(first_minute, &minutes);
        let (sent_today, received_today) = today.unwrap_or_default();
        Ok(StatsSnapshot {
            version,
            generated_at_ms: now_ms,
            source,
            dms_sent: DmCounts {
                total: sent_total,
                today: sent_today,
                last_hour: per_minute.iter().map(|bucket| bucket.sent).sum(),
            },
            dms_received: DmCounts {
                total: received_total,
                today: received_today,
                last_hour: per_minute.iter().map(|bucket| bucket.received).sum(),
            },
            active_conversations_24h,
            accounts,
            per_minute,
            last_event_at_ms,
        })
    }

    pub(super) async fn event_count(&self) -> Result<i64, sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }
}

/// Writes one transaction's aggregate changes and bumps the store version.
async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    delta: &AggregateDelta,
) -> Result<(), sqlx::Error> {
    for (table, key_column, rows) in [
        ("dm_minutes", "minute_ms", &delta.minutes),
        ("dm_days", "day_ms", &delta.days),
    ] {
        let statement = format!(
            "INSERT INTO {table} ({key_column}, sent, received) VALUES (?, ?, ?)
             ON CONFLICT ({key_column}) DO UPDATE SET
                 sent = sent + excluded.sent, received = received + excluded.received"
        );
        for (key, pair) in rows {
            sqlx::query(&statement)
                .bind(key)
                .bind(pair.sent)
                .bind(pair.received)
                .execute(&mut **tx)
                .await?;
        }
    }
    for ((account_id, peer_id), last_dm_at_ms) in &delta.conversations {
        sqlx::query(
            "INSERT INTO conversations (account_id, peer_id, last_dm_at_ms) VALUES (?, ?, ?)
             ON CONFLICT (account_id, peer_id) DO UPDATE SET
                 last_dm_at_ms = max(last_dm_at_ms, excluded.last_dm_at_ms)",
        )
        .bind(account_id)
        .bind(peer_id)
        .bind(last_dm_at_ms)
        .execute(&mut **tx)
        .await?;
    }
    let mut new_accounts = 0;
    for (account_id, first_seen_at_ms) in &delta.accounts {
        new_accounts += sqlx::query(
            "INSERT INTO accounts (account_id, first_seen_at_ms) VALUES (?, ?) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(first_seen_at_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected() as i64;
    }
    sqlx::query(
        "UPDATE stats_totals SET
             version = version + 1,
             dms_sent = dms_sent + ?,
             dms_received = dms_received + ?,
             accounts = accounts + ?,
             last_event_at_ms = max(coalesce(last_event_at_ms, ?4), coalesce(?4, last_event_at_ms))
         WHERE id = 1",
    )
    .bind(delta.totals.sent)
    .bind(delta.totals.received)
    .bind(new_accounts)
    .bind(delta.last_event_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The 60 buckets starting at `first_minute`, zero where no row exists.
fn fill_series(first_minute: i64, rows: &[(i64, i64, i64)]) -> Vec<MinuteBucket> {
    let by_minute: BTreeMap<i64, (i64, i64)> = rows
        .iter()
        .map(|&(minute, sent, received)| (minute, (sent, received)))
        .collect();
    (0..SERIES_MINUTES)
        .map(|offset| {
            let minute_ms = first_minute + offset * MINUTE_MS;
            let (sent, received) = by_minute.get(&minute_ms).copied().unwrap_or_default();
            MinuteBucket {
                minute_ms,
                sent,
                received,
            }
        })
        .collect()
}
