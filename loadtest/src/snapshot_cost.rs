//! Database time per snapshot as the events table grows: the snapshot reads
//! aggregate rows only, so its cost should not depend on the number of
//! stored events. Measured with the server's own histogram
//! (`pulse_snapshot_compute_seconds`) over manual refreshes.
//!
//! The first size is stored through the webhook path. Larger sizes are
//! reached by copying a stored DM's row in SQL while the server is stopped
//! (with a fresh `dedupe_key` each, and the DM total raised to match): ten
//! million deliveries through HTTP would take longer than the whole run.
//! Every ten copies make one new conversation, active now, so the count of
//! conversations active in the last 24 h grows with the events as it would
//! in a busy day (about a million at ten million events).
//!
//! At the largest size of a full run, ingestion is measured again on that
//! database: writing an event must not grow slower as the tables grow.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, Connection,
};

use crate::{
    ingestion::{self, Deliveries, Ingestion},
    server::Server,
    webhooks,
};

/// Refreshes per measurement.
pub const REFRESHES: u32 = 200;
/// Refreshes before measuring, after each start (statements prepared, pages cached).
const WARM_UP: u32 = 20;
/// Events per delivery while filling through webhooks.
const BATCH: usize = 500;
/// Concurrent senders while filling through webhooks.
const SENDERS: usize = 8;
/// Rows copied per statement when filling in SQL.
const COPY_CHUNK: u64 = 1_000_000;

/// Seconds of each ingestion measurement at the largest size.
pub const INGEST_SECONDS: u64 = 5;

/// Copied DMs per new conversation.
const DMS_PER_CONVERSATION: u64 = 10;

/// One measurement.
pub struct SnapshotCost {
    pub stored_events: u64,
    pub active_conversations: u64,
    pub mean_ms: f64,
    /// Single-event and batch ingestion into this database (largest size only).
    pub ingestion: Option<(Ingestion, Ingestion)>,
    /// From the start of a node killed with SIGKILL while deliveries arrived
    /// to its first delivery answered 200 on this database (largest size only).
    pub restart_after_kill: Option<Duration>,
}

/// Mean snapshot compute time at each of `sizes` stored events (ascending),
/// and ingestion at the largest when there are several.
pub async fn run(binary: &Path, sizes: &[u64]) -> Result<Vec<SnapshotCost>> {
    let data_dir = tempfile::tempdir().context("temporary data directory")?;
    let mut results = Vec::new();
    let mut stored = 0u64;
    for (step, &size) in sizes.iter().enumerate() {
        let more = size.saturating_sub(stored);
        if step > 0 {
            copy_stored_dm(&data_dir.path().join("pulse.db"), stored, more).await?;
            stored += more;
        }
        let server = Server::start_in(binary, &[], data_dir.path()).await?;
        let cookie = server.log_in().await?;
        if step == 0 {
            stored += fill(&server, more).await?;
        }
        let snapshot = snapshot_counting(&server, &cookie, stored).await?;
        let mean_ms = mean_compute_ms(&server, &cookie).await?;
        let largest = sizes.len() > 1 && step == sizes.len() - 1;
        let ingestion = if largest {
            Some((
                ingestion::measure(&[&server], None, Deliveries::Single, INGEST_SECONDS).await?,
                ingestion::measure(&[&server], None, Deliveries::Batches, INGEST_SECONDS).await?,
            ))
        } else {
            None
        };
        let active_conversations = snapshot["active_conversations_24h"]
            .as_u64()
            .context("no active_conversations_24h in the snapshot")?;
        let restart_after_kill = if largest {
            Some(restart_after_kill(binary, server, data_dir.path()).await?)
        } else {
            None
        };
        results.push(SnapshotCost {
            stored_events: stored,
            active_conversations,
            mean_ms,
            ingestion,
            restart_after_kill,
        });
    }
    Ok(results)
}

