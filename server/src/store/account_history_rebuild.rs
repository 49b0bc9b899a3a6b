//! Rebuilding the accounts' history of a database upgraded with stored
//! events: an older version of Pulse kept no accounts' history, so the
//! upgrade starts it empty (`account_history_start` keeps the first event
//! id ingestion counted), and this pass counts the metrics of the events
//! stored before, newest first, a step at a time, while the node serves.
//!
//! Every event is counted once: ingestion counts the events it stores (ids
//! from `first_event_id` on), the rebuild those below `rebuild_below_id`,
//! which it moves down past the events it counts in the same transaction
//! (on Postgres with the row locked, so nodes rebuilding at once take turns).
//!
//! What it cannot rebuild: reply times. A reply is found by following a
//! conversation's DMs in event order, and stored events have no index by
//! conversation; the account's page says from when its reply times count.
//! Events removed by the raw events' retention before the upgrade are not
//! there to count.

use sqlx::{Any, AnyPool, Transaction};

use super::{
    account_history::{self, AccountHistoryDelta},
    history::{Figure, HOUR_MS},
    slots::Slot,
    sql::floor,
    steps::{PassRun, StoredPass, StoredRow},
    Backend,
};
use crate::event::EventKind;

/// Counts stored events into the accounts' history as of `now_ms`, a
/// step of [`ROWS_PER_STEP`](super::steps::ROWS_PER_STEP) events at a time
/// at retention's pace, until it is done or a run's steps are taken.
pub(super) async fn run(
    writer: &AnyPool,
    backend: Backend,
    now_ms: i64,
) -> Result<PassRun, sqlx::Error> {
    let columns = "id, kind, account_id, occurred_at_ms, received_at_ms,
                   CASE WHEN kind = 'dm_received' THEN raw END AS raw";
    PASS.run(writer, backend, columns, |tx, events| {
        Box::pin(count(tx, backend, now_ms, events))
    })
    .await
}

/// Where the rebuild goes on.
const PASS: StoredPass = StoredPass {
    table: "account_history_start",
    column: "rebuild_below_id",
};

/// A stored event, as the rebuild reads it.
#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    kind: String,
    account_id: String,
    occurred_at_ms: i64,
    received_at_ms: i64,
    /// Only for received DMs (whether one replies to a story).
    raw: Option<String>,
}

impl StoredRow for StoredEvent {
    fn id(&self) -> i64 {
        self.id
    }
}

/// Counts a step's `events` into the accounts' history as of `now_ms`.
async fn count(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    now_ms: i64,
    events: Vec<StoredEvent>,
) -> Result<(), sqlx::Error> {
    let (upgraded_at_ms,): (i64,) = sqlx::query_as("SELECT at_ms FROM account_history_start")
        .fetch_one(&mut **tx)
        .await?;
    let account_history::Horizons {
        hours_before_ms: hours_before,
        days_before_ms: days_before,
        ..
    } = account_history::Horizons::at(now_ms);
    let mut hours = AccountHistoryDelta::by(HOUR_MS);
    let mut days = AccountHistoryDelta::by(super::DAY_MS);
    for event in &events {
        // SQLite gives a new row the id after the largest there is, so
        // once retention had removed every event, ingestion may store
        // events with ids below the rebuild's: those it has counted.
        if event.received_at_ms >= upgraded_at_ms {
            continue;
        }
        let at = event.occurred_at_ms;
        let rows = if at < days_before {
            continue;
        } else if floor(at, HOUR_MS) < hours_before {
            // Retention has folded these hours into their days.
            &mut days
        } else {
            &mut hours
        };
        let kind = EventKind::from_stored(&event.kind, event.raw.as_deref().unwrap_or(""));
        for metric in kind.metrics() {
            rows.add(&event.account_id, at, Figure::Metric(*metric), 1);
        }
    }
    // Slot 0, as folding writes days. Rows only add up, so sharing a slot
    // with a writer costs at most a wait for a row's lock (a deadlock is
    // rolled back whole and the step taken again).
    account_history::write(tx, backend, Slot(0), &hours).await?;
    account_history::write(tx, backend, Slot(0), &days).await
}
