//! The figures the accounts page sorts by (DMs received and sent today,
//! conversations waiting, median reply time over the last hour), kept by each
//! node in memory: one ordered set per figure, so that a page in any order is
//! a walk of about 100 entries instead of a sum over every account in the
//! database.
//!
//! "Today" is a day of the admin's time zone ([`Today`]): the UTC day from
//! the accounts' days, or a zone's day from their quarter-hours and hours
//! (`account_history`), from its midnight (exact in every zone, +05:30 and
//! +05:45 included; for two hours after the upgrade that began the
//! quarter-hours, from the whole hour nearest it). A node keeps one set of
//! orders per day asked for: the UTC day's always, and up to [`ZONES_HELD`]
//! zones': the admins' chosen zones, built beside the UTC day's in the
//! background, and any other a page asks for, built for that first page (a
//! zone unasked for [`ZONE_UNUSED_MS`] is dropped; the set least recently
//! asked for makes way for a new one). Days that begin at the same instant
//! share one set ([`AccountFigures::sharing`]).
//!
//! A node builds them once after it starts (every account read, in the
//! background), then catches them up every minute and before each page sorted
//! by a figure, on the reader pool (nothing is written, so ingestion never
//! waits for it), by recomputing from the per-account rows the accounts that,
//! in one read snapshot of the database,
//! - were touched since: their `account_last_events` version is past the one
//!   held for that slot (a slot's version and its accounts' marks are written
//!   by the same transaction, so the snapshot has both or neither);
//! - have rows that entered or left a time window since the last catch-up
//!   (found through the rows' time indexes);
//! - are missing (looked for when the accounts count differs from the sets').
//!
//! Their figures are read after that snapshot (at least as new as the marks
//! it held), 500 accounts per statement, two statements at once.
//!
//! They are kept whether or not anybody watches the page (the page itself is
//! computed only for its watchers): built on a page's demand, the first page
//! read every account (0.8 s on SQLite, 1.8 s on Postgres at 100,000
//! accounts), and a minute's catch-up costs a small part of that. After half
//! an hour without a successful catch-up (rows leaving a window may be purged
//! meanwhile) every account is read again.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use futures::{StreamExt, TryStreamExt};
use sqlx::{AnyConnection, AnyPool};

use super::{
    account_history::Precision,
    history::{HOUR_MS, QUARTER_MS},
    replies,
    sql::{self, floor, from_json_row},
    transaction, Backend, DAY_MS, MINUTE_MS, SERIES_MINUTES,
};

/// Accounts recomputed per statement.
const ACCOUNTS_PER_STATEMENT: usize = 500;
/// Statements of figures read at once, each on its own reader connection
/// (the machine measured has two cores).
const PARALLEL_READS: usize = 2;
/// After this long without a catch-up every account is read again: rows
/// that left a window since may be purged already (the purge keeps an hour).
const REBUILD_AFTER_MS: i64 = 30 * MINUTE_MS;
/// Time zones' orders a node keeps besides the UTC day's: each costs what the
/// UTC day's does (about 250 bytes an account) and its own catch-ups.
pub const ZONES_HELD: usize = 8;
/// A zone's orders no page asked for in this long are dropped.
pub const ZONE_UNUSED_MS: i64 = 60 * MINUTE_MS;

/// The day the accounts' DMs "today" are counted in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Today {
    /// The UTC day, read from the accounts' days.
    #[default]
    Utc,
    /// The day in this time zone (an IANA name the caller has checked),
    /// read from the accounts' hours.
    Zone(String),
}

impl Today {
    /// Where today begins as of `at`, as the figures count it: the UTC
    /// midnight, or the zone's midnight as an account's history can place it
    /// (exact once quarter-hours are kept, see [`Precision`]). A name the zone database does not
    /// know counts the UTC day.
    pub fn start_ms(&self, at: &Precision) -> i64 {
        match self {
            Today::Utc => floor(at.now_ms, DAY_MS),
            Today::Zone(zone) => match crate::clock::start_of_day(zone, at.now_ms) {
                Some((midnight_ms, _)) => at.place(midnight_ms),
                None => floor(at.now_ms, DAY_MS),
            },
        }
    }
}

/// The time windows of the figures at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Windows {
    /// Where today begins (DMs received and sent today) …
    pub today: i64,
    /// … and whether it is counted from the accounts' quarter-hours and
    /// hours (a zone's day) rather than their UTC days.
    pub today_from_history: bool,
    /// Waiting conversations are those waiting since a minute after this
    /// (Instagram's 24 h messaging window).
    pub waiting_after: i64,
    /// Replies count from this minute …
    pub first_minute: i64,
    /// … to this one (the current minute), both included.
    pub current_minute: i64,
}

