//! One account's active conversations over any range: its conversations
//! with a DM in it, counted distinct, as the service's are
//! (`conversation_sketches.rs`): a HyperLogLog sketch (`sketch.rs`) per
//! account, unit and writer slot, and a range merges the sketches of the
//! rows that start in it.
//!
//! The rows follow the accounts' history (`account_history.rs`), so that
//! every step an account's page reads, placed by its
//! [`Precision`](super::account_history::Precision), holds whole rows:
//! ingestion writes quarter-hours, retention [`fold`]s them into hours after
//! three days and two hours and hours into days after 35 days, and removes
//! days after 801. An account's quarter-hour usually sees a few
//! conversations, so a sketch is stored in its sparse form (two bytes per
//! register that saw something, [`Sketch::to_sparse`]): at most 2 KiB, a
//! few bytes for most rows.
//!
//! Ingestion adds a transaction's marks to its own slot's rows: only that
//! writer changes them, so a row is read and written back merged (on
//! Postgres written back by the one aggregate statement; merging in SQL
//! there cost single deliveries more than half their rate). Adding is a
//! register-wise maximum: a redelivered, late or reordered DM leaves every
//! sketch as the same DMs delivered once in order would, and a fold, which
//! merges a row into the larger one (slot [`FOLD_SLOT`]) and removes it
//! only if it is unchanged, changes no count. Events stored before these sketches are added by a
//! background pass ([`fill`]) to slot [`FILL_SLOT`], each in the unit its
//! time is kept in.

use std::collections::BTreeMap;

use sqlx::{Any, AnyPool, Row, Transaction};

use super::{
    account_history::Precision,
    conversation_sketches::{by_step, ActiveByStep, MarkedDm, StoredDm},
    sketch::{Mark, Sketch},
    slots::Slot,
    sql::{floor, json_rows, placeholders},
    steps::{cursor_lock, StoredPass},
    transaction, Backend, PassRun,
};

/// The slot the catch-up pass writes to: no writer holds it.
const FILL_SLOT: Slot = Slot(-1);

/// The slot retention folds quarter-hours and hours into: no writer holds
/// it.
const FOLD_SLOT: Slot = Slot(-2);

/// Rows written or removed by one statement.
const ROWS_PER_STATEMENT: usize = 500;

/// A row's key: (account, unit, start).
type Key = (String, i64, i64);

/// The marks one transaction adds to accounts' rows: (account, unit,
/// start) → the highest rank per register.
#[derive(Default)]
pub(super) struct AccountSketchDelta {
    rows: BTreeMap<Key, BTreeMap<u16, u8>>,
}

impl AccountSketchDelta {
    /// The marks of `dms`, each in its account's row of the unit `unit_at`
    /// gives for its time (ingestion's: quarter-hours).
    pub fn of(dms: &[MarkedDm<'_>], unit_at: impl Fn(i64) -> i64) -> AccountSketchDelta {
        let mut delta = AccountSketchDelta::default();
        for (account, mark, at_ms) in dms {
            delta.add(account, unit_at(*at_ms), *at_ms, *mark);
        }
        delta
    }

    fn add(&mut self, account: &str, unit: i64, at_ms: i64, (register, rank): Mark) {
        let key = (account.to_string(), unit, floor(at_ms, unit));
        let kept = self
            .rows
            .entry(key)
            .or_default()
            .entry(register)
            .or_default();
        *kept = (*kept).max(rank);
    }
}

/// The rows a transaction's marks change, with their new sketches.
#[derive(Default)]
pub(super) struct ChangedSketches(Vec<(Key, Sketch)>);

impl ChangedSketches {
    /// The rows as one JSON array, for Postgres's `json_to_recordset`:
    /// `{account_id, unit_ms, start_ms, sketch}`, the sketch's sparse form
    /// in hex.
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        json_rows(
            self.0
                .iter()
                .map(|((account, unit, start), sketch)| {
                    json!({
                        "account_id": account,
                        "unit_ms": unit,
                        "start_ms": start,
                        "sketch": hex::encode(sketch.to_sparse()),
                    })
                })
                .collect(),
        )
    }
}

