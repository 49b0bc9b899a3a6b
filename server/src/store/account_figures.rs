//! The figures the accounts page sorts by (DMs received and sent today,
//! conversations waiting, median reply time over the last hour), one row per
//! business account in `account_figures`, so that a page in any order is an
//! index range cut at 100 rows instead of a sum over every account.
//!
//! The rows are caught up when a page is asked for (only while someone
//! watches it), never by the writers: ingestion stays as it is, apart from
//! marking each account it touches with its slot's version in
//! `account_last_events`. A catch-up recomputes, from the per-account rows,
//! the accounts that
//! - were touched since: their `account_last_events` version is past the one
//!   `account_figures_slots` holds for that slot;
//! - have rows that entered or left a time window since the last catch-up
//!   (`account_figures_clock`): found through the rows' time indexes;
//! - have no figures yet: looked for when the accounts count moved.
//!
//! After half an hour without a catch-up (rows leaving a window may already
//! be purged), or the first time, every account is recomputed.
//!
//! Catch-ups run one at a time (an advisory lock on Postgres; SQLite's one
//! writer connection). Why the version marks miss nothing: a slot's version
//! and its accounts' marks are written by the same transaction, and a slot's
//! transactions commit one after another; so once a catch-up has read a
//! slot's version, every account touched at or below it is visible to its
//! next statement, and any touched later carries a higher version.

use std::collections::{BTreeSet, HashMap};

use sqlx::{AnyConnection, AnyPool};

use super::{
    queries::{floor, placeholders},
    replies, Backend, DAY_MS, MINUTE_MS, SERIES_MINUTES,
};

/// The first key of the advisory lock that serializes catch-ups (Postgres).
const CATCH_UP_LOCK_CLASS: i64 = 0x5055_4c41; // "PULA"
/// Accounts recomputed per statement.
const ACCOUNTS_PER_STATEMENT: usize = 500;
/// After this long without a catch-up every account is recomputed: rows that
/// left a window since may be purged already (the purge keeps an hour).
const REBUILD_AFTER_MS: i64 = 30 * MINUTE_MS;

/// The time windows of the figures at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Windows {
    /// Today's UTC day (DMs received and sent today).
    pub today: i64,
    /// Waiting conversations are those waiting since a minute after this
    /// (Instagram's 24 h messaging window).
    pub waiting_after: i64,
    /// Replies count from this minute …
    pub first_minute: i64,
    /// … to this one (the current minute), both included.
    pub current_minute: i64,
}

impl Windows {
    pub(super) fn at(now_ms: i64) -> Self {
        let current_minute = floor(now_ms, MINUTE_MS);
        Windows {
            today: floor(now_ms, DAY_MS),
            waiting_after: now_ms - DAY_MS - MINUTE_MS,
            first_minute: current_minute - (SERIES_MINUTES - 1) * MINUTE_MS,
            current_minute,
        }
    }
}

/// One account's sortable figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Figures {
    pub received_today: i64,
    pub sent_today: i64,
    pub waiting: i64,
    pub median_reply_ms: Option<i64>,
}

