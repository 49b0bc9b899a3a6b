//! Time to compute one page of the accounts table with many business
//! accounts, with the server's own histograms: the build of every account's
//! sortable figures after the server starts
//! (`pulse_account_figures_catch_up_seconds`, in the background), then
//! (`pulse_accounts_page_compute_seconds`) the first page, the next ones in
//! each order, and one after DMs to many accounts (whose figures it catches
//! up); a page in the admin's time zone (its figures built in the background
//! beside the UTC day's), and the first page in a zone no admin chose (its
//! figures built for it, from the accounts' hours); and the main snapshot's
//! time beside it (it carries the silent count, which must not grow with
//! them).
//!
//! On SQLite and on Postgres. The accounts and their aggregate rows are
//! written in SQL while the server is stopped: each account has today's DMs, four hourly rows over the last
//! day (of events, and of its history), three waiting minutes and five reply rows in the last hour, and its
//! newest event somewhere in the last 24 h (so nearly all of them are
//! candidates for the silence rule, the costly case).

use std::path::Path;

use anyhow::{bail, Context, Result};
use sqlx::Connection;

use crate::{reference, server::Server, snapshot_cost, webhooks};

/// Page requests per measurement (each sort, after a warm-up).
pub const REQUESTS: u32 = 10;
/// Requests before measuring.
const WARM_UP: u32 = 2;

/// How long the server may take to build the figures after it starts.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Accounts that get a DM before the page measured after changes.
pub const CHANGED_ACCOUNTS: u64 = 1_000;

/// The time zone the admin chose (written with the accounts).
const ADMINS_ZONE: &str = "Asia/Tokyo";
/// The page asked for in the admin's time zone (a day that is not UTC's) …
pub const ZONE_VIEW: &str = "sort=received&zone=Asia/Tokyo";
/// … in a zone no admin chose whose today begins with the admin's …
pub const SHARING_ZONE_VIEW: &str = "sort=received&zone=Asia/Seoul";
/// … and in a zone no admin chose whose today begins on its own.
pub const UNCHOSEN_ZONE_VIEW: &str = "sort=received&zone=America/Sao_Paulo";

/// The database the server runs on.
pub enum Database {
    /// A file in the server's data directory (the default).
    Sqlite,
    /// A fresh Postgres database at this URL.
    Postgres(String),
}

