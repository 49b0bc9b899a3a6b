//! What each business account did: DMs per day, counted events per hour and
//! the newest event, kept at ingestion; and the accounts page read from them
//! (with the waiting and reply rows `conversations` keeps per account).

use std::collections::{BTreeMap, HashMap};

use sqlx::{Any, AnyPool, Transaction};

use super::{
    account_figures::{self, AccountFigures, Figure, PageOf, Today, Windows},
    account_history::Precision,
    latest_events,
    slots::Slot,
    sql::{self, floor, json_rows, placeholders, ROWS_PER_UPSERT},
    transaction, Backend, Thresholds, DAY_MS,
};
use crate::event::{EventKind, WebhookEvent};

/// One hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;

/// The order of a page of accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountOrder {
    /// By account id.
    Id,
    /// By the newest counted event; accounts without one come after, by id.
    LastEvent,
    /// By a figure the node keeps ordered (ties by account id).
    Figure(Figure),
}

/// Which accounts a page shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Only accounts whose id contains this text.
    pub filter: String,
    /// How they are ordered.
    pub order: AccountOrder,
    /// Largest (or Z) first.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows at most.
    pub limit: usize,
    /// The day DMs "today" are counted in.
    pub today: Today,
}

/// One account as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The Instagram account id.
    pub account_id: String,
    /// DMs received today (in the asked [`Today`]).
    pub received_today: i64,
    /// DMs sent today.
    pub sent_today: i64,
    /// Conversations waiting for a reply (latest DM received, in the last 24 h).
    pub waiting: i64,
    /// Median reply time over the last hour, in ms.
    pub median_reply_ms: Option<i64>,
    /// The newest counted event (event time, Unix ms).
    pub last_event_at_ms: Option<i64>,
    /// Busy in the previous 24 h and quiet since (by the thresholds).
    pub silent: bool,
    /// The display name an admin gave it.
    pub name: Option<String>,
}

/// One account for its page, read from one consistent view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountDetail {
    /// The store version it was read at.
    pub version: i64,
    pub record: AccountRecord,
    /// Counted events per UTC hour (start, events) over the previous 24
    /// hours, oldest first; hours without events left out.
    pub hours: Vec<(i64, i64)>,
    /// Its conversations waiting for a reply (customer, waiting since),
    /// oldest first, at most [`WAITING_LISTED`].
    pub waiting: Vec<(String, i64)>,
    /// Its newest events by event time, newest first, at most
    /// [`latest_events::LISTED`].
    pub latest: Vec<latest_events::LatestEvent>,
}

/// How many of an account's waiting conversations its page lists.
pub const WAITING_LISTED: i64 = 50;

/// The rows of one page of accounts, read from one consistent view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecords {
    /// The store version they were read at.
    pub version: i64,
    /// Accounts the filter matches.
    pub total: i64,
    /// The page's accounts in the asked order.
    pub rows: Vec<AccountRecord>,
}

/// The account changes of one transaction, summed per row.
#[derive(Default)]
pub(super) struct ActivityDelta {
    /// (received, sent) DMs per (account, UTC day).
    days: BTreeMap<(String, i64), (i64, i64)>,
    /// Counted events per (account, UTC hour).
    hours: BTreeMap<(String, i64), i64>,
    /// The newest counted event per account.
    latest: BTreeMap<String, i64>,
}

impl ActivityDelta {
    /// Counts a new event (modelled events that count, as `last_event_at_ms`).
    pub(super) fn count(&mut self, event: &WebhookEvent) {
        if !event.kind.is_modelled() || event.kind.metrics().is_empty() {
            return;
        }
        let (account, at) = (&event.account_id, event.occurred_at_ms);
        if event.kind.is_dm() {
            let day = self
                .days
                .entry((account.clone(), floor(at, DAY_MS)))
                .or_default();
            if event.kind == EventKind::DmSent {
                day.1 += 1;
            } else {
                day.0 += 1;
            }
        }
        *self
            .hours
            .entry((account.clone(), floor(at, HOUR_MS)))
            .or_default() += 1;
        let latest = self.latest.entry(account.clone()).or_insert(at);
        *latest = (*latest).max(at);
    }
}

