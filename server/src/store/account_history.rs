//! One business account's history, behind its page's date ranges: the
//! figures of the service's history (`history.rs`) that belong to an account
//! (its metrics, and its replies by reply-time bucket; refusals have none),
//! per account, UTC hour or day, and writer slot, in `account_history`.
//! Ingestion adds to the hours, in the same transaction as the other
//! aggregates (one row per account a transaction touches); retention folds
//! each hour into its day once it is [`HOURS_KEPT_MS`] old ([`fold`]), in
//! the transaction that removes it, so every count is in exactly one row, an
//! hour's or a day's, and a span of whole days reads both.
//!
//! Why hours and days, kept [`HOURS_KEPT_MS`] and [`DAYS_KEPT_MS`]: the
//! service's history keeps quarter-hours for good, which makes every range
//! exact in every zone, at a size that grows with time alone; one row per
//! account and quarter-hour would grow with time *and* accounts (the large
//! customer of the benchmarks, 20,000 accounts, would write hundreds of
//! millions of rows a year). An account's range is therefore read to the
//! hour for the last five weeks (exact in every zone whose offset is whole
//! hours, daylight-saving days included; a +05:30 or +05:45 zone's days
//! begin and end at the nearest whole hour) and by UTC day before (see
//! [`Precision`]). The report says so whenever it applies.
//!
//! Exactness is the service history's: rows change only where an event is
//! counted once (the events it was stored with are new) or a reply is
//! counted or taken back, in the transaction that does so.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::{
    history::{Figure, HOUR_MS, REPLY_BUCKETS},
    slots::Slot,
    sql::{additive_upsert, floor, json_rows, placeholders},
    Backend, DAY_MS,
};
use crate::event::Metric;

/// How long an account's hours are kept: five weeks, so that a range of the
/// last 30 days in any zone is read to the hour.
pub const HOURS_KEPT_MS: i64 = 35 * DAY_MS;

/// How long an account's days are kept: the longest range (400 days) and
/// the period before it, which it is compared with.
pub const DAYS_KEPT_MS: i64 = 801 * DAY_MS;

/// The figures of an account's row: the metrics, then the reply-time
/// buckets.
pub const FIGURES: usize = Metric::ALL.len() + REPLY_BUCKETS;

/// Every figure of an account's row, in column order.
pub static ACCOUNT_FIGURES: std::sync::LazyLock<Vec<Figure>> = std::sync::LazyLock::new(|| {
    Metric::ALL
        .iter()
        .map(|metric| Figure::Metric(*metric))
        .chain((0..REPLY_BUCKETS as i64).map(Figure::Reply))
        .collect()
});

/// A figure's place in an account's row (`None` for a refusal: no
/// account's).
fn index(figure: Figure) -> Option<usize> {
    match figure {
        Figure::Metric(metric) => Metric::ALL.iter().position(|m| *m == metric),
        Figure::Refused(_) => None,
        Figure::Reply(bucket) => {
            Some(Metric::ALL.len() + bucket.clamp(0, REPLY_BUCKETS as i64 - 1) as usize)
        }
    }
}

/// The account hours (or days) one transaction adds to, summed in memory:
/// (account, start) → the change of every figure.
pub(super) struct AccountHistoryDelta {
    /// The rows' unit: [`HOUR_MS`] (what ingestion writes) or [`DAY_MS`].
    unit_ms: i64,
    rows: BTreeMap<(String, i64), [i64; FIGURES]>,
}

impl Default for AccountHistoryDelta {
    fn default() -> Self {
        Self::by(HOUR_MS)
    }
}

impl AccountHistoryDelta {
    /// Changes to rows of `unit_ms` ([`HOUR_MS`] or [`DAY_MS`]).
    pub fn by(unit_ms: i64) -> Self {
        AccountHistoryDelta {
            unit_ms,
            rows: BTreeMap::new(),
        }
    }

    /// Adds `change` to `account`'s `figure` in the unit of `at_ms`.
    pub fn add(&mut self, account: &str, at_ms: i64, figure: Figure, change: i64) {
        let Some(index) = index(figure) else {
            return;
        };
        if change == 0 {
            return;
        }
        let key = (account.to_string(), floor(at_ms, self.unit_ms));
        self.rows.entry(key).or_insert([0; FIGURES])[index] += change;
    }