/// One measurement.
pub struct AccountsCost {
    /// The engine, as the report names it.
    pub engine: &'static str,
    pub accounts: u64,
    /// The catch-ups of the figures from the server's start to every
    /// account held (the build that reads every account, and a minute's
    /// catch-up if one fell in between), ms.
    pub build_ms: f64,
    /// The server's memory growth from its start to every account held
    /// (the ordered figures it keeps), KiB.
    pub figures_kib: u64,
    /// The first page's compute time once the figures are built, ms.
    pub first_page_ms: f64,
    /// The page's compute time after [`CHANGED_ACCOUNTS`] accounts got a DM, ms.
    pub after_changes_ms: f64,
    /// Accounts that page recomputed (those changed, and those whose time
    /// windows moved meanwhile).
    pub recomputed: u64,
    /// Mean page compute time per sort asked: (query string, ms).
    pub page_ms: Vec<(&'static str, f64)>,
    /// The first page in the admin's zone ([`ZONE_VIEW`]), once the
    /// server built its figures in the background, ms …
    pub zone_first_page_ms: f64,
    /// … and the mean of the next [`REQUESTS`] pages, ms.
    pub zone_page_ms: f64,
    /// The first page in [`SHARING_ZONE_VIEW`]'s zone (served from the
    /// admin's zone's figures), ms.
    pub sharing_first_page_ms: f64,
    /// The first page in [`UNCHOSEN_ZONE_VIEW`]'s zone (every account's
    /// figures read for it), ms …
    pub unchosen_first_page_ms: f64,
    /// … and the server's memory growth with them, KiB.
    pub zone_kib: u64,
    /// Mean main snapshot compute time with these accounts.
    pub snapshot_ms: f64,
    /// One account's page (`GET /api/admin/accounts/{id}`), answered in
    /// (ms, HTTP on loopback included, median of [`REQUESTS`]).
    pub account_page_ms: f64,
    /// Every account as CSV (the default order): rows per second, end to end.
    pub csv_rows_per_second: f64,
    /// The server's memory growth over three such downloads, KiB.
    pub csv_rss_growth_kib: u64,
    /// … and over ten, KiB.
    pub csv_rss_growth_after_ten_kib: u64,
}

/// The views measured: the default (most waiting first), by median reply,
/// by DMs received today, by newest event, and a filter that matches a
/// tenth of the accounts.
const VIEWS: [&str; 5] = [
    "sort=waiting",
    "sort=reply&dir=asc",
    "sort=received",
    "sort=last_event",
    "q=7&sort=account",
];

pub async fn run(binary: &Path, accounts: u64, database: &Database) -> Result<AccountsCost> {
    let data_dir = tempfile::tempdir().context("temporary data directory")?;
    let env = match database {
        Database::Sqlite => vec![],
        Database::Postgres(url) => vec![("DATABASE_URL", url.clone())],
    };
    // Start once so the database exists with its schema.
    drop(Server::start_in(binary, &env, data_dir.path()).await?);
    let engine = match database {
        Database::Sqlite => {
            fill(&data_dir.path().join("pulse.db"), accounts).await?;
            "SQLite"
        }
        Database::Postgres(url) => {
            fill_postgres(url, accounts).await?;
            "Postgres"
        }
    };
    let server = Server::start_in(binary, &env, data_dir.path()).await?;
    let cookie = server.log_in().await?;
    let http = reqwest::Client::new();
    let first = format!("{}/api/admin/accounts?{}", server.base_url, VIEWS[0]);
    let rss_before = server.rss_kib()?;
    let build_ms = built(&server, &cookie, accounts).await?;
    let figures_kib = server.rss_kib()?.saturating_sub(rss_before);
    let first_page_ms = page_compute_ms(&server, &cookie, &http, &first, 1).await?;
    let mut page_ms = Vec::new();
    for view in VIEWS {
        let url = format!("{}/api/admin/accounts?{view}", server.base_url);
        for _ in 0..WARM_UP {
            get(&http, &url, &cookie).await?;
        }
        page_ms.push((
            view,
            page_compute_ms(&server, &cookie, &http, &url, REQUESTS).await?,
        ));
    }
    let zone_url = format!("{}/api/admin/accounts?{ZONE_VIEW}", server.base_url);
    let zone_first_page_ms = page_compute_ms(&server, &cookie, &http, &zone_url, 1).await?;
    let zone_page_ms = page_compute_ms(&server, &cookie, &http, &zone_url, REQUESTS).await?;
    let sharing_url = format!("{}/api/admin/accounts?{SHARING_ZONE_VIEW}", server.base_url);
    let sharing_first_page_ms = page_compute_ms(&server, &cookie, &http, &sharing_url, 1).await?;
    let unchosen_url = format!(
        "{}/api/admin/accounts?{UNCHOSEN_ZONE_VIEW}",
        server.base_url
    );
    let rss_before_zone = server.rss_kib()?;
    let unchosen_first_page_ms = page_compute_ms(&server, &cookie, &http, &unchosen_url, 1).await?;
    let zone_kib = server.rss_kib()?.saturating_sub(rss_before_zone);
    let now = reference::now_ms();
    let step = accounts / CHANGED_ACCOUNTS;
    let changed: Vec<String> = (0..CHANGED_ACCOUNTS)
        .map(|i| account_id(i * step))
        .collect();
    for (batch, ids) in changed.chunks(100).enumerate() {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    r#"{{"id":"{id}","time":{now},"messaging":[{{"sender":{{"id":"c-{id}"}},"recipient":{{"id":"{id}"}},"timestamp":{now},"message":{{"mid":"changed-{batch}-{id}","text":"hi"}}}}]}}"#
                )
            })
            .collect();
        let body = format!(
            r#"{{"object":"instagram","entry":[{}]}}"#,
            entries.join(",")
        );
        webhooks::post(&http, &server.base_url, body).await?;
    }
    let recomputed_before = server
        .metric(&cookie, "pulse_account_figures_recomputed_total")
        .await?;
    let after_changes_ms = page_compute_ms(&server, &cookie, &http, &first, 1).await?;
    let recomputed = server
        .metric(&cookie, "pulse_account_figures_recomputed_total")
        .await?
        - recomputed_before;
    let refresh = format!("{}/api/admin/stats/refresh", server.base_url);
    let before = compute_seconds(&server, &cookie, "pulse_snapshot_compute_seconds").await?;
    for _ in 0..REQUESTS {
        let response = http
            .post(&refresh)
            .header("cookie", &cookie)
            .header("origin", &server.base_url)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("refresh refused: {}", response.status());
        }
    }
    let after = compute_seconds(&server, &cookie, "pulse_snapshot_compute_seconds").await?;
    let account_page_ms = account_page_ms(&http, &server, &cookie, &changed[0]).await?;
    let (csv_rows_per_second, csv_rss_growth_kib, csv_rss_growth_after_ten_kib) =
        csv_download(&server, &cookie, &http).await?;
    Ok(AccountsCost {
        account_page_ms,
        csv_rows_per_second,
        csv_rss_growth_kib,
        csv_rss_growth_after_ten_kib,
        engine,
        accounts,
        build_ms,
        figures_kib,
        first_page_ms,
        after_changes_ms,
        recomputed: recomputed as u64,
        page_ms,
        zone_first_page_ms,
        zone_page_ms,
        sharing_first_page_ms,
        unchosen_first_page_ms,
        zone_kib,
        snapshot_ms: (after.0 - before.0) / (after.1 - before.1) * 1000.0,
    })
}

