//! Time to compute a date range's report from a large customer's history,
//! with the server's own histogram (`pulse_history_report_compute_seconds`),
//! and the rate at which a year's series streams as CSV.
//!
//! The model (the history issue's): 5 million DMs a day over 13 months. The
//! history is written in SQL while the server is stopped, as ingestion would
//! leave it at its fullest: every quarter-hour, hour and day of 396 days has a
//! row with every figure (each metric, refusal reason and reply-time bucket)
//! in one writer slot on SQLite and four on Postgres (its default writers).
//! The rows do not depend on how many events there were, only on time: that
//! is the design.
//!
//! One account's page is measured the same way: the accounts' history
//! (`account_history`) is written for [`ACCOUNTS`] accounts at their fullest
//! (every quarter-hour of today and the three days before in every writer
//! slot, and every hour of the 31 days before and every day of the 801 before
//! in the one slot folding writes), the first of them the model's busiest
//! (200,000 DMs a day), with each account's conversation sketches in the
//! same units, and its ranges are timed; the tables' size per account gives
//! the model's 20,000 accounts' by multiplication.

use std::path::Path;

use anyhow::{bail, Context, Result};
use sqlx::Connection;

use crate::{accounts_cost::compute_seconds, server::Server};

/// Days of history written for the measurement: 13 months and a day.
pub const DAYS: i64 = 396;
/// Requests per range measured (after one warm-up).
pub const REQUESTS: u32 = 5;

/// Accounts whose history is written for a full run; the first is the
/// busiest.
pub const ACCOUNTS: i64 = 500;

/// The busiest account's id.
const BUSIEST: &str = "17841400000000";

/// The ranges measured: (what the report calls it, query string).
const RANGES: [(&str, &str); 8] = [
    (
        "last 24 hours by hour, America/New_York",
        "range=24h&zone=America/New_York",
    ),
    (
        "last 7 days by day, America/New_York",
        "range=7d&zone=America/New_York",
    ),
    (
        "last 30 days by day, Asia/Kolkata",
        "range=30d&zone=Asia/Kolkata",
    ),
    (
        "last 90 days by day, Asia/Kathmandu",
        "range=90d&zone=Asia/Kathmandu",
    ),
    (
        "last 12 months by week, America/New_York",
        "range=12m&zone=America/New_York",
    ),
    (
        "last 12 months by week, Asia/Kathmandu",
        "range=12m&zone=Asia/Kathmandu",
    ),
    (
        "last 12 months by day, Asia/Kolkata",
        "range=12m&zone=Asia/Kolkata&step=day",
    ),
    (
        "last 12 months by hour, UTC",
        "range=12m&zone=UTC&step=hour",
    ),
];