/// The upsert of a transaction's changed rows ([`changed`]) into `$1`'s on
/// Postgres, `rows` the parameter holding them
/// ([`ChangedSketches::postgres_rows`]).
pub(super) fn postgres_upsert(rows: &str) -> String {
    format!(
        "INSERT INTO account_conversation_sketches (account_id, start_ms, unit_ms, slot, sketch)
         SELECT r.account_id, r.start_ms, r.unit_ms, $1, decode(r.sketch, 'hex')
         FROM json_to_recordset({rows}::json)
             AS r (account_id TEXT, unit_ms BIGINT, start_ms BIGINT, sketch TEXT)
         ON CONFLICT (account_id, start_ms, unit_ms, slot) DO UPDATE SET sketch = excluded.sketch"
    )
}

/// The rows of `slot` that `delta`'s marks change, read in `tx` and merged:
/// only `slot`'s writer changes them, so they stay as read until it writes
/// them back ([`put`], or Postgres's aggregate statement with
/// [`postgres_upsert`]) in the same transaction.
pub(super) async fn changed(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    delta: &AccountSketchDelta,
) -> Result<ChangedSketches, sqlx::Error> {
    let changed = merged_with_stored(tx, backend, slot, &delta.rows, |sketch, marks| {
        marks.iter().fold(false, |added, (register, rank)| {
            sketch.add((*register, *rank)) | added
        })
    })
    .await?;
    Ok(ChangedSketches(changed))
}

/// Adds `delta` to `slot`'s rows, in `tx` (SQLite's ingestion, and the
/// fill on both; Postgres's ingestion writes [`changed`]'s rows in its one
/// aggregate statement).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    delta: &AccountSketchDelta,
) -> Result<(), sqlx::Error> {
    let changed = changed(tx, backend, slot, delta).await?;
    put(tx, backend, slot, &changed.0).await
}

/// `slot`'s stored sketches of the rows of `additions`, each with its
/// addition made by `add` (which says whether it changed the sketch; a row
/// not stored is an empty sketch): those it changed.
async fn merged_with_stored<Addition>(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    additions: &BTreeMap<Key, Addition>,
    add: impl Fn(&mut Sketch, &Addition) -> bool,
) -> Result<Vec<(Key, Sketch)>, sqlx::Error> {
    if additions.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&Key> = additions.keys().collect();
    let mut stored = stored(tx, backend, slot, &keys).await?;
    let mut changed = Vec::new();
    for (key, addition) in additions {
        let mut sketch = stored.remove(key).unwrap_or_default();
        if add(&mut sketch, addition) {
            changed.push((key.clone(), sketch));
        }
    }
    Ok(changed)
}

/// `slot`'s stored sketches of the rows `keys`, those that exist.
async fn stored(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    keys: &[&Key],
) -> Result<BTreeMap<Key, Sketch>, sqlx::Error> {
    use serde_json::json;
    let keys = json_rows(
        keys.iter()
            .map(|(account, unit, start)| json!({"account_id": account, "unit_ms": unit, "start_ms": start}))
            .collect(),
    );
    let statement = match backend {
        Backend::Sqlite => {
            "WITH k (account_id, unit_ms, start_ms) AS (
                 SELECT json_extract(value, '$.account_id'), json_extract(value, '$.unit_ms'),
                        json_extract(value, '$.start_ms')
                 FROM json_each($1))
             SELECT s.account_id, s.unit_ms, s.start_ms, s.sketch
             FROM k CROSS JOIN account_conversation_sketches AS s
             WHERE s.account_id = k.account_id AND s.start_ms = k.start_ms
                 AND s.unit_ms = k.unit_ms AND s.slot = $2"
        }
        Backend::Postgres => {
            "SELECT s.account_id, s.unit_ms, s.start_ms, s.sketch
             FROM json_to_recordset($1::json) AS k (account_id TEXT, unit_ms BIGINT, start_ms BIGINT)
             JOIN account_conversation_sketches AS s
                 ON s.account_id = k.account_id AND s.start_ms = k.start_ms
                 AND s.unit_ms = k.unit_ms AND s.slot = $2"
        }
    };
    let mut found = BTreeMap::new();
    for row in sqlx::query(statement)
        .bind(keys)
        .bind(slot.0)
        .fetch_all(&mut **tx)
        .await?
    {
        let key: Key = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let bytes: Vec<u8> = row.try_get(3)?;
        found.insert(key, Sketch::from_sparse(&bytes).unwrap_or_default());
    }
    Ok(found)
}