/// The figures of `ids` in `windows`, read from the per-account rows (every
/// slot's) by one statement: a row per account, its reply histogram as one
/// text (`"bucket:count,…"`), since sqlx hands every row from its SQLite
/// thread to the caller with a wake-up.
pub(super) async fn read(
    connection: &mut AnyConnection,
    backend: Backend,
    ids: &[String],
    windows: &Windows,
) -> Result<HashMap<String, Figures>, sqlx::Error> {
    let mut figures = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(figures);
    }
    let concatenated = match backend {
        Backend::Sqlite => "group_concat",
        Backend::Postgres => "string_agg",
    };
    let statement = format!(
        "WITH shown (account_id) AS (VALUES {})
         SELECT shown.account_id,
                (SELECT CAST(sum(received) AS BIGINT) FROM account_days
                 WHERE account_days.account_id = shown.account_id AND day_ms = ${today}),
                (SELECT CAST(sum(sent) AS BIGINT) FROM account_days
                 WHERE account_days.account_id = shown.account_id AND day_ms = ${today}),
                (SELECT CAST(sum(count) AS BIGINT) FROM account_waiting_minutes
                 WHERE account_waiting_minutes.account_id = shown.account_id
                   AND minute_ms > ${after}),
                (SELECT {concatenated}(CAST(bucket AS TEXT) || ':' || CAST(replies AS TEXT), ',')
                 FROM (SELECT bucket, sum(count) AS replies FROM account_reply_minutes
                       WHERE account_reply_minutes.account_id = shown.account_id
                         AND minute_ms BETWEEN ${first} AND ${current}
                       GROUP BY bucket) AS histogram)
         FROM shown",
        placeholders(backend, ids.len(), 1),
        today = ids.len() + 1,
        after = ids.len() + 2,
        first = ids.len() + 3,
        current = ids.len() + 4,
    );
    let mut rows = sqlx::query_as::<
        _,
        (
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        ),
    >(&statement);
    for id in ids {
        rows = rows.bind(id);
    }
    for (id, received, sent, waiting, histogram) in rows
        .bind(windows.today)
        .bind(windows.waiting_after)
        .bind(windows.first_minute)
        .bind(windows.current_minute)
        .fetch_all(&mut *connection)
        .await?
    {
        let histogram = parse_histogram(histogram.as_deref().unwrap_or_default())?;
        figures.insert(
            id,
            Figures {
                received_today: received.unwrap_or(0),
                sent_today: sent.unwrap_or(0),
                waiting: waiting.unwrap_or(0),
                median_reply_ms: replies::quantile(&histogram, 0.5),
            },
        );
    }
    Ok(figures)
}

/// `"bucket:count,…"` as (bucket, count) pairs.
fn parse_histogram(text: &str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    text.split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (bucket, count) = pair.split_once(':').unwrap_or((pair, ""));
            match (bucket.parse(), count.parse()) {
                (Ok(bucket), Ok(count)) => Ok((bucket, count)),
                _ => Err(sqlx::Error::Protocol(format!(
                    "unreadable reply histogram entry {pair:?}"
                ))),
            }
        })
        .collect()
}

/// Brings `account_figures` up to `now_ms`; returns how many accounts it
/// recomputed.
pub(super) async fn catch_up(
    writer: &AnyPool,
    backend: Backend,
    now_ms: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = writer.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(CAST($1 AS INTEGER), 0)")
            .bind(CATCH_UP_LOCK_CLASS)
            .execute(&mut *tx)
            .await?;
    }
    let clock: Option<(i64, i64)> =
        sqlx::query_as("SELECT at_ms, accounts FROM account_figures_clock WHERE id = 0")
            .fetch_optional(&mut *tx)
            .await?;
    let caught_up: HashMap<i64, i64> =
        sqlx::query_as::<_, (i64, i64)>("SELECT slot, version FROM account_figures_slots")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    // Read before the accounts they lead to (see the module's comment).
    let slots: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT slot, version, accounts FROM store_slots")
            .fetch_all(&mut *tx)
            .await?;
    let accounts: i64 = slots.iter().map(|(_, _, accounts)| accounts).sum();
    let windows = Windows::at(now_ms);
    let ids: BTreeSet<String> = match clock {
        Some((at_ms, counted)) if (now_ms - at_ms).abs() <= REBUILD_AFTER_MS => {
            let mut ids = BTreeSet::new();
            for (slot, version, _) in &slots {
                let from = caught_up.get(slot).copied().unwrap_or(0);
                if *version > from {
                    ids.extend(
                        ids_of(
                            &mut tx,
                            "SELECT account_id FROM account_last_events
                             WHERE slot = $1 AND version > $2",
                            &[*slot, from],
                        )
                        .await?,
                    );
                }
            }
            ids.extend(moved(&mut tx, &Windows::at(at_ms), &windows).await?);
            if counted != accounts {
                ids.extend(
                    ids_of(
                        &mut tx,
                        "SELECT account_id FROM accounts WHERE NOT EXISTS (
                             SELECT 1 FROM account_figures
                             WHERE account_figures.account_id = accounts.account_id)",
                        &[],
                    )
                    .await?,
                );
            }
            ids
        }
        _ => ids_of(&mut tx, "SELECT account_id FROM accounts", &[])
            .await?
            .into_iter()
            .collect(),
    };
    let ids: Vec<String> = ids.into_iter().collect();
    for chunk in ids.chunks(ACCOUNTS_PER_STATEMENT) {
        let figures = read(&mut tx, backend, chunk, &windows).await?;
        let statement = format!(
            "INSERT INTO account_figures
                 (account_id, received_today, sent_today, waiting, median_reply_ms)
             VALUES {}
             ON CONFLICT (account_id) DO UPDATE SET
                 received_today = excluded.received_today,
                 sent_today = excluded.sent_today,
                 waiting = excluded.waiting,
                 median_reply_ms = excluded.median_reply_ms",
            placeholders(backend, chunk.len(), 5)
        );
        let mut upsert = sqlx::query(&statement);
        for id in chunk {
            let account = figures.get(id).copied().unwrap_or_default();
            upsert = upsert
                .bind(id)
                .bind(account.received_today)
                .bind(account.sent_today)
                .bind(account.waiting)
                .bind(account.median_reply_ms);
        }
        upsert.execute(&mut *tx).await?;
    }
    for (slot, version, _) in &slots {
        sqlx::query(
            "INSERT INTO account_figures_slots (slot, version) VALUES ($1, $2)
             ON CONFLICT (slot) DO UPDATE SET version = excluded.version",
        )
        .bind(*slot)
        .bind(*version)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO account_figures_clock (id, at_ms, accounts) VALUES (0, $1, $2)
         ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms, accounts = excluded.accounts",
    )
    .bind(now_ms)
    .bind(accounts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids.len())
}