impl ActivityDelta {
    /// The rows as JSON arrays of objects for Postgres's `json_to_recordset`:
    /// (days, hours, newest events).
    pub(super) fn postgres_rows(&self) -> [String; 3] {
        use serde_json::json;
        [
            json_rows(self
                .days
                .iter()
                .map(|((account, day), (received, sent))| {
                    json!({"account_id": account, "day_ms": day, "received": received, "sent": sent})
                })
                .collect()),
            json_rows(self
                .hours
                .iter()
                .map(|((account, hour), events)| {
                    json!({"account_id": account, "hour_ms": hour, "events": events})
                })
                .collect()),
            json_rows(self
                .latest
                .iter()
                .map(|(account, at)| json!({"account_id": account, "last_event_at_ms": at}))
                .collect()),
        ]
    }
}

/// Writes one transaction's account changes to `slot`'s rows (after the
/// accounts rows exist), marking each account touched with `version`, the
/// slot's version once this transaction commits (see `account_figures`). No
/// other writer writes these rows meanwhile, so nothing here waits for
/// another transaction.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    slot: Slot,
    version: i64,
    delta: &ActivityDelta,
) -> Result<(), sqlx::Error> {
    let days: Vec<_> = delta.days.iter().collect();
    for chunk in days.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO account_days (account_id, day_ms, slot, received, sent) VALUES {}
             ON CONFLICT (account_id, day_ms, slot) DO UPDATE SET
                 received = account_days.received + excluded.received,
                 sent = account_days.sent + excluded.sent",
            placeholders(Backend::Sqlite, chunk.len(), 5)
        );
        let mut query = sqlx::query(&statement);
        for ((account, day), (received, sent)) in chunk {
            query = query
                .bind(account)
                .bind(*day)
                .bind(slot.0)
                .bind(*received)
                .bind(*sent);
        }
        query.execute(&mut **tx).await?;
    }
    let hours: Vec<_> = delta.hours.iter().collect();
    for chunk in hours.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO account_hours (account_id, hour_ms, slot, events) VALUES {}
             ON CONFLICT (account_id, hour_ms, slot) DO UPDATE SET
                 events = account_hours.events + excluded.events",
            placeholders(Backend::Sqlite, chunk.len(), 4)
        );
        let mut query = sqlx::query(&statement);
        for ((account, hour), events) in chunk {
            query = query.bind(account).bind(*hour).bind(slot.0).bind(**events);
        }
        query.execute(&mut **tx).await?;
    }
    let latest: Vec<_> = delta.latest.iter().collect();
    for chunk in latest.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO account_last_events (account_id, slot, last_event_at_ms, version)
             VALUES {}
             ON CONFLICT (account_id, slot) DO UPDATE SET last_event_at_ms = CASE
                 WHEN excluded.last_event_at_ms > account_last_events.last_event_at_ms
                 THEN excluded.last_event_at_ms ELSE account_last_events.last_event_at_ms END,
                 version = excluded.version",
            placeholders(Backend::Sqlite, chunk.len(), 4)
        );
        let mut query = sqlx::query(&statement);
        for (account, at) in chunk {
            query = query.bind(*account).bind(slot.0).bind(**at).bind(version);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Deletes the per-account rows no window reaches any more at `now_ms`, with
/// an hour to spare: reply rows older than two hours, waiting and hourly rows
/// older than 26 hours, daily rows before yesterday. A late DM may still
/// change a deleted minute; it then leaves a row there that no window reads.
pub(super) async fn purge(writer: &AnyPool, now_ms: i64) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    for (statement, before) in [
        (
            "DELETE FROM account_reply_minutes WHERE minute_ms < $1",
            now_ms - 2 * HOUR_MS,
        ),
        (
            "DELETE FROM account_waiting_minutes WHERE minute_ms < $1",
            now_ms - DAY_MS - 2 * HOUR_MS,
        ),
        (
            "DELETE FROM account_hours WHERE hour_ms < $1",
            now_ms - DAY_MS - 2 * HOUR_MS,
        ),
        (
            "DELETE FROM account_days WHERE day_ms < $1",
            floor(now_ms, DAY_MS) - DAY_MS,
        ),
    ] {
        deleted += sqlx::query(statement)
            .bind(before)
            .execute(writer)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

/// The window of the silence rule at `now_ms`: an account is silent when its
/// newest event is in `[from, quiet_since)` and it had at least
/// `min_events` counted events in the hours from `hours_from` (the previous
/// 24 h, to the hour).
struct Silence {
    from: i64,
    quiet_since: i64,
    hours_from: i64,
    min_events: i64,
}

impl Silence {
    fn at(now_ms: i64, thresholds: &Thresholds) -> Self {
        Silence {
            from: now_ms - DAY_MS,
            quiet_since: now_ms - thresholds.silence_after.as_millis() as i64,
            hours_from: floor(now_ms - DAY_MS, HOUR_MS),
            min_events: thresholds.silence_min_events,
        }
    }
}

/// An account's newest counted event: the latest of its slots' rows.
const LAST_EVENT: &str = "(SELECT max(last_event_at_ms) FROM account_last_events
      WHERE account_last_events.account_id = accounts.account_id)";

/// `<condition on the accounts row>` that says an account is silent, with
/// its four parameters starting at `$first`.
fn silent_condition(first: usize) -> String {
    format!(
        "{LAST_EVENT} >= ${a} AND {LAST_EVENT} < ${b}
         AND (SELECT sum(events) FROM account_hours
              WHERE account_hours.account_id = accounts.account_id
                AND account_hours.hour_ms >= ${c}) >= ${d}",
        a = first,
        b = first + 1,
        c = first + 2,
        d = first + 3
    )
}

/// How many business accounts are silent at `now_ms`. Reads only the slot
/// rows whose newest event falls in the rule's window (an index range), and
/// drops the accounts with a newer row in another slot.
pub(super) async fn silent_count(
    reader: &mut sqlx::AnyConnection,
    now_ms: i64,
    thresholds: &Thresholds,
) -> Result<i64, sqlx::Error> {
    let silence = Silence::at(now_ms, thresholds);
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (
             SELECT DISTINCT quiet.account_id FROM account_last_events AS quiet
             WHERE quiet.last_event_at_ms >= $1 AND quiet.last_event_at_ms < $2
               AND NOT EXISTS (
                   SELECT 1 FROM account_last_events AS newer
                   WHERE newer.account_id = quiet.account_id AND newer.last_event_at_ms >= $2)
               AND (SELECT sum(events) FROM account_hours
                    WHERE account_hours.account_id = quiet.account_id
                      AND account_hours.hour_ms >= $3) >= $4
         ) AS silent",
    )
    .bind(silence.from)
    .bind(silence.quiet_since)
    .bind(silence.hours_from)
    .bind(silence.min_events)
    .fetch_one(reader)
    .await?;
    Ok(count)
}

