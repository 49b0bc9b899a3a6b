//! One account's latest events, for its page: each account's newest events
//! by event time, in `latest_events`, so that the page reads them by key
//! (raw events have no index by account and time, and one would cost every
//! event a write into a random leaf of a table that grows with them).
//!
//! Ingestion adds the newest [`LISTED`] new events of each account a
//! transaction stores (a redelivery is not new, and the key makes a repeat
//! a no-op); retention removes every account's rows past its newest
//! [`LISTED`] ([`trim`], a walk over the accounts a few hundred at a time),
//! so the table holds about `LISTED` rows an account plus what arrived
//! since the walk last passed it, and a read takes the newest [`LISTED`]
//! whatever is still to be trimmed.
//!
//! A database upgraded with stored events starts with an empty list; a
//! background pass ([`fill`]) reads the events stored before, newest first,
//! a step at a time, and adds them the same way (`latest_events_fill`
//! holds where it goes on, moved in the step's transaction), so that an
//! account quiet since the upgrade still lists its last events.

use std::{collections::BTreeMap, time::Instant};

use sqlx::{Any, AnyPool, Transaction};

use super::{
    sql::{json_rows, placeholders},
    steps::{rest_after, PassRun, StoredPass, StoredRow, STEPS_PER_RUN},
    Backend,
};
use crate::event::WebhookEvent;

/// Events listed on an account's page.
pub const LISTED: usize = 20;

/// One event as the page lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LatestEvent {
    /// Event time (Unix ms).
    pub at_ms: i64,
    /// Its natural key (orders events of the same millisecond).
    pub key: String,
    /// Its kind, as stored (`EventKind::as_str`).
    pub kind: String,
    /// The customer it concerns, if any.
    pub customer: Option<String>,
}

/// The events one transaction stored, newest [`LISTED`] per account.
#[derive(Default)]
pub(super) struct LatestEvents {
    by_account: BTreeMap<String, Vec<LatestEvent>>,
}

impl LatestEvents {
    /// Takes a newly stored event.
    pub fn add(&mut self, event: &WebhookEvent) {
        self.take(
            &event.account_id,
            LatestEvent {
                at_ms: event.occurred_at_ms,
                key: event.dedupe_key.clone(),
                kind: event.kind.as_str().to_string(),
                customer: event.peer_id.clone(),
            },
        );
    }

    fn take(&mut self, account: &str, event: LatestEvent) {
        let listed = self.by_account.entry(account.to_string()).or_default();
        listed.push(event);
        if listed.len() > 2 * LISTED {
            keep_newest(listed);
        }
    }

    /// The rows as one JSON array, for Postgres's `json_to_recordset`
    /// ([`postgres_insert`]).
    pub fn postgres_rows(&self) -> String {
        use serde_json::json;
        json_rows(
            self.rows()
                .into_iter()
                .map(|(account, event)| {
                    json!({"account_id": account, "at_ms": event.at_ms, "dedupe_key": event.key,
                           "kind": event.kind, "peer_id": event.customer})
                })
                .collect(),
        )
    }

    /// Each account's newest [`LISTED`], with its account.
    fn rows(&self) -> Vec<(&str, &LatestEvent)> {
        let mut rows = Vec::new();
        for (account, events) in &self.by_account {
            let mut newest: Vec<&LatestEvent> = events.iter().collect();
            newest.sort_unstable_by(|a, b| b.cmp(a));
            rows.extend(
                newest
                    .into_iter()
                    .take(LISTED)
                    .map(|event| (account.as_str(), event)),
            );
        }
        rows
    }
}

/// Keeps the newest [`LISTED`] of `events`.
fn keep_newest(events: &mut Vec<LatestEvent>) {
    events.sort_unstable_by(|a, b| b.cmp(a));
    events.truncate(LISTED);
}

/// Rows written by one insert (5 parameters each).
const ROWS_PER_INSERT: usize = 500;

/// The insert of a transaction's new events on Postgres, part of its one
/// aggregate statement: `rows` the parameter holding
/// [`LatestEvents::postgres_rows`].
pub(super) fn postgres_insert(rows: &str) -> String {
    format!(
        "INSERT INTO latest_events (account_id, at_ms, dedupe_key, kind, peer_id)
         SELECT r.account_id, r.at_ms, r.dedupe_key, r.kind, r.peer_id
         FROM json_to_recordset({rows}::json)
             AS r (account_id TEXT, at_ms BIGINT, dedupe_key TEXT, kind TEXT, peer_id TEXT)
         ON CONFLICT (account_id, at_ms, dedupe_key) DO NOTHING"
    )
}