/// One engine's measurement.
pub struct HistoryCost {
    /// The engine, as the report names it.
    pub engine: &'static str,
    /// Days of history.
    pub days: i64,
    /// History rows written (all units, figures and slots).
    pub rows: u64,
    /// Their size: the SQLite file (which holds little else), or the
    /// Postgres table with its index, bytes.
    pub database_bytes: u64,
    /// The conversations' sketches written beside it (every unit and slot):
    /// rows and bytes, measured like the history's.
    pub sketches: (u64, u64),
    /// Mean compute time per range: (name, ms).
    pub ranges: Vec<(&'static str, f64)>,
    /// A year by hour (8,760 rows) as CSV: rows per second, end to end.
    pub csv_rows_per_second: f64,
    /// The server's memory growth while streaming that CSV five times, KiB.
    pub csv_rss_growth_kib: u64,
    /// Accounts whose history was written.
    pub accounts: i64,
    /// The accounts' history: rows written for them.
    pub account_rows: u64,
    /// Its size (table and indexes on Postgres; the file's growth on
    /// SQLite), bytes.
    pub account_bytes: u64,
    /// The accounts' conversation sketches written beside it: rows and
    /// bytes, measured like the accounts' history.
    pub account_sketches: (u64, u64),
    /// Mean compute time per range of the busiest account: (name, ms).
    pub account_ranges: Vec<(&'static str, f64)>,
    /// Mean time to compute the live snapshot on this history, ms: with no
    /// time zone chosen, and with one (today's counts in Asia/Kathmandu,
    /// read from the history's hours and the quarter-hours after its
    /// midnight).
    pub snapshot_ms: (f64, f64),
}

/// The database the server runs on.
pub enum Database {
    /// A file in the server's data directory (the default).
    Sqlite,
    /// A fresh Postgres database at this URL.
    Postgres(String),
}

/// Measures on `database` with `days` of history, and `accounts` accounts'
/// history.
pub async fn run(
    binary: &Path,
    database: &Database,
    days: i64,
    accounts: i64,
) -> Result<HistoryCost> {
    let data_dir = tempfile::tempdir().context("temporary data directory")?;
    let env = match database {
        Database::Sqlite => vec![],
        Database::Postgres(url) => vec![("DATABASE_URL", url.clone())],
    };
    // Start once so the database exists with its schema.
    drop(Server::start_in(binary, &env, data_dir.path()).await?);
    let filled = match database {
        Database::Sqlite => {
            let path = data_dir.path().join("pulse.db");
            let url = format!("sqlite://{}", path.display());
            let rows = fill(&url, 1, days).await?;
            let history_bytes = std::fs::metadata(&path)?.len();
            let sketch_rows = fill_sketches(&url, 1, days).await?;
            let sketch_bytes = std::fs::metadata(&path)?.len() - history_bytes;
            let account_rows = fill_accounts(&url, accounts, 1).await?;
            let before_account_sketches = std::fs::metadata(&path)?.len();
            let account_bytes = before_account_sketches - history_bytes - sketch_bytes;
            let account_sketch_rows = fill_account_sketches(&url, accounts, 1).await?;
            let account_sketch_bytes = std::fs::metadata(&path)?.len() - before_account_sketches;
            (
                "SQLite",
                rows,
                history_bytes,
                (sketch_rows, sketch_bytes),
                (account_rows, account_bytes),
                (account_sketch_rows, account_sketch_bytes),
            )
        }
        Database::Postgres(url) => {
            let rows = fill(url, 4, days).await?;
            let sketch_rows = fill_sketches(url, 4, days).await?;
            let account_rows = fill_accounts(url, accounts, 4).await?;
            let account_sketch_rows = fill_account_sketches(url, accounts, 4).await?;
            let mut connection = sqlx::AnyConnection::connect(url).await?;
            let (bytes, sketch_bytes, account_bytes, account_sketch_bytes): (i64, i64, i64, i64) =
                sqlx::query_as(
                    "SELECT pg_total_relation_size('history'),
                            pg_total_relation_size('conversation_sketches'),
                            pg_total_relation_size('account_history'),
                            pg_total_relation_size('account_conversation_sketches')",
                )
                .fetch_one(&mut connection)
                .await?;
            (
                "Postgres",
                rows,
                bytes as u64,
                (sketch_rows, sketch_bytes as u64),
                (account_rows, account_bytes as u64),
                (account_sketch_rows, account_sketch_bytes as u64),
            )
        }
    };
    let (engine, rows, database_bytes, sketches, (account_rows, account_bytes), account_sketches) =
        filled;
    let server = Server::start_in(binary, &env, data_dir.path()).await?;
    let cookie = server.log_in().await?;
    let http = reqwest::Client::new();
    let mut ranges = Vec::new();
    for (name, query) in RANGES {
        let url = format!("{}/api/admin/history?{query}", server.base_url);
        get(&http, &url, &cookie).await?;
        let before = compute_seconds(&server, &cookie, HISTOGRAM).await?;
        for _ in 0..REQUESTS {
            get(&http, &url, &cookie).await?;
        }
        let after = compute_seconds(&server, &cookie, HISTOGRAM).await?;
        ranges.push((name, (after.0 - before.0) / (after.1 - before.1) * 1000.0));
    }
    let mut account_ranges = Vec::new();
    // The same ranges for the busiest account, but a year by hour (the
    // service's CSV case; an account's page never asks for it).
    for (name, query) in RANGES
        .iter()
        .filter(|(_, query)| !query.contains("step=hour"))
    {
        let url = format!(
            "{}/api/admin/accounts/{BUSIEST}/history?{query}",
            server.base_url
        );
        get(&http, &url, &cookie).await?;
        let before = compute_seconds(&server, &cookie, HISTOGRAM).await?;
        for _ in 0..REQUESTS {
            get(&http, &url, &cookie).await?;
        }
        let after = compute_seconds(&server, &cookie, HISTOGRAM).await?;
        account_ranges.push((*name, (after.0 - before.0) / (after.1 - before.1) * 1000.0));
    }
    let without_zone = crate::snapshot_cost::mean_compute_ms(&server, &cookie).await?;
    choose_zone(&http, &server, &cookie, "Asia/Kathmandu").await?;
    let with_zone = crate::snapshot_cost::mean_compute_ms(&server, &cookie).await?;
    let csv = format!(
        "{}/api/admin/history.csv?range=12m&zone=UTC&step=hour",
        server.base_url
    );
    let rss_before = server.rss_kib()?;
    let started = std::time::Instant::now();
    let mut lines = 0;
    for _ in 0..5 {
        let response = http.get(&csv).header("cookie", &cookie).send().await?;
        if !response.status().is_success() {
            bail!("{csv}: {}", response.status());
        }
        lines += response.text().await?.lines().count() - 1;
    }
    let csv_rows_per_second = lines as f64 / started.elapsed().as_secs_f64();
    let csv_rss_growth_kib = server.rss_kib()?.saturating_sub(rss_before);
    Ok(HistoryCost {
        engine,
        days,
        rows,
        database_bytes,
        sketches,
        ranges,
        csv_rows_per_second,
        csv_rss_growth_kib,
        accounts,
        account_rows,
        account_bytes,
        account_sketches,
        account_ranges,
        snapshot_ms: (without_zone, with_zone),
    })
}

/// Makes `zone` the logged-in admin's and checks the live snapshot counts
/// today in it.
async fn choose_zone(
    http: &reqwest::Client,
    server: &Server,
    cookie: &str,
    zone: &str,
) -> Result<()> {
    let response = http
        .post(format!("{}/api/admin/stats/zone", server.base_url))
        .header("cookie", cookie)
        .form(&[("zone", zone)])
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("choosing the zone {zone}: {}", response.status());
    }
    let snapshot: serde_json::Value = http
        .post(format!("{}/api/admin/stats/refresh", server.base_url))
        .header("cookie", cookie)
        .form::<[(&str, &str); 0]>(&[])
        .send()
        .await?
        .json()
        .await?;
    let received = snapshot["zones_today"][0]["dms_received"].as_i64();
    if received.is_none_or(|count| count <= 0) {
        bail!(
            "the snapshot counts no DM today in {zone}: {:?}",
            snapshot["zones_today"]
        );
    }
    Ok(())
}

const HISTOGRAM: &str = "pulse_history_report_compute_seconds";

async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> Result<()> {
    let response = http.get(url).header("cookie", cookie).send().await?;
    if !response.status().is_success() {
        bail!("{url}: {} {}", response.status(), response.text().await?);
    }
    let report: serde_json::Value = response.json().await?;
    if report["figures"]["dms_received"].as_i64().unwrap_or(0) <= 0 {
        bail!("{url}: no DMs in the report");
    }
    if report["figures"]["active_conversations"]
        .as_i64()
        .unwrap_or(0)
        <= 0
    {
        bail!("{url}: no active conversations in the report");
    }
    Ok(())
}

/// Writes `days` of history ending today into the database at `url`, in
/// `slots` writer slots, every figure present in every unit; returns the
/// rows written.
async fn fill(url: &str, slots: i64, days: i64) -> Result<u64> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let figures = figure_columns(&mut connection, url).await?;
    let now = crate::reference::now_ms();
    let day = 86_400_000;
    let end = now - now % day + day;
    let start = end - days * day;
    // 5 million DMs a day, about half each way: per quarter-hour and slot;
    // the other figures smaller.
    let per_quarter = 5_000_000 / 2 / 96 / slots;
    let counts: Vec<i64> = figures
        .iter()
        .map(|column| match column.as_str() {
            "m_dm_received" | "m_dm_sent" => per_quarter,
            column if column.starts_with("reply_") => per_quarter / 50 + 1,
            _ => per_quarter / 10 + 1,
        })
        .collect();
    let mut rows = 0;
    let mut transaction = sqlx::Connection::begin(&mut connection).await?;
    for (unit, per_unit) in [(900_000, 1), (3_600_000, 4), (day, 96)] {
        let mut values = Vec::new();
        for unit_start in (start..end).step_by(unit as usize) {
            for slot in 0..slots {
                let row: Vec<String> = counts
                    .iter()
                    .map(|count| (count * per_unit).to_string())
                    .collect();
                values.push(format!("({unit},{unit_start},{slot},{})", row.join(",")));
            }
            if values.len() >= 500 {
                rows += insert(&mut transaction, &figures, &values).await?;
                values.clear();
            }
        }
        rows += insert(&mut transaction, &figures, &values).await?;
    }
    transaction.commit().await?;
    Ok(rows)
}

