//! Work done beside the deliveries in short steps: retention's removals
//! and the catch-up passes over the events stored before an upgrade. Each
//! step is its own short transaction over at most [`ROWS_PER_STEP`] rows,
//! and after each the work rests [`REST_FACTOR`] times as long as the step
//! took, so it takes at most a twentieth of the writer's time however much
//! is due.
//!
//! A catch-up pass ([`StoredPass`]) reads the stored events below a cursor
//! (an event id kept in a one-row table), newest first, and moves the
//! cursor past them in the transaction that uses them, so each event is
//! read once whatever stops the node; on Postgres the cursor's row is
//! locked for the step, so nodes running the pass at once take turns.

use std::{
    future::Future,
    pin::Pin,
    time::{Duration, Instant},
};

use sqlx::{any::AnyRow, Any, AnyPool, FromRow, Transaction};

use super::{transaction, Backend};

/// Rows one step takes at most.
pub const ROWS_PER_STEP: i64 = 1_000;

/// Steps one run takes at most (a minute's work: up to 100,000 rows a
/// minute, far above the rate the node takes events in).
pub(super) const STEPS_PER_RUN: usize = 100;

/// How much longer than a step the work rests after it: it takes at most
/// `1 / (1 + REST_FACTOR)` of the writer's time.
const REST_FACTOR: u32 = 19;

/// What a step, or a run of steps, took, and whether more was left after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Taken {
    /// Rows (or whatever the work counts) taken.
    pub count: u64,
    /// Whether more was left.
    pub more: bool,
}

/// Runs `step` until it says nothing more is left or [`STEPS_PER_RUN`]
/// steps have run, resting after each; returns what they took together and
/// whether more was left.
pub(super) async fn until_done<Step, Taking>(mut step: Step) -> Result<Taken, sqlx::Error>
where
    Step: FnMut() -> Taking,
    Taking: Future<Output = Result<Taken, sqlx::Error>>,
{
    let mut run = Taken::default();
    for _ in 0..STEPS_PER_RUN {
        let began = Instant::now();
        let taken = step().await?;
        run.count += taken.count;
        run.more = taken.more;
        if !taken.more {
            break;
        }
        rest_after(began).await;
    }
    Ok(run)
}

/// Runs `step` (which takes at most [`ROWS_PER_STEP`] rows and says how
/// many) until it takes fewer or [`STEPS_PER_RUN`] steps have run, resting
/// after each; returns the rows taken.
pub(super) async fn in_steps<Step, Taking>(mut step: Step) -> Result<u64, sqlx::Error>
where
    Step: FnMut() -> Taking,
    Taking: Future<Output = Result<u64, sqlx::Error>>,
{
    let run = until_done(|| {
        let taking = step();
        async move {
            let rows = taking.await?;
            Ok(Taken {
                count: rows,
                more: rows as i64 >= ROWS_PER_STEP,
            })
        }
    })
    .await?;
    Ok(run.count)
}

/// What a step's read of its cursor row adds so that nodes doing the same
/// work take turns: the row's lock on Postgres (SQLite has one writer).
pub(super) fn cursor_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// Rests after a step that began at `began` (see [`REST_FACTOR`]).
pub(super) async fn rest_after(began: Instant) {
    let rest = began.elapsed().saturating_mul(REST_FACTOR);
    tokio::time::sleep(rest.min(Duration::from_secs(1))).await;
}

/// A catch-up pass over the stored events: its cursor is `column` of the
/// one row of `table` (events with a lower id are still to be read; 1 or
/// less once every one has been).
pub(super) struct StoredPass {
    pub table: &'static str,
    pub column: &'static str,
}

/// A stored event as a catch-up pass reads it (the columns it asks for).
pub(super) trait StoredRow: for<'row> FromRow<'row, AnyRow> + Send + Unpin {
    /// Its event id.
    fn id(&self) -> i64;
}

/// What a pass does with a step's events, in the step's transaction.
pub(super) type Work<'t> = Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 't>>;

/// What one run of a catch-up pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassRun {
    /// Stored events read.
    pub events: u64,
    /// Whether every stored event has now been read.
    pub done: bool,
}

impl StoredPass {
    /// Runs the pass in [`in_steps`], each step in a transaction of its own
    /// on `writer`: the next [`ROWS_PER_STEP`] events below the cursor
    /// (`columns` of `events`, newest first, the cursor locked on Postgres)
    /// are given to `work`, and the cursor moved past them.
    pub async fn run<Row, Steps>(
        &self,
        writer: &AnyPool,
        backend: Backend,
        columns: &str,
        work: Steps,
    ) -> Result<PassRun, sqlx::Error>
    where
        Row: StoredRow,
        Steps: for<'t, 'c> Fn(&'t mut Transaction<'c, Any>, Vec<Row>) -> Work<'t>,
    {
        let run = until_done(|| async {
            let mut connection = writer.acquire().await?;
            let mut tx = transaction::begin(&mut connection).await?;
            let taken = self.step(&mut tx, backend, columns, &work).await;
            transaction::end(tx, taken).await
        })
        .await?;
        Ok(PassRun {
            events: run.count,
            done: !run.more,
        })
    }

    /// One step in `tx`: the events read and whether more are left.
    async fn step<Row, Steps>(
        &self,
        tx: &mut Transaction<'_, Any>,
        backend: Backend,
        columns: &str,
        work: &Steps,
    ) -> Result<Taken, sqlx::Error>
    where
        Row: StoredRow,
        Steps: for<'t, 'c> Fn(&'t mut Transaction<'c, Any>, Vec<Row>) -> Work<'t>,
    {
        let (below,): (i64,) = sqlx::query_as(&format!(
            "SELECT {} FROM {}{}",
            self.column,
            self.table,
            cursor_lock(backend)
        ))
        .fetch_one(&mut **tx)
        .await?;
        if below <= 1 {
            return Ok(Taken::default());
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {columns} FROM events WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(below)
        .bind(ROWS_PER_STEP)
        .fetch_all(&mut **tx)
        .await?;
        let read = rows.len() as i64;
        let left = match rows.last() {
            Some(oldest) if read == ROWS_PER_STEP => oldest.id(),
            _ => 0,
        };
        work(tx, rows).await?;
        sqlx::query(&format!("UPDATE {} SET {} = $1", self.table, self.column))
            .bind(left)
            .execute(&mut **tx)
            .await?;
        Ok(Taken {
            count: read as u64,
            more: left > 1,
        })
    }
}