/// Adds `latest` to `latest_events` (ingestion on SQLite: Postgres's adds
/// them in its one aggregate statement, [`postgres_insert`]; the fill on
/// both).
pub(super) async fn write(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    latest: &LatestEvents,
) -> Result<(), sqlx::Error> {
    let rows = latest.rows();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let statement = format!(
            "INSERT INTO latest_events (account_id, at_ms, dedupe_key, kind, peer_id) VALUES {}
             ON CONFLICT (account_id, at_ms, dedupe_key) DO NOTHING",
            placeholders(backend, chunk.len(), 5)
        );
        let mut query = sqlx::query(&statement);
        for (account, event) in chunk {
            query = query
                .bind(*account)
                .bind(event.at_ms)
                .bind(event.key.as_str())
                .bind(event.kind.as_str())
                .bind(event.customer.as_deref());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Where the trim's walk over the accounts goes on: the last account
/// trimmed, `None` to start from the first. Runs walk every account and
/// start again.
#[derive(Debug, Default)]
pub struct TrimCursor(Option<String>);

/// Accounts one step of the trim ranks (about 20 rows each, and what
/// arrived since the walk last passed them).
const ACCOUNTS_PER_STEP: i64 = 200;

/// Removes the rows past each account's newest [`LISTED`], walking the
/// accounts from `cursor` [`ACCOUNTS_PER_STEP`] a step (each a short read
/// of a key range, never the whole table) at retention's pace, up to a
/// run's steps or the last account; returns the rows removed.
pub(super) async fn trim(writer: &AnyPool, cursor: &mut TrimCursor) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    for _ in 0..STEPS_PER_RUN {
        let began = Instant::now();
        let after = cursor.0.clone().unwrap_or_default();
        let (last,): (Option<String>,) = sqlx::query_as(
            "SELECT max(account_id) FROM (
                 SELECT DISTINCT account_id FROM latest_events WHERE account_id > $1
                 ORDER BY account_id LIMIT $2) AS chunk",
        )
        .bind(&after)
        .bind(ACCOUNTS_PER_STEP)
        .fetch_one(writer)
        .await?;
        let Some(last) = last else {
            cursor.0 = None;
            break;
        };
        removed += sqlx::query(
            "DELETE FROM latest_events WHERE (account_id, at_ms, dedupe_key) IN (
                 SELECT account_id, at_ms, dedupe_key FROM (
                     SELECT account_id, at_ms, dedupe_key, row_number() OVER (
                         PARTITION BY account_id ORDER BY at_ms DESC, dedupe_key DESC) AS place
                     FROM latest_events WHERE account_id > $1 AND account_id <= $2) AS ranked
                 WHERE place > $3)",
        )
        .bind(&after)
        .bind(&last)
        .bind(LISTED as i64)
        .execute(writer)
        .await?
        .rows_affected();
        cursor.0 = Some(last);
        rest_after(began).await;
    }
    Ok(removed)
}

/// Fills the list from the events stored before it was kept, newest first,
/// a step of [`ROWS_PER_STEP`](super::steps::ROWS_PER_STEP) events at a time
/// at retention's pace, until it is done or a run's steps are taken.
pub(super) async fn fill(writer: &AnyPool, backend: Backend) -> Result<PassRun, sqlx::Error> {
    let columns = "id, account_id, occurred_at_ms, dedupe_key, kind, peer_id";
    PASS.run(writer, backend, columns, |tx, events| {
        Box::pin(fill_step(tx, backend, events))
    })
    .await
}

/// Where the fill goes on.
const PASS: StoredPass = StoredPass {
    table: "latest_events_fill",
    column: "below_id",
};

/// A stored event, as the fill reads it.
#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    account_id: String,
    occurred_at_ms: i64,
    dedupe_key: Option<String>,
    kind: String,
    peer_id: Option<String>,
}

impl StoredRow for StoredEvent {
    fn id(&self) -> i64 {
        self.id
    }
}

/// Adds a step's stored events to the list.
async fn fill_step(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    stored: Vec<StoredEvent>,
) -> Result<(), sqlx::Error> {
    let mut latest = LatestEvents::default();
    for stored in stored {
        let key = stored
            .dedupe_key
            .unwrap_or_else(|| format!("event:{}", stored.id));
        let event = LatestEvent {
            at_ms: stored.occurred_at_ms,
            key,
            kind: stored.kind,
            customer: stored.peer_id,
        };
        latest.take(&stored.account_id, event);
    }
    write(tx, backend, &latest).await
}

/// `account`'s newest [`LISTED`] events, newest first.
pub(super) async fn read(
    reader: &mut sqlx::AnyConnection,
    account: &str,
) -> Result<Vec<LatestEvent>, sqlx::Error> {
    let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT at_ms, dedupe_key, kind, peer_id FROM latest_events WHERE account_id = $1
         ORDER BY at_ms DESC, dedupe_key DESC LIMIT $2",
    )
    .bind(account)
    .bind(LISTED as i64)
    .fetch_all(reader)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at_ms, key, kind, customer)| LatestEvent {
            at_ms,
            key,
            kind,
            customer,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn event(account: &str, at_ms: i64) -> WebhookEvent {
        WebhookEvent {
            dedupe_key: format!("read:{account}:{at_ms}"),
            kind: EventKind::Read,
            account_id: account.into(),
            peer_id: Some("customer".into()),
            occurred_at_ms: at_ms,
            raw: "{}".into(),
            error: None,
        }
    }

    #[test]
    fn a_transaction_keeps_each_accounts_newest() {
        let mut latest = LatestEvents::default();
        // Out of order, and more than a transaction keeps before trimming.
        for at in (0..100).map(|i| (i * 37) % 100) {
            latest.add(&event("busy", at));
        }
        latest.add(&event("quiet", 5));
        let rows = latest.rows();
        assert_eq!(rows.len(), LISTED + 1);
        let busy: Vec<i64> = rows
            .iter()
            .filter(|(account, _)| *account == "busy")
            .map(|(_, event)| event.at_ms)
            .collect();
        assert_eq!(busy, (80..100).rev().collect::<Vec<_>>());
    }
}