/// Writes the conversations' sketches of `days` ending today into the
/// database at `url` as ingestion and retention leave them for a large
/// customer: every quarter-hour, hour and day before the last two days
/// folded into one slot, the quarter-hours after in each of `slots` writer
/// slots, every register set; returns the rows written.
async fn fill_sketches(url: &str, slots: i64, days: i64) -> Result<u64> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let now = crate::reference::now_ms();
    let (hour, day) = (3_600_000, 86_400_000);
    let end = now - now % day + day;
    let start = end - days * day;
    let folded_below = (now - 2 * day) - (now - 2 * day) % hour;
    let mut rows = 0;
    let mut transaction = sqlx::Connection::begin(&mut connection).await?;
    let units = [
        (900_000, start..folded_below, -2..-1),
        (900_000, folded_below..end, 0..slots),
        (hour, start..folded_below, -2..-1),
        (day, start..folded_below - folded_below % day, -2..-1),
    ];
    for (unit, starts, slots) in units {
        for unit_start in starts.step_by(unit as usize) {
            for slot in slots.clone() {
                // Ranks as thousands of conversations per register leave
                // them (the values do not change the read's cost).
                let sketch: Vec<u8> = (0..1024_i64)
                    .map(|register| (8 + (register + unit_start / unit + slot) % 8) as u8)
                    .collect();
                rows += sqlx::query(
                    "INSERT INTO conversation_sketches (unit_ms, start_ms, slot, sketch)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(unit)
                .bind(unit_start)
                .bind(slot)
                .bind(sketch)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            }
        }
    }
    sqlx::query("UPDATE conversation_sketches_fold SET below_ms = $1")
        .bind(folded_below)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(rows)
}

