//! Active conversations over any range: the conversations with a DM in it,
//! counted distinct. A conversation active on Monday and Tuesday is one
//! conversation of the two days, so these counts cannot be summed like the
//! history's; each UTC quarter-hour, hour and day keeps a HyperLogLog
//! sketch (`sketch.rs`) of its conversations instead, and a range merges the
//! sketches of the units it is read as (`history::pieces`: a few hundred
//! for 13 months).
//!
//! Ingestion writes the quarter-hours only, in the delivery's transaction,
//! to the writer's own slot: only that writer changes those rows, so
//! reading a row and writing it back merged is safe (on Postgres inside the
//! one aggregate statement, with `pulse_sketch_add`). Adding is a
//! register-wise maximum: a redelivered, late or reordered DM leaves every
//! sketch as the same DMs delivered once in order would. Retention [`fold`]s
//! each quarter-hour's slots into one row, and the quarter-hours into their
//! hours and days (all in slot [`FOLD_SLOT`]), once Meta can no longer
//! deliver into them, moving a cursor; a range reads
//! hours and days only before it, quarter-hours after. (Writing all three
//! units at ingestion cost single deliveries 20 % on SQLite.) Events stored
//! before the sketches are added by a background pass ([`fill`]) to every
//! unit of slot [`FILL_SLOT`].
//!
//! The price of a fixed size: a count is an estimate, with a standard error
//! of about 3 % (closer below 2,500 conversations; see `sketch.rs`).

use std::collections::BTreeMap;

use sqlx::{Any, AnyPool, Row, Transaction};

use super::{
    conversations::ConversationKey,
    history::{pieces, HOUR_MS, QUARTER_MS, UNITS},
    replies::Dm,
    sketch::{mark_of, Mark, Sketch},
    slots::Slot,
    sql::{floor, json_rows},
    steps::{cursor_lock, until_done, StoredPass, StoredRow, Taken},
    transaction, Backend, PassRun, DAY_MS,
};
use crate::event::EventKind;

/// The slot the catch-up pass writes to: no writer holds it.
const FILL_SLOT: Slot = Slot(-1);

/// The slot retention folds hours and days into: no writer holds it.
const FOLD_SLOT: Slot = Slot(-2);

/// How long after its end a quarter-hour may still change: Meta redelivers
/// for up to 36 hours; a quarter-hour is folded two days after.
const OPEN_MS: i64 = 2 * DAY_MS;

/// Hours one fold step takes at most.
const HOURS_PER_STEP: i64 = 24;

/// The marks one transaction adds to each unit: (unit, start) → the highest
/// rank per register.
#[derive(Default)]
pub(super) struct SketchDelta {
    units: BTreeMap<(i64, i64), BTreeMap<u16, u8>>,
}

/// A DM as the sketches count it: its account, its conversation's mark and
/// its event time.
pub(super) type MarkedDm<'a> = (&'a str, Mark, i64);

/// `conversations`' new DMs, each conversation's mark hashed once (the
/// service's sketches and its account's add the same mark).
pub(super) fn marked_dms(conversations: &BTreeMap<ConversationKey, Vec<Dm>>) -> Vec<MarkedDm<'_>> {
    conversations
        .iter()
        .flat_map(|((account, customer), dms)| {
            let mark = mark_of(&[account, customer]);
            dms.iter().map(move |dm| (account.as_str(), mark, dm.at_ms))
        })
        .collect()
}

impl SketchDelta {
    /// The marks of `dms`, in the quarter-hours they fall in.
    pub fn of(dms: &[MarkedDm<'_>]) -> SketchDelta {
        let mut delta = SketchDelta::default();
        for (_, mark, at_ms) in dms {
            delta.add(QUARTER_MS, *at_ms, *mark);
        }
        delta
    }

    fn add(&mut self, unit: i64, at_ms: i64, (register, rank): Mark) {
        let marks = self.units.entry((unit, floor(at_ms, unit))).or_default();
        let kept = marks.entry(register).or_default();
        *kept = (*kept).max(rank);
    }

    /// The marks as one JSON array, for Postgres's `json_to_recordset`:
    /// `{unit_ms, start_ms, marks: [register, rank, register, rank, ...]}`.
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        json_rows(
            self.units
                .iter()
                .map(|((unit, start), marks)| {
                    let marks: Vec<i64> = marks
                        .iter()
                        .flat_map(|(register, rank)| [i64::from(*register), i64::from(*rank)])
                        .collect();
                    json!({"unit_ms": unit, "start_ms": start, "marks": marks})
                })
                .collect(),
        )
    }
}

