//! The history behind date ranges: every figure a range shows, counted per
//! UTC quarter-hour, hour and day in one table (`history`), written at
//! ingestion in the same transaction as the other aggregates and never read
//! from the raw events.
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

use sqlx::{Any, AnyPool, Transaction};

use super::{
    slots::Slot,
    sql::{floor, json_rows, placeholders, ROWS_PER_UPSERT},
    Backend, DAY_MS, MINUTE_MS,
};
use crate::event::{Metric, Rejection};

/// A quarter-hour in milliseconds: the smallest unit of the history.
pub const QUARTER_MS: i64 = 15 * MINUTE_MS;
/// An hour in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// The units the history is kept in, largest first.
const UNITS: [i64; 3] = [DAY_MS, HOUR_MS, QUARTER_MS];

/// The figure under which the history counts `metric`.
pub fn metric_figure(metric: Metric) -> String {
    metric.as_str().to_string()
}

/// The figure under which the history counts replies of reply-time `bucket`.
pub fn reply_figure(bucket: i64) -> String {
    format!("reply:{bucket}")
}

/// The figure under which the history counts requests refused for `reason`.
pub fn refused_figure(reason: Rejection) -> String {
    format!("refused:{}", reason.as_str())
}

/// The history rows one transaction adds to, summed in memory: (unit,
/// start, figure) → change.
#[derive(Default)]
pub(super) struct HistoryDelta {
    rows: BTreeMap<(i64, i64, String), i64>,
}

impl HistoryDelta {
    /// Adds `change` to `figure` at `at_ms` in every unit.
    pub fn add(&mut self, at_ms: i64, figure: &str, change: i64) {
        if change == 0 {
            return;
        }
        for unit in UNITS {
            *self
                .rows
                .entry((unit, floor(at_ms, unit), figure.to_string()))
                .or_default() += change;
        }
    }

    /// The rows as one JSON array, for Postgres's `json_to_recordset`.
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        json_rows(
            self.changed()
                .map(|((unit, start, figure), count)| {
                    json!({"unit_ms": unit, "start_ms": start, "figure": figure, "count": count})
                })
                .collect(),
        )
    }

    fn changed(&self) -> impl Iterator<Item = (&(i64, i64, String), &i64)> {
        self.rows.iter().filter(|(_, change)| **change != 0)
    }
}

/// Adds `delta` to `slot`'s history rows (SQLite; Postgres writes them in
/// its one aggregate statement).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    slot: Slot,
    delta: &HistoryDelta,
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = delta.changed().collect();
    for chunk in rows.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO history (unit_ms, start_ms, figure, slot, count) VALUES {}
             ON CONFLICT (unit_ms, start_ms, figure, slot)
             DO UPDATE SET count = history.count + excluded.count",
            placeholders(Backend::Sqlite, chunk.len(), 5)
        );
        let mut query = sqlx::query(&statement);
        for ((unit, start, figure), count) in chunk {
            query = query
                .bind(*unit)
                .bind(*start)
                .bind(figure.as_str())
                .bind(slot.0)
                .bind(**count);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds refused requests, `(at_ms, reason, count)`, to the history (slot
/// 0: no writer's aggregate rows hold a `refused:` figure).
pub(super) async fn write_refused(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    counts: &[(i64, Rejection, i64)],
) -> Result<(), sqlx::Error> {
    let mut delta = HistoryDelta::default();
    for (at_ms, reason, count) in counts {
        delta.add(*at_ms, &refused_figure(*reason), *count);
    }
    match backend {
        Backend::Sqlite => write(tx, Slot(0), &delta).await,
        Backend::Postgres => {
            sqlx::query(POSTGRES_UPSERT)
                .bind(0_i64)
                .bind(delta.postgres_rows())
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    }
}

/// The history upsert on Postgres: `$1` slot, `$2` the rows as JSON.
const POSTGRES_UPSERT: &str = "INSERT INTO history (unit_ms, start_ms, figure, slot, count)
     SELECT r.unit_ms, r.start_ms, r.figure, $1, r.count
     FROM json_to_recordset($2::json) AS r (unit_ms BIGINT, start_ms BIGINT, figure TEXT, count BIGINT)
     ON CONFLICT (unit_ms, start_ms, figure, slot)
     DO UPDATE SET count = history.count + excluded.count";

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
    /// The figure (see [`metric_figure`], [`reply_figure`], [`refused_figure`]).
    pub figure: String,
    /// Its count in the step.
    pub count: i64,
}

/// Every figure's count in each of `steps` (`[start, end)` spans on
/// quarter-hours), summed over the writers' slots in the database; figures
/// with no count in a step are left out.
pub(super) async fn read(
    reader: &AnyPool,
    backend: Backend,
    steps: &[(i64, i64)],
) -> Result<Vec<StepCount>, sqlx::Error> {
    use serde_json::json;
    let pieces = json_rows(
        steps
            .iter()
            .enumerate()
            .flat_map(|(step, (start, end))| {
                pieces(*start, *end).into_iter().map(move |(unit, from, to)| {
                    json!({"step": step, "unit_ms": unit, "from_ms": from, "to_ms": to})
                })
            })
            .collect(),
    );
    let statement = match backend {
        // The pieces first (`CROSS JOIN` keeps them the outer loop in
        // SQLite), each then one range of the table's key.
        Backend::Sqlite => {
            "WITH p (step, unit_ms, from_ms, to_ms) AS (
                 SELECT json_extract(value, '$.step'), json_extract(value, '$.unit_ms'),
                        json_extract(value, '$.from_ms'), json_extract(value, '$.to_ms')
                 FROM json_each($1))
             SELECT p.step, h.figure, CAST(sum(h.count) AS BIGINT)
             FROM p CROSS JOIN history AS h
             WHERE h.unit_ms = p.unit_ms AND h.start_ms >= p.from_ms AND h.start_ms < p.to_ms
             GROUP BY p.step, h.figure"
        }
        Backend::Postgres => {
            "SELECT p.step, h.figure, CAST(sum(h.count) AS BIGINT)
             FROM json_to_recordset($1::json)
                 AS p (step BIGINT, unit_ms BIGINT, from_ms BIGINT, to_ms BIGINT)
             JOIN history AS h
               ON h.unit_ms = p.unit_ms AND h.start_ms >= p.from_ms AND h.start_ms < p.to_ms
             GROUP BY p.step, h.figure"
        }
    };
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(statement)
        .bind(pieces)
        .fetch_all(reader)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, count)| *count != 0)
        .map(|(step, figure, count)| StepCount {
            step: step as usize,
            figure,
            count,
        })
        .collect())
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
        let mut delta = HistoryDelta::default();
        delta.add(T0 + 61 * MINUTE_MS, "dm_received", 2);
        delta.add(T0 + 62 * MINUTE_MS, "dm_received", -2);
        delta.add(T0 + 20 * MINUTE_MS, "dm_sent", 1);
        let rows: Vec<_> = delta
            .changed()
            .map(|(key, count)| (key.clone(), *count))
            .collect();
        assert_eq!(
            rows,
            vec![
                ((QUARTER_MS, T0 + QUARTER_MS, "dm_sent".to_string()), 1),
                ((HOUR_MS, T0, "dm_sent".to_string()), 1),
                ((DAY_MS, T0, "dm_sent".to_string()), 1),
            ]
        );
    }
}
