//! Ingestion while a retention pass runs. A node on SQLite whose database
//! holds events received past the retention period (written in SQL while it
//! is stopped: what a steady load leaves behind as the period moves on)
//! removes them in its first runs, 1,000 a step, while single-event
//! deliveries come in from [`ingestion::SINGLE_SENDERS`] senders. The
//! deliveries acknowledged per second while the removal runs are compared
//! with those of the seconds after it, on the same node and database. When
//! the removal runs is seen from the database: the expired events have the
//! lowest ids, and the removal takes the lowest first.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use sqlx::Connection;

use crate::{ingestion, server::Server, snapshot_cost, webhooks};

/// What the measurement saw.
pub struct RetentionCost {
    /// Expired events the node removed.
    pub removed: u64,
    /// How long the removal took, seconds.
    pub removal_seconds: f64,
    /// Deliveries acknowledged per second while it ran, and in the seconds after.
    pub during_per_second: f64,
    pub after_per_second: f64,
}

/// Days of retention the node runs with (the minimum), and how long ago the
/// expired events were received.
const RETENTION_DAYS: i64 = 2;
const EXPIRED_AGE_MS: i64 = 3 * 86_400_000;
/// How long the rate after the removal is measured.
const AFTER: Duration = Duration::from_secs(10);

/// Measures with `expired` events past the period.
pub async fn run(binary: &Path, expired: u64) -> Result<RetentionCost> {
    let data_dir = tempfile::tempdir().context("temporary data directory")?;
    let env = [("PULSE_EVENT_RETENTION_DAYS", RETENTION_DAYS.to_string())];
    // Start once so the database exists with its schema.
    drop(Server::start_in(binary, &env, data_dir.path()).await?);
    let db = data_dir.path().join("pulse.db");
    fill(&db, expired).await?;

    let server = Server::start_in(binary, &env, data_dir.path()).await?;
    let acknowledged: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..ingestion::SINGLE_SENDERS {
        let (http, base, acknowledged, stop) = (
            http.clone(),
            server.base_url.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        senders.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (_, at) = webhooks::post(&http, &base, webhooks::dm_batch(1)).await?;
                acknowledged.lock().expect("not poisoned").push(at);
            }
            anyhow::Ok(())
        }));
    }

    // The removal begins when the lowest id moves and ends past the last
    // expired one.
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut reader = sqlx::SqliteConnection::connect(&url).await?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut began = None;
    let ended = loop {
        let (lowest,): (Option<i64>,) = sqlx::query_as("SELECT min(id) FROM events")
            .fetch_one(&mut reader)
            .await?;
        let lowest = lowest.unwrap_or(i64::MAX);
        let now = Instant::now();
        if began.is_none() && lowest > 1 {
            began = Some(now);
        }
        if lowest > expired as i64 {
            break now;
        }
        if now > deadline {
            bail!("the node had not removed the expired events after 3 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let Some(began) =
        began.filter(|began| ended.duration_since(*began) >= Duration::from_millis(200))
    else {
        bail!("the node removed the {expired} expired events before they could be watched: raise the count");
    };
    tokio::time::sleep(AFTER).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await??;
    }
    let acknowledged = acknowledged.lock().expect("not poisoned").clone();
    let within = |from: Instant, to: Instant| {
        acknowledged
            .iter()
            .filter(|at| **at >= from && **at < to)
            .count() as f64
            / to.duration_since(from).as_secs_f64().max(1e-3)
    };
    Ok(RetentionCost {
        removed: expired,
        removal_seconds: ended.duration_since(began).as_secs_f64(),
        during_per_second: within(began, ended),
        after_per_second: within(ended, ended + AFTER),
    })
}

/// Writes `expired` DMs received [`EXPIRED_AGE_MS`] ago into the stopped
/// node's database, with the lowest ids.
async fn fill(db: &Path, expired: u64) -> Result<()> {
    let mut connection = snapshot_cost::open_for_filling(db).await?;
    let received = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64
        - EXPIRED_AGE_MS;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO events
             (id, kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw)
         SELECT i, 'dm_received', 'dm_received:expired-' || i, 'biz-1', 'customer-' || (i % 5000),
                ?2, ?2, '{\"mid\":\"expired\"}'
         FROM n",
    )
    .bind(expired as i64)
    .bind(received)
    .execute(&mut connection)
    .await?;
    connection.close().await?;
    snapshot_cost::flush_filled();
    Ok(())
}

/// The report's row.
pub fn report(table: &mut String, cost: &RetentionCost) {
    use std::fmt::Write as _;
    let _ = writeln!(
        table,
        "| ingestion while a retention pass removes {} expired events (SQLite, {} senders of single DMs) | removed in {:.1} s; {:.0} deliveries/s during it, {:.0}/s in the {} s after ({:+.0} %) |",
        cost.removed,
        ingestion::SINGLE_SENDERS,
        cost.removal_seconds,
        cost.during_per_second,
        cost.after_per_second,
        AFTER.as_secs(),
        (cost.during_per_second / cost.after_per_second - 1.0) * 100.0,
    );
}