/// Stores `rows` as `slot`'s.
async fn put(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    rows: &[(Key, Sketch)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = format!(
            "INSERT INTO account_conversation_sketches (account_id, unit_ms, start_ms, slot, sketch)
             VALUES {}
             ON CONFLICT (account_id, start_ms, unit_ms, slot) DO UPDATE SET sketch = excluded.sketch",
            placeholders(backend, chunk.len(), 5)
        );
        let mut query = sqlx::query(&statement);
        for ((account, unit, start), sketch) in chunk {
            query = query
                .bind(account.as_str())
                .bind(*unit)
                .bind(*start)
                .bind(slot.0)
                .bind(sketch.to_sparse());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Folds up to `limit` of the oldest rows of `unit_ms` that start before
/// `before_ms` into rows of `into_ms` (quarter-hours into hours, hours into
/// days, slot [`FOLD_SLOT`]), each removed in the same transaction unless a
/// writer changed it meanwhile (then the next fold takes it again: merging
/// twice changes nothing); returns the rows read. Folds (and the fill) take
/// turns on Postgres by the fill's cursor row.
pub(super) async fn fold(
    writer: &AnyPool,
    backend: Backend,
    (unit_ms, into_ms): (i64, i64),
    before_ms: i64,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let mut connection = writer.acquire().await?;
    let mut tx = transaction::begin(&mut connection).await?;
    let step = fold_step(&mut tx, backend, (unit_ms, into_ms), before_ms, limit).await;
    transaction::end(tx, step).await
}

/// One [`fold`] in `tx`.
async fn fold_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    (unit_ms, into_ms): (i64, i64),
    before_ms: i64,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT below_id FROM account_conversation_sketches_fill{}",
        cursor_lock(backend)
    ))
    .fetch_one(&mut **tx)
    .await?;
    let due: Vec<(String, i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT account_id, start_ms, slot, sketch FROM account_conversation_sketches
         WHERE unit_ms = $1 AND start_ms < $2 ORDER BY unit_ms, start_ms LIMIT $3",
    )
    .bind(unit_ms)
    .bind(before_ms)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut larger: BTreeMap<Key, Sketch> = BTreeMap::new();
    for (account, start, _, bytes) in &due {
        if let Some(sketch) = Sketch::from_sparse(bytes) {
            let key = (account.clone(), into_ms, floor(*start, into_ms));
            larger.entry(key).or_default().merge(&sketch);
        }
    }
    let changed = merged_with_stored(tx, backend, FOLD_SLOT, &larger, Sketch::merge).await?;
    put(tx, backend, FOLD_SLOT, &changed).await?;
    remove_unchanged(tx, backend, unit_ms, &due).await?;
    Ok(due.len() as u64)
}