impl Windows {
    pub(super) fn at(at: &Precision, today: &Today) -> Self {
        let now_ms = at.now_ms;
        let current_minute = floor(now_ms, MINUTE_MS);
        Windows {
            today: today.start_ms(at),
            today_from_history: matches!(today, Today::Zone(_)),
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

/// Today's DMs of the account `shown.account_id` as one text, from its UTC
/// day `$2` …
macro_rules! today_by_day {
    () => {
        "(SELECT CAST(sum(received) AS TEXT) || ' ' || CAST(sum(sent) AS TEXT)
          FROM account_days
          WHERE account_days.account_id = shown.account_id AND day_ms = $2)"
    };
}
/// … or from its quarter-hours and hours since `$2` (a zone's day; the units
/// are `QUARTER_MS` and `HOUR_MS`, written out for `concat!`).
macro_rules! today_from_history {
    () => {
        "(SELECT CAST(sum(m_dm_received) AS TEXT) || ' ' || CAST(sum(m_dm_sent) AS TEXT)
          FROM account_history
          WHERE account_history.account_id = shown.account_id
            AND start_ms >= $2 AND unit_ms IN (900000, 3600000))"
    };
}

/// The figures of the accounts `$shown` selects (column `account_id`), a row
/// each, with `$today` one of the above and `$concatenated` the engine's text
/// aggregate: `$2` today, `$3` the waiting window's start, `$4`..`$5` the
/// hour's first and current minute.
macro_rules! account_figures_of {
    ($shown:literal, $today:expr, $concatenated:literal) => {
        concat!(
            "SELECT shown.account_id AS account_id, ",
            $today,
            " AS today,
                    (SELECT CAST(sum(count) AS BIGINT) FROM account_waiting_minutes
                     WHERE account_waiting_minutes.account_id = shown.account_id
                       AND minute_ms > $3) AS waiting,
                    (SELECT ",
            $concatenated,
            "(CAST(bucket AS TEXT) || ':' || CAST(count AS TEXT), ',')
                     FROM account_reply_minutes
                     WHERE account_reply_minutes.account_id = shown.account_id
                       AND minute_ms BETWEEN $4 AND $5) AS replies
             FROM (",
            $shown,
            ") AS shown"
        )
    };
}
/// The figures of `ids` in `windows`, read from the per-account rows (every
/// slot's) by one statement that returns ONE row: sqlx hands every row from
/// its SQLite thread with a wake-up, so the accounts come as one JSON array of
/// `[id, today, waiting, replies]`, today's DMs as one text (`"received
/// sent"`, one lookup of the day's rows), the replies as one text
/// (`"bucket:count,…"`, a bucket once per minute and slot: the quantile adds
/// them up; grouping them in SQL took a sort per account, 30 % of the time).
/// The ids go in as one JSON array, so the statement's text is one for any
/// number of them and stays prepared.
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
    macro_rules! sqlite {
        ($today:expr) => {
            concat!(
                "SELECT json_group_array(json_array(account_id, today, waiting, replies)) FROM (",
                account_figures_of!(
                    "SELECT value AS account_id FROM json_each($1)",
                    $today,
                    "group_concat"
                ),
                ")"
            )
        };
    }
    macro_rules! postgres {
        ($today:expr) => {
            concat!(
                "SELECT CAST(COALESCE(json_agg(json_build_array(account_id, today, waiting, replies)), '[]') AS TEXT) FROM (",
                account_figures_of!(
                    "SELECT value AS account_id FROM json_array_elements_text(CAST($1 AS json))",
                    $today,
                    "string_agg"
                ),
                ") AS figures"
            )
        };
    }
    let statement = match (backend, windows.today_from_history) {
        (Backend::Sqlite, false) => sqlite!(today_by_day!()),
        (Backend::Sqlite, true) => sqlite!(today_from_history!()),
        (Backend::Postgres, false) => postgres!(today_by_day!()),
        (Backend::Postgres, true) => postgres!(today_from_history!()),
    };
    let (rows,): (String,) = sqlx::query_as(statement)
        .bind(serde_json::to_string(ids).expect("strings serialise"))
        .bind(windows.today)
        .bind(windows.waiting_after)
        .bind(windows.first_minute)
        .bind(windows.current_minute)
        .fetch_one(&mut *connection)
        .await?;
    type Row = (String, Option<String>, Option<i64>, Option<String>);
    let rows: Vec<Row> = from_json_row(&rows)?;
    for (id, today, waiting, histogram) in rows {
        let (received_today, sent_today) = parse_today(today.as_deref().unwrap_or("0 0"))?;
        let histogram = parse_histogram(histogram.as_deref().unwrap_or_default())?;
        figures.insert(
            id,
            Figures {
                received_today,
                sent_today,
                waiting: waiting.unwrap_or(0),
                median_reply_ms: replies::quantile(&histogram, 0.5),
            },
        );
    }
    Ok(figures)
}

/// `"received sent"` (today's DMs of an account) as numbers.
fn parse_today(text: &str) -> Result<(i64, i64), sqlx::Error> {
    let unreadable = || sqlx::Error::Protocol(format!("unreadable DMs of the day: {text:?}"));
    let (received, sent) = text.split_once(' ').ok_or_else(unreadable)?;
    Ok((
        received.parse().map_err(|_| unreadable())?,
        sent.parse().map_err(|_| unreadable())?,
    ))
}

/// `"bucket:count,…"` as (bucket, count) pairs, one per bucket: the counts
/// of a bucket's rows added up (a slot's row may be negative where a late DM
/// took a reply back that another slot counted).
fn parse_histogram(text: &str) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let mut buckets: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for pair in text.split(',').filter(|pair| !pair.is_empty()) {
        let (bucket, count) = pair.split_once(':').unwrap_or((pair, ""));
        match (bucket.parse(), count.parse::<i64>()) {
            (Ok(bucket), Ok(count)) => *buckets.entry(bucket).or_default() += count,
            _ => {
                return Err(sqlx::Error::Protocol(format!(
                    "unreadable reply histogram entry {pair:?}"
                )))
            }
        }
    }
    Ok(buckets.into_iter().collect())
}

