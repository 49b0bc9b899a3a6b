//! The snapshot read: every figure of the dashboard from one consistent view
//! of the aggregates (on Postgres one statement asks for that view).

use std::collections::BTreeMap;

use app::model::{
    Counts, Delivery, Engagement, MinuteBucket, Replies, ReplyTimes, SnapshotSource, StatsSnapshot,
    Waiting, WebhookHealth,
};
use sqlx::AnyPool;

use super::{replies, sql::floor, Backend, Thresholds, DAY_MS, MINUTE_MS, SERIES_MINUTES};
use crate::event::{Metric, Rejection};

/// Reads every figure of a snapshot from one consistent view of the aggregates.
pub(super) async fn snapshot(
    reader: &AnyPool,
    backend: Backend,
    now_ms: i64,
    source: SnapshotSource,
    thresholds: &Thresholds,
) -> Result<StatsSnapshot, sqlx::Error> {
    let reply_alert_s = thresholds.reply_alert.as_secs() as i64;
    let current_minute = floor(now_ms, MINUTE_MS);
    let first_minute = current_minute - (SERIES_MINUTES - 1) * MINUTE_MS;

    let mut tx = reader.begin().await?;
    if backend == Backend::Postgres {
        // SQLite transactions read one snapshot already; Postgres needs asking.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let (version, accounts, last_event_at_ms, last_accepted_at_ms): (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT CAST(COALESCE(sum(version), 0) AS BIGINT),
                CAST(COALESCE(sum(accounts), 0) AS BIGINT),
                max(last_event_at_ms), max(last_accepted_at_ms)
         FROM store_slots",
    )
    .fetch_one(&mut *tx)
    .await?;
    let totals: Vec<(String, i64)> = sqlx::query_as("SELECT metric, count FROM metric_totals")
        .fetch_all(&mut *tx)
        .await?;
    let today: Vec<(String, i64)> =
        sqlx::query_as("SELECT metric, count FROM metric_days WHERE day_ms = $1")
            .bind(floor(now_ms, DAY_MS))
            .fetch_all(&mut *tx)
            .await?;
    let minutes: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT minute_ms, metric, count FROM metric_minutes WHERE minute_ms BETWEEN $1 AND $2",
    )
    .bind(first_minute)
    .bind(current_minute)
    .fetch_all(&mut *tx)
    .await?;
    // Every minute that overlaps the last 24 h: at most 1,441 rows.
    let (active_conversations_24h,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(sum(count), 0) AS BIGINT) FROM conversation_minutes
         WHERE minute_ms > $1",
    )
    .bind(now_ms - DAY_MS - MINUTE_MS)
    .fetch_one(&mut *tx)
    .await?;
    let rejections: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reason, CAST(sum(count) AS BIGINT) FROM webhook_rejections
         WHERE minute_ms BETWEEN $1 AND $2 GROUP BY reason",
    )
    .bind(first_minute)
    .bind(current_minute)
    .fetch_all(&mut *tx)
    .await?;
    let reply_times: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT bucket, CAST(sum(count) AS BIGINT) FROM reply_minutes
         WHERE minute_ms BETWEEN $1 AND $2 GROUP BY bucket",
    )
    .bind(first_minute)
    .bind(current_minute)
    .fetch_all(&mut *tx)
    .await?;
    // Conversations whose latest DM (a received one) falls in a minute that
    // overlaps the last 24 h, by the minute their wait began.
    let waiting_since: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT since_minute_ms, CAST(sum(count) AS BIGINT) FROM waiting_minutes
         WHERE last_minute_ms > $1 GROUP BY since_minute_ms",
    )
    .bind(now_ms - DAY_MS - MINUTE_MS)
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
        replies: Replies {
            last_hour: reply_times_of(&reply_times),
        },
        waiting: waiting(&waiting_since, now_ms, reply_alert_s),
        // Counted apart (`Store::silent_accounts`): it reads every account
        // that could be silent, so the publisher recounts it once a minute.
        silent_accounts: 0,
        // The bus stamps its own mode on every snapshot it publishes.
        delivery: Delivery::default(),
    })
}

/// Succeeds when the database answers a trivial query.
pub(super) async fn ping(reader: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(reader).await.map(|_| ())
}

/// Number of stored events of every kind.
pub(super) async fn event_count(reader: &AnyPool) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(reader)
        .await?;
    Ok(count)
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

/// Count, median and p90 of a reply-time histogram's `(bucket, count)` rows.
fn reply_times_of(histogram: &[(i64, i64)]) -> ReplyTimes {
    ReplyTimes {
        count: histogram.iter().map(|(_, count)| count).sum(),
        median_ms: replies::quantile(histogram, 0.5),
        p90_ms: replies::quantile(histogram, 0.9),
    }
}

/// The waiting figures from `(minute the wait began, conversations)` rows.
/// A wait counts from the end of the minute it began in, so neither the
/// count over the threshold nor the oldest wait ever says more than is true.
fn waiting(since_minutes: &[(i64, i64)], now_ms: i64, threshold_s: i64) -> Waiting {
    let rows = since_minutes.iter().filter(|(_, count)| *count > 0);
    let waited = |since_minute: i64| (now_ms - (since_minute + MINUTE_MS)).max(0);
    Waiting {
        total: rows.clone().map(|(_, count)| count).sum(),
        over_threshold: rows
            .clone()
            .filter(|(since_minute, _)| waited(*since_minute) >= threshold_s * 1000)
            .map(|(_, count)| count)
            .sum(),
        oldest_ms: rows.map(|(since_minute, _)| waited(*since_minute)).max(),
        threshold_s,
    }
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