/// The upsert of a transaction's marks into `$1`'s rows on Postgres, `rows`
/// the parameter holding them ([`SketchDelta::postgres_rows`]): each row
/// read and written back with the marks added, unless they change nothing.
pub(super) fn postgres_upsert(rows: &str) -> String {
    format!(
        "INSERT INTO conversation_sketches (unit_ms, start_ms, slot, sketch)
         SELECT a.unit_ms, a.start_ms, $1, a.added FROM (
             SELECT r.unit_ms, r.start_ms, s.sketch AS stored,
                    pulse_sketch_add(s.sketch, r.marks) AS added
             FROM json_to_recordset({rows}::json)
                 AS r (unit_ms BIGINT, start_ms BIGINT, marks INTEGER[])
             LEFT JOIN conversation_sketches AS s
                 ON s.unit_ms = r.unit_ms AND s.start_ms = r.start_ms AND s.slot = $1
             OFFSET 0) AS a
         WHERE a.stored IS NULL OR a.added <> a.stored
         ON CONFLICT (unit_ms, start_ms, slot) DO UPDATE SET sketch = excluded.sketch"
    )
}

/// Adds `delta` to `slot`'s sketches, in `tx` (SQLite; Postgres writes
/// ingestion's in its one aggregate statement).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    delta: &SketchDelta,
) -> Result<(), sqlx::Error> {
    if delta.units.is_empty() {
        return Ok(());
    }
    if backend == Backend::Postgres {
        sqlx::query(&postgres_upsert("$2"))
            .bind(slot.0)
            .bind(delta.postgres_rows())
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    for ((unit, start), marks) in &delta.units {
        let stored: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT sketch FROM conversation_sketches
             WHERE unit_ms = $1 AND start_ms = $2 AND slot = $3",
        )
        .bind(unit)
        .bind(start)
        .bind(slot.0)
        .fetch_optional(&mut **tx)
        .await?;
        let mut sketch = stored
            .and_then(|(bytes,)| Sketch::from_bytes(bytes))
            .unwrap_or_default();
        let mut changed = false;
        for (register, rank) in marks {
            changed |= sketch.add((*register, *rank));
        }
        if changed {
            put(tx, (*unit, *start), slot, &sketch).await?;
        }
    }
    Ok(())
}

/// Stores `sketch` as `slot`'s of the unit `(unit, start)`.
async fn put(
    tx: &mut Transaction<'_, Any>,
    (unit, start): (i64, i64),
    slot: Slot,
    sketch: &Sketch,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO conversation_sketches (unit_ms, start_ms, slot, sketch)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (unit_ms, start_ms, slot) DO UPDATE SET sketch = excluded.sketch",
    )
    .bind(unit)
    .bind(start)
    .bind(slot.0)
    .bind(sketch.as_bytes().to_vec())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The sketches of `unit` starting in `[from, to)`, every slot's, merged per
/// start.
async fn merged_by_start(
    tx: &mut Transaction<'_, Any>,
    unit: i64,
    (from, to): (i64, i64),
) -> Result<BTreeMap<i64, Sketch>, sqlx::Error> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT start_ms, sketch FROM conversation_sketches
         WHERE unit_ms = $1 AND start_ms >= $2 AND start_ms < $3",
    )
    .bind(unit)
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    let mut merged: BTreeMap<i64, Sketch> = BTreeMap::new();
    for (start, bytes) in rows {
        if let Some(sketch) = Sketch::from_bytes(bytes) {
            merged.entry(start).or_default().merge(&sketch);
        }
    }
    Ok(merged)
}

/// Folds the quarter-hours that can no longer change as of `now_ms`: each
/// one's writers' slots into one row, the quarter-hours into their hours, and
/// the hours of every day then whole into the day, up to
/// [`HOURS_PER_STEP`] hours per step at retention's pace; returns the hours
/// folded. On Postgres the cursor's row is locked for a step, so nodes
/// take turns.
pub(super) async fn fold(
    writer: &AnyPool,
    backend: Backend,
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let run = until_done(|| async {
        let mut connection = writer.acquire().await?;
        let mut tx = transaction::begin(&mut connection).await?;
        let step = fold_step(&mut tx, backend, now_ms).await;
        let hours = transaction::end(tx, step).await?;
        Ok(Taken {
            count: hours,
            more: hours == HOURS_PER_STEP as u64,
        })
    })
    .await?;
    Ok(run.count)
}