/// A node's ordered figures, per day they count today in (the UTC day's
/// always), each empty until its first catch-up.
#[derive(Debug)]
pub(super) struct AccountFigures {
    held: std::sync::Mutex<HashMap<Today, Held>>,
}

/// One day's orders, and when a page last asked for them.
#[derive(Debug)]
struct Held {
    orders: Arc<tokio::sync::Mutex<Option<Orders>>>,
    asked_ms: i64,
}

impl Default for AccountFigures {
    fn default() -> Self {
        let utc = Held {
            orders: Default::default(),
            asked_ms: 0,
        };
        AccountFigures {
            held: std::sync::Mutex::new(HashMap::from([(Today::Utc, utc)])),
        }
    }
}

/// A figure each node keeps the accounts ordered by (its number: its set in
/// `Orders::by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// DMs received today.
    Received = 0,
    /// DMs sent today.
    Sent = 1,
    /// Conversations waiting for a reply.
    Waiting = 2,
    /// Median reply time over the last hour.
    MedianReply = 3,
}

impl Figure {
    const ALL: [Figure; 4] = [
        Figure::Received,
        Figure::Sent,
        Figure::Waiting,
        Figure::MedianReply,
    ];

    fn of(self, figures: &Figures) -> Option<i64> {
        match self {
            Figure::Received => Some(figures.received_today),
            Figure::Sent => Some(figures.sent_today),
            Figure::Waiting => Some(figures.waiting),
            Figure::MedianReply => figures.median_reply_ms,
        }
    }
}

/// Which accounts a page shows: in the order of `figure` (largest first
/// when `descending`), `limit` of them from `offset` among those its filter
/// matches.
pub(super) struct PageOf {
    pub figure: Figure,
    pub descending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// Every account's figures at `at_ms`, and one set per figure ordered
/// largest first, ties by account id A to Z (walked backwards for the
/// opposite order).
#[derive(Debug)]
struct Orders {
    at_ms: i64,
    /// Per slot, the version the figures include every change up to.
    slots: HashMap<i64, i64>,
    figures: HashMap<Arc<str>, Figures>,
    /// By [`Figure`], the accounts that have it.
    by: [BTreeSet<(Reverse<i64>, Arc<str>)>; 4],
    /// Accounts without a median reply (after the others in either order).
    without_reply: BTreeSet<Arc<str>>,
}

impl Orders {
    fn new(at_ms: i64) -> Self {
        Orders {
            at_ms,
            slots: HashMap::new(),
            figures: HashMap::new(),
            by: Default::default(),
            without_reply: BTreeSet::new(),
        }
    }

