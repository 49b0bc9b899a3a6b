//! Fan-out: N streams connected, deliveries at a fixed rate, and for each
//! (delivery, stream) pair the time from the delivery's 200 to the stream's
//! first snapshot that covers it; the acknowledgements, memory and CPU beside.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use tokio::sync::{watch, Semaphore};

use crate::{
    server::Server,
    sse_client::{self, ClientRecord},
    webhooks, Args,
};

/// One fan-out scenario: N clients, events at a fixed rate.
#[derive(Clone, Copy)]
pub(crate) struct FanOut {
    pub(crate) clients: usize,
    pub(crate) events_per_second: u32,
    pub(crate) seconds: u64,
}

/// Latency figures in milliseconds.
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) samples: usize,
}

/// How the webhooks of a fan-out scenario were acknowledged.
pub(crate) struct Acknowledgements {
    pub(crate) planned: u64,
    pub(crate) acknowledged: u64,
    pub(crate) seconds: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

pub(crate) struct FanOutResult {
    pub(crate) scenario: FanOut,
    pub(crate) latency: Latency,
    pub(crate) acknowledged: usize,
    pub(crate) acknowledgements: Acknowledgements,
    pub(crate) rss_idle_kib: u64,
    pub(crate) rss_connected_kib: u64,
    /// Server CPU seconds from the first webhook to the last client's final snapshot.
    pub(crate) server_cpu_seconds: f64,
    /// Snapshot frames the clients received in that time.
    pub(crate) frames: usize,
    pub(crate) bytes_per_update: f64,
}

/// Connects the clients, sends the events, and measures.
pub(crate) async fn fan_out(args: &Args, scenario: FanOut) -> Result<FanOutResult> {
    let server = Server::start(&args.server, &[]).await?;
    let cookie = server.log_in().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle_kib = server.rss_kib()?;

    let (stop, stopped) = watch::channel(false);
    let clients = connect_clients(&server, &cookie, scenario.clients, &stopped).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected_kib = server.rss_kib()?;

    let cpu_before = server.cpu_seconds()?;
    let sent = send_events(&server, scenario).await?;
    let acks = &sent.acks;
    let final_version = acks.iter().map(|(version, _)| *version).max().unwrap_or(0);
    let final_snapshot = wait_for_version(&server, &cookie, final_version).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server_cpu_seconds = server.cpu_seconds()? - cpu_before;
    stop.send(true)?;
    let records = collect(clients).await?;
    check(&records, final_version, &final_snapshot, acks.len())?;
    let acknowledgements = Acknowledgements {
        planned: sent.planned,
        acknowledged: acks.len() as u64,
        seconds: scenario.seconds,
        p50_ms: sent.ack_quantile(0.50),
        p99_ms: sent.ack_quantile(0.99),
    };
    let snapshot_frames: usize = records.iter().map(|r| r.receipts.len()).sum();
    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    Ok(FanOutResult {
        scenario,
        latency: latency(acks, &records),
        acknowledged: acks.len(),
        acknowledgements,
        rss_idle_kib,
        rss_connected_kib,
        bytes_per_update: bytes as f64 / snapshot_frames.max(1) as f64,
        server_cpu_seconds,
        // Each client's first frame arrived before the events were sent.
        frames: snapshot_frames.saturating_sub(records.len()),
    })
}

/// Opens `count` SSE clients on `server` and waits until the server counts
/// them all as connected.
pub(crate) async fn connect_clients(
    server: &Server,
    cookie: &str,
    count: usize,
    stopped: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<ClientRecord>>> {
    let before = server.metric(cookie, "pulse_sse_clients").await? as usize;
    let connecting = Arc::new(Semaphore::new(256));
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = connecting.clone().acquire_owned().await?;
        let (port, cookie, stopped) = (server.port, cookie.to_string(), stopped.clone());
        clients.push(tokio::spawn(async move {
            drop(permit);
            sse_client::run(port, cookie, stopped).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (server.metric(cookie, "pulse_sse_clients").await? as usize) < before + count {
        if Instant::now() > deadline {
            bail!("not every client connected within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(clients)
}

/// Sequential senders of webhook deliveries in the fan-out scenarios.
pub(crate) const SENDERS: u64 = 32;

/// Single-DM deliveries to `server` at the scenario's rate from [`SENDERS`]
/// sequential senders (a slow acknowledgement shows as fewer sent); fails
/// when a delivery is refused.
pub(crate) async fn send_events(server: &Server, scenario: FanOut) -> Result<webhooks::Paced> {
    let paced = webhooks::paced(
        &server.base_url,
        u64::from(scenario.events_per_second),
        SENDERS,
        scenario.seconds,
    )
    .await;
    if paced.failed > 0 {
        bail!("{} deliveries failed", paced.failed);
    }
    Ok(paced)
}

/// Waits (up to 30 s) until `server` serves a snapshot of at least `version`.
pub(crate) async fn wait_for_version(
    server: &Server,
    cookie: &str,
    version: i64,
) -> Result<serde_json::Value> {
    let covers =
        |snapshot: &serde_json::Value| snapshot["version"].as_i64().unwrap_or(0) >= version;
    let snapshot = server
        .snapshot_when(cookie, Duration::from_secs(30), covers)
        .await?;
    if !covers(&snapshot) {
        bail!("{} never published version {version}", server.base_url);
    }
    Ok(snapshot)
}

pub(crate) async fn collect(
    clients: Vec<tokio::task::JoinHandle<ClientRecord>>,
) -> Result<Vec<ClientRecord>> {
    let mut records = Vec::with_capacity(clients.len());
    for client in clients {
        records.push(client.await?);
    }
    Ok(records)
}

/// The harness's own checks: no client failed, each saw the final version,
/// and the server counted exactly the DMs acknowledged.
pub(crate) fn check(
    records: &[ClientRecord],
    final_version: i64,
    final_snapshot: &serde_json::Value,
    acknowledged: usize,
) -> Result<()> {
    if let Some(error) = records.iter().find_map(|r| r.error.as_ref()) {
        bail!("a client failed: {error}");
    }
    let behind = records
        .iter()
        .filter(|r| r.receipts.last().is_none_or(|(v, _)| *v < final_version))
        .count();
    if behind > 0 {
        bail!("{behind} clients never received version {final_version}");
    }
    let counted = final_snapshot["dms_received"]["total"]
        .as_u64()
        .unwrap_or(0);
    if counted != acknowledged as u64 {
        bail!("the server counts {counted} DMs received, {acknowledged} were acknowledged");
    }
    Ok(())
}

/// For each acknowledged event and each client: from the 200 to the arrival
/// of the first snapshot whose version covers it. At most about two million
/// pairs are measured (events are sampled evenly beyond that).
pub(crate) fn latency(acks: &[(i64, Instant)], records: &[ClientRecord]) -> Latency {
    let budget = 2_000_000 / records.len().max(1);
    let step = (acks.len() / budget.max(1)).max(1);
    let mut samples: Vec<f64> = Vec::new();
    for (version, acknowledged) in acks.iter().step_by(step) {
        for record in records {
            let first = record.receipts.partition_point(|(v, _)| v < version);
            if let Some((_, arrived)) = record.receipts.get(first) {
                let ms = arrived
                    .saturating_duration_since(*acknowledged)
                    .as_secs_f64()
                    * 1e3;
                samples.push(ms);
            }
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if samples.is_empty() {
            return f64::NAN;
        }
        samples[((samples.len() - 1) as f64 * q).round() as usize]
    };
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
        samples: samples.len(),
    }
}
