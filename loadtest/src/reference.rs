//! The physical reference for ingestion: how fast the database itself takes
//! the event rows a batched run stores, when nothing else is done. Postgres:
//! `COPY` into the `events` table of an empty database with Pulse's schema
//! (same columns and indexes), one `COPY` per 5,000 rows (the largest group
//! Pulse commits at once), each committed as Pulse's commits are. SQLite: one
//! prepared multi-row `INSERT` repeated inside one transaction, on a new file
//! with Pulse's schema, the WAL journal and `synchronous = FULL`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::{Connection, Executor};

use crate::{
    cpu,
    database_time::{self, DatabaseTime},
};

/// How fast the database alone took the rows, and at what cost.
pub struct Reference {
    pub events_per_second: f64,
    /// CPU per event: the database's (Postgres) or the harness's, where
    /// SQLite runs (SQLite).
    pub cpu: cpu::PerEvent,
    /// Postgres's execution time per event.
    pub database_time: Option<DatabaseTime>,
}

/// Rows per `COPY` (Pulse's largest group: `MAX_GROUP_EVENTS`).
const ROWS_PER_COPY: usize = 5_000;
/// Rows per SQLite `INSERT` statement (8 parameters each).
const ROWS_PER_INSERT: usize = 100;
/// How long each reference runs.
const RUN: Duration = Duration::from_secs(5);

/// One event row as the webhook stores a received DM of `webhooks::dm_batch`.
struct Row {
    dedupe_key: String,
    account_id: String,
    peer_id: String,
    at_ms: i64,
    raw: String,
}

fn row(sequence: u64, now_ms: i64) -> Row {
    let (customer, business) = (sequence % 5000, sequence % 7);
    let mid = format!("reference-{}-{sequence}", std::process::id());
    Row {
        dedupe_key: format!("dm_received:{mid}"),
        account_id: format!("biz-{business}"),
        peer_id: format!("customer-{customer}"),
        at_ms: now_ms,
        raw: format!(
            r#"{{"sender":{{"id":"customer-{customer}"}},"recipient":{{"id":"biz-{business}"}},"timestamp":{now_ms},"message":{{"mid":"{mid}","text":"hello"}}}}"#
        ),
    }
}

/// The time now, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Events per second `COPY` stores into a new database at `url` (empty, with
/// Pulse's schema), and what it cost.
pub async fn postgres(url: &str) -> Result<Reference> {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connect to the reference database")?;
    sqlx::migrate!("../migrations/postgres")
        .run(&mut connection)
        .await
        .context("create Pulse's schema")?;
    database_time::reset(url).await?;
    let cpu_before = cpu::Sample::take(&[])?;
    let mut sequence = 0;
    let started = Instant::now();
    while started.elapsed() < RUN {
        let now = now_ms();
        let mut text = String::with_capacity(ROWS_PER_COPY * 256);
        for _ in 0..ROWS_PER_COPY {
            let row = row(sequence, now);
            sequence += 1;
            // Text format: tab-separated; the generated values hold no tab,
            // newline or backslash.
            text.push_str(&format!(
                "dm_received\t{}\t{}\t{}\t{}\t{}\t{}\n",
                row.dedupe_key, row.account_id, row.peer_id, row.at_ms, now, row.raw
            ));
        }
        let mut copy = connection
            .copy_in_raw(
                "COPY events (kind, dedupe_key, account_id, peer_id, occurred_at_ms, \
                 received_at_ms, raw) FROM STDIN",
            )
            .await?;
        copy.send(text.into_bytes()).await?;
        copy.finish().await?;
    }
    let events_per_second = sequence as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu_before.per_event(&cpu::Sample::take(&[])?, sequence);
    Ok(Reference {
        events_per_second,
        cpu,
        database_time: Some(database_time::read(url, sequence).await?),
    })
}

/// Events per second one transaction of prepared multi-row inserts stores
/// into a new SQLite file in `directory` (Pulse's schema, WAL, `synchronous
/// = FULL`), commit included, and what it cost.
pub async fn sqlite(directory: &std::path::Path) -> Result<Reference> {
    let url = format!(
        "sqlite://{}?mode=rwc",
        directory.join("reference.db").display()
    );
    let mut connection = sqlx::SqliteConnection::connect(&url)
        .await
        .context("open the reference database")?;
    connection
        .execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .await?;
    sqlx::migrate!("../migrations/sqlite")
        .run(&mut connection)
        .await
        .context("create Pulse's schema")?;
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; ROWS_PER_INSERT].join(", ");
    let statement = format!(
        "INSERT INTO events
             (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw, error)
         VALUES {values}"
    );
    let mut sequence = 0;
    let cpu_before = cpu::Sample::take(&[])?;
    let started = Instant::now();
    let mut tx = connection.begin().await?;
    while started.elapsed() < RUN {
        let now = now_ms();
        let rows: Vec<Row> = (0..ROWS_PER_INSERT)
            .map(|offset| row(sequence + offset as u64, now))
            .collect();
        sequence += ROWS_PER_INSERT as u64;
        let mut query = sqlx::query(&statement);
        for row in &rows {
            query = query
                .bind("dm_received")
                .bind(&row.dedupe_key)
                .bind(&row.account_id)
                .bind(&row.peer_id)
                .bind(row.at_ms)
                .bind(now)
                .bind(&row.raw)
                .bind(None::<String>);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let events_per_second = sequence as f64 / started.elapsed().as_secs_f64();
    Ok(Reference {
        events_per_second,
        cpu: cpu_before.per_event(&cpu::Sample::take(&[])?, sequence),
        database_time: None,
    })
}