/// Kills `server` with SIGKILL while single deliveries arrive, starts a node
/// on the same data directory and returns the time from its start to its
/// first delivery answered 200.
async fn restart_after_kill(binary: &Path, server: Server, data_dir: &Path) -> Result<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let sending = tokio::spawn({
        let (base_url, stop) = (server.base_url.clone(), stop.clone());
        async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let _ = webhooks::post(&client, &base_url, webhooks::dm_batch(1)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Dropping the server kills it (SIGKILL).
    drop(server);
    stop.store(true, Ordering::Relaxed);
    sending.await.context("the sender")?;
    let started = Instant::now();
    let server = Server::start_in(binary, &[], data_dir).await?;
    let client = reqwest::Client::new();
    while webhooks::post(&client, &server.base_url, webhooks::dm_batch(1))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the node took no delivery within 120 s of its start after a kill");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(started.elapsed())
}

/// The server's snapshot once it counts `stored` DMs received (the last
/// deliveries' snapshot can still be on its way); fails if it counts another
/// number for 10 s.
async fn snapshot_counting(
    server: &Server,
    cookie: &str,
    stored: u64,
) -> Result<serde_json::Value> {
    let counted = |snapshot: &serde_json::Value| snapshot["dms_received"]["total"].as_u64();
    let snapshot = server
        .snapshot_when(cookie, std::time::Duration::from_secs(10), |s| {
            counted(s) == Some(stored)
        })
        .await?;
    if counted(&snapshot) != Some(stored) {
        bail!(
            "the server counts {:?} DMs received, expected {stored}",
            counted(&snapshot)
        );
    }
    Ok(snapshot)
}

/// Mean of `REFRESHES` manual refreshes after `WARM_UP` others, from the
/// server's histogram.
pub async fn mean_compute_ms(server: &Server, cookie: &str) -> Result<f64> {
    let http = reqwest::Client::new();
    refresh(&http, server, cookie, WARM_UP).await?;
    let sum_before = server
        .metric(cookie, "pulse_snapshot_compute_seconds_sum")
        .await?;
    let count_before = server
        .metric(cookie, "pulse_snapshot_compute_seconds_count")
        .await?;
    refresh(&http, server, cookie, REFRESHES).await?;
    let sum = server
        .metric(cookie, "pulse_snapshot_compute_seconds_sum")
        .await?
        - sum_before;
    let count = server
        .metric(cookie, "pulse_snapshot_compute_seconds_count")
        .await?
        - count_before;
    Ok(sum / count.max(1.0) * 1e3)
}

/// `times` manual refreshes, one after the other.
async fn refresh(http: &reqwest::Client, server: &Server, cookie: &str, times: u32) -> Result<()> {
    for _ in 0..times {
        let response = http
            .post(format!("{}/api/admin/stats/refresh", server.base_url))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("refresh refused: {}", response.status());
        }
    }
    Ok(())
}

/// Stores `events` more DMs through the webhook; returns how many.
async fn fill(server: &Server, events: u64) -> Result<u64> {
    let deliveries = events.div_ceil(BATCH as u64);
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for sender in 0..SENDERS as u64 {
        let (http, base) = (http.clone(), server.base_url.clone());
        let mine = (sender..deliveries).step_by(SENDERS).count();
        senders.push(tokio::spawn(async move {
            for _ in 0..mine {
                webhooks::post(&http, &base, webhooks::dm_batch(BATCH)).await?;
            }
            anyhow::Ok(mine as u64 * BATCH as u64)
        }));
    }
    let mut stored = 0;
    for sender in senders {
        stored += sender.await??;
    }
    Ok(stored)
}

/// Adds `more` copies of the first stored DM to the SQLite database at `db`
/// (the server must be stopped), numbered after the `stored` already there,
/// one new conversation per [`DMS_PER_CONVERSATION`] copies, and raises the
/// DM total by as many.
/// The server's stopped database, opened to write bench data into it: no
/// fsync while filling, and a rollback journal so a large fill does not go
/// through a multi-gigabyte WAL (the server puts the database back in WAL
/// mode when it opens it). Call [`flush_filled`] after closing it.
pub async fn open_for_filling(db: &Path) -> Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Delete)
        .synchronous(SqliteSynchronous::Off)
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("open {}", db.display()))
}

/// Lets what a fill wrote without fsync reach the disk now, not in the
/// background while something is being timed.
pub fn flush_filled() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

async fn copy_stored_dm(db: &Path, stored: u64, more: u64) -> Result<()> {
    let mut connection = open_for_filling(db).await?;
    let mut first = stored;
    let last = stored + more;
    while first < last {
        let end = (first + COPY_CHUNK).min(last);
        let mut tx = connection.begin().await?;
        let copied = sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
             INSERT INTO events
                 (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw)
             SELECT e.kind, printf('bench-copy:%012d', n.i), e.account_id,
                    printf('bench-copy-peer:%012d', n.i / ?3),
                    e.occurred_at_ms, e.received_at_ms, e.raw
             FROM n, (SELECT * FROM events WHERE kind = 'dm_received' ORDER BY id LIMIT 1) AS e",
        )
        .bind(first as i64)
        .bind(end as i64)
        .bind(DMS_PER_CONVERSATION as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if copied != end - first {
            bail!("copied {copied} rows, expected {}", end - first);
        }
        // The conversations of the copies: peers are numbered from `first`
        // on, so one chunk's conversations never meet another's.
        let conversations = sqlx::query(
            "INSERT INTO conversations (account_id, peer_id, last_dm_at_ms)
             SELECT DISTINCT account_id, peer_id, occurred_at_ms FROM events
             WHERE dedupe_key >= printf('bench-copy:%012d', ?1)
               AND dedupe_key < printf('bench-copy:%012d', ?2)
             ON CONFLICT (account_id, peer_id) DO NOTHING",
        )
        .bind(first as i64)
        .bind(end as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // ... and their minute, as ingestion would count them.
        sqlx::query(
            "INSERT INTO conversation_minutes (minute_ms, slot, count)
             SELECT occurred_at_ms - occurred_at_ms % 60000, 0, ?1 FROM events
             WHERE kind = 'dm_received' ORDER BY id LIMIT 1
             ON CONFLICT (minute_ms, slot)
             DO UPDATE SET count = conversation_minutes.count + excluded.count",
        )
        .bind(conversations as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE metric_totals SET count = count + ?1 WHERE metric = 'dm_received' AND slot = 0",
        )
        .bind(copied as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first = end;
    }
    connection.close().await?;
    // Gigabytes were just written without fsync.
    flush_filled();
    Ok(())
}