/// One page of the accounts table at `now_ms`, filtered, sorted and cut:
/// first the page's account ids in the asked order (from the node's ordered
/// `figures`, caught up first, for the orders by a figure; from the accounts
/// or the newest events in the database otherwise), then the figures of those
/// 100 accounts alone, read from the per-account rows, in one consistent view.
pub(super) async fn page(
    figures: &AccountFigures,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    query: &PageRequest,
    thresholds: &Thresholds,
) -> Result<AccountRecords, sqlx::Error> {
    let pattern = format!("%{}%", escape_like(&query.filter));
    let by_figure = ids_by_figure(figures, reader, backend, at, query).await?;
    let mut reader = transaction::begin_read(reader, backend).await?;
    let ids = match by_figure {
        Some(ids) => ids,
        None => page_ids(&mut reader, query, &pattern).await?,
    };
    let total = if query.filter.is_empty() {
        sql::accounts_on(&mut *reader).await?
    } else {
        let (matching,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM accounts WHERE {}",
            matches_filter("accounts.account_id")
        ))
        .bind(&pattern)
        .fetch_one(&mut *reader)
        .await?;
        matching
    };
    let rows = records_in(&mut reader, backend, at, &query.today, ids, thresholds).await?;
    let version = sql::version_on(&mut *reader).await?;
    reader.commit().await?;
    Ok(AccountRecords {
        version,
        total,
        rows,
    })
}