    /// The rows as one JSON array, for Postgres's `json_to_recordset`:
    /// `{account_id, start_ms, c: [every figure's change]}` (hours only, as
    /// [`postgres_upsert`] writes them).
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        debug_assert_eq!(self.unit_ms, HOUR_MS);
        json_rows(
            self.changed()
                .map(|((account, start), counts)| {
                    json!({"account_id": account, "start_ms": start, "c": counts.to_vec()})
                })
                .collect(),
        )
    }

    fn changed(&self) -> impl Iterator<Item = (&(String, i64), &[i64; FIGURES])> {
        self.rows
            .iter()
            .filter(|(_, counts)| counts.iter().any(|change| *change != 0))
    }
}

/// The figures' columns, in row order.
static COLUMNS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| ACCOUNT_FIGURES.iter().map(|f| f.column()).collect());

/// `INSERT INTO account_history (...)` and the upsert that adds every
/// figure: made once.
static UPSERT_PARTS: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
    let columns: Vec<&str> = COLUMNS.iter().map(String::as_str).collect();
    additive_upsert("account_history", KEY, &columns)
});

/// The table's key columns, in the order every write gives them.
const KEY: &str = "account_id, unit_ms, start_ms, slot";

/// Rows written by one SQLite upsert.
const ROWS_PER_UPSERT: usize = 500;

/// An account hour's key (account, hour) and its figures' changes.
type HourRow<'a> = (&'a (String, i64), &'a [i64; FIGURES]);

/// Adds `delta` to `slot`'s account hours or days (ingestion on SQLite;
/// Postgres's ingestion writes them in its one aggregate statement,
/// [`postgres_upsert`]; the rebuild on both). An hour's row usually
/// changes in one to three of its 57 figures, so the rows are written in
/// groups by the figures they change, each group's upsert naming only those
/// columns: a few statements of a few parameters a row, instead of 61 a row
/// (which cost single-event ingestion about a fifth of its rate).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    delta: &AccountHistoryDelta,
) -> Result<(), sqlx::Error> {
    let mut by_figures: BTreeMap<Vec<usize>, Vec<HourRow<'_>>> = BTreeMap::new();
    for (key, counts) in delta.changed() {
        let changed: Vec<usize> = (0..FIGURES).filter(|place| counts[*place] != 0).collect();
        by_figures.entry(changed).or_default().push((key, counts));
    }
    for (places, rows) in by_figures {
        let columns: Vec<&str> = places
            .iter()
            .map(|place| COLUMNS[*place].as_str())
            .collect();
        let (insert, upsert) = additive_upsert("account_history", KEY, &columns);
        for chunk in rows.chunks(ROWS_PER_UPSERT) {
            let statement = format!(
                "{insert} VALUES {} {upsert}",
                placeholders(backend, chunk.len(), 4 + places.len())
            );
            let mut query = sqlx::query(&statement);
            for ((account, start), counts) in chunk {
                query = query
                    .bind(account.as_str())
                    .bind(delta.unit_ms)
                    .bind(*start)
                    .bind(slot.0);
                for place in &places {
                    query = query.bind(counts[*place]);
                }
            }
            query.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// The account hours' upsert on Postgres: `$1` the slot, `rows` the
/// parameter holding the rows as JSON ([`AccountHistoryDelta::postgres_rows`]).
/// Each row's figures arrive as an `INTEGER[]`, read once and then indexed
/// (as `json`, each of the 57 figures would parse the row's array again).
pub(super) fn postgres_upsert(rows: &str) -> String {
    let (insert, upsert) = &*UPSERT_PARTS;
    let values: Vec<String> = (1..=FIGURES).map(|place| format!("r.c[{place}]")).collect();
    format!(
        "{insert}
         SELECT r.account_id, {HOUR_MS}, r.start_ms, $1, {}
         FROM json_to_recordset({rows}::json)
             AS r (account_id TEXT, start_ms BIGINT, c INTEGER[])
         {upsert}",
        values.join(", ")
    )
}

/// Folds up to `limit` of the oldest hours that start before `before_ms`
/// into their days (slot 0: only folding writes days), removing them in
/// the same transaction, so that each count is in its hour or in its day,
/// never both and never neither; returns the hours folded. On Postgres one
/// statement, so the hours added to the days are exactly the hours removed
/// whatever other nodes do meanwhile; SQLite has one writer.
pub(super) async fn fold(
    writer: &sqlx::AnyPool,
    backend: Backend,
    before_ms: i64,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let (insert, upsert) = &*UPSERT_PARTS;
    let sums: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("CAST(sum({column}) AS BIGINT)"))
        .collect();
    let sums = sums.join(", ");
    let oldest = "SELECT account_id, start_ms, unit_ms, slot FROM account_history
                  WHERE unit_ms = $1 AND start_ms < $2 ORDER BY unit_ms, start_ms LIMIT $3";
    let day = format!("start_ms - start_ms % {DAY_MS}");
    let hours = match backend {
        Backend::Postgres => {
            let (hours,): (i64,) = sqlx::query_as(&format!(
                "WITH folded AS (
                     DELETE FROM account_history
                     WHERE (account_id, start_ms, unit_ms, slot) IN ({oldest})
                     RETURNING *),
                 days AS (
                     {insert}
                     SELECT account_id, {DAY_MS}, {day}, 0, {sums} FROM folded
                     GROUP BY account_id, {day}
                     {upsert})
                 SELECT count(*) FROM folded"
            ))
            .bind(HOUR_MS)
            .bind(before_ms)
            .bind(limit)
            .fetch_one(writer)
            .await?;
            hours as u64
        }
        Backend::Sqlite => {
            let due = format!("(account_id, start_ms, unit_ms, slot) IN ({oldest})");
            let mut tx = writer.begin().await?;
            sqlx::query(&format!(
                "{insert}
                 SELECT account_id, {DAY_MS}, {day}, 0, {sums} FROM account_history
                 WHERE {due}
                 GROUP BY account_id, {day}
                 {upsert}"
            ))
            .bind(HOUR_MS)
            .bind(before_ms)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
            let hours = sqlx::query(&format!("DELETE FROM account_history WHERE {due}"))
                .bind(HOUR_MS)
                .bind(before_ms)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            hours
        }
    };
    Ok(hours)
}

/// Where the accounts' history began, in a database upgraded with stored
/// events (an older version of Pulse kept no accounts' history).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryStart {
    /// When ingestion began counting into it (Unix ms); replies are counted
    /// from then on.
    pub at_ms: i64,
    /// Whether the metrics of events stored before are still being counted
    /// into it (`account_history_rebuild`).
    pub rebuilding: bool,
}

