//! The write path: a group of deliveries stored in one transaction, with the
//! aggregates, conversations and account activity they change; refused
//! requests counted per minute.
//!
//! Postgres saves round trips where SQLite cannot: one statement for every
//! aggregate row of a transaction ([`POSTGRES_AGGREGATES`]; SQLite has no
//! data-modifying `WITH`) and the conversations' advisory locks
//! (`conversations::record`; SQLite has one writer).

use std::collections::BTreeMap;

use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use super::{
    account_conversation_sketches::{self, AccountSketchDelta, ChangedSketches},
    account_history::{self, AccountHistoryDelta},
    business_accounts::{self, ActivityDelta},
    conversation_sketches::{self, SketchDelta},
    conversations::{self, ConversationKey},
    history::{self, HistoryDelta, QUARTER_MS},
    latest_events::{self, LatestEvents},
    replies::Dm,
    slots::Slot,
    sql::{floor, from_json_row, json_rows, placeholders, version_on, ROWS_PER_UPSERT},
    transaction, Backend, IngestOutcome, DAY_MS, MINUTE_MS,
};
use crate::event::{EventKind, Metric, Rejection, WebhookEvent};

/// The aggregate changes of one transaction, summed in memory so that each
/// aggregate row is written once per transaction, however large the batch.
#[derive(Default)]
struct AggregateDelta {
    totals: BTreeMap<Metric, i64>,
    days: BTreeMap<(i64, Metric), i64>,
    minutes: BTreeMap<(i64, Metric), i64>,
    /// Per (account, UTC quarter-hour, metric), for the accounts' history.
    account_metric_quarters: BTreeMap<(String, i64, Metric), i64>,
    conversations: BTreeMap<ConversationKey, Vec<Dm>>,
    accounts: BTreeMap<String, i64>,
    last_event_at_ms: Option<i64>,
    activity: ActivityDelta,
    latest: LatestEvents,
}

impl AggregateDelta {
    fn count(&mut self, event: &WebhookEvent) {
        let at = event.occurred_at_ms;
        self.latest.add(event);
        for &metric in event.kind.metrics() {
            *self.totals.entry(metric).or_default() += 1;
            *self.days.entry((floor(at, DAY_MS), metric)).or_default() += 1;
            *self
                .minutes
                .entry((floor(at, MINUTE_MS), metric))
                .or_default() += 1;
            *self
                .account_metric_quarters
                .entry((event.account_id.clone(), floor(at, QUARTER_MS), metric))
                .or_default() += 1;
        }
        if !event.kind.is_modelled() {
            return;
        }
        self.activity.count(event);
        if let (true, Some(peer)) = (event.kind.is_dm(), &event.peer_id) {
            self.conversations
                .entry((event.account_id.clone(), peer.clone()))
                .or_default()
                .push(Dm {
                    at_ms: at,
                    sent: event.kind == EventKind::DmSent,
                });
        }
        let first = self.accounts.entry(event.account_id.clone()).or_insert(at);
        *first = (*first).min(at);
        if !event.kind.metrics().is_empty() {
            self.last_event_at_ms = Some(self.last_event_at_ms.map_or(at, |last| last.max(at)));
        }
    }
}

/// One webhook delivery waiting to be stored.
pub(super) struct Received<'a> {
    pub events: &'a [WebhookEvent],
    pub received_at_ms: i64,
}

