//! One business account's history, behind its page's date ranges: the
//! figures of the service's history (`history.rs`) that belong to an account
//! (its metrics, and its replies by reply-time bucket; refusals have none),
//! per account, UTC quarter-hour, hour or day, and writer slot, in
//! `account_history`. Ingestion adds to the quarter-hours, in the same
//! transaction as the other aggregates (one row per account a transaction
//! touches); retention folds each quarter-hour into its hour once it is
//! [`QUARTERS_KEPT_MS`] old and each hour into its day once it is
//! [`HOURS_KEPT_MS`] old ([`fold`]), in the transaction that removes it, so
//! every count is in exactly one row and a span reads every row that starts
//! in it, whatever its unit.
//!
//! Why quarter-hours for three days, hours for five weeks and days after: the
//! service's history keeps quarter-hours for good, which makes every range
//! exact in every zone, at a size that grows with time alone; one row per
//! account and quarter-hour for good would grow with time *and* accounts (the
//! large customer of the benchmarks, 20,000 accounts, would write hundreds of
//! millions of rows a year). An account's today, yesterday and last 24 hours
//! (and the periods they are compared with) are therefore exact in every
//! zone (+05:30 and +05:45 included, where the accounts table's "today"
//! begins), its ranges to the hour for the last five
//! weeks (exact in every zone whose offset is whole hours, daylight-saving
//! days included; a +05:30 or +05:45 zone's days begin and end at the
//! nearest whole hour) and by UTC day before (see [`Precision`]). The report
//! says so whenever it applies.
//!
//! Exactness is the service history's: rows change only where an event is
//! counted once (the events it was stored with are new) or a reply is
//! counted or taken back, in the transaction that does so.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::{
    history::{Figure, HOUR_MS, QUARTER_MS, REPLY_BUCKETS},
    slots::Slot,
    sql::{additive_upsert, floor, json_rows, placeholders},
    Backend, DAY_MS,
};
use crate::event::Metric;

/// How long an account's quarter-hours are kept: three days and two hours,
/// so that in every zone its today, yesterday and last 24 hours are exact,
/// and so are the periods they are compared with (the day before yesterday
/// begins at most 73 hours back, a 25-hour day among the three).
pub const QUARTERS_KEPT_MS: i64 = 3 * DAY_MS + 2 * HOUR_MS;

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

/// The account quarter-hours (or hours, or days) one transaction adds to,
/// summed in memory: (account, start) → the change of every figure.
pub(super) struct AccountHistoryDelta {
    /// The rows' unit: [`QUARTER_MS`] (what ingestion writes), [`HOUR_MS`]
    /// or [`DAY_MS`].
    unit_ms: i64,
    rows: BTreeMap<(String, i64), [i64; FIGURES]>,
}

impl Default for AccountHistoryDelta {
    fn default() -> Self {
        Self::by(QUARTER_MS)
    }
}