/// Downloads every account as CSV three times, then seven more: rows per
/// second over the first three, and the server's memory growth after three
/// and after ten (whether it levels off).
async fn csv_download(
    server: &Server,
    cookie: &str,
    http: &reqwest::Client,
) -> Result<(f64, u64, u64)> {
    let url = format!("{}/api/admin/accounts.csv", server.base_url);
    let rss_before = server.rss_kib()?;
    let download = || async {
        let response = http.get(&url).header("cookie", cookie).send().await?;
        if !response.status().is_success() {
            bail!("{url}: {}", response.status());
        }
        Ok(response.text().await?.lines().count() - 1)
    };
    let started = std::time::Instant::now();
    let mut rows = 0;
    for _ in 0..3 {
        rows += download().await?;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    let after_three = server.rss_kib()?.saturating_sub(rss_before);
    for _ in 0..7 {
        download().await?;
    }
    let after_ten = server.rss_kib()?.saturating_sub(rss_before);
    Ok((rate, after_three, after_ten))
}

/// Waits until the server holds the figures of all `accounts` for the UTC
/// day and the admin's zone (two catch-ups); returns the time the first
/// took, ms.
async fn built(server: &Server, cookie: &str, accounts: u64) -> Result<f64> {
    let started = std::time::Instant::now();
    let mut utc_day = None;
    loop {
        let held = server
            .metric(cookie, "pulse_account_figures_accounts")
            .await?;
        let (seconds, catch_ups) =
            compute_seconds(server, cookie, "pulse_account_figures_catch_up_seconds").await?;
        if held as u64 >= accounts && utc_day.is_none() {
            utc_day = Some(seconds * 1000.0);
        }
        if let Some(ms) = utc_day.filter(|_| catch_ups >= 2.0) {
            return Ok(ms);
        }
        if started.elapsed() > BUILD_TIMEOUT {
            bail!("the server held the figures of {held} of {accounts} accounts after {BUILD_TIMEOUT:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> Result<()> {
    let response = http.get(url).header("cookie", cookie).send().await?;
    if !response.status().is_success() {
        bail!("{url}: {}", response.status());
    }
    let page: serde_json::Value = response.json().await?;
    if page["rows"].as_array().is_none_or(|rows| rows.is_empty()) {
        bail!("{url}: an empty page");
    }
    Ok(())
}

/// The mean compute time of `requests` requests of `url`, in ms.
async fn page_compute_ms(
    server: &Server,
    cookie: &str,
    http: &reqwest::Client,
    url: &str,
    requests: u32,
) -> Result<f64> {
    let before = compute_seconds(server, cookie, "pulse_accounts_page_compute_seconds").await?;
    for _ in 0..requests {
        get(http, url, cookie).await?;
    }
    let after = compute_seconds(server, cookie, "pulse_accounts_page_compute_seconds").await?;
    Ok((after.0 - before.0) / (after.1 - before.1) * 1000.0)
}

/// How long the page of the account `id` takes to answer, HTTP included:
/// the median of [`REQUESTS`] requests after a warm-up.
async fn account_page_ms(
    http: &reqwest::Client,
    server: &Server,
    cookie: &str,
    id: &str,
) -> Result<f64> {
    let url = format!("{}/api/admin/accounts/{id}", server.base_url);
    let mut times = Vec::new();
    for round in 0..WARM_UP + REQUESTS {
        let started = std::time::Instant::now();
        let response = http.get(&url).header("cookie", cookie).send().await?;
        if !response.status().is_success() {
            bail!("{url}: {}", response.status());
        }
        let page: serde_json::Value = response.json().await?;
        if page["row"]["account_id"] != id {
            bail!("{url}: not the account's page");
        }
        if round >= WARM_UP {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The id of harness account `i` (as `fill` writes them).
fn account_id(i: u64) -> String {
    format!("1784{i:010}")
}

/// A histogram's (sum, count), as the server exports them.
pub async fn compute_seconds(server: &Server, cookie: &str, name: &str) -> Result<(f64, f64)> {
    Ok((
        server.metric(cookie, &format!("{name}_sum")).await?,
        server.metric(cookie, &format!("{name}_count")).await?,
    ))
}

/// The statements that write `$1` business accounts and their rows at `$2`
/// (now, Unix ms) on either engine, with `account_id` the engine's way of
/// writing account `i`'s id (`1784` and `i` in ten digits).
fn fill_statements(account_id: &str) -> [String; 7] {
    let (day, hour, minute) = (86_400_000i64, 3_600_000i64, 60_000i64);
    // The accounts numbered from 0, and `k` from 0 to `last` for each.
    let numbered = "WITH RECURSIVE n(i) AS (
                        SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1)";
    let each = |last: i64| {
        format!("{numbered}, m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < {last})")
    };
    [
        format!(
            "{numbered} INSERT INTO accounts (account_id, first_seen_at_ms)
             SELECT {account_id}, $2 - {day} FROM n"
        ),
        // Newest event spread over the last 24 h.
        format!(
            "{numbered} INSERT INTO account_last_events (account_id, slot, last_event_at_ms)
             SELECT {account_id}, 0, $2 - (i * 7919) % {day} FROM n"
        ),
        format!(
            "{numbered} INSERT INTO account_days (account_id, day_ms, slot, received, sent)
             SELECT {account_id}, $2 - $2 % {day}, 0, i % 50, i % 30 FROM n"
        ),
        format!(
            "{} INSERT INTO account_hours (account_id, hour_ms, slot, events)
             SELECT {account_id}, ($2 - $2 % {hour}) - (k * 6 + i % 6) * {hour}, 0, 3 + i % 10
             FROM n, m",
            each(3)
        ),
        format!(
            "{} INSERT INTO account_history (account_id, unit_ms, start_ms, slot, m_dm_received, m_dm_sent)
             SELECT {account_id}, {hour}, ($2 - $2 % {hour}) - (k * 6 + i % 6) * {hour}, 0,
                    1 + i % 7, i % 5
             FROM n, m",
            each(3)
        ),
        format!(
            "{} INSERT INTO account_waiting_minutes (account_id, minute_ms, slot, count)
             SELECT {account_id}, ($2 - $2 % {minute}) - (k * 400 + i % 400) * {minute}, 0,
                    1 + i % 3
             FROM n, m",
            each(2)
        ),
        format!(
            "{} INSERT INTO account_reply_minutes (account_id, minute_ms, bucket, slot, count)
             SELECT {account_id}, ($2 - $2 % {minute}) - ((k * 11 + i) % 60) * {minute},
                    (i + k * 5) % 40, 0, 1 + k
             FROM n, m",
            each(4)
        ),
    ]
}

/// The store's count of accounts, moved by the accounts [`fill_statements`] wrote.
const COUNT_FILLED: &str = "UPDATE store_slots SET accounts = accounts + $1 WHERE slot = 0";

/// Writes the [`fill_statements`] rows of `accounts` accounts (ids written by
/// `account_id`) and their count in one transaction on `connection`, either
/// engine's.
async fn write_filled<DB>(
    connection: &mut DB::Connection,
    account_id: &str,
    accounts: u64,
) -> Result<()>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let now = reference::now_ms();
    let mut tx = connection.begin().await?;
    for statement in &fill_statements(account_id) {
        sqlx::query(statement)
            .bind(accounts as i64)
            .bind(now)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("fill: {statement}"))?;
    }
    sqlx::query(COUNT_FILLED)
        .bind(accounts as i64)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("UPDATE admins SET time_zone = '{ADMINS_ZONE}'"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Writes `accounts` business accounts and their rows into the stopped
/// server's SQLite database.
async fn fill(db: &Path, accounts: u64) -> Result<()> {
    let mut connection = snapshot_cost::open_for_filling(db).await?;
    write_filled::<sqlx::Sqlite>(&mut connection, "printf('1784%010d', i)", accounts).await?;
    connection.close().await?;
    snapshot_cost::flush_filled();
    Ok(())
}

/// [`fill`] on Postgres, the same rows; then `ANALYZE`, as autovacuum would
/// soon after a load this size.
async fn fill_postgres(url: &str, accounts: u64) -> Result<()> {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connect to the accounts database")?;
    write_filled::<sqlx::Postgres>(
        &mut connection,
        "'1784' || lpad(CAST(i AS TEXT), 10, '0')",
        accounts,
    )
    .await?;
    sqlx::query("ANALYZE").execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}