    /// Puts `id`'s new figures in place.
    fn set(&mut self, id: &str, figures: Figures) {
        let id: Arc<str> = match self.figures.get_key_value(id) {
            Some((id, old)) => {
                let (id, old) = (id.clone(), *old);
                self.unset(&id, &old);
                id
            }
            None => Arc::from(id),
        };
        for (set, figure) in self.by.iter_mut().zip(Figure::ALL) {
            if let Some(value) = figure.of(&figures) {
                set.insert((Reverse(value), id.clone()));
            }
        }
        if figures.median_reply_ms.is_none() {
            self.without_reply.insert(id.clone());
        }
        self.figures.insert(id, figures);
    }

    fn unset(&mut self, id: &Arc<str>, figures: &Figures) {
        for (set, figure) in self.by.iter_mut().zip(Figure::ALL) {
            if let Some(value) = figure.of(figures) {
                set.remove(&(Reverse(value), id.clone()));
            }
        }
        self.without_reply.remove(id);
    }

    /// The ids of one page: the accounts with the
    /// figure in its order, then those without it by id (A to Z when
    /// descending).
    fn page(&self, page: &PageOf, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let set = &self.by[page.figure as usize];
        let with: Box<dyn Iterator<Item = &Arc<str>>> = if page.descending {
            Box::new(set.iter().map(|(_, id)| id))
        } else {
            Box::new(set.iter().rev().map(|(_, id)| id))
        };
        let without: Box<dyn Iterator<Item = &Arc<str>>> = match page.figure {
            Figure::MedianReply if page.descending => Box::new(self.without_reply.iter()),
            Figure::MedianReply => Box::new(self.without_reply.iter().rev()),
            _ => Box::new(std::iter::empty()),
        };
        with.chain(without)
            .filter(|id| matches(id))
            .skip(page.offset)
            .take(page.limit)
            .map(|id| id.to_string())
            .collect()
    }
}

impl AccountFigures {
    /// The ids of `page` with today counted in `today`, after catching those
    /// figures up to `now_ms`. `matches` says whether an id passes the page's
    /// filter (as the database's `LIKE` does).
    pub(super) async fn page_ids(
        &self,
        reader: &AnyPool,
        backend: Backend,
        at: Precision,
        today: &Today,
        page: &PageOf,
        matches: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, sqlx::Error> {
        let today = self.sharing(today, &at);
        let orders = self.asked_for(&today, at.now_ms);
        let mut orders = orders.lock().await;
        timed_catch_up(&mut orders, reader, backend, at, &today).await?;
        Ok(orders
            .as_ref()
            .map(|orders| orders.page(page, matches))
            .unwrap_or_default())
    }

    /// The days held, locked (a lock poisoned by a panic is taken as it
    /// is).
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Today, Held>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The day whose orders serve `today` as of `at`: the UTC day's when
    /// `today` begins at UTC midnight (Europe/London in winter), else a zone's
    /// held that begins at the same instant (Europe/Paris's for
    /// Europe/Berlin), else `today`'s own. The orders depend only on where
    /// today began, so such days share one set: no build for a zone's first
    /// page, and no memory or catch-up of their own.
    fn sharing(&self, today: &Today, at: &Precision) -> Today {
        let begins = today.start_ms(at);
        if begins == Today::Utc.start_ms(at) {
            return Today::Utc;
        }
        let held = self.held();
        if held.contains_key(today) {
            return today.clone();
        }
        held.keys()
            .find(|day| **day != Today::Utc && day.start_ms(at) == begins)
            .cloned()
            .unwrap_or_else(|| today.clone())
    }

    /// The orders of `today`, held from now on if they were not (making way
    /// for them: see the module's comment).
    fn asked_for(&self, today: &Today, now_ms: i64) -> Arc<tokio::sync::Mutex<Option<Orders>>> {
        let mut held = self.held();
        if !held.contains_key(today) && held.len() > ZONES_HELD {
            let least_asked = held
                .iter()
                .filter(|(day, _)| **day != Today::Utc)
                .min_by_key(|(_, held)| held.asked_ms)
                .map(|(day, _)| day.clone());
            if let Some(day) = least_asked {
                held.remove(&day);
            }
        }
        let entry = held.entry(today.clone()).or_insert_with(|| Held {
            orders: Default::default(),
            asked_ms: now_ms,
        });
        entry.asked_ms = entry.asked_ms.max(now_ms);
        entry.orders.clone()
    }

    /// Catches every day's figures up to `now_ms` (reads every account the
    /// first time), the UTC day's first, after dropping the zones no page
    /// asked for lately and taking up the `chosen` ones (the admins');
    /// returns how many accounts it recomputed.
    pub(super) async fn keep_up(
        &self,
        reader: &AnyPool,
        backend: Backend,
        at: Precision,
        chosen: &[Today],
    ) -> Result<usize, sqlx::Error> {
        let now_ms = at.now_ms;
        for today in chosen.iter().take(ZONES_HELD) {
            self.asked_for(&self.sharing(today, &at), now_ms);
        }
        let mut days: Vec<(Today, Arc<tokio::sync::Mutex<Option<Orders>>>)> = {
            let mut held = self.held();
            held.retain(|day, held| *day == Today::Utc || now_ms - held.asked_ms <= ZONE_UNUSED_MS);
            held.iter()
                .map(|(day, held)| (day.clone(), held.orders.clone()))
                .collect()
        };
        days.sort_by_key(|(day, _)| *day != Today::Utc);
        let mut recomputed = 0;
        for (today, orders) in days {
            let mut orders = orders.lock().await;
            recomputed += timed_catch_up(&mut orders, reader, backend, at, &today).await?;
        }
        Ok(recomputed)
    }

    /// The days whose orders this node holds (the UTC day first, then the
    /// zones by name).
    #[cfg(test)]
    fn days_held(&self) -> Vec<Today> {
        let held = self.held();
        let mut days: Vec<Today> = held.keys().cloned().collect();
        days.sort_by_key(|day| match day {
            Today::Utc => String::new(),
            Today::Zone(zone) => zone.clone(),
        });
        days
    }
}

/// [`catch_up`], counted in the node's metrics (the accounts held: the UTC
/// day's).
async fn timed_catch_up(
    orders: &mut Option<Orders>,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    today: &Today,
) -> Result<usize, sqlx::Error> {
    let metrics = crate::metrics::metrics();
    let timer = metrics.account_figures_catch_up_seconds.start_timer();
    let recomputed = catch_up(orders, reader, backend, at, today).await;
    timer.observe_duration();
    if *today == Today::Utc {
        let held = orders.as_ref().map_or(0, |orders| orders.figures.len());
        metrics.account_figures_held.set(held as i64);
    }
    let recomputed = recomputed?;
    metrics.account_figures_recomputed.inc_by(recomputed as u64);
    Ok(recomputed)
}

/// Brings `orders` up to `now_ms` (see the module's comment); returns how
/// many accounts it recomputed. The sets are out of `orders` while they are
/// read into: a catch-up that fails or is cancelled leaves none (the next one
/// reads every account), except that a failed incremental one keeps them
/// with their old marks, so the next one reads its accounts again.
async fn catch_up(
    orders: &mut Option<Orders>,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    today: &Today,
) -> Result<usize, sqlx::Error> {
    let now_ms = at.now_ms;
    let fresh = orders
        .as_ref()
        .is_some_and(|orders| (now_ms - orders.at_ms).abs() <= REBUILD_AFTER_MS);
    let mut working = match orders.take() {
        Some(kept) if fresh => kept,
        _ => Orders::new(now_ms),
    };
    match read_changes(&mut working, fresh, reader, backend, at, today).await {
        Ok(recomputed) => {
            *orders = Some(working);
            Ok(recomputed)
        }
        Err(error) => {
            if fresh {
                *orders = Some(working);
            }
            Err(error)
        }
    }
}

/// Reads into `orders` the figures of every account that changed since
/// they were caught up (all of them unless `fresh`), in one read snapshot,
/// today counted in `today`.
async fn read_changes(
    orders: &mut Orders,
    fresh: bool,
    reader: &AnyPool,
    backend: Backend,
    at: Precision,
    today: &Today,
) -> Result<usize, sqlx::Error> {
    let now_ms = at.now_ms;
    let mut tx = transaction::begin_read(reader, backend).await?;
    let slots: Vec<(i64, i64)> = sqlx::query_as("SELECT slot, version FROM store_slots")
        .fetch_all(&mut *tx)
        .await?;
    let windows = Windows::at(&at, today);
    let mut ids = BTreeSet::new();
    if fresh {
        for (slot, version) in &slots {
            let from = orders.slots.get(slot).copied().unwrap_or(0);
            if *version > from {
                ids.extend(
                    ids_of(
                        &mut tx,
                        backend,
                        "SELECT account_id FROM account_last_events
                         WHERE slot = $1 AND version > $2",
                        &[*slot, from],
                    )
                    .await?,
                );
            }
        }
        ids.extend(
            moved(
                &mut tx,
                backend,
                &Windows::at(&at.as_of(orders.at_ms), today),
                &windows,
            )
            .await?,
        );
    }
    // The accounts count from the slots (a count of the table is a scan on
    // Postgres, 10 ms at 100,000 accounts, on every page).
    let accounts = sql::accounts_on(&mut *tx).await?;
    let known = orders.figures.len()
        + ids
            .iter()
            .filter(|id| !orders.figures.contains_key(id.as_str()))
            .count();
    if !fresh || known as i64 != accounts {
        // Accounts without any counted event (none of their events moves a
        // figure) are not marked by a version; every account, the first time.
        let statement = if fresh {
            "SELECT account_id FROM accounts WHERE NOT EXISTS (
                 SELECT 1 FROM account_last_events
                 WHERE account_last_events.account_id = accounts.account_id)"
        } else {
            "SELECT account_id FROM accounts"
        };
        ids.extend(
            ids_of(&mut tx, backend, statement, &[])
                .await?
                .into_iter()
                .filter(|id| !orders.figures.contains_key(id.as_str())),
        );
    }
    tx.commit().await?;
    // The figures are read after that snapshot, so they are at least as new
    // as the marks it held (an account written since is past its slot's
    // version and read again next time), and [`PARALLEL_READS`] statements
    // at once.
    let ids: Vec<String> = ids.into_iter().collect();
    let recomputed = ids.len();
    let chunks: Vec<Vec<String>> = ids
        .chunks(ACCOUNTS_PER_STATEMENT)
        .map(<[String]>::to_vec)
        .collect();
    let mut reads = futures::stream::iter(chunks)
        .map(|chunk| {
            let reader = reader.clone();
            async move {
                let mut connection = reader.acquire().await?;
                let figures = read(&mut connection, backend, &chunk, &windows).await?;
                Ok::<_, sqlx::Error>((chunk, figures))
            }
        })
        .buffer_unordered(PARALLEL_READS);
    while let Some((chunk, figures)) = reads.try_next().await? {
        for id in &chunk {
            orders.set(id, figures.get(id).copied().unwrap_or_default());
        }
    }
    orders.at_ms = now_ms;
    orders.slots = slots.into_iter().collect();
    Ok(recomputed)
}

/// The accounts with a row that is inside one of the windows and outside the
/// other (either may be the later one: nodes' clocks differ a little).
async fn moved(
    connection: &mut AnyConnection,
    backend: Backend,
    before: &Windows,
    now: &Windows,
) -> Result<Vec<String>, sqlx::Error> {
    let span = |a: i64, b: i64| [a.min(b), a.max(b)];
    // Each window edge that moved: the rows between its two places.
    let edges = [
        (
            before.waiting_after != now.waiting_after,
            "SELECT DISTINCT account_id FROM account_waiting_minutes
             WHERE minute_ms > $1 AND minute_ms <= $2",
            span(before.waiting_after, now.waiting_after),
        ),
        (
            before.first_minute != now.first_minute,
            "SELECT DISTINCT account_id FROM account_reply_minutes
             WHERE minute_ms >= $1 AND minute_ms < $2",
            span(before.first_minute, now.first_minute),
        ),
        (
            before.current_minute != now.current_minute,
            "SELECT DISTINCT account_id FROM account_reply_minutes
             WHERE minute_ms > $1 AND minute_ms <= $2",
            span(before.current_minute, now.current_minute),
        ),
    ];
    let mut ids = Vec::new();
    for (moved, statement, parameters) in edges {
        if moved {
            ids.extend(ids_of(connection, backend, statement, &parameters).await?);
        }
    }
    // Today's start: the days it left and entered, or the rows between.
    if before.today != now.today {
        let (statement, parameters) = if now.today_from_history {
            (
                "SELECT DISTINCT account_id FROM account_history
                 WHERE unit_ms IN ($1, $2) AND start_ms >= $3 AND start_ms < $4",
                vec![
                    QUARTER_MS,
                    HOUR_MS,
                    before.today.min(now.today),
                    before.today.max(now.today),
                ],
            )
        } else {
            (
                "SELECT DISTINCT account_id FROM account_days WHERE day_ms = $1 OR day_ms = $2",
                vec![before.today, now.today],
            )
        };
        ids.extend(ids_of(connection, backend, statement, &parameters).await?);
    }
    Ok(ids)
}

/// The account ids `statement` selects with `parameters`, read as ONE row
/// (a JSON array: see [`read`]).
async fn ids_of(
    connection: &mut AnyConnection,
    backend: Backend,
    statement: &str,
    parameters: &[i64],
) -> Result<Vec<String>, sqlx::Error> {
    let all = match backend {
        Backend::Sqlite => format!("SELECT json_group_array(account_id) FROM ({statement})"),
        Backend::Postgres => format!(
            "SELECT CAST(COALESCE(json_agg(account_id), '[]') AS TEXT) FROM ({statement}) AS selected"
        ),
    };
    let mut query = sqlx::query_as::<_, (String,)>(&all);
    for parameter in parameters {
        query = query.bind(*parameter);
    }
    let (ids,) = query.fetch_one(connection).await?;
    from_json_row(&ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The precision of a history whose quarter-hours began long ago.
    fn precise(now_ms: i64) -> Precision {
        Precision::at(now_ms, 0)
    }

    #[test]
    fn windows_move_by_the_minute_and_the_day() {
        let now = 3 * DAY_MS + 10 * MINUTE_MS + 30_000;
        let windows = Windows::at(&precise(now), &Today::Utc);
        assert_eq!(windows.today, 3 * DAY_MS);
        assert!(!windows.today_from_history);
        assert_eq!(windows.current_minute, 3 * DAY_MS + 10 * MINUTE_MS);
        assert_eq!(
            windows.first_minute,
            windows.current_minute - 59 * MINUTE_MS
        );
        assert_eq!(windows.waiting_after, now - DAY_MS - MINUTE_MS);
        assert_eq!(
            Windows::at(&precise(now + 20_000), &Today::Utc).current_minute,
            windows.current_minute
        );
        assert_ne!(
            Windows::at(&precise(now + 30_000), &Today::Utc).current_minute,
            windows.current_minute
        );
    }

    /// Unix ms of a UTC time.
    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_zones_today_begins_at_its_midnight() {
        let zone = |name: &str| Today::Zone(name.to_string());
        let now = precise(at("2026-07-01T12:10:00Z"));
        assert_eq!(Today::Utc.start_ms(&now), at("2026-07-01T00:00:00Z"));
        // New York in summer: midnight is 04:00 UTC.
        assert_eq!(
            zone("America/New_York").start_ms(&now),
            at("2026-07-01T04:00:00Z")
        );
        // Kolkata's midnight is 18:30 UTC, Kathmandu's 18:15.
        assert_eq!(
            zone("Asia/Kolkata").start_ms(&now),
            at("2026-06-30T18:30:00Z")
        );
        assert_eq!(
            zone("Asia/Kathmandu").start_ms(&now),
            at("2026-06-30T18:15:00Z")
        );
        // Within the quarter-hour that begins at its midnight, today is that quarter-hour.
        let just_after = precise(at("2026-06-30T18:20:00Z"));
        assert_eq!(
            zone("Asia/Kathmandu").start_ms(&just_after),
            at("2026-06-30T18:15:00Z")
        );
        // Until quarter-hours are read (two hours after an upgrade began them), from the
        // whole hour nearest midnight (half past goes up).
        let upgraded = Precision::at(at("2026-07-01T12:10:00Z"), at("2026-07-01T11:00:00Z"));
        assert_eq!(
            zone("Asia/Kolkata").start_ms(&upgraded),
            at("2026-06-30T19:00:00Z")
        );
        assert_eq!(
            zone("Asia/Kathmandu").start_ms(&upgraded),
            at("2026-06-30T18:00:00Z")
        );
        let windows = Windows::at(&now, &zone("Asia/Kolkata"));
        assert!(windows.today_from_history);
        // A name nobody knows counts the UTC day (callers check names first).
        assert_eq!(
            zone("Mars/Olympus").start_ms(&now),
            at("2026-07-01T00:00:00Z")
        );
    }

    #[test]
    fn a_node_holds_the_zones_asked_for_lately_and_always_the_utc_day() {
        let figures = AccountFigures::default();
        assert_eq!(figures.days_held(), [Today::Utc]);
        let zones: Vec<String> = (0..=ZONES_HELD).map(|n| format!("Etc/GMT-{n}")).collect();
        for (n, zone) in zones.iter().enumerate() {
            figures.asked_for(&Today::Zone(zone.clone()), n as i64);
        }
        // The first zone, least recently asked for, made way for the last.
        let held = figures.days_held();
        assert_eq!(held.len(), ZONES_HELD + 1);
        assert_eq!(held[0], Today::Utc);
        assert!(!held.contains(&Today::Zone(zones[0].clone())));
        assert!(held.contains(&Today::Zone(zones[ZONES_HELD].clone())));
    }

    #[test]
    fn zones_whose_today_begins_together_share_one_set() {
        let zone = |name: &str| Today::Zone(name.to_string());
        let figures = AccountFigures::default();
        let winter = precise(at("2026-01-15T12:00:00Z"));
        // London's winter day is the UTC day's; Paris's is held; Berlin's and Rome's share it.
        assert_eq!(figures.sharing(&zone("Europe/London"), &winter), Today::Utc);
        assert_eq!(
            figures.sharing(&zone("Europe/Paris"), &winter),
            zone("Europe/Paris")
        );
        figures.asked_for(&zone("Europe/Paris"), winter.now_ms);
        for berlin_or_rome in ["Europe/Berlin", "Europe/Rome"] {
            assert_eq!(
                figures.sharing(&zone(berlin_or_rome), &winter),
                zone("Europe/Paris")
            );
        }
        assert_eq!(
            figures.sharing(&zone("Asia/Tokyo"), &winter),
            zone("Asia/Tokyo")
        );
        // In summer London's day begins an hour before UTC's, and Paris's an hour before
        // London's: each is its own.
        let summer = precise(at("2026-07-01T12:00:00Z"));
        assert_eq!(
            figures.sharing(&zone("Europe/London"), &summer),
            zone("Europe/London")
        );
        assert_eq!(
            figures.sharing(&zone("Europe/Berlin"), &summer),
            zone("Europe/Paris")
        );
        // A zone held keeps its own set.
        figures.asked_for(&zone("Europe/Berlin"), summer.now_ms);
        assert_eq!(
            figures.sharing(&zone("Europe/Berlin"), &summer),
            zone("Europe/Berlin")
        );
    }

    #[test]
    fn pages_walk_the_ordered_figures_either_way() {
        let figures = |waiting: i64, median: Option<i64>| Figures {
            waiting,
            median_reply_ms: median,
            ..Figures::default()
        };
        let mut orders = Orders::new(0);
        orders.set("a", figures(1, Some(5)));
        orders.set("b", figures(3, None));
        orders.set("c", figures(1, Some(9)));
        orders.set("d", figures(0, None));
        // A new figure replaces the old one in every set.
        orders.set("d", figures(2, Some(7)));
        let page = |figure, descending, offset| {
            let page = PageOf {
                figure,
                descending,
                offset,
                limit: 100,
            };
            orders.page(&page, |_| true)
        };
        assert_eq!(page(Figure::Waiting, true, 0), ["b", "d", "a", "c"]);
        assert_eq!(page(Figure::Waiting, false, 0), ["c", "a", "d", "b"]);
        assert_eq!(page(Figure::Waiting, true, 2), ["a", "c"]);
        assert_eq!(page(Figure::MedianReply, true, 0), ["c", "d", "a", "b"]);
        assert_eq!(page(Figure::MedianReply, false, 0), ["a", "d", "c", "b"]);
        let filtered = PageOf {
            figure: Figure::Waiting,
            descending: true,
            offset: 1,
            limit: 100,
        };
        assert_eq!(orders.page(&filtered, |id| id != "d"), ["a", "c"]);
        let short = PageOf {
            figure: Figure::Waiting,
            descending: true,
            offset: 0,
            limit: 2,
        };
        assert_eq!(orders.page(&short, |_| true), ["b", "d"]);
        assert_eq!(orders.figures.len(), 4);
        assert_eq!(orders.without_reply.len(), 1);
        assert_eq!(orders.by.map(|set| set.len()), [4, 4, 4, 3]);
    }

    #[test]
    fn the_days_dms_are_read_from_their_text() {
        assert_eq!(parse_today("12 3").unwrap(), (12, 3));
        assert!(parse_today("12").is_err());
        assert!(parse_today("12 x").is_err());
    }

    #[test]
    fn histograms_are_read_from_their_text() {
        assert_eq!(parse_histogram("").unwrap(), vec![]);
        assert_eq!(parse_histogram("3:2,10:1").unwrap(), vec![(3, 2), (10, 1)]);
        // Rows of one bucket add up, a slot's negative row included.
        assert_eq!(
            parse_histogram("10:1,3:2,10:-1,3:1").unwrap(),
            vec![(3, 3), (10, 0)]
        );
        assert!(parse_histogram("3:x").is_err());
    }
}