/// A unit an account's rows are kept in: (unit, first start, end, writer
/// slots).
type KeptUnit = (i64, i64, i64, i64);

/// The model's account number `account` (the first the busiest): its id,
/// its DMs a day, and the units its rows are kept in at their fullest as of
/// `now`.
fn model_account(account: i64, now: i64, slots: i64) -> (String, i64, [KeptUnit; 3]) {
    let (quarter, hour, day) = (900_000_i64, 3_600_000_i64, 86_400_000_i64);
    let today = now - now % day;
    let id = format!("{}", 17_841_400_000_000_i64 + account);
    let per_day = if account == 0 { 200_000 } else { 250 };
    let (quarters_from, hours_from) = (today - 3 * day, today - 34 * day);
    let units = [
        (quarter, quarters_from, today + day, slots),
        (hour, hours_from, quarters_from, 1),
        (day, hours_from - 801 * day, hours_from, 1),
    ];
    (id, per_day, units)
}

/// Writes the accounts' history into the database at `url` as ingestion
/// would leave it at its fullest: for `accounts` accounts (the first the
/// busiest, 200,000 DMs a day; the others 250), a row per quarter-hour of
/// today and the three UTC days before (the three days and two hours kept,
/// and the hour before they are folded, at most) in each of `slots` writer
/// slots, and per hour of the 31 days before and per day of the 801 before
/// in the one slot folding writes; returns the rows written.
/// The server must know the accounts: each gets an `accounts` row.
async fn fill_accounts(url: &str, accounts: i64, slots: i64) -> Result<u64> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let figures = columns_of(&mut connection, url, "account_history").await?;
    let now = crate::reference::now_ms();
    let day = 86_400_000_i64;
    let mut rows = 0;
    let mut transaction = sqlx::Connection::begin(&mut connection).await?;
    for account in 0..accounts {
        let (id, per_day, units) = model_account(account, now, slots);
        sqlx::query("INSERT INTO accounts (account_id, first_seen_at_ms) VALUES ($1, $2)")
            .bind(&id)
            .bind(now - now % day - 801 * day)
            .execute(&mut *transaction)
            .await?;
        let mut values = Vec::new();
        for (unit, start, end, slots) in units {
            let per_unit = per_day / 2 * unit / day / slots;
            let row: Vec<String> = figures
                .iter()
                .map(|column| match column.as_str() {
                    "m_dm_received" | "m_dm_sent" => per_unit.max(1),
                    column if column.starts_with("reply_") => per_unit / 50 + 1,
                    _ => per_unit / 10 + 1,
                })
                .map(|count| count.to_string())
                .collect();
            let row = row.join(",");
            for unit_start in (start..end).step_by(unit as usize) {
                for slot in 0..slots {
                    values.push(format!("('{id}',{unit},{unit_start},{slot},{row})"));
                }
                if values.len() >= 500 {
                    rows +=
                        insert_into(&mut transaction, "account_history", &figures, &values).await?;
                    values.clear();
                }
            }
        }
        rows += insert_into(&mut transaction, "account_history", &figures, &values).await?;
    }
    transaction.commit().await?;
    Ok(rows)
}

