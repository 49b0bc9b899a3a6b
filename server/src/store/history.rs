//! The history behind date ranges: every figure a range shows, counted per
//! UTC quarter-hour, hour and day in one table (`history`), written at
//! ingestion in the same transaction as the other aggregates and never read
//! from the raw events.
//!
//! One row per unit and writer slot holds every figure as a column (see
//! [`COLUMNS`]): a range reads one row per unit it covers whatever the number
//! of figures (a row per figure made a 90-day range 60 times as many rows to
//! sum, 20–30 ms on SQLite at 31 figures).
//!
//! Why three units: a range in any time zone starts and ends on a
//! quarter-hour (every zone's offset is a whole number of quarter-hours,
//! Asia/Kathmandu's +05:45 included), so quarter-hours alone would make
//! every range exact; but a year of them is 35,000 rows per figure. A
//! range's steps are read as [`pieces`]: whole UTC days where a step covers
//! them, whole hours up to and after them, quarter-hours only at the ends.
//! A year at daily steps in America/New_York then reads about 9,000 hour
//! rows and no quarter-hours; in Asia/Kolkata a few hundred quarter-hours
//! more.
//!
//! Exactness: a figure's rows change only where the aggregates already
//! change (a new event, counted once however often it is delivered, in the
//! minute it occurred; a reply counted or taken back when a late DM changes
//! a conversation's order), so every unit's rows always equal the sum of the
//! per-minute counts they cover.

use std::collections::BTreeMap;

use sqlx::{Any, AnyPool, Row, Transaction};

use super::{
    slots::Slot,
    sql::{additive_upsert, floor, json_rows, placeholders},
    Backend, DAY_MS, MINUTE_MS,
};
use crate::event::{Metric, Rejection};

/// A quarter-hour in milliseconds: the smallest unit of the history.
pub const QUARTER_MS: i64 = 15 * MINUTE_MS;
/// An hour in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The units the history is kept in, largest first.
pub(super) const UNITS: [i64; 3] = [DAY_MS, HOUR_MS, QUARTER_MS];

/// Reply-time buckets the history counts (every bucket of
/// [`super::replies::bucket_of`]).
pub const REPLY_BUCKETS: usize = 47;

/// The figures of a row, in column order: the metrics, the refusal reasons,
/// then the reply-time buckets.
pub const FIGURES: usize = Metric::ALL.len() + Rejection::ALL.len() + REPLY_BUCKETS;

/// A figure the history counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// A metric.
    Metric(Metric),
    /// Requests refused for a reason.
    Refused(Rejection),
    /// Replies in a reply-time bucket.
    Reply(i64),
}

impl Figure {
    /// Its column's place in a row.
    fn index(self) -> usize {
        fn position<T: PartialEq>(all: &[T], item: &T) -> usize {
            all.iter().position(|x| x == item).unwrap_or(0)
        }
        match self {
            Figure::Metric(metric) => position(&Metric::ALL, &metric),
            Figure::Refused(reason) => Metric::ALL.len() + position(&Rejection::ALL, &reason),
            Figure::Reply(bucket) => {
                Metric::ALL.len()
                    + Rejection::ALL.len()
                    + (bucket.clamp(0, REPLY_BUCKETS as i64 - 1) as usize)
            }
        }
    }

    /// The figure of column `index`.
    fn at(index: usize) -> Figure {
        let metrics = Metric::ALL.len();
        let reasons = Rejection::ALL.len();
        if index < metrics {
            Figure::Metric(Metric::ALL[index])
        } else if index < metrics + reasons {
            Figure::Refused(Rejection::ALL[index - metrics])
        } else {
            Figure::Reply((index - metrics - reasons) as i64)
        }
    }

    /// Its name in a [`StepCount`]: the metric's (`dm_received`),
    /// `refused:<reason>` or `reply:<bucket>`.
    pub fn name(self) -> String {
        match self {
            Figure::Metric(metric) => metric.as_str().to_string(),
            Figure::Refused(reason) => format!("refused:{}", reason.as_str()),
            Figure::Reply(bucket) => format!("reply:{bucket}"),
        }
    }

    /// Its column.
    pub(super) fn column(self) -> String {
        match self {
            Figure::Metric(metric) => format!("m_{}", metric.as_str()),
            Figure::Refused(reason) => format!("refused_{}", reason.as_str()),
            Figure::Reply(bucket) => format!("reply_{bucket}"),
        }
    }
}