/// Every account `query` matches, in its order (its offset and limit
/// ignored), as of `now_ms`: the ids only, for a caller that reads their
/// rows a chunk at a time ([`records`]).
pub(super) async fn ordered_ids(
    figures: &AccountFigures,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    query: &PageRequest,
) -> Result<Vec<String>, sqlx::Error> {
    let every = PageRequest {
        offset: 0,
        limit: i64::MAX as usize,
        ..query.clone()
    };
    if let Some(ids) = ids_by_figure(figures, reader, backend, at, &every).await? {
        return Ok(ids);
    }
    let pattern = format!("%{}%", escape_like(&query.filter));
    let mut connection = reader.acquire().await?;
    page_ids(&mut connection, &every, &pattern).await
}

/// The rows of the accounts `ids` (in that order; an id no longer stored
/// is left out) at `now_ms`, today counted in `today`, from one consistent
/// view.
pub(super) async fn records(
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    today: &Today,
    ids: Vec<String>,
    thresholds: &Thresholds,
) -> Result<Vec<AccountRecord>, sqlx::Error> {
    let mut reader = transaction::begin_read(reader, backend).await?;
    let rows = records_in(&mut reader, backend, at, today, ids, thresholds).await?;
    reader.commit().await?;
    Ok(rows)
}

/// One account at `now_ms`, for its page: its row (today counted in
/// `today`), and its counted events per UTC hour over the previous 24 hours
/// (oldest first, hours without events left out), from one consistent view;
/// `None` for an id never seen.
pub(super) async fn detail(
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    today: &Today,
    id: &str,
    thresholds: &Thresholds,
) -> Result<Option<AccountDetail>, sqlx::Error> {
    let now_ms = at.now_ms;
    let mut reader = transaction::begin_read(reader, backend).await?;
    let record = records_in(
        &mut reader,
        backend,
        at,
        today,
        vec![id.to_string()],
        thresholds,
    )
    .await?
    .pop();
    let Some(record) = record else {
        reader.commit().await?;
        return Ok(None);
    };
    let hours: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT hour_ms, CAST(SUM(events) AS BIGINT) FROM account_hours
         WHERE account_id = $1 AND hour_ms >= $2 GROUP BY hour_ms ORDER BY hour_ms",
    )
    .bind(id)
    .bind(floor(now_ms - DAY_MS, HOUR_MS))
    .fetch_all(&mut *reader)
    .await?;
    // Through `conversations_waiting`, which holds only waiting ones.
    let waiting: Vec<(String, i64)> = sqlx::query_as(
        "SELECT peer_id, waiting_since_ms FROM conversations
         WHERE account_id = $1 AND waiting_since_ms IS NOT NULL
         ORDER BY waiting_since_ms, peer_id LIMIT $2",
    )
    .bind(id)
    .bind(WAITING_LISTED)
    .fetch_all(&mut *reader)
    .await?;
    let latest = latest_events::read(&mut reader, id).await?;
    let version = sql::version_on(&mut *reader).await?;
    reader.commit().await?;
    Ok(Some(AccountDetail {
        version,
        record,
        hours,
        waiting,
        latest,
    }))
}

/// Whether the business account `id` was ever seen.
pub(super) async fn is_known(pool: &AnyPool, id: &str) -> Result<bool, sqlx::Error> {
    let known: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM accounts WHERE account_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(known.is_some())
}

