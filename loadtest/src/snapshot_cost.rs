//! Database time per snapshot as the events table grows: the snapshot reads
//! aggregate rows only, so its cost should not depend on the number of
//! stored events. Measured with the server's own histogram
//! (`pulse_snapshot_compute_seconds`) over manual refreshes.

use anyhow::{bail, Result};

use crate::{server::Server, webhooks};

/// Refreshes per measurement.
const REFRESHES: u32 = 50;
/// Events per delivery while filling.
const BATCH: usize = 500;
/// Concurrent senders while filling.
const SENDERS: usize = 8;

/// Mean snapshot compute time (ms) at each of `sizes` stored events.
pub async fn run(binary: &std::path::Path, sizes: &[u64]) -> Result<Vec<(u64, f64)>> {
    let server = Server::start(binary, &[]).await?;
    let cookie = server.log_in().await?;
    let http = reqwest::Client::new();
    let mut stored = 0u64;
    let mut results = Vec::new();
    for &size in sizes {
        stored += fill(&server, size.saturating_sub(stored)).await?;
        let sum_before = server
            .metric(&cookie, "pulse_snapshot_compute_seconds_sum")
            .await?;
        let count_before = server
            .metric(&cookie, "pulse_snapshot_compute_seconds_count")
            .await?;
        for _ in 0..REFRESHES {
            let response = http
                .post(format!("{}/api/admin/stats/refresh", server.base_url))
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("")
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("refresh refused: {}", response.status());
            }
        }
        let sum = server
            .metric(&cookie, "pulse_snapshot_compute_seconds_sum")
            .await?
            - sum_before;
        let count = server
            .metric(&cookie, "pulse_snapshot_compute_seconds_count")
            .await?
            - count_before;
        results.push((stored, sum / count.max(1.0) * 1e3));
    }
    Ok(results)
}

/// Stores `events` more DMs; returns how many.
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