/// Every figure, in column order.
pub static EVERY_FIGURE: std::sync::LazyLock<Vec<Figure>> =
    std::sync::LazyLock::new(|| (0..FIGURES).map(Figure::at).collect());

/// The figures' columns, in row order.
pub static COLUMNS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0..FIGURES)
        .map(|index| Figure::at(index).column())
        .collect()
});

/// The history rows one transaction adds to, summed in memory: (unit,
/// start) → the change of every figure.
#[derive(Default)]
pub(super) struct HistoryDelta {
    rows: BTreeMap<(i64, i64), [i64; FIGURES]>,
}

impl HistoryDelta {
    /// Adds `change` to `figure` at `at_ms` in every unit.
    pub fn add(&mut self, at_ms: i64, figure: Figure, change: i64) {
        if change == 0 {
            return;
        }
        for unit in UNITS {
            self.rows
                .entry((unit, floor(at_ms, unit)))
                .or_insert([0; FIGURES])[figure.index()] += change;
        }
    }

    /// The rows as one JSON array, for Postgres's `json_to_recordset`:
    /// `{unit_ms, start_ms, c: [every figure's change]}`.
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        json_rows(
            self.changed()
                .map(|((unit, start), counts)| {
                    json!({"unit_ms": unit, "start_ms": start, "c": counts.to_vec()})
                })
                .collect(),
        )
    }

    fn changed(&self) -> impl Iterator<Item = (&(i64, i64), &[i64; FIGURES])> {
        self.rows
            .iter()
            .filter(|(_, counts)| counts.iter().any(|change| *change != 0))
    }
}

/// `INSERT INTO history (unit_ms, start_ms, slot, <figures>)` and the upsert
/// that adds every figure: made once, not per transaction.
static UPSERT_PARTS: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
    let columns: Vec<&str> = COLUMNS.iter().map(String::as_str).collect();
    additive_upsert("history", "unit_ms, start_ms, slot", &columns)
});

/// Rows written by one SQLite upsert: 65 parameters each.
const ROWS_PER_HISTORY_UPSERT: usize = 200;