impl AccountHistoryDelta {
    /// Changes to rows of `unit_ms` ([`QUARTER_MS`], [`HOUR_MS`] or
    /// [`DAY_MS`]).
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
    /// `{account_id, start_ms, c: [every figure's change]}` (quarter-hours
    /// only, as [`postgres_upsert`] writes them).
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        debug_assert_eq!(self.unit_ms, QUARTER_MS);
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

/// An account row's key (account, start) and its figures' changes.
type HourRow<'a> = (&'a (String, i64), &'a [i64; FIGURES]);

/// Adds `delta` to `slot`'s account rows of its unit (ingestion on SQLite;
/// Postgres's ingestion writes them in its one aggregate statement,
/// [`postgres_upsert`]; the rebuild on both). A row usually
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

/// The account quarter-hours' upsert on Postgres: `$1` the slot, `rows` the
/// parameter holding the rows as JSON ([`AccountHistoryDelta::postgres_rows`]).
/// Each row's figures arrive as an `INTEGER[]`, read once and then indexed
/// (as `json`, each of the 57 figures would parse the row's array again).
pub(super) fn postgres_upsert(rows: &str) -> String {
    let (insert, upsert) = &*UPSERT_PARTS;
    let values: Vec<String> = (1..=FIGURES).map(|place| format!("r.c[{place}]")).collect();
    format!(
        "{insert}
         SELECT r.account_id, {QUARTER_MS}, r.start_ms, $1, {}
         FROM json_to_recordset({rows}::json)
             AS r (account_id TEXT, start_ms BIGINT, c INTEGER[])
         {upsert}",
        values.join(", ")
    )
}

/// Folds up to `limit` of the oldest rows of `unit_ms` that start before
/// `before_ms` into rows of `into_ms` (quarter-hours into hours, hours into
/// days; slot 0: only folding writes those, besides the rebuild's adds),
/// removing them in the same transaction, so that each count is in one row,
/// never two and never none; returns the rows folded. On Postgres one
/// statement, so the rows added to the larger ones are exactly the rows
/// removed whatever other nodes do meanwhile; SQLite has one writer.
pub(super) async fn fold(
    writer: &sqlx::AnyPool,
    backend: Backend,
    (unit_ms, into_ms): (i64, i64),
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
    let into = format!("start_ms - start_ms % {into_ms}");
    let folded = match backend {
        Backend::Postgres => {
            let (folded,): (i64,) = sqlx::query_as(&format!(
                "WITH folded AS (
                     DELETE FROM account_history
                     WHERE (account_id, start_ms, unit_ms, slot) IN ({oldest})
                     RETURNING *),
                 larger AS (
                     {insert}
                     SELECT account_id, {into_ms}, {into}, 0, {sums} FROM folded
                     GROUP BY account_id, {into}
                     {upsert})
                 SELECT count(*) FROM folded"
            ))
            .bind(unit_ms)
            .bind(before_ms)
            .bind(limit)
            .fetch_one(writer)
            .await?;
            folded as u64
        }
        Backend::Sqlite => {
            let due = format!("(account_id, start_ms, unit_ms, slot) IN ({oldest})");
            let mut tx = writer.begin().await?;
            sqlx::query(&format!(
                "{insert}
                 SELECT account_id, {into_ms}, {into}, 0, {sums} FROM account_history
                 WHERE {due}
                 GROUP BY account_id, {into}
                 {upsert}"
            ))
            .bind(unit_ms)
            .bind(before_ms)
            .bind(limit)
            .execute(&mut *tx)
            .await?;
            let folded = sqlx::query(&format!("DELETE FROM account_history WHERE {due}"))
                .bind(unit_ms)
                .bind(before_ms)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            folded
        }
    };
    Ok(folded)
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

/// How precisely an account's history can place an instant as of
/// [`Precision::now_ms`]: to the quarter-hour from
/// [`Precision::quarters_from_ms`] on, to the hour from
/// [`Precision::hours_from_ms`] on, to the UTC day before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precision {
    /// The first instant (a whole hour) from which quarter-hours are kept.
    pub quarters_from_ms: i64,
    /// The first instant (a UTC midnight) from which hours are kept.
    pub hours_from_ms: i64,
    /// Now, in Unix milliseconds.
    pub now_ms: i64,
    /// When ingestion began writing quarter-hours.
    quarters_began_ms: i64,
}

impl Precision {
    /// As of `now_ms`: quarter-hours from the first whole hour at least
    /// [`QUARTERS_KEPT_MS`] back, hours from the first UTC midnight at least
    /// [`HOURS_KEPT_MS`] back (retention keeps every row from there).
    /// `quarters_began_ms` is when ingestion began writing quarter-hours
    /// (see `Store::account_precision`): quarter-hours are read only from two
    /// whole hours after it, the hour it began in being partly in hours,
    /// and one more for the nodes of the older version a rolling upgrade
    /// still runs.
    pub fn at(now_ms: i64, quarters_began_ms: i64) -> Self {
        let kept = floor(now_ms - QUARTERS_KEPT_MS, HOUR_MS) + HOUR_MS;
        let began = floor(quarters_began_ms, HOUR_MS) + 2 * HOUR_MS;
        Precision {
            quarters_from_ms: kept.max(began),
            hours_from_ms: floor(now_ms - HOURS_KEPT_MS, DAY_MS) + DAY_MS,
            now_ms,
            quarters_began_ms,
        }
    }

    /// The same history's precision as of `now_ms`.
    pub fn as_of(&self, now_ms: i64) -> Self {
        Self::at(now_ms, self.quarters_began_ms)
    }

    /// The unit an account's rows are kept in at `at_ms`.
    pub fn unit_at(&self, at_ms: i64) -> i64 {
        if at_ms >= self.quarters_from_ms {
            QUARTER_MS
        } else if at_ms >= self.hours_from_ms {
            HOUR_MS
        } else {
            DAY_MS
        }
    }

    /// `at_ms` as an account's history can place it: the nearest start of
    /// the unit it is kept in at `at_ms` (half way goes up: a day of a zone
    /// before the hours kept is read as the UTC day it shares most hours
    /// with); from the unit now is in on, the end of its unit, so that a
    /// range reaching now holds what has just arrived. Placing never goes
    /// backwards (each unit's first instant is a start of the larger ones),
    /// so placed steps still tile a range.
    pub fn place(&self, at_ms: i64) -> i64 {
        let unit = self.unit_at(at_ms);
        if at_ms >= floor(self.now_ms, unit) {
            floor(at_ms + unit - 1, unit)
        } else {
            floor(at_ms + unit / 2, unit)
        }
    }
}

/// Where retention works as of `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Horizons {
    /// Quarter-hours that start before it are folded into their hours …
    pub quarters_before_ms: i64,
    /// … and hours into their days (each a while before the first instant
    /// any reader places a boundary on in that unit, an hour and a day, so
    /// that no read of a unit finds the larger one, even on a node whose
    /// clock is behind) …
    pub hours_before_ms: i64,
    /// … and days that start before it are removed.
    pub days_before_ms: i64,
}