/// Gives the account `id` the display name `name` (none: it goes back to
/// its id alone) at `now_ms`; false when no such account was ever seen.
pub(super) async fn set_name(
    writer: &AnyPool,
    id: &str,
    name: Option<&str>,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    if !is_known(writer, id).await? {
        return Ok(false);
    }
    let statement = match name {
        Some(name) => sqlx::query(
            "INSERT INTO account_names (account_id, name, set_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, set_at_ms = excluded.set_at_ms",
        )
        .bind(id)
        .bind(name)
        .bind(now_ms),
        None => sqlx::query("DELETE FROM account_names WHERE account_id = $1").bind(id),
    };
    statement.execute(writer).await?;
    Ok(true)
}

/// The ids of a page ordered by a figure, from the node's ordered figures
/// (caught up first); `None` for the orders the database gives.
async fn ids_by_figure(
    figures: &AccountFigures,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    query: &PageRequest,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let AccountOrder::Figure(figure) = query.order else {
        return Ok(None);
    };
    let page = PageOf {
        figure,
        descending: query.descending,
        offset: usize::try_from(query.offset).unwrap_or(usize::MAX),
        limit: query.limit,
    };
    let filter = query.filter.as_str();
    // The accounts whose display name matches, read once for the page.
    let named: std::collections::HashSet<String> = if filter.is_empty() {
        Default::default()
    } else {
        sqlx::query_scalar("SELECT account_id FROM account_names WHERE name LIKE $1 ESCAPE '\\'")
            .bind(format!("%{}%", escape_like(filter)))
            .fetch_all(reader)
            .await?
            .into_iter()
            .collect()
    };
    let ids = figures
        .page_ids(reader, backend, at, &query.today, &page, |id| {
            like_contains(backend, id, filter) || named.contains(id)
        })
        .await?;
    Ok(Some(ids))
}

/// The rows of `ids`, in that order, today counted in `today`, read on
/// `reader` (inside its transaction).
async fn records_in(
    reader: &mut sqlx::AnyConnection,
    backend: Backend,
    at: Precision,
    today: &Today,
    ids: Vec<String>,
    thresholds: &Thresholds,
) -> Result<Vec<AccountRecord>, sqlx::Error> {
    let now_ms = at.now_ms;
    let windows = Windows::at(&at, today);
    let silence = Silence::at(now_ms, thresholds);
    let mut rows = Vec::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(rows);
    }
    let figures = account_figures::read(&mut *reader, backend, &ids, &windows).await?;
    // The page's accounts only: one primary-key lookup or range each.
    let statement = format!(
        "WITH shown (account_id) AS (VALUES {})
         SELECT shown.account_id, {LAST_EVENT}, CAST(CASE WHEN {silent} THEN 1 ELSE 0 END AS BIGINT),
                account_names.name
         FROM shown JOIN accounts ON accounts.account_id = shown.account_id
         LEFT JOIN account_names ON account_names.account_id = shown.account_id",
        placeholders(backend, ids.len(), 1),
        silent = silent_condition(ids.len() + 1),
    );
    let mut details = sqlx::query_as::<_, (String, Option<i64>, i64, Option<String>)>(&statement);
    for id in &ids {
        details = details.bind(id);
    }
    let mut details: HashMap<String, (Option<i64>, i64, Option<String>)> = details
        .bind(silence.from)
        .bind(silence.quiet_since)
        .bind(silence.hours_from)
        .bind(silence.min_events)
        .fetch_all(&mut *reader)
        .await?
        .into_iter()
        .map(|(id, last_event_at_ms, silent, name)| (id, (last_event_at_ms, silent, name)))
        .collect();
    for id in ids {
        let Some((last_event_at_ms, silent, name)) = details.remove(&id) else {
            continue;
        };
        let figures = figures.get(&id).copied().unwrap_or_default();
        rows.push(AccountRecord {
            received_today: figures.received_today,
            sent_today: figures.sent_today,
            waiting: figures.waiting,
            median_reply_ms: figures.median_reply_ms,
            last_event_at_ms,
            silent: silent != 0,
            name,
            account_id: id,
        });
    }
    Ok(rows)
}