/// Adds `delta` to `slot`'s history rows (SQLite; Postgres writes them in
/// its one aggregate statement).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    slot: Slot,
    delta: &HistoryDelta,
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = delta.changed().collect();
    let (insert, upsert) = &*UPSERT_PARTS;
    for chunk in rows.chunks(ROWS_PER_HISTORY_UPSERT) {
        let statement = format!(
            "{insert} VALUES {} {upsert}",
            placeholders(Backend::Sqlite, chunk.len(), 3 + FIGURES)
        );
        let mut query = sqlx::query(&statement);
        for ((unit, start), counts) in chunk {
            query = query.bind(*unit).bind(*start).bind(slot.0);
            for count in counts.iter() {
                query = query.bind(*count);
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds refused requests, `(at_ms, reason, count)`, to the history (slot
/// 0: no writer's aggregate rows count refusals, and the refusal counter
/// adds to them with its own upserts).
pub(super) async fn write_refused(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    counts: &[(i64, Rejection, i64)],
) -> Result<(), sqlx::Error> {
    let mut delta = HistoryDelta::default();
    for (at_ms, reason, count) in counts {
        delta.add(*at_ms, Figure::Refused(*reason), *count);
    }
    match backend {
        Backend::Sqlite => write(tx, Slot(0), &delta).await,
        Backend::Postgres => {
            sqlx::query(&postgres_upsert("$2"))
                .bind(0_i64)
                .bind(delta.postgres_rows())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    }
}

/// The history upsert on Postgres: `$1` the slot, `rows` the parameter
/// holding the rows as JSON ([`HistoryDelta::postgres_rows`]).
pub(super) fn postgres_upsert(rows: &str) -> String {
    let (insert, upsert) = &*UPSERT_PARTS;
    let values: Vec<String> = (0..FIGURES)
        .map(|index| format!("CAST(r.c->>{index} AS BIGINT)"))
        .collect();
    format!(
        "{insert}
         SELECT r.unit_ms, r.start_ms, $1, {}
         FROM json_to_recordset({rows}::json) AS r (unit_ms BIGINT, start_ms BIGINT, c json)
         {upsert}",
        values.join(", ")
    )
}

/// One step's span `[start_ms, end_ms)` read as runs of whole units:
/// `(unit, from, to)` with `from` and `to` multiples of `unit`, together
/// covering the span exactly. Both ends must fall on quarter-hours.
pub fn pieces(start_ms: i64, end_ms: i64) -> Vec<(i64, i64, i64)> {
    debug_assert_eq!(
        start_ms.rem_euclid(QUARTER_MS),
        0,
        "starts on a quarter-hour"
    );
    debug_assert_eq!(end_ms.rem_euclid(QUARTER_MS), 0, "ends on a quarter-hour");
    let mut pieces = Vec::new();
    let mut cursor = start_ms;
    while cursor < end_ms {
        // The largest unit the cursor sits on that still fits, taken up to
        // the next boundary of the unit above it (where a larger unit may
        // take over) or as far as it fits.
        let (index, unit) = UNITS
            .iter()
            .copied()
            .enumerate()
            .find(|&(_, unit)| cursor.rem_euclid(unit) == 0 && cursor + unit <= end_ms)
            .expect("a quarter-hour always fits between quarter-hours");
        let mut to = floor(end_ms, unit);
        if index > 0 {
            let larger = UNITS[index - 1];
            to = to.min(floor(cursor, larger) + larger);
        }
        pieces.push((unit, cursor, to));
        cursor = to;
    }
    pieces
}

/// One figure's count in one step of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCount {
    /// The step's index in the spans read.
    pub step: usize,
    /// The figure's name (see [`Figure::name`]).
    pub figure: String,
    /// Its count in the step.
    pub count: i64,
}

/// Whose history a read is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose<'a> {
    /// The whole service's (`history`).
    Service,
    /// One business account's (`account_history`: hours, and days where the
    /// hours were folded into them, so its steps must begin and end on whole
    /// hours, and on UTC midnights where days may be; see
    /// `account_history::Precision`). Each step is one run of the key,
    /// every row in it whatever its unit.
    Account(&'a str),
}

/// The count of each of `figures` in each of `steps` (`[start, end)` spans
/// on quarter-hours) of `whose` history, summed over the writers' slots in
/// the database; figures with no count in a step are left out.
pub(super) async fn read(
    reader: &AnyPool,
    backend: Backend,
    whose: Whose<'_>,
    steps: &[(i64, i64)],
    figures: &[Figure],
) -> Result<Vec<StepCount>, sqlx::Error> {
    use serde_json::json;
    let pieces = json_rows(
        steps
            .iter()
            .enumerate()
            .flat_map(|(step, (start, end))| {
                let pieces = match whose {
                    Whose::Service => pieces(*start, *end),
                    // An account's rows of any unit that start in the step.
                    Whose::Account(_) => vec![(0, *start, *end)],
                };
                pieces.into_iter().map(move |(unit, from, to)| {
                    json!({"step": step, "unit_ms": unit, "from_ms": from, "to_ms": to})
                })
            })
            .collect(),
    );
    let sums: Vec<String> = figures
        .iter()
        .map(|figure| format!("CAST(sum(h.{}) AS BIGINT)", figure.column()))
        .collect();
    let sums = sums.join(", ");
    // `$2` is the account, bound only when there is one.
    let (table, filter, filter_of_h) = match whose {
        Whose::Service => ("history", "unit_ms = p.unit_ms", "h.unit_ms = p.unit_ms"),
        Whose::Account(_) => ("account_history", "account_id = $2", "h.account_id = $2"),
    };
    let statement = match backend {
        // The spans first (`CROSS JOIN` keeps them the outer loop in
        // SQLite), each then one range of the table's key.
        Backend::Sqlite => format!(
            "WITH p (step, unit_ms, from_ms, to_ms) AS (
                 SELECT json_extract(value, '$.step'), json_extract(value, '$.unit_ms'),
                        json_extract(value, '$.from_ms'), json_extract(value, '$.to_ms')
                 FROM json_each($1))
             SELECT p.step, {sums}
             FROM p CROSS JOIN {table} AS h
             WHERE {filter_of_h} AND h.start_ms >= p.from_ms
               AND h.start_ms < p.to_ms
             GROUP BY p.step"
        ),
        // Each span one range of the table's key: `OFFSET 0` keeps the
        // planner from turning the `LATERAL` into a hash join on `unit_ms`
        // that reads every row of the unit (a 90-day range took 956 ms at
        // 13 months of history with four writer slots; 40 ms so).
        Backend::Postgres => format!(
            "SELECT p.step, {sums}
             FROM json_to_recordset($1::json)
                 AS p (step BIGINT, unit_ms BIGINT, from_ms BIGINT, to_ms BIGINT)
             CROSS JOIN LATERAL (
                 SELECT * FROM {table}
                 WHERE {filter} AND start_ms >= p.from_ms AND start_ms < p.to_ms
                 OFFSET 0
             ) AS h
             GROUP BY p.step"
        ),
    };
    let mut query = sqlx::query(&statement).bind(pieces);
    if let Whose::Account(id) = whose {
        query = query.bind(id);
    }
    let rows = query.fetch_all(reader).await?;
    let mut counts = Vec::new();
    for row in rows {
        let step: i64 = row.try_get(0)?;
        for (index, figure) in figures.iter().enumerate() {
            let count: i64 = row.try_get(index + 1)?;
            if count != 0 {
                counts.push(StepCount {
                    step: step as usize,
                    figure: figure.name(),
                    count,
                });
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z, a day boundary

    #[test]
    fn whole_days_are_read_as_days() {
        assert_eq!(
            pieces(T0, T0 + 3 * DAY_MS),
            vec![(DAY_MS, T0, T0 + 3 * DAY_MS)]
        );
    }

    #[test]
    fn a_span_off_the_hour_reads_quarters_at_its_ends_only() {
        // 05:45 on one day to 05:45 two days later, as a +05:45 zone's days.
        let start = T0 + 5 * HOUR_MS + 45 * MINUTE_MS;
        let end = start + 2 * DAY_MS;
        assert_eq!(
            pieces(start, end),
            vec![
                (QUARTER_MS, start, T0 + 6 * HOUR_MS),
                (HOUR_MS, T0 + 6 * HOUR_MS, T0 + DAY_MS),
                (DAY_MS, T0 + DAY_MS, T0 + 2 * DAY_MS),
                (HOUR_MS, T0 + 2 * DAY_MS, T0 + 2 * DAY_MS + 5 * HOUR_MS),
                (QUARTER_MS, T0 + 2 * DAY_MS + 5 * HOUR_MS, end),
            ]
        );
    }

    #[test]
    fn pieces_cover_every_span_exactly() {
        for start_q in 0..200 {
            for length_q in 0..300 {
                let start = T0 + start_q * QUARTER_MS;
                let end = start + length_q * 7 * QUARTER_MS;
                let pieces = pieces(start, end);
                let mut cursor = start;
                for (unit, from, to) in pieces {
                    assert_eq!(from, cursor);
                    assert!(to > from);
                    assert_eq!(from.rem_euclid(unit), 0);
                    assert_eq!(to.rem_euclid(unit), 0);
                    cursor = to;
                }
                assert_eq!(cursor, end);
            }
        }
    }

    #[test]
    fn a_change_reaches_every_unit() {
        let sent = Figure::Metric(Metric::DmSent);
        let received = Figure::Metric(Metric::DmReceived);
        let mut delta = HistoryDelta::default();
        delta.add(T0 + 61 * MINUTE_MS, received, 2);
        delta.add(T0 + 62 * MINUTE_MS, received, -2);
        delta.add(T0 + 20 * MINUTE_MS, sent, 1);
        let rows: Vec<_> = delta
            .changed()
            .map(|(key, counts)| (*key, counts.iter().sum::<i64>(), counts[sent.index()]))
            .collect();
        assert_eq!(
            rows,
            vec![
                ((QUARTER_MS, T0 + QUARTER_MS), 1, 1),
                ((HOUR_MS, T0), 1, 1),
                ((DAY_MS, T0), 1, 1),
            ]
        );
    }

    #[test]
    fn every_column_is_one_figure() {
        for index in 0..FIGURES {
            assert_eq!(Figure::at(index).index(), index);
        }
        assert_eq!(
            Figure::Reply(super::super::replies::bucket_of(i64::MAX)).index(),
            FIGURES - 1
        );
        assert_eq!(COLUMNS[0], "m_dm_received");
        assert_eq!(COLUMNS[Metric::ALL.len()], "refused_signature");
        assert_eq!(COLUMNS[FIGURES - 1], "reply_46");
    }
}
