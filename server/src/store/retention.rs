//! Keeping storage bounded: raw events past the retention period and
//! per-minute rows past the windows that read them are removed, a little at a
//! time, so that the database stops growing with the events it has taken.
//!
//! What may go, and why no figure changes:
//! - **raw events** (`events`) are read only for the duplicate check of a
//!   redelivery; Meta redelivers for up to 36 hours, so a retention of at
//!   least two days keeps every check exact. Every figure is kept in
//!   aggregates, and every past one in the history (`history.rs`), none of
//!   which are removed here.
//! - **per-minute rows** (`metric_minutes`, `reply_minutes`,
//!   `conversation_minutes`, `waiting_minutes`, `webhook_rejections`) are read
//!   only over the last 24 hours (the live dashboard); the history holds
//!   every figure they counted. A conversation that later moves out of a
//!   minute already removed leaves a negative count in that minute, which no
//!   window reads and the next step removes.
//!
//! Each step is its own short transaction that deletes at most
//! [`ROWS_PER_STEP`] rows, so the writer is never held for long and
//! deliveries go in between the steps.

use sqlx::AnyPool;

use super::{DAY_MS, MINUTE_MS};

/// Rows one step deletes at most.
pub const ROWS_PER_STEP: i64 = 1_000;

/// Steps one run takes at most (a minute's work: up to 100,000 events a
/// minute, far above the rate the node takes them in).
const STEPS_PER_RUN: usize = 100;

/// How long per-minute rows are kept: the 24-hour windows and a day of
/// margin.
pub const MINUTE_ROWS_KEPT_MS: i64 = 2 * DAY_MS;

/// The tables of per-minute rows and their minute column.
const MINUTE_TABLES: [(&str, &str); 5] = [
    ("metric_minutes", "minute_ms"),
    ("reply_minutes", "minute_ms"),
    ("conversation_minutes", "minute_ms"),
    ("waiting_minutes", "last_minute_ms"),
    ("webhook_rejections", "minute_ms"),
];

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Raw events received before the retention period.
    pub events: u64,
    /// Per-minute rows before their windows.
    pub minute_rows: u64,
}

/// Removes, in steps, the raw events received before `events_before_ms`
/// and the per-minute rows before `now_ms` less [`MINUTE_ROWS_KEPT_MS`].
pub(super) async fn run(
    writer: &AnyPool,
    now_ms: i64,
    events_before_ms: i64,
) -> Result<Removed, sqlx::Error> {
    let mut removed = Removed::default();
    for _ in 0..STEPS_PER_RUN {
        // The oldest events by id (ids grow as events are stored), deleted
        // only if received before the period: one index range a step.
        let deleted = sqlx::query(
            "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT $1)
             AND received_at_ms < $2",
        )
        .bind(ROWS_PER_STEP)
        .bind(events_before_ms)
        .execute(writer)
        .await?
        .rows_affected();
        removed.events += deleted;
        if (deleted as i64) < ROWS_PER_STEP {
            break;
        }
        tokio::task::yield_now().await;
    }
    let minutes_before_ms = now_ms - MINUTE_ROWS_KEPT_MS;
    for (table, column) in MINUTE_TABLES {
        for _ in 0..STEPS_PER_RUN {
            // A step covers the oldest six hours left (at most 360 minutes of
            // rows per figure), up to the horizon.
            let oldest: Option<(Option<i64>,)> =
                sqlx::query_as(&format!("SELECT min({column}) FROM {table}"))
                    .fetch_optional(writer)
                    .await?;
            let Some(oldest) = oldest.and_then(|(oldest,)| oldest) else {
                break;
            };
            if oldest >= minutes_before_ms {
                break;
            }
            let until = (oldest + 360 * MINUTE_MS).min(minutes_before_ms);
            removed.minute_rows += sqlx::query(&format!("DELETE FROM {table} WHERE {column} < $1"))
                .bind(until)
                .execute(writer)
                .await?
                .rows_affected();
            tokio::task::yield_now().await;
        }
    }
    Ok(removed)
}