/// One step of [`fold`] in `tx`: the hours folded.
async fn fold_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let (below,): (Option<i64>,) = sqlx::query_as(&format!(
        "SELECT below_ms FROM conversation_sketches_fold{}",
        cursor_lock(backend)
    ))
    .fetch_one(&mut **tx)
    .await?;
    let from = match below {
        Some(below) => below,
        // The first fold starts a delivery window before the oldest
        // quarter-hour ingestion wrote, so that a late DM is never below it.
        None => {
            let (oldest,): (Option<i64>,) = sqlx::query_as(
                "SELECT min(start_ms) FROM conversation_sketches WHERE unit_ms = $1 AND slot >= 0",
            )
            .bind(QUARTER_MS)
            .fetch_one(&mut **tx)
            .await?;
            match oldest {
                Some(oldest) => floor(oldest - OPEN_MS, HOUR_MS),
                None => return Ok(0),
            }
        }
    };
    let to = floor(now_ms - OPEN_MS, HOUR_MS).min(from + HOURS_PER_STEP * HOUR_MS);
    if to <= from {
        return Ok(0);
    }
    // Each quarter-hour's writers' slots become one row, and their hour.
    // The fill's rows stay: it may be writing them as this step runs.
    let quarters = merged_by_start(tx, QUARTER_MS, (from, to)).await?;
    sqlx::query(
        "DELETE FROM conversation_sketches
         WHERE unit_ms = $1 AND start_ms >= $2 AND start_ms < $3 AND slot >= 0",
    )
    .bind(QUARTER_MS)
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    let mut hours: BTreeMap<i64, Sketch> = BTreeMap::new();
    for (start, sketch) in &quarters {
        put(tx, (QUARTER_MS, *start), FOLD_SLOT, sketch).await?;
        hours
            .entry(floor(*start, HOUR_MS))
            .or_default()
            .merge(sketch);
    }
    for (start, sketch) in &hours {
        put(tx, (HOUR_MS, *start), FOLD_SLOT, sketch).await?;
    }
    // Every day that ends in this step is now whole in hours.
    let mut day = floor(from, DAY_MS);
    while day + DAY_MS <= to {
        let hours = merged_by_start(tx, HOUR_MS, (day, day + DAY_MS)).await?;
        let mut whole = Sketch::default();
        for sketch in hours.values() {
            whole.merge(sketch);
        }
        if !hours.is_empty() {
            put(tx, (DAY_MS, day), FOLD_SLOT, &whole).await?;
        }
        day += DAY_MS;
    }
    sqlx::query("UPDATE conversation_sketches_fold SET below_ms = $1")
        .bind(to)
        .execute(&mut **tx)
        .await?;
    Ok(((to - from) / HOUR_MS) as u64)
}

/// The active conversations of each step of each of `runs` (runs of
/// consecutive `[start, end)` spans on quarter-hours) and of each run as a
/// whole, estimated, in one read: a run's whole is its steps' sketches
/// merged, so a conversation active in two steps counts once there (see
/// [`read_sketches`]).
pub(super) async fn read_by_step(
    reader: &AnyPool,
    backend: Backend,
    runs: &[&[(i64, i64)]],
) -> Result<Vec<ActiveByStep>, sqlx::Error> {
    let spans: Vec<(i64, i64)> = runs.iter().flat_map(|run| run.iter().copied()).collect();
    let sketches = read_sketches(reader, backend, &spans).await?;
    Ok(by_step(runs, sketches))
}

/// The estimates of `runs` from the sketch of each of their steps
/// (`sketches`, in the runs' order): each step's, and each run's as a whole.
pub(super) fn by_step(runs: &[&[(i64, i64)]], sketches: Vec<Sketch>) -> Vec<ActiveByStep> {
    let mut sketches = sketches.into_iter();
    runs.iter()
        .map(|run| {
            let mut whole = Sketch::default();
            let steps = sketches
                .by_ref()
                .take(run.len())
                .map(|sketch| {
                    whole.merge(&sketch);
                    sketch.estimate()
                })
                .collect();
            ActiveByStep {
                steps,
                whole: whole.estimate(),
            }
        })
        .collect()
}

/// The active conversations of a run of steps ([`read_by_step`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveByStep {
    /// Each step's, in the run's order.
    pub steps: Vec<u64>,
    /// The run's as a whole (at most the steps' sum).
    pub whole: u64,
}