/// Where the accounts' history began, if the database held events from
/// before it (an upgrade); `None` when it holds every event stored.
pub(super) async fn since(reader: &sqlx::AnyPool) -> Result<Option<HistoryStart>, sqlx::Error> {
    let since: Option<(i64, i64)> = sqlx::query_as(
        "SELECT at_ms, rebuild_below_id FROM account_history_start WHERE first_event_id > 1",
    )
    .fetch_optional(reader)
    .await?;
    Ok(since.map(|(at_ms, below)| HistoryStart {
        at_ms,
        rebuilding: below > 1,
    }))
}

/// How precisely an account's history can place an instant as of `now_ms`:
/// to the hour from [`Precision::hours_from_ms`] on, to the UTC day before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precision {
    /// The first instant (a UTC midnight) from which hours are kept.
    pub hours_from_ms: i64,
    /// The start of the hour now is in.
    pub current_hour_ms: i64,
}

impl Precision {
    /// As of `now_ms`: hours from the first UTC midnight at least
    /// [`HOURS_KEPT_MS`] back (retention keeps every hour from there).
    pub fn at(now_ms: i64) -> Self {
        Precision {
            hours_from_ms: floor(now_ms - HOURS_KEPT_MS, DAY_MS) + DAY_MS,
            current_hour_ms: floor(now_ms, HOUR_MS),
        }
    }

    /// `at_ms` as an account's history can place it: the nearest whole hour
    /// (half past goes up), or before the hours kept the nearest UTC
    /// midnight (a day of a zone is read as the UTC day it shares most hours
    /// with); from the current hour on, the end of its hour, so that a range
    /// reaching now holds what has just arrived. Placing never goes
    /// backwards, so placed steps still tile a range.
    pub fn place(&self, at_ms: i64) -> i64 {
        let nearest = |unit: i64| floor(at_ms + unit / 2, unit);
        if at_ms >= self.current_hour_ms {
            floor(at_ms + HOUR_MS - 1, HOUR_MS)
        } else if at_ms >= self.hours_from_ms {
            nearest(HOUR_MS)
        } else {
            nearest(DAY_MS)
        }
    }
}