/// Stores several deliveries and their aggregates in ONE transaction on
/// `connection` (group commit: one fsync for all of them), adding to
/// `slot`'s aggregate rows. Returns one outcome per
/// delivery, in order; all share the version the commit leaves.
pub(super) async fn ingest(
    connection: &mut AnyConnection,
    backend: Backend,
    slot: Slot,
    deliveries: &[Received<'_>],
) -> Result<Vec<IngestOutcome>, sqlx::Error> {
    // Inserting in key order means two concurrent transactions (two nodes)
    // take the unique-index locks in the same order and cannot deadlock.
    let mut ordered: Vec<(usize, &WebhookEvent)> = deliveries
        .iter()
        .enumerate()
        .flat_map(|(index, delivery)| delivery.events.iter().map(move |event| (index, event)))
        .collect();
    ordered.sort_by(|a, b| a.1.dedupe_key.cmp(&b.1.dedupe_key));

    let mut tx = transaction::begin(connection).await?;
    let written = write_group(&mut tx, backend, slot, deliveries, &ordered).await;
    let mut outcomes = transaction::end(tx, written).await?;
    // The store version is the sum of the slots' versions, read after the
    // commit: this commit added at least 1 to its slot and no slot ever goes
    // down, so every read that does not see this commit sums to less than
    // this read, and every snapshot whose version is at least this one
    // contains this delivery. (Read inside the transaction, the sum could
    // miss a slot that commits in between and be reached without it.)
    let version = version_on(connection).await?;
    for outcome in &mut outcomes {
        outcome.version = version;
    }
    Ok(outcomes)
}

/// The statements of [`ingest`]'s transaction: the events of `ordered` (in
/// key order), then the aggregates of those that were new.
async fn write_group(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    deliveries: &[Received<'_>],
    ordered: &[(usize, &WebhookEvent)],
) -> Result<Vec<IngestOutcome>, sqlx::Error> {
    let mut outcomes = vec![IngestOutcome::default(); deliveries.len()];
    let mut delta = AggregateDelta::default();
    for chunk in ordered.chunks(EVENTS_PER_INSERT) {
        let inserted = insert_events(tx, backend, deliveries, chunk).await?;
        let mut previous_key: Option<&str> = None;
        for (index, event) in chunk {
            // Equal keys are adjacent (sorted); only the first can be the new row.
            let first_of_key = previous_key != Some(event.dedupe_key.as_str());
            previous_key = Some(&event.dedupe_key);
            let outcome = &mut outcomes[*index];
            if first_of_key && inserted.contains(event.dedupe_key.as_str()) {
                outcome.stored += 1;
                *outcome
                    .stored_by_kind
                    .entry(event.kind.label())
                    .or_default() += 1;
                delta.count(event);
            } else {
                outcome.duplicates += 1;
            }
        }
    }
    let changed = outcomes.iter().any(IngestOutcome::changed);
    let last_received_at_ms = deliveries
        .iter()
        .map(|delivery| delivery.received_at_ms)
        .max()
        .unwrap_or_default();
    apply(tx, backend, slot, &delta, changed, last_received_at_ms).await?;
    Ok(outcomes)
}

/// Events written by one `INSERT` statement: 8 parameters each stays well
/// under SQLite's 32,766 and Postgres's 65,535 parameter limits.
const EVENTS_PER_INSERT: usize = 500;

/// Inserts `chunk` with one multi-row statement; returns the natural keys of
/// the rows that were new (a key already stored is skipped by the unique
/// index). (As one JSON parameter on Postgres, like the aggregate rows, it
/// measured no faster for single events and 5–10 % slower for batches.)
async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    deliveries: &[Received<'_>],
    chunk: &[(usize, &WebhookEvent)],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    // SQLite hands each row of a result from its thread with a wake-up, so
    // there the new keys are not returned row by row: when every row was
    // added (the usual case) they are the chunk's keys, and otherwise they
    // are read back as one row (below).
    let returning = match backend {
        Backend::Postgres => " RETURNING dedupe_key",
        Backend::Sqlite => "",
    };
    let statement = format!(
        "INSERT INTO events
             (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw, error)
         VALUES {} ON CONFLICT (dedupe_key) DO NOTHING{returning}",
        placeholders(backend, chunk.len(), 8)
    );
    let mut query = sqlx::query(&statement);
    for (index, event) in chunk {
        query = query
            .bind(event.kind.as_str())
            .bind(&event.dedupe_key)
            .bind(&event.account_id)
            .bind(&event.peer_id)
            .bind(event.occurred_at_ms)
            .bind(deliveries[*index].received_at_ms)
            .bind(&event.raw)
            .bind(&event.error);
    }
    if backend == Backend::Postgres {
        let rows = query.fetch_all(&mut **tx).await?;
        return rows.iter().map(|row| row.try_get::<String, _>(0)).collect();
    }
    let added = query.execute(&mut **tx).await?.rows_affected();
    if added == chunk.len() as u64 {
        return Ok(chunk
            .iter()
            .map(|(_, event)| event.dedupe_key.clone())
            .collect());
    }
    // The one writer's new rows took the rowids after the largest there was,
    // one by one: the last `changes()` rowids up to `last_insert_rowid()`.
    let (keys,): (String,) = sqlx::query_as(
        "SELECT json_group_array(dedupe_key) FROM events
         WHERE id > last_insert_rowid() - changes() AND id <= last_insert_rowid()",
    )
    .fetch_one(&mut **tx)
    .await?;
    let keys: Vec<String> = from_json_row(&keys)?;
    if keys.len() as u64 != added {
        return Err(sqlx::Error::Protocol(format!(
            "{added} events added but {} found by their rowids",
            keys.len()
        )));
    }
    Ok(keys.into_iter().collect())
}

/// Adds refused webhook requests to their minutes' counts and to the
/// history, in one transaction: `(minute_ms, reason, count)` rows, each
/// (minute, reason) once.
pub(super) async fn record_rejections(
    writer: &AnyPool,
    backend: Backend,
    counts: &[(i64, Rejection, i64)],
) -> Result<(), sqlx::Error> {
    if counts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO webhook_rejections (minute_ms, reason, count) VALUES {}
         ON CONFLICT (minute_ms, reason)
         DO UPDATE SET count = webhook_rejections.count + excluded.count",
        placeholders(backend, counts.len(), 3)
    );
    let mut connection = writer.acquire().await?;
    let mut tx = transaction::begin(&mut connection).await?;
    let written = async {
        let mut query = sqlx::query(&sql);
        for (minute_ms, rejection, count) in counts {
            query = query
                .bind(floor(*minute_ms, MINUTE_MS))
                .bind(rejection.as_str())
                .bind(*count);
        }
        query.execute(&mut *tx).await?;
        history::write_refused(&mut tx, backend, counts).await
    }
    .await;
    transaction::end(tx, written).await
}

/// Writes one transaction's conversations and aggregate changes (to
/// `slot`'s rows); bumps the slot's version when something new was stored,
/// and records the delivery as accepted.
async fn apply(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    delta: &AggregateDelta,
    changed: bool,
    received_at_ms: i64,
) -> Result<(), sqlx::Error> {
    let changes = conversations::record(tx, backend, &delta.conversations).await?;
    let history = history_of(delta, &changes);
    let account_history = account_history_of(delta, &changes);
    let dms = conversation_sketches::marked_dms(&delta.conversations);
    let sketches = SketchDelta::of(&dms);
    let account_sketches = AccountSketchDelta::of(&dms, |_| QUARTER_MS);
    let totals = SlotTotals {
        slot,
        version_change: i64::from(changed),
        last_event_at_ms: delta.last_event_at_ms,
        last_accepted_at_ms: received_at_ms,
    };
    match backend {
        Backend::Postgres => {
            let account_sketches =
                account_conversation_sketches::changed(tx, backend, slot, &account_sketches)
                    .await?;
            let histories = (&history, &account_history, &sketches, &account_sketches);
            write_aggregates_postgres(tx, delta, &changes, histories, &totals).await
        }
        Backend::Sqlite => {
            write_aggregates_sqlite(tx, delta, &changes, &totals).await?;
            history::write(tx, slot, &history).await?;
            account_history::write(tx, backend, slot, &account_history).await?;
            latest_events::write(tx, backend, &delta.latest).await?;
            conversation_sketches::write(tx, backend, slot, &sketches).await?;
            account_conversation_sketches::write(tx, backend, slot, &account_sketches).await
        }
    }
}

/// The history rows a transaction changes: its metrics' minutes and the
/// replies its DMs counted or took back.
fn history_of(delta: &AggregateDelta, changes: &conversations::Changes) -> HistoryDelta {
    let mut history = HistoryDelta::default();
    for ((minute_ms, metric), count) in &delta.minutes {
        history.add(*minute_ms, history::Figure::Metric(*metric), *count);
    }
    for ((minute_ms, bucket), change) in changes.reply_minutes() {
        history.add(*minute_ms, history::Figure::Reply(*bucket), *change);
    }
    history
}

/// The account history rows a transaction changes: its accounts' metrics
/// and the replies its DMs counted or took back, by account.
fn account_history_of(
    delta: &AggregateDelta,
    changes: &conversations::Changes,
) -> AccountHistoryDelta {
    let mut history = AccountHistoryDelta::default();
    for ((account, quarter_ms, metric), count) in &delta.account_metric_quarters {
        history.add(
            account,
            *quarter_ms,
            history::Figure::Metric(*metric),
            *count,
        );
    }
    for ((account, minute_ms, bucket), change) in changes.account_reply_minutes() {
        history.add(
            account,
            *minute_ms,
            history::Figure::Reply(*bucket),
            *change,
        );
    }
    history
}

/// What a transaction adds to its slot's `store_slots` row (besides the new
/// accounts it counts).
struct SlotTotals {
    slot: Slot,
    version_change: i64,
    last_event_at_ms: Option<i64>,
    last_accepted_at_ms: i64,
}

/// How a transaction's figures merge into its slot's `store_slots` row (the
/// end of both engines' upserts of that row): versions and accounts add up,
/// the newest times are kept.
macro_rules! store_slots_merge {
    () => {
        "ON CONFLICT (slot) DO UPDATE SET
         version = store_slots.version + excluded.version,
         accounts = store_slots.accounts + excluded.accounts,
         last_event_at_ms = CASE
             WHEN excluded.last_event_at_ms IS NULL THEN store_slots.last_event_at_ms
             WHEN store_slots.last_event_at_ms IS NULL
               OR excluded.last_event_at_ms > store_slots.last_event_at_ms
             THEN excluded.last_event_at_ms
             ELSE store_slots.last_event_at_ms END,
         last_accepted_at_ms = CASE
             WHEN store_slots.last_accepted_at_ms IS NULL
               OR excluded.last_accepted_at_ms > store_slots.last_accepted_at_ms
             THEN excluded.last_accepted_at_ms
             ELSE store_slots.last_accepted_at_ms END"
    };
}

/// The upsert of a slot's `store_slots` row (SQLite): `$1` slot, `$2`
/// version change, `$3` new accounts, `$4` newest event, `$5` accepted at;
/// returns the slot's new version.
const STORE_SLOTS_UPSERT: &str = concat!(
    "INSERT INTO store_slots (slot, version, accounts, last_event_at_ms, last_accepted_at_ms)
     VALUES ($1, $2, $3, $4, $5) ",
    store_slots_merge!(),
    " RETURNING version"
);

/// Every aggregate row of a transaction on SQLite (in-process, so a
/// statement costs no round trip): one multi-row upsert per table.
async fn write_aggregates_sqlite(
    tx: &mut Transaction<'_, Any>,
    delta: &AggregateDelta,
    changes: &conversations::Changes,
    totals: &SlotTotals,
) -> Result<(), sqlx::Error> {
    let slot = totals.slot;
    let metric_totals: Vec<_> = delta.totals.iter().collect();
    if !metric_totals.is_empty() {
        let statement = format!(
            "INSERT INTO metric_totals (metric, slot, count) VALUES {}
             ON CONFLICT (metric, slot) DO UPDATE SET count = metric_totals.count + excluded.count",
            placeholders(Backend::Sqlite, metric_totals.len(), 3)
        );
        let mut query = sqlx::query(&statement);
        for (metric, count) in metric_totals {
            query = query.bind(metric.as_str()).bind(slot.0).bind(*count);
        }
        query.execute(&mut **tx).await?;
    }
    for (table, key_column, rows) in [
        ("metric_days", "day_ms", &delta.days),
        ("metric_minutes", "minute_ms", &delta.minutes),
    ] {
        let rows: Vec<_> = rows.iter().collect();
        for chunk in rows.chunks(ROWS_PER_UPSERT) {
            let statement = format!(
                "INSERT INTO {table} ({key_column}, metric, slot, count) VALUES {}
                 ON CONFLICT ({key_column}, metric, slot)
                 DO UPDATE SET count = {table}.count + excluded.count",
                placeholders(Backend::Sqlite, chunk.len(), 4)
            );
            let mut query = sqlx::query(&statement);
            for ((key, metric), count) in chunk {
                query = query
                    .bind(*key)
                    .bind(metric.as_str())
                    .bind(slot.0)
                    .bind(**count);
            }
            query.execute(&mut **tx).await?;
        }
    }
    conversations::write_changes(tx, slot, changes).await?;
    let accounts: Vec<_> = delta.accounts.iter().collect();
    let mut new_accounts = 0;
    for chunk in accounts.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO accounts (account_id, first_seen_at_ms) VALUES {}
             ON CONFLICT (account_id) DO NOTHING",
            placeholders(Backend::Sqlite, chunk.len(), 2)
        );
        let mut query = sqlx::query(&statement);
        for (account_id, first_seen_at_ms) in chunk {
            query = query.bind(*account_id).bind(**first_seen_at_ms);
        }
        new_accounts += query.execute(&mut **tx).await?.rows_affected() as i64;
    }
    // The slot's version once this transaction commits marks the accounts it touched.
    let (version,): (i64,) = sqlx::query_as(STORE_SLOTS_UPSERT)
        .bind(slot.0)
        .bind(totals.version_change)
        .bind(new_accounts)
        .bind(totals.last_event_at_ms)
        .bind(totals.last_accepted_at_ms)
        .fetch_one(&mut **tx)
        .await?;
    business_accounts::record(tx, slot, version, &delta.activity).await?;
    Ok(())
}