/// The ids of one page by account id or by newest event (ties by account
/// id in the asked direction), from the database.
async fn page_ids(
    reader: &mut sqlx::AnyConnection,
    query: &PageRequest,
    pattern: &str,
) -> Result<Vec<String>, sqlx::Error> {
    if query.order == AccountOrder::LastEvent {
        return ids_by_last_event(reader, query, pattern).await;
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    let statement = format!(
        "SELECT account_id FROM accounts WHERE {matching}
         ORDER BY account_id {direction} LIMIT $2 OFFSET $3",
        matching = matches_filter("accounts.account_id"),
    );
    ids_of_page(reader, &statement, pattern, query.offset, query.limit).await
}

/// Whether `id` contains `filter` as the page's `LIKE '%…%'` says on
/// `backend`: SQLite's `LIKE` ignores the case of ASCII letters, Postgres's
/// does not.
fn like_contains(backend: Backend, id: &str, filter: &str) -> bool {
    match backend {
        Backend::Sqlite => id
            .to_ascii_lowercase()
            .contains(&filter.to_ascii_lowercase()),
        Backend::Postgres => id.contains(filter),
    }
}

/// The ids `statement` selects with the filter `$1`, at most `limit` (`$2`)
/// from `offset` (`$3`).
async fn ids_of_page(
    reader: &mut sqlx::AnyConnection,
    statement: &str,
    pattern: &str,
    offset: i64,
    limit: usize,
) -> Result<Vec<String>, sqlx::Error> {
    Ok(sqlx::query_as::<_, (String,)>(statement)
        .bind(pattern)
        .bind(limit as i64)
        .bind(offset)
        .fetch_all(reader)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

/// The ids of one page by newest event: a walk of the newest-event index
/// that keeps each account's newest slot row (about a page of rows read, not
/// every account), then, past the last account with an event, the accounts
/// without one by id.
async fn ids_by_last_event(
    reader: &mut sqlx::AnyConnection,
    query: &PageRequest,
    pattern: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let direction = if query.descending { "DESC" } else { "ASC" };
    let statement = format!(
        "SELECT newest.account_id FROM account_last_events AS newest
         WHERE {matching}
           AND NOT EXISTS (
               SELECT 1 FROM account_last_events AS other
               WHERE other.account_id = newest.account_id
                 AND (other.last_event_at_ms > newest.last_event_at_ms
                      OR (other.last_event_at_ms = newest.last_event_at_ms
                          AND other.slot < newest.slot)))
         ORDER BY newest.last_event_at_ms {direction}, newest.account_id {direction}
         LIMIT $2 OFFSET $3",
        matching = matches_filter("newest.account_id"),
    );
    let mut ids = ids_of_page(&mut *reader, &statement, pattern, query.offset, query.limit).await?;
    if ids.len() >= query.limit {
        return Ok(ids);
    }
    let (with_events,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(DISTINCT account_id) FROM account_last_events WHERE {}",
        matches_filter("account_last_events.account_id")
    ))
    .bind(pattern)
    .fetch_one(&mut *reader)
    .await?;
    let without = ids_of_page(
        reader,
        &format!(
            "SELECT account_id FROM accounts
             WHERE {}
               AND NOT EXISTS (SELECT 1 FROM account_last_events AS any_slot
                               WHERE any_slot.account_id = accounts.account_id)
             ORDER BY account_id LIMIT $2 OFFSET $3",
            matches_filter("accounts.account_id")
        ),
        pattern,
        (query.offset - with_events).max(0),
        query.limit - ids.len(),
    )
    .await?;
    ids.extend(without);
    Ok(ids)
}

/// The condition that the account in `column` matches the filter `$1` (a
/// `LIKE` pattern): by its id, or by the display name an admin gave it.
fn matches_filter(column: &str) -> String {
    format!(
        "({column} LIKE $1 ESCAPE '\\' OR {column} IN
             (SELECT account_id FROM account_names WHERE name LIKE $1 ESCAPE '\\'))"
    )
}

/// `text` for a `LIKE … ESCAPE '\'` pattern: its `%`, `_` and `\` match themselves.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