/// Writes the accounts' conversation sketches into the database at `url`
/// in the units and slots [`fill_accounts`] writes their history in, each
/// sketch as many registers set as a unit's conversations would set: half
/// as many conversations as DMs in the unit (the busiest account's
/// quarter-hours about 640 of the 1,024 registers, its days all; another
/// account's quarter-hours one or two); returns the rows written.
async fn fill_account_sketches(url: &str, accounts: i64, slots: i64) -> Result<u64> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    let now = crate::reference::now_ms();
    let (quarter, day) = (900_000_i64, 86_400_000_i64);
    let mut rows = 0;
    let mut transaction = sqlx::Connection::begin(&mut connection).await?;
    for account in 0..accounts {
        let (id, per_day, units) = model_account(account, now, slots);
        for (unit, start, end, slots) in units {
            let conversations = (per_day / 2 * unit / day / slots).max(1) as f64;
            let set = (1024.0 * (1.0 - (-conversations / 1024.0).exp())).round() as i64;
            let sparse: Vec<u8> = (0..set.max(1))
                .map(|n| n * 1024 / set.max(1))
                .flat_map(|register| (((register << 6) | (1 + register % 3)) as u16).to_be_bytes())
                .collect();
            let keys: Vec<(i64, i64)> = (start..end)
                .step_by(unit as usize)
                .flat_map(|unit_start| {
                    (0..slots)
                        .map(move |slot| (unit_start, if unit == quarter { slot } else { -2 }))
                })
                .collect();
            for chunk in keys.chunks(200) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|row| {
                        let first = row * 4;
                        format!(
                            "('{id}', ${}, ${}, ${}, ${})",
                            first + 1,
                            first + 2,
                            first + 3,
                            first + 4
                        )
                    })
                    .collect();
                let statement = format!(
                    "INSERT INTO account_conversation_sketches
                         (account_id, start_ms, unit_ms, slot, sketch)
                     VALUES {}",
                    values.join(", ")
                );
                let mut query = sqlx::query(&statement);
                for (unit_start, slot) in chunk {
                    query = query
                        .bind(*unit_start)
                        .bind(unit)
                        .bind(*slot)
                        .bind(sparse.clone());
                }
                rows += query.execute(&mut *transaction).await?.rows_affected();
            }
        }
    }
    transaction.commit().await?;
    Ok(rows)
}

/// The history table's figure columns, in order.
async fn figure_columns(connection: &mut sqlx::AnyConnection, url: &str) -> Result<Vec<String>> {
    columns_of(connection, url, "history").await
}