/// Every aggregate row of a transaction on Postgres, the new state of the
/// conversations it touched (locked already) and the DMs it appended to
/// their chains, in ONE statement (one round
/// trip, however many tables and rows): each table's rows travel as
/// one JSON parameter read by `json_to_recordset`, so the statement's text
/// never changes and is prepared once per connection. Every row is the
/// slot's own except the new accounts (inserted in key order).
const POSTGRES_AGGREGATES_TEMPLATE: &str = concat!(
    "WITH
 metric_total_rows AS (
     INSERT INTO metric_totals (metric, slot, count)
     SELECT r.metric, $1, r.count FROM json_to_recordset($5::json) AS r (metric TEXT, count BIGINT)
     ON CONFLICT (metric, slot) DO UPDATE SET count = metric_totals.count + excluded.count),
 metric_day_rows AS (
     INSERT INTO metric_days (day_ms, metric, slot, count)
     SELECT r.day_ms, r.metric, $1, r.count
     FROM json_to_recordset($6::json) AS r (day_ms BIGINT, metric TEXT, count BIGINT)
     ON CONFLICT (day_ms, metric, slot) DO UPDATE SET count = metric_days.count + excluded.count),
 metric_minute_rows AS (
     INSERT INTO metric_minutes (minute_ms, metric, slot, count)
     SELECT r.minute_ms, r.metric, $1, r.count
     FROM json_to_recordset($7::json) AS r (minute_ms BIGINT, metric TEXT, count BIGINT)
     ON CONFLICT (minute_ms, metric, slot)
     DO UPDATE SET count = metric_minutes.count + excluded.count),
 active_rows AS (
     INSERT INTO conversation_minutes (minute_ms, slot, count)
     SELECT r.minute_ms, $1, r.count FROM json_to_recordset($8::json) AS r (minute_ms BIGINT, count BIGINT)
     ON CONFLICT (minute_ms, slot) DO UPDATE SET count = conversation_minutes.count + excluded.count),
 waiting_rows AS (
     INSERT INTO waiting_minutes (last_minute_ms, since_minute_ms, slot, count)
     SELECT r.last_minute_ms, r.since_minute_ms, $1, r.count
     FROM json_to_recordset($9::json) AS r (last_minute_ms BIGINT, since_minute_ms BIGINT, count BIGINT)
     ON CONFLICT (last_minute_ms, since_minute_ms, slot)
     DO UPDATE SET count = waiting_minutes.count + excluded.count),
 reply_rows AS (
     INSERT INTO reply_minutes (minute_ms, bucket, slot, count)
     SELECT r.minute_ms, r.bucket, $1, r.count
     FROM json_to_recordset($10::json) AS r (minute_ms BIGINT, bucket BIGINT, count BIGINT)
     ON CONFLICT (minute_ms, bucket, slot) DO UPDATE SET count = reply_minutes.count + excluded.count),
 account_waiting_rows AS (
     INSERT INTO account_waiting_minutes (account_id, minute_ms, slot, count)
     SELECT r.account_id, r.minute_ms, $1, r.count
     FROM json_to_recordset($11::json) AS r (account_id TEXT, minute_ms BIGINT, count BIGINT)
     ON CONFLICT (account_id, minute_ms, slot)
     DO UPDATE SET count = account_waiting_minutes.count + excluded.count),
 account_reply_rows AS (
     INSERT INTO account_reply_minutes (account_id, minute_ms, bucket, slot, count)
     SELECT r.account_id, r.minute_ms, r.bucket, $1, r.count
     FROM json_to_recordset($12::json) AS r (account_id TEXT, minute_ms BIGINT, bucket BIGINT, count BIGINT)
     ON CONFLICT (account_id, minute_ms, bucket, slot)
     DO UPDATE SET count = account_reply_minutes.count + excluded.count),
 conversation_rows AS (
     INSERT INTO conversations
         (account_id, peer_id, last_dm_at_ms, last_dm_sent, waiting_since_ms, last_dm_id)
     SELECT r.account_id, r.peer_id, r.last_dm_at_ms, r.last_dm_sent, r.waiting_since_ms,
            r.last_dm_id
     FROM json_to_recordset($17::json)
         AS r (account_id TEXT, peer_id TEXT, last_dm_at_ms BIGINT, last_dm_sent INTEGER,
               waiting_since_ms BIGINT, last_dm_id BIGINT)
     ON CONFLICT (account_id, peer_id) DO UPDATE SET
         last_dm_at_ms = excluded.last_dm_at_ms,
         last_dm_sent = excluded.last_dm_sent,
         waiting_since_ms = excluded.waiting_since_ms,
         last_dm_id = excluded.last_dm_id),
 chained_dm_rows AS (
     INSERT INTO conversation_dms (id, previous_id, at_ms, sent, latest_at_ms)
     SELECT r.id, r.previous_id, r.at_ms, r.sent, r.latest_at_ms
     FROM json_to_recordset($18::json)
         AS r (id BIGINT, previous_id BIGINT, at_ms BIGINT, sent INTEGER, latest_at_ms BIGINT)),
 new_accounts AS (
     INSERT INTO accounts (account_id, first_seen_at_ms)
     SELECT r.account_id, r.first_seen_at_ms
     FROM json_to_recordset($13::json) AS r (account_id TEXT, first_seen_at_ms BIGINT)
     ORDER BY r.account_id
     ON CONFLICT (account_id) DO NOTHING
     RETURNING 1),
 account_day_rows AS (
     INSERT INTO account_days (account_id, day_ms, slot, received, sent)
     SELECT r.account_id, r.day_ms, $1, r.received, r.sent
     FROM json_to_recordset($14::json) AS r (account_id TEXT, day_ms BIGINT, received BIGINT, sent BIGINT)
     ON CONFLICT (account_id, day_ms, slot) DO UPDATE SET
         received = account_days.received + excluded.received,
         sent = account_days.sent + excluded.sent),
 account_hour_rows AS (
     INSERT INTO account_hours (account_id, hour_ms, slot, events)
     SELECT r.account_id, r.hour_ms, $1, r.events
     FROM json_to_recordset($15::json) AS r (account_id TEXT, hour_ms BIGINT, events BIGINT)
     ON CONFLICT (account_id, hour_ms, slot) DO UPDATE SET events = account_hours.events + excluded.events),
{history}
 last_event_rows AS (
     INSERT INTO account_last_events (account_id, slot, last_event_at_ms, version)
     SELECT r.account_id, $1, r.last_event_at_ms,
            COALESCE((SELECT version FROM store_slots WHERE slot = $1), 0) + $2
     FROM json_to_recordset($16::json) AS r (account_id TEXT, last_event_at_ms BIGINT)
     ON CONFLICT (account_id, slot) DO UPDATE SET last_event_at_ms = CASE
         WHEN excluded.last_event_at_ms > account_last_events.last_event_at_ms
         THEN excluded.last_event_at_ms ELSE account_last_events.last_event_at_ms END,
         version = excluded.version)
INSERT INTO store_slots (slot, version, accounts, last_event_at_ms, last_accepted_at_ms)
VALUES ($1, $2, (SELECT count(*) FROM new_accounts), $3, $4) ",
    store_slots_merge!()
);

