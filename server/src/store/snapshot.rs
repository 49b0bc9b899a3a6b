//! The snapshot read: the rows of every figure of the dashboard, from one
//! consistent view of the aggregates (on Postgres one statement asks for
//! that view). The stats build the dashboard's document from them.

use sqlx::AnyPool;

use sqlx::Row;

use super::{
    history::{Figure, HOUR_MS, QUARTER_MS},
    sql::floor,
    transaction, Backend, DAY_MS, MINUTE_MS, SERIES_MINUTES,
};
use crate::event::Metric;

/// How far back a snapshot reads the history's hours for the zones admins
/// chose: today began less than this long ago in any zone (a day is at most
/// 25 hours long).
pub const ZONE_DAYS_WITHIN_MS: i64 = 26 * HOUR_MS;

/// The rows every figure of the dashboard is made of, read from one
/// consistent view of the aggregates as of `read_at_ms`; the stats turn them
/// into the dashboard's document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotRows {
    /// When they were read (Unix ms); the windows below end in its minute.
    pub read_at_ms: i64,
    /// The store version they reflect.
    pub version: i64,
    /// Business accounts seen.
    pub accounts: i64,
    /// When the newest stored event happened, if any.
    pub last_event_at_ms: Option<i64>,
    /// When a delivery was last accepted, if ever.
    pub last_accepted_at_ms: Option<i64>,
    /// `(metric, count)` since the store was created.
    pub metric_totals: Vec<(String, i64)>,
    /// `(metric, count)` of the UTC day of `read_at_ms`.
    pub metric_today: Vec<(String, i64)>,
    /// `(minute_ms, metric, count)` of the last [`SERIES_MINUTES`] minutes.
    pub metric_minutes: Vec<(i64, String, i64)>,
    /// Conversations with a DM in a minute overlapping the last 24 h.
    pub active_conversations_24h: i64,
    /// `(reason, count)` of refused requests in the last hour.
    pub rejections: Vec<(String, i64)>,
    /// `(bucket, count)` of reply times in the last hour (see [`super::replies`]).
    pub reply_buckets: Vec<(i64, i64)>,
    /// `(minute the wait began, conversations)` of conversations waiting now.
    pub waiting_since: Vec<(i64, i64)>,
    /// The time zones admins chose (IANA names, each once).
    pub chosen_zones: Vec<String>,
    /// `(unit_ms, start_ms, metric, count)` of the history's rows today in
    /// every chosen zone is made of, where a count is not 0: its hours of
    /// the last [`ZONE_DAYS_WITHIN_MS`] (today began within them in every
    /// zone), and the quarter-hours between a zone's midnight and the next
    /// hour where that midnight is not on the hour (Asia/Kolkata's,
    /// Asia/Kathmandu's). Read only when an admin chose a zone.
    pub zone_units: Vec<(i64, i64, String, i64)>,
}

impl SnapshotRows {
    /// The count of `metric` from `since_ms` (a zone's midnight: on a
    /// quarter-hour) to the read, from [`Self::zone_units`]: the
    /// quarter-hours up to the first whole hour, then the hours.
    pub fn counted_since(&self, since_ms: i64, metric: &str) -> i64 {
        let first_hour = floor(since_ms + HOUR_MS - 1, HOUR_MS);
        self.zone_units
            .iter()
            .filter(|(unit, start, name, _)| {
                name == metric
                    && match *unit {
                        HOUR_MS => *start >= first_hour,
                        _ => *start >= since_ms && *start < first_hour,
                    }
            })
            .map(|(_, _, _, count)| count)
            .sum()
    }
}

/// The first minute of the series that ends in `now_ms`'s minute.
pub fn first_series_minute(now_ms: i64) -> i64 {
    floor(now_ms, MINUTE_MS) - (SERIES_MINUTES - 1) * MINUTE_MS
}

/// Reads every row of a snapshot from one consistent view of the aggregates.
pub(super) async fn read(
    reader: &AnyPool,
    backend: Backend,
    now_ms: i64,
) -> Result<SnapshotRows, sqlx::Error> {
    let current_minute = floor(now_ms, MINUTE_MS);
    let first_minute = first_series_minute(now_ms);

    let mut tx = transaction::begin_read(reader, backend).await?;
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
    let metric_totals: Vec<(String, i64)> =
        sqlx::query_as("SELECT metric, count FROM metric_totals")
            .fetch_all(&mut *tx)
            .await?;
    let metric_today: Vec<(String, i64)> =
        sqlx::query_as("SELECT metric, count FROM metric_days WHERE day_ms = $1")
            .bind(floor(now_ms, DAY_MS))
            .fetch_all(&mut *tx)
            .await?;
    let metric_minutes: Vec<(i64, String, i64)> = sqlx::query_as(
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
    let reply_buckets: Vec<(i64, i64)> = sqlx::query_as(
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
    let chosen_zones: Vec<String> = sqlx::query_as::<_, (String,)>(
        "SELECT DISTINCT time_zone FROM admins WHERE time_zone IS NOT NULL ORDER BY time_zone",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(zone,)| zone)
    .collect();
    let zone_units = if chosen_zones.is_empty() {
        Vec::new()
    } else {
        // Each midnight off the hour adds its quarter-hours up to the hour.
        let midnights: std::collections::BTreeSet<i64> = chosen_zones
            .iter()
            .filter_map(|zone| crate::clock::start_of_day(zone, now_ms))
            .map(|(since_ms, _)| since_ms)
            .filter(|since_ms| since_ms.rem_euclid(HOUR_MS) != 0)
            .collect();
        let quarters: String = midnights
            .iter()
            .map(|since_ms| {
                let hour_after = floor(*since_ms, HOUR_MS) + HOUR_MS;
                format!(
                    " OR (unit_ms = {QUARTER_MS} AND start_ms >= {since_ms} \
                     AND start_ms < {hour_after})"
                )
            })
            .collect();
        let sums: Vec<String> = Metric::ALL
            .iter()
            .map(|metric| format!("CAST(sum({}) AS BIGINT)", Figure::Metric(*metric).column()))
            .collect();
        let rows = sqlx::query(&format!(
            "SELECT unit_ms, start_ms, {} FROM history
             WHERE (unit_ms = $1 AND start_ms BETWEEN $2 AND $3){quarters}
             GROUP BY unit_ms, start_ms",
            sums.join(", ")
        ))
        .bind(HOUR_MS)
        .bind(floor(now_ms - ZONE_DAYS_WITHIN_MS, HOUR_MS))
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut units = Vec::new();
        for row in rows {
            let unit_ms: i64 = row.try_get(0)?;
            let start_ms: i64 = row.try_get(1)?;
            for (index, metric) in Metric::ALL.iter().enumerate() {
                let count: i64 = row.try_get(index + 2)?;
                if count != 0 {
                    units.push((unit_ms, start_ms, metric.as_str().to_string(), count));
                }
            }
        }
        units
    };
    tx.commit().await?;
    Ok(SnapshotRows {
        read_at_ms: now_ms,
        version,
        accounts,
        last_event_at_ms,
        last_accepted_at_ms,
        metric_totals,
        metric_today,
        metric_minutes,
        active_conversations_24h,
        rejections,
        reply_buckets,
        waiting_since,
        chosen_zones,
        zone_units,
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
