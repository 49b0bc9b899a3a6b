//! SQLite backend: a single-connection writer pool (SQLite allows one writer
//! at a time; queueing in the pool is cheaper than lock retries) and a small
//! reader pool. WAL journal with `synchronous = FULL`, so a committed
//! transaction survives a power cut.

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use app::model::{Counts, Engagement, MinuteBucket, SnapshotSource, StatsSnapshot, WebhookHealth};
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
    Sqlite, Transaction,
};

use super::{IngestOutcome, Rejection, DAY_MS, MINUTE_MS, SERIES_MINUTES};
use crate::webhook::payload::{Metric, WebhookEvent};

#[derive(Clone, Debug)]
pub(super) struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// The aggregate changes of one transaction, summed in memory so that each
/// aggregate row is written once per transaction, however large the batch.
#[derive(Default)]
struct AggregateDelta {
    totals: BTreeMap<Metric, i64>,
    days: BTreeMap<(i64, Metric), i64>,
    minutes: BTreeMap<(i64, Metric), i64>,
    conversations: BTreeMap<(String, String), i64>,
    accounts: BTreeMap<String, i64>,
    last_event_at_ms: Option<i64>,
}

impl AggregateDelta {
    fn count(&mut self, event: &WebhookEvent) {
        let at = event.occurred_at_ms;
        for &metric in event.kind.metrics() {
            *self.totals.entry(metric).or_default() += 1;
            *self.days.entry((floor(at, DAY_MS), metric)).or_default() += 1;
            *self
                .minutes
                .entry((floor(at, MINUTE_MS), metric))
                .or_default() += 1;
        }
        if !event.kind.is_modelled() {
            return;
        }
        if let (true, Some(peer)) = (event.kind.is_dm(), &event.peer_id) {
            let last = self
                .conversations
                .entry((event.account_id.clone(), peer.clone()))
                .or_insert(at);
            *last = (*last).max(at);
        }
        let first = self.accounts.entry(event.account_id.clone()).or_insert(at);
        *first = (*first).min(at);
        if !event.kind.metrics().is_empty() {
            self.last_event_at_ms = Some(self.last_event_at_ms.map_or(at, |last| last.max(at)));
        }
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
                "INSERT INTO events
                     (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw, error)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(event.kind.as_str())
            .bind(&event.dedupe_key)
            .bind(&event.account_id)
            .bind(&event.peer_id)
            .bind(event.occurred_at_ms)
            .bind(received_at_ms)
            .bind(&event.raw)
            .bind(&event.error)
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
        apply(&mut tx, &delta, outcome.changed(), received_at_ms).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub(super) async fn record_rejection(
        &self,
        rejection: Rejection,
        at_ms: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO webhook_rejections (minute_ms, reason, count) VALUES (?, ?, 1)
             ON CONFLICT (minute_ms, reason) DO UPDATE SET count = count + 1",
        )
        .bind(floor(at_ms, MINUTE_MS))
        .bind(rejection.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
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
        let (version, accounts, last_event_at_ms, last_accepted_at_ms): (
            i64,
            i64,
            Option<i64>,
            Option<i64>,
        ) = sqlx::query_as(
            "SELECT version, accounts, last_event_at_ms, last_accepted_at_ms
             FROM stats_totals WHERE id = 1",
        )
        .fetch_one(&mut *tx)
        .await?;
        let totals: Vec<(String, i64)> = sqlx::query_as("SELECT metric, count FROM metric_totals")
            .fetch_all(&mut *tx)
            .await?;
        let today: Vec<(String, i64)> =
            sqlx::query_as("SELECT metric, count FROM metric_days WHERE day_ms = ?")
                .bind(floor(now_ms, DAY_MS))
                .fetch_all(&mut *tx)
                .await?;
        let minutes: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT minute_ms, metric, count FROM metric_minutes WHERE minute_ms BETWEEN ? AND ?",
        )
        .bind(first_minute)
        .bind(current_minute)
        .fetch_all(&mut *tx)
        .await?;
        let (active_conversations_24h,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM conversations WHERE last_dm_at_ms > ?")
                .bind(now_ms - DAY_MS)
                .fetch_one(&mut *tx)
                .await?;
        let rejections: Vec<(String, i64)> = sqlx::query_as(
            "SELECT reason, sum(count) FROM webhook_rejections
             WHERE minute_ms BETWEEN ? AND ? GROUP BY reason",
        )
        .bind(first_minute)
        .bind(current_minute)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let counts = MetricCounts::new(&totals, &today, &minutes);
        let rejected = |reason: Option<Rejection>| {
            rejections
                .iter()
                .filter(|(name, _)| reason.is_none_or(|r| r.as_str() == name))
                .map(|(_, count)| count)
                .sum()
        };
        Ok(StatsSnapshot {
            version,
            generated_at_ms: now_ms,
            source,
            dms_sent: counts.get(Metric::DmSent),
            dms_received: counts.get(Metric::DmReceived),
            active_conversations_24h,
            accounts,
            per_minute: series(first_minute, &minutes),
            last_event_at_ms,
            engagement: Engagement {
                comments: counts.get(Metric::Comment),
                mentions: counts.get(Metric::Mention),
                reactions: counts.get(Metric::Reaction),
                story_replies: counts.get(Metric::StoryReply),
                postbacks: counts.get(Metric::Postback),
                reads: counts.get(Metric::Read),
                deleted: counts.get(Metric::Deleted),
            },
            webhook_health: WebhookHealth {
                last_accepted_at_ms,
                signature_failures_1h: rejected(Some(Rejection::Signature)),
                rejected_1h: rejected(None),
                flagged_events_1h: counts.get(Metric::Flagged).last_hour,
                warning: None,
            },
        })
    }

    pub(super) async fn event_count(&self) -> Result<i64, sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }
}