/// Where retention works as of `now_ms`: hours that start before the
/// first are folded into their days (a day before the first hour any
/// reader places a boundary on, so no read of hours ever finds a day);
/// days that start before the second are removed.
pub(super) fn horizons(now_ms: i64) -> (i64, i64) {
    (
        Precision::at(now_ms).hours_from_ms - DAY_MS,
        floor(now_ms - DAYS_KEPT_MS, DAY_MS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    #[test]
    fn every_figure_but_refusals_has_a_column() {
        assert_eq!(ACCOUNT_FIGURES.len(), FIGURES);
        for (place, figure) in ACCOUNT_FIGURES.iter().enumerate() {
            assert_eq!(index(*figure), Some(place));
        }
        assert_eq!(index(Figure::Refused(crate::event::Rejection::Body)), None);
        assert_eq!(COLUMNS[0], "m_dm_received");
        assert_eq!(COLUMNS[FIGURES - 1], "reply_46");
    }

    #[test]
    fn a_change_lands_in_its_hour() {
        let mut delta = AccountHistoryDelta::default();
        let at = T0 + 5 * HOUR_MS + 17 * 60_000;
        delta.add("biz", at, Figure::Metric(Metric::DmSent), 2);
        delta.add("biz", at, Figure::Reply(3), 1);
        delta.add("biz", at, Figure::Refused(crate::event::Rejection::Body), 9);
        let rows: Vec<_> = delta.changed().collect();
        assert_eq!(rows.len(), 1);
        let (key, counts) = rows[0];
        assert_eq!(key, &("biz".to_string(), T0 + 5 * HOUR_MS));
        assert_eq!((counts[1], counts[Metric::ALL.len() + 3]), (2, 1));
        assert_eq!(counts.iter().sum::<i64>(), 3, "no refusal counted");
        // A reply taken back leaves no change to write.
        delta.add("biz", at, Figure::Reply(3), -1);
        delta.add("biz", at, Figure::Metric(Metric::DmSent), -2);
        assert_eq!(delta.changed().count(), 0);
    }

    #[test]
    fn instants_are_placed_in_hours_for_five_weeks_then_in_days() {
        let now = T0 + 40 * DAY_MS + 10 * HOUR_MS;
        let precision = Precision::at(now);
        assert_eq!(precision.hours_from_ms, T0 + 6 * DAY_MS);
        assert!(now - precision.hours_from_ms <= HOURS_KEPT_MS);
        let kolkata_midnight = T0 + 20 * DAY_MS - 5 * HOUR_MS - 30 * 60_000;
        assert_eq!(
            precision.place(kolkata_midnight),
            kolkata_midnight + 30 * 60_000
        );
        let kathmandu_midnight = kolkata_midnight - 15 * 60_000;
        assert_eq!(
            precision.place(kathmandu_midnight),
            kolkata_midnight - 30 * 60_000
        );
        let new_york_midnight = T0 + 2 * DAY_MS + 5 * HOUR_MS;
        assert_eq!(precision.place(new_york_midnight), T0 + 2 * DAY_MS);
        let tokyo_midnight = T0 + 2 * DAY_MS - 9 * HOUR_MS;
        assert_eq!(precision.place(tokyo_midnight), T0 + 2 * DAY_MS);
        // Now's hour is read whole: what has just arrived is in.
        let edge = now + 15 * 60_000 - now % (15 * 60_000);
        assert_eq!(precision.place(edge), now - now % HOUR_MS + HOUR_MS);
        // Placing never goes backwards.
        let mut last = i64::MIN;
        for at in (T0..now + DAY_MS).step_by(15 * 60_000) {
            let placed = precision.place(at);
            assert!(placed >= last, "{at}");
            last = placed;
        }
        // Retention folds no hour a read may ask for.
        let (hours_before, days_before) = horizons(now);
        assert!(hours_before < precision.hours_from_ms);
        assert!(now - days_before >= DAYS_KEPT_MS);
    }
}