/// The figure columns of `table`, in order.
async fn columns_of(
    connection: &mut sqlx::AnyConnection,
    url: &str,
    table: &str,
) -> Result<Vec<String>> {
    let statement = if url.starts_with("sqlite") {
        format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    } else {
        format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
             WHERE table_name = '{table}' ORDER BY ordinal_position"
        )
    };
    let columns: Vec<(String,)> = sqlx::query_as(&statement)
        .fetch_all(&mut *connection)
        .await?;
    let figures: Vec<String> = columns
        .into_iter()
        .map(|(name,)| name)
        .filter(|name| !["account_id", "unit_ms", "start_ms", "slot"].contains(&name.as_str()))
        .collect();
    if figures.is_empty() {
        bail!("the {table} table has no figure columns");
    }
    Ok(figures)
}

async fn insert(
    connection: &mut sqlx::Transaction<'_, sqlx::Any>,
    figures: &[String],
    values: &[String],
) -> Result<u64> {
    insert_into(connection, "history", figures, values).await
}

async fn insert_into(
    connection: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    figures: &[String],
    values: &[String],
) -> Result<u64> {
    if values.is_empty() {
        return Ok(0);
    }
    let key = if table == "history" {
        "unit_ms, start_ms, slot"
    } else {
        "account_id, unit_ms, start_ms, slot"
    };
    let statement = format!(
        "INSERT INTO {table} ({key}, {}) VALUES {}",
        figures.join(", "),
        values.join(",")
    );
    Ok(sqlx::query(&statement)
        .execute(&mut **connection)
        .await?
        .rows_affected())
}

/// The report's lines for `costs`.
pub fn report(table: &mut String, costs: &[HistoryCost]) {
    use std::fmt::Write as _;
    for cost in costs {
        let ranges: Vec<String> = cost
            .ranges
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.1} ms"))
            .collect();
        let _ = writeln!(
            table,
            "| history of {} days at 5 M DMs/day ({}: {} rows, {:.0} MiB; conversations' sketches {} rows, {:.0} MiB; mean of {REQUESTS} reports per range) | {}; a year by hour as CSV {:.0} rows/s, server memory {:+.1} MiB over five downloads |",
            cost.days,
            cost.engine,
            cost.rows,
            cost.database_bytes as f64 / 1_048_576.0,
            cost.sketches.0,
            cost.sketches.1 as f64 / 1_048_576.0,
            ranges.join("; "),
            cost.csv_rows_per_second,
            cost.csv_rss_growth_kib as f64 / 1024.0,
        );
        let _ = writeln!(
            table,
            "| the live snapshot on that history ({}: mean of {} refreshes) | {:.2} ms with no time zone chosen, {:.2} ms with one (today in Asia/Kathmandu, from the history's hours and quarter-hours) |",
            cost.engine,
            crate::snapshot_cost::REFRESHES,
            cost.snapshot_ms.0,
            cost.snapshot_ms.1,
        );
        let account_ranges: Vec<String> = cost
            .account_ranges
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.1} ms"))
            .collect();
        let per_account = cost.account_bytes as f64 / cost.accounts as f64;
        let sketches_per_account = cost.account_sketches.1 as f64 / cost.accounts as f64;
        let _ = writeln!(
            table,
            "| one account's history, the busiest (200,000 DMs/day) among {} at their fullest ({}: {} rows, {:.0} MiB, {:.0} KiB per account, so {:.1} GiB for 20,000 accounts; their conversations' sketches {} rows, {:.0} MiB, {:.0} KiB per account, so {:.1} GiB) | {} |",
            cost.accounts,
            cost.engine,
            cost.account_rows,
            cost.account_bytes as f64 / 1_048_576.0,
            per_account / 1024.0,
            per_account * 20_000.0 / 1_073_741_824.0,
            cost.account_sketches.0,
            cost.account_sketches.1 as f64 / 1_048_576.0,
            sketches_per_account / 1024.0,
            sketches_per_account * 20_000.0 / 1_073_741_824.0,
            account_ranges.join("; "),
        );
    }
}
