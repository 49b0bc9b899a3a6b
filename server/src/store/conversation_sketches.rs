//! Active conversations over any range: the conversations with a DM in it,
//! counted distinct. A conversation active on Monday and Tuesday is one
//! conversation of the two days, so these counts cannot be summed like the
//! history's; each UTC quarter-hour, hour and day keeps a HyperLogLog
//! sketch (`sketch.rs`) of its conversations instead, and a range merges the
//! sketches of the units it is read as (`history::pieces`, one sketch per
//! unit and writer slot: a few hundred for 13 months).
//!
//! Written at ingestion in the delivery's transaction, to the writer's own
//! slot: only that writer changes those rows, so reading a row and writing
//! it back merged is safe (on Postgres inside the one aggregate statement,
//! with `pulse_sketch_add`). Adding is a register-wise maximum: a
//! redelivered, late or reordered DM leaves every sketch as the same DMs
//! delivered once in order would. Events stored before the sketches are
//! added by a background pass ([`fill`]) to slot [`FILL_SLOT`], no writer's.
//!
//! The price of a fixed size: a count is an estimate, with a standard error
//! of about 3 % (closer below 2,500 conversations; see `sketch.rs`).

use std::collections::BTreeMap;

use sqlx::{Any, AnyPool, Row, Transaction};

use super::{
    conversations::ConversationKey,
    history::{pieces, UNITS},
    replies::Dm,
    sketch::{mark_of, Mark, Sketch},
    slots::Slot,
    sql::{floor, json_rows},
    steps::{StoredPass, StoredRow},
    Backend, PassRun,
};
use crate::event::EventKind;

/// The slot the catch-up pass writes to: no writer holds it.
const FILL_SLOT: Slot = Slot(-1);

/// The marks one transaction adds to each unit: (unit, start) → the highest
/// rank per register.
#[derive(Default)]
pub(super) struct SketchDelta {
    units: BTreeMap<(i64, i64), BTreeMap<u16, u8>>,
}

impl SketchDelta {
    /// The marks of `conversations`' new DMs, in every unit they fall in.
    pub fn of(conversations: &BTreeMap<ConversationKey, Vec<Dm>>) -> SketchDelta {
        let mut delta = SketchDelta::default();
        for ((account, customer), dms) in conversations {
            let mark = mark_of(&[account, customer]);
            for dm in dms {
                delta.add(dm.at_ms, mark);
            }
        }
        delta
    }

    fn add(&mut self, at_ms: i64, (register, rank): Mark) {
        for unit in UNITS {
            let marks = self.units.entry((unit, floor(at_ms, unit))).or_default();
            let kept = marks.entry(register).or_default();
            *kept = (*kept).max(rank);
        }
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
         SELECT r.unit_ms, r.start_ms, $1, pulse_sketch_add(s.sketch, r.marks)
         FROM json_to_recordset({rows}::json) AS r (unit_ms BIGINT, start_ms BIGINT, marks INTEGER[])
         LEFT JOIN conversation_sketches AS s
             ON s.unit_ms = r.unit_ms AND s.start_ms = r.start_ms AND s.slot = $1
         WHERE s.sketch IS NULL OR pulse_sketch_add(s.sketch, r.marks) <> s.sketch
         ON CONFLICT (unit_ms, start_ms, slot) DO UPDATE SET sketch = excluded.sketch"
    )
}

/// Adds `delta` to `slot`'s sketches, in `tx` (SQLite; Postgres writes them
/// in its one aggregate statement, except the catch-up pass's).
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
        }
    }
    Ok(())
}

/// The active conversations of each of `spans` (`[start, end)` on
/// quarter-hours), estimated, in one read: every sketch of every unit a
/// span is read as, every slot's, merged.
pub(super) async fn read(
    reader: &AnyPool,
    backend: Backend,
    spans: &[(i64, i64)],
) -> Result<Vec<u64>, sqlx::Error> {
    use serde_json::json;
    let pieces = json_rows(
        spans
            .iter()
            .enumerate()
            .flat_map(|(span, (start, end))| {
                pieces(*start, *end).into_iter().map(move |(unit, from, to)| {
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
    Ok(merged.iter().map(Sketch::estimate).collect())
}

/// Adds the events stored before the sketches to them, newest first, a
/// step of [`ROWS_PER_STEP`](super::steps::ROWS_PER_STEP) events at a time
/// at retention's pace, until it is done or a run's steps are taken.
pub(super) async fn fill(writer: &AnyPool, backend: Backend) -> Result<PassRun, sqlx::Error> {
    let columns = "id, account_id, peer_id, occurred_at_ms, kind";
    PASS.run(writer, backend, columns, |tx, events| {
        Box::pin(fill_step(tx, backend, events))
    })
    .await
}

/// Where the fill goes on.
const PASS: StoredPass = StoredPass {
    table: "conversation_sketches_fill",
    column: "below_id",
};

/// A stored event, as the fill reads it.
#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    account_id: String,
    peer_id: Option<String>,
    occurred_at_ms: i64,
    kind: String,
}

impl StoredRow for StoredEvent {
    fn id(&self) -> i64 {
        self.id
    }
}

/// Adds a step's stored DMs to the fill's sketches.
async fn fill_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    stored: Vec<StoredEvent>,
) -> Result<(), sqlx::Error> {
    let mut delta = SketchDelta::default();
    for event in stored {
        // A DM's kind is known from its name (the raw JSON only tells
        // whether a received one replies to a story).
        let dm = EventKind::from_stored(&event.kind, "").is_dm();
        if let (true, Some(customer)) = (dm, &event.peer_id) {
            delta.add(
                event.occurred_at_ms,
                mark_of(&[&event.account_id, customer]),
            );
        }
    }
    write(tx, backend, FILL_SLOT, &delta).await
}
