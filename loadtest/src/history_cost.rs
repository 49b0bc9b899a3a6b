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

use std::path::Path;

use anyhow::{bail, Context, Result};
use sqlx::Connection;

use crate::{accounts_cost::compute_seconds, server::Server};

/// Days of history written for the measurement: 13 months and a day.
pub const DAYS: i64 = 396;
/// Requests per range measured (after one warm-up).
pub const REQUESTS: u32 = 5;

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
    /// Mean compute time per range: (name, ms).
    pub ranges: Vec<(&'static str, f64)>,
    /// A year by hour (8,760 rows) as CSV: rows per second, end to end.
    pub csv_rows_per_second: f64,
    /// The server's memory growth while streaming that CSV five times, KiB.
    pub csv_rss_growth_kib: u64,
}

/// The database the server runs on.
pub enum Database {
    /// A file in the server's data directory (the default).
    Sqlite,
    /// A fresh Postgres database at this URL.
    Postgres(String),
}

/// Measures on `database` with `days` of history.
pub async fn run(binary: &Path, database: &Database, days: i64) -> Result<HistoryCost> {
    let data_dir = tempfile::tempdir().context("temporary data directory")?;
    let env = match database {
        Database::Sqlite => vec![],
        Database::Postgres(url) => vec![("DATABASE_URL", url.clone())],
    };
    // Start once so the database exists with its schema.
    drop(Server::start_in(binary, &env, data_dir.path()).await?);
    let (engine, rows, database_bytes) = match database {
        Database::Sqlite => {
            let path = data_dir.path().join("pulse.db");
            let url = format!("sqlite://{}", path.display());
            let rows = fill(&url, 1, days).await?;
            ("SQLite", rows, std::fs::metadata(&path)?.len())
        }
        Database::Postgres(url) => {
            let rows = fill(url, 4, days).await?;
            let mut connection = sqlx::AnyConnection::connect(url).await?;
            let (bytes,): (i64,) = sqlx::query_as("SELECT pg_total_relation_size('history')")
                .fetch_one(&mut connection)
                .await?;
            ("Postgres", rows, bytes as u64)
        }
    };
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
        ranges,
        csv_rows_per_second,
        csv_rss_growth_kib,
    })
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

/// The history table's figure columns, in order.
async fn figure_columns(connection: &mut sqlx::AnyConnection, url: &str) -> Result<Vec<String>> {
    let statement = if url.starts_with("sqlite") {
        "SELECT name FROM pragma_table_info('history') ORDER BY cid"
    } else {
        "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
         WHERE table_name = 'history' ORDER BY ordinal_position"
    };
    let columns: Vec<(String,)> = sqlx::query_as(statement)
        .fetch_all(&mut *connection)
        .await?;
    let figures: Vec<String> = columns
        .into_iter()
        .map(|(name,)| name)
        .filter(|name| !["unit_ms", "start_ms", "slot"].contains(&name.as_str()))
        .collect();
    if figures.is_empty() {
        bail!("the history table has no figure columns");
    }
    Ok(figures)
}

async fn insert(
    connection: &mut sqlx::Transaction<'_, sqlx::Any>,
    figures: &[String],
    values: &[String],
) -> Result<u64> {
    if values.is_empty() {
        return Ok(0);
    }
    let statement = format!(
        "INSERT INTO history (unit_ms, start_ms, slot, {}) VALUES {}",
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
            "| history of {} days at 5 M DMs/day ({}: {} rows, {:.0} MiB; mean of {REQUESTS} reports per range) | {}; a year by hour as CSV {:.0} rows/s, server memory {:+.1} MiB over five downloads |",
            cost.days,
            cost.engine,
            cost.rows,
            cost.database_bytes as f64 / 1_048_576.0,
            ranges.join("; "),
            cost.csv_rows_per_second,
            cost.csv_rss_growth_kib as f64 / 1024.0,
        );
    }
}