/// Total, today and last-hour counts per metric, from the rows a snapshot read.
struct MetricCounts(BTreeMap<Metric, Counts>);

impl MetricCounts {
    fn new(
        totals: &[(String, i64)],
        today: &[(String, i64)],
        minutes: &[(i64, String, i64)],
    ) -> Self {
        let mut counts: BTreeMap<Metric, Counts> = BTreeMap::new();
        let mut add = |name: &str, field: fn(&mut Counts) -> &mut i64, count: i64| {
            if let Some(metric) = Metric::from_name(name) {
                *field(counts.entry(metric).or_default()) += count;
            }
        };
        for (name, count) in totals {
            add(name, |c| &mut c.total, *count);
        }
        for (name, count) in today {
            add(name, |c| &mut c.today, *count);
        }
        for (_, name, count) in minutes {
            add(name, |c| &mut c.last_hour, *count);
        }
        MetricCounts(counts)
    }

    fn get(&self, metric: Metric) -> Counts {
        self.0.get(&metric).copied().unwrap_or_default()
    }
}

/// Writes one transaction's aggregate changes; bumps the store version when
/// something new was stored, and records the delivery as accepted.
async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    delta: &AggregateDelta,
    changed: bool,
    received_at_ms: i64,
) -> Result<(), sqlx::Error> {
    for (metric, count) in &delta.totals {
        sqlx::query(
            "INSERT INTO metric_totals (metric, count) VALUES (?, ?)
             ON CONFLICT (metric) DO UPDATE SET count = count + excluded.count",
        )
        .bind(metric.as_str())
        .bind(count)
        .execute(&mut **tx)
        .await?;
    }
    for (table, key_column, rows) in [
        ("metric_days", "day_ms", &delta.days),
        ("metric_minutes", "minute_ms", &delta.minutes),
    ] {
        let statement = format!(
            "INSERT INTO {table} ({key_column}, metric, count) VALUES (?, ?, ?)
             ON CONFLICT ({key_column}, metric) DO UPDATE SET count = count + excluded.count"
        );
        for ((key, metric), count) in rows {
            sqlx::query(&statement)
                .bind(key)
                .bind(metric.as_str())
                .bind(count)
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
            "INSERT INTO accounts (account_id, first_seen_at_ms) VALUES (?, ?)
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(first_seen_at_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected() as i64;
    }
    sqlx::query(
        "UPDATE stats_totals SET
             version = version + ?1,
             accounts = accounts + ?2,
             last_event_at_ms = max(coalesce(last_event_at_ms, ?3), coalesce(?3, last_event_at_ms)),
             last_accepted_at_ms = max(coalesce(last_accepted_at_ms, ?4), ?4)
         WHERE id = 1",
    )
    .bind(i64::from(changed))
    .bind(new_accounts)
    .bind(delta.last_event_at_ms)
    .bind(received_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The 60 DM buckets starting at `first_minute`, zero where no row exists.
fn series(first_minute: i64, rows: &[(i64, String, i64)]) -> Vec<MinuteBucket> {
    let mut buckets: Vec<MinuteBucket> = (0..SERIES_MINUTES)
        .map(|offset| MinuteBucket {
            minute_ms: first_minute + offset * MINUTE_MS,
            ..MinuteBucket::default()
        })
        .collect();
    for (minute_ms, name, count) in rows {
        let Some(bucket) = buckets.get_mut(((minute_ms - first_minute) / MINUTE_MS) as usize)
        else {
            continue;
        };
        match Metric::from_name(name) {
            Some(Metric::DmSent) => bucket.sent += count,
            Some(Metric::DmReceived) => bucket.received += count,
            _ => {}
        }
    }
    buckets
}