/// The sketch of each of `spans` (`[start, end)` on quarter-hours), in one
/// read: every sketch of every unit a span is read as, every slot's,
/// merged. A span is read in days and hours before the fold's cursor, in
/// quarter-hours after it (the cursor only moves on and the quarter-hours
/// stay, so a fold between the two reads changes nothing).
async fn read_sketches(
    reader: &AnyPool,
    backend: Backend,
    spans: &[(i64, i64)],
) -> Result<Vec<Sketch>, sqlx::Error> {
    use serde_json::json;
    let (folded_below,): (Option<i64>,) =
        sqlx::query_as("SELECT below_ms FROM conversation_sketches_fold")
            .fetch_one(reader)
            .await?;
    let pieces = json_rows(
        spans
            .iter()
            .enumerate()
            .flat_map(|(span, (start, end))| {
                let split = folded_below.unwrap_or(*start).clamp(*start, *end);
                let mut read = pieces(*start, split);
                if split < *end {
                    read.push((QUARTER_MS, split, *end));
                }
                read.into_iter().map(move |(unit, from, to)| {
                    json!({"span": span, "unit_ms": unit, "from_ms": from, "to_ms": to})
                })
            })
            .collect(),
    );
    let statement = match backend {
        Backend::Sqlite => {
            "WITH p (span, unit_ms, from_ms, to_ms) AS (
                 SELECT json_extract(value, '$.span'), json_extract(value, '$.unit_ms'),
                        json_extract(value, '$.from_ms'), json_extract(value, '$.to_ms')
                 FROM json_each($1))
             SELECT p.span, c.sketch
             FROM p CROSS JOIN conversation_sketches AS c
             WHERE c.unit_ms = p.unit_ms AND c.start_ms >= p.from_ms AND c.start_ms < p.to_ms"
        }
        Backend::Postgres => {
            "SELECT p.span, c.sketch
             FROM json_to_recordset($1::json)
                 AS p (span BIGINT, unit_ms BIGINT, from_ms BIGINT, to_ms BIGINT)
             CROSS JOIN LATERAL (
                 SELECT sketch FROM conversation_sketches
                 WHERE unit_ms = p.unit_ms AND start_ms >= p.from_ms AND start_ms < p.to_ms
                 OFFSET 0
             ) AS c"
        }
    };
    let mut merged = vec![Sketch::default(); spans.len()];
    for row in sqlx::query(statement)
        .bind(pieces)
        .fetch_all(reader)
        .await?
    {
        let span: i64 = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        if let (Some(into), Some(sketch)) =
            (merged.get_mut(span as usize), Sketch::from_bytes(bytes))
        {
            into.merge(&sketch);
        }
    }
    Ok(merged)
}

/// Adds the events stored before the sketches to them, newest first, a
/// step of [`ROWS_PER_STEP`](super::steps::ROWS_PER_STEP) events at a time
/// at retention's pace, until it is done or a run's steps are taken.
pub(super) async fn fill(writer: &AnyPool, backend: Backend) -> Result<PassRun, sqlx::Error> {
    PASS.run(writer, backend, StoredDm::COLUMNS, |tx, events| {
        Box::pin(fill_step(tx, backend, events))
    })
    .await
}

/// Where the fill goes on.
const PASS: StoredPass = StoredPass {
    table: "conversation_sketches_fill",
    column: "below_id",
};

/// A stored event, as the sketches' fills read it (the service's and the
/// accounts').
#[derive(sqlx::FromRow)]
pub(super) struct StoredDm {
    id: i64,
    account_id: String,
    peer_id: Option<String>,
    occurred_at_ms: i64,
    kind: String,
}

impl StoredRow for StoredDm {
    fn id(&self) -> i64 {
        self.id
    }
}

impl StoredDm {
    /// The columns of `events` it is read from.
    pub const COLUMNS: &'static str = "id, account_id, peer_id, occurred_at_ms, kind";

    /// When it is a DM with a customer: its account, its conversation's
    /// mark and its event time.
    pub fn marked(&self) -> Option<MarkedDm<'_>> {
        // A DM's kind is known from its name (the raw JSON only tells
        // whether a received one replies to a story).
        let dm = EventKind::from_stored(&self.kind, "").is_dm();
        let customer = self.peer_id.as_deref().filter(|_| dm)?;
        let mark = mark_of(&[&self.account_id, customer]);
        Some((&self.account_id, mark, self.occurred_at_ms))
    }
}

/// Adds a step's stored DMs to the fill's sketches.
async fn fill_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    stored: Vec<StoredDm>,
) -> Result<(), sqlx::Error> {
    let mut delta = SketchDelta::default();
    for (_, mark, at_ms) in stored.iter().filter_map(StoredDm::marked) {
        for unit in UNITS {
            delta.add(unit, at_ms, mark);
        }
    }
    write(tx, backend, FILL_SLOT, &delta).await
}