/// The accounts with a row that is inside one of the windows and outside the
/// other (either may be the later one: nodes' clocks differ a little).
async fn moved(
    connection: &mut AnyConnection,
    before: &Windows,
    now: &Windows,
) -> Result<Vec<String>, sqlx::Error> {
    let span = |a: i64, b: i64| [a.min(b), a.max(b)];
    let mut ids = Vec::new();
    if before.waiting_after != now.waiting_after {
        ids.extend(
            ids_of(
                connection,
                "SELECT DISTINCT account_id FROM account_waiting_minutes
                 WHERE minute_ms > $1 AND minute_ms <= $2",
                &span(before.waiting_after, now.waiting_after),
            )
            .await?,
        );
    }
    if before.first_minute != now.first_minute {
        ids.extend(
            ids_of(
                connection,
                "SELECT DISTINCT account_id FROM account_reply_minutes
                 WHERE minute_ms >= $1 AND minute_ms < $2",
                &span(before.first_minute, now.first_minute),
            )
            .await?,
        );
    }
    if before.current_minute != now.current_minute {
        ids.extend(
            ids_of(
                connection,
                "SELECT DISTINCT account_id FROM account_reply_minutes
                 WHERE minute_ms > $1 AND minute_ms <= $2",
                &span(before.current_minute, now.current_minute),
            )
            .await?,
        );
    }
    if before.today != now.today {
        ids.extend(
            ids_of(
                connection,
                "SELECT DISTINCT account_id FROM account_days WHERE day_ms = $1 OR day_ms = $2",
                &[before.today, now.today],
            )
            .await?,
        );
    }
    Ok(ids)
}

/// The account ids `statement` selects with `parameters`.
async fn ids_of(
    connection: &mut AnyConnection,
    statement: &str,
    parameters: &[i64],
) -> Result<Vec<String>, sqlx::Error> {
    let mut query = sqlx::query_as::<_, (String,)>(statement);
    for parameter in parameters {
        query = query.bind(*parameter);
    }
    Ok(query
        .fetch_all(connection)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_move_by_the_minute_and_the_day() {
        let now = 3 * DAY_MS + 10 * MINUTE_MS + 30_000;
        let windows = Windows::at(now);
        assert_eq!(windows.today, 3 * DAY_MS);
        assert_eq!(windows.current_minute, 3 * DAY_MS + 10 * MINUTE_MS);
        assert_eq!(
            windows.first_minute,
            windows.current_minute - 59 * MINUTE_MS
        );
        assert_eq!(windows.waiting_after, now - DAY_MS - MINUTE_MS);
        assert_eq!(
            Windows::at(now + 20_000).current_minute,
            windows.current_minute
        );
        assert_ne!(
            Windows::at(now + 30_000).current_minute,
            windows.current_minute
        );
    }
}