/// [`POSTGRES_AGGREGATES_TEMPLATE`] with the history's rows (`$19`), the
/// accounts' history rows (`$20`), whose statements are made from their
/// columns (`history::postgres_upsert`, `account_history::postgres_upsert`),
/// the accounts' latest events (`$21`), the conversations' sketches
/// (`$22`) and the accounts' conversation sketches that change (`$23`).
static POSTGRES_AGGREGATES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    POSTGRES_AGGREGATES_TEMPLATE.replace(
        "{history}",
        &format!(
            " history_rows AS ({}),\n account_history_rows AS ({}),\n latest_event_rows AS ({}),\n sketch_rows AS ({}),\n account_sketch_rows AS ({}),",
            history::postgres_upsert("$19"),
            account_history::postgres_upsert("$20"),
            latest_events::postgres_insert("$21"),
            conversation_sketches::postgres_upsert("$22"),
            account_conversation_sketches::postgres_upsert("$23")
        ),
    )
});

/// [`POSTGRES_AGGREGATES`] with this transaction's rows.
async fn write_aggregates_postgres(
    tx: &mut Transaction<'_, Any>,
    delta: &AggregateDelta,
    changes: &conversations::Changes,
    (history, account_history, sketches, account_sketches): (
        &HistoryDelta,
        &AccountHistoryDelta,
        &SketchDelta,
        &ChangedSketches,
    ),
    totals: &SlotTotals,
) -> Result<(), sqlx::Error> {
    use serde_json::json;
    let metric_totals = json_rows(
        delta
            .totals
            .iter()
            .map(|(metric, count)| json!({"metric": metric.as_str(), "count": count}))
            .collect(),
    );
    let metric_days = json_rows(delta
        .days
        .iter()
        .map(|((day, metric), count)| json!({"day_ms": day, "metric": metric.as_str(), "count": count}))
        .collect());
    let metric_minutes = json_rows(delta
        .minutes
        .iter()
        .map(|((minute, metric), count)| {
            json!({"minute_ms": minute, "metric": metric.as_str(), "count": count})
        })
        .collect());
    let [active, waiting, replies, account_waiting, account_replies, states, chained] =
        changes.postgres_rows();
    let accounts = json_rows(delta
        .accounts
        .iter()
        .map(|(account, first_seen)| json!({"account_id": account, "first_seen_at_ms": first_seen}))
        .collect());
    let [days, hours, last_events] = delta.activity.postgres_rows();
    sqlx::query(&POSTGRES_AGGREGATES)
        .bind(totals.slot.0)
        .bind(totals.version_change)
        .bind(totals.last_event_at_ms)
        .bind(totals.last_accepted_at_ms)
        .bind(metric_totals)
        .bind(metric_days)
        .bind(metric_minutes)
        .bind(active)
        .bind(waiting)
        .bind(replies)
        .bind(account_waiting)
        .bind(account_replies)
        .bind(accounts)
        .bind(days)
        .bind(hours)
        .bind(last_events)
        .bind(states)
        .bind(chained)
        .bind(history.postgres_rows())
        .bind(account_history.postgres_rows())
        .bind(delta.latest.postgres_rows())
        .bind(sketches.postgres_rows())
        .bind(account_sketches.postgres_rows())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