/// Removes the rows `due` of `unit_ms` (account, start, slot, sketch as
/// read) that still hold the sketch read: one key lookup each (a list of
/// keys compared as row values is read by scanning the table).
async fn remove_unchanged(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    unit_ms: i64,
    due: &[(String, i64, i64, Vec<u8>)],
) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Sqlite => {
            for (account, start, slot, bytes) in due {
                sqlx::query(
                    "DELETE FROM account_conversation_sketches
                     WHERE account_id = $1 AND start_ms = $2 AND unit_ms = $3 AND slot = $4
                         AND sketch = $5",
                )
                .bind(account.as_str())
                .bind(*start)
                .bind(unit_ms)
                .bind(*slot)
                .bind(bytes.as_slice())
                .execute(&mut **tx)
                .await?;
            }
        }
        Backend::Postgres => {
            use serde_json::json;
            let rows = json_rows(
                due.iter()
                    .map(|(account, start, slot, bytes)| {
                        json!({
                            "account_id": account,
                            "start_ms": start,
                            "slot": slot,
                            "sketch": hex::encode(bytes),
                        })
                    })
                    .collect(),
            );
            sqlx::query(
                "DELETE FROM account_conversation_sketches AS s
                 USING json_to_recordset($1::json)
                     AS r (account_id TEXT, start_ms BIGINT, slot BIGINT, sketch TEXT)
                 WHERE s.account_id = r.account_id AND s.start_ms = r.start_ms
                     AND s.unit_ms = $2 AND s.slot = r.slot AND s.sketch = decode(r.sketch, 'hex')",
            )
            .bind(rows)
            .bind(unit_ms)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// `account`'s active conversations in each step of each of `runs` (runs
/// of consecutive `[start, end)` spans, each boundary placed as the
/// account's history allows) and in each run as a whole, estimated, in one
/// read (see `conversation_sketches::read_by_step`).
pub(super) async fn read_by_step(
    reader: &AnyPool,
    backend: Backend,
    account: &str,
    runs: &[&[(i64, i64)]],
) -> Result<Vec<ActiveByStep>, sqlx::Error> {
    use serde_json::json;
    let spans = json_rows(
        runs.iter()
            .flat_map(|run| run.iter())
            .enumerate()
            .map(|(span, (from, to))| json!({"span": span, "from_ms": from, "to_ms": to}))
            .collect(),
    );
    let statement = match backend {
        Backend::Sqlite => {
            "WITH p (span, from_ms, to_ms) AS (
                 SELECT json_extract(value, '$.span'), json_extract(value, '$.from_ms'),
                        json_extract(value, '$.to_ms')
                 FROM json_each($1))
             SELECT p.span, s.sketch
             FROM p CROSS JOIN account_conversation_sketches AS s
             WHERE s.account_id = $2 AND s.start_ms >= p.from_ms AND s.start_ms < p.to_ms"
        }
        Backend::Postgres => {
            "SELECT p.span, s.sketch
             FROM json_to_recordset($1::json) AS p (span BIGINT, from_ms BIGINT, to_ms BIGINT)
             CROSS JOIN LATERAL (
                 SELECT sketch FROM account_conversation_sketches
                 WHERE account_id = $2 AND start_ms >= p.from_ms AND start_ms < p.to_ms
                 OFFSET 0
             ) AS s"
        }
    };
    let count = runs.iter().map(|run| run.len()).sum();
    let mut merged = vec![Sketch::default(); count];
    for row in sqlx::query(statement)
        .bind(spans)
        .bind(account)
        .fetch_all(reader)
        .await?
    {
        let span: i64 = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        if let (Some(into), Some(sketch)) =
            (merged.get_mut(span as usize), Sketch::from_sparse(&bytes))
        {
            into.merge(&sketch);
        }
    }
    Ok(by_step(runs, merged))
}

/// Adds the DMs stored before these sketches to them, newest first, a step
/// of [`ROWS_PER_STEP`](super::steps::ROWS_PER_STEP) events at a time at
/// retention's pace, until it is done or a run's steps are taken; each DM
/// goes to the unit its time is kept in as of `now_ms`.
pub(super) async fn fill(
    writer: &AnyPool,
    backend: Backend,
    now_ms: i64,
) -> Result<PassRun, sqlx::Error> {
    let kept = Precision::at(now_ms, 0);
    PASS.run(writer, backend, StoredDm::COLUMNS, move |tx, events| {
        Box::pin(fill_step(tx, backend, kept, events))
    })
    .await
}

/// Whether the fill still has stored events to read.
pub(super) async fn filling(reader: &AnyPool) -> Result<bool, sqlx::Error> {
    let (below,): (i64,) =
        sqlx::query_as("SELECT below_id FROM account_conversation_sketches_fill")
            .fetch_one(reader)
            .await?;
    Ok(below > 1)
}

/// Where the fill goes on.
const PASS: StoredPass = StoredPass {
    table: "account_conversation_sketches_fill",
    column: "below_id",
};

/// Adds a step's stored DMs to the fill's rows.
async fn fill_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    kept: Precision,
    stored: Vec<StoredDm>,
) -> Result<(), sqlx::Error> {
    let dms: Vec<MarkedDm<'_>> = stored.iter().filter_map(StoredDm::marked).collect();
    let delta = AccountSketchDelta::of(&dms, |at_ms| kept.unit_at(at_ms));
    write(tx, backend, FILL_SLOT, &delta).await
}