impl Horizons {
    pub(super) fn at(now_ms: i64) -> Self {
        let kept = Precision::at(now_ms, 0);
        Horizons {
            quarters_before_ms: kept.quarters_from_ms - HOUR_MS,
            hours_before_ms: kept.hours_from_ms - DAY_MS,
            days_before_ms: floor(now_ms - DAYS_KEPT_MS, DAY_MS),
        }
    }
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
    fn a_change_lands_in_its_quarter_hour() {
        let mut delta = AccountHistoryDelta::default();
        let at = T0 + 5 * HOUR_MS + 17 * 60_000;
        delta.add("biz", at, Figure::Metric(Metric::DmSent), 2);
        delta.add("biz", at, Figure::Reply(3), 1);
        delta.add("biz", at, Figure::Refused(crate::event::Rejection::Body), 9);
        let rows: Vec<_> = delta.changed().collect();
        assert_eq!(rows.len(), 1);
        let (key, counts) = rows[0];
        assert_eq!(key, &("biz".to_string(), T0 + 5 * HOUR_MS + QUARTER_MS));
        assert_eq!((counts[1], counts[Metric::ALL.len() + 3]), (2, 1));
        assert_eq!(counts.iter().sum::<i64>(), 3, "no refusal counted");
        // A reply taken back leaves no change to write.
        delta.add("biz", at, Figure::Reply(3), -1);
        delta.add("biz", at, Figure::Metric(Metric::DmSent), -2);
        assert_eq!(delta.changed().count(), 0);
    }

    #[test]
    fn instants_are_placed_in_quarters_for_three_days_in_hours_for_five_weeks_then_in_days() {
        let now = T0 + 40 * DAY_MS + 10 * HOUR_MS + 20 * 60_000;
        let precision = Precision::at(now, 0);
        assert_eq!(precision.hours_from_ms, T0 + 6 * DAY_MS);
        assert!(now - precision.hours_from_ms <= HOURS_KEPT_MS);
        assert_eq!(precision.quarters_from_ms, T0 + 37 * DAY_MS + 9 * HOUR_MS);
        assert!(now - precision.quarters_from_ms <= QUARTERS_KEPT_MS);
        // A day of Kolkata and of Kathmandu from the hours: the nearest hour.
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
        // Today's, yesterday's and the day before's, from the quarter-hours: exact.
        for days in [38, 39, 40] {
            let kathmandu = T0 + days * DAY_MS - 5 * HOUR_MS - 45 * 60_000;
            assert_eq!(precision.place(kathmandu), kathmandu);
            assert_eq!(
                precision.place(kathmandu + 15 * 60_000),
                kathmandu + 15 * 60_000
            );
        }
        let new_york_midnight = T0 + 2 * DAY_MS + 5 * HOUR_MS;
        assert_eq!(precision.place(new_york_midnight), T0 + 2 * DAY_MS);
        let tokyo_midnight = T0 + 2 * DAY_MS - 9 * HOUR_MS;
        assert_eq!(precision.place(tokyo_midnight), T0 + 2 * DAY_MS);
        // Now's quarter-hour is read whole: what has just arrived is in.
        assert_eq!(precision.place(now), now - now % QUARTER_MS + QUARTER_MS);
        assert_eq!(
            precision.place(now - 60_000),
            now - now % QUARTER_MS + QUARTER_MS
        );
        // Placing never goes backwards.
        let mut last = i64::MIN;
        for at in (T0..now + DAY_MS).step_by(5 * 60_000) {
            let placed = precision.place(at);
            assert!(placed >= last, "{at}");
            last = placed;
        }
        // Retention folds no row a read may ask for.
        let horizons = Horizons::at(now);
        assert!(horizons.quarters_before_ms < precision.quarters_from_ms);
        assert!(horizons.hours_before_ms < precision.hours_from_ms);
        assert!(now - horizons.days_before_ms >= DAYS_KEPT_MS);
    }

    #[test]
    fn quarter_hours_are_read_from_two_whole_hours_after_they_began() {
        let now = T0 + 40 * DAY_MS + 10 * HOUR_MS + 20 * 60_000;
        // Begun at 09:40 today (an upgrade): the hour it began in holds hours, and so may the
        // next, from a node of the older version.
        let precision = Precision::at(now, now - 40 * 60_000);
        assert_eq!(precision.quarters_from_ms, T0 + 40 * DAY_MS + 11 * HOUR_MS);
        // Until then, now's hour is read whole, as before.
        assert_eq!(precision.place(now), T0 + 40 * DAY_MS + 11 * HOUR_MS);
        let kathmandu = T0 + 40 * DAY_MS - 5 * HOUR_MS - 45 * 60_000;
        assert_eq!(precision.place(kathmandu), kathmandu - 15 * 60_000);
        // Begun long ago, they are read for the two days they are kept.
        assert_eq!(
            Precision::at(now, T0).quarters_from_ms,
            Precision::at(now, 0).quarters_from_ms
        );
    }
}
