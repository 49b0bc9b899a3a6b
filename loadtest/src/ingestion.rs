//! Durable ingestion: signed DM deliveries acknowledged per second (each 200
//! comes after the commit that holds its events).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::{server::Server, webhooks};

/// Concurrent senders of single-event deliveries.
pub const SINGLE_SENDERS: usize = 64;
/// Concurrent senders of 100-event batches.
pub const BATCH_SENDERS: usize = 8;
/// Events per batch.
pub const BATCH: usize = 100;

/// The two shapes of load measured.
#[derive(Clone, Copy, Debug)]
pub enum Deliveries {
    /// One DM per delivery, from [`SINGLE_SENDERS`] senders.
    Single,
    /// [`BATCH`] DMs per delivery, from [`BATCH_SENDERS`] senders.
    Batches,
}

impl Deliveries {
    fn events(self) -> usize {
        match self {
            Deliveries::Single => 1,
            Deliveries::Batches => BATCH,
        }
    }

    fn senders(self) -> usize {
        match self {
            Deliveries::Single => SINGLE_SENDERS,
            Deliveries::Batches => BATCH_SENDERS,
        }
    }
}

/// What a run of senders got acknowledged.
pub struct Ingestion {
    pub requests_per_second: f64,
    pub events_per_second: f64,
}

/// [`measure`] on a server started with `env` and a fresh data directory.
pub async fn on_new_server(
    binary: &std::path::Path,
    env: &[(&str, String)],
    deliveries: Deliveries,
    seconds: u64,
) -> Result<Ingestion> {
    let server = Server::start(binary, env).await?;
    measure(&server, deliveries, seconds).await
}

/// `deliveries` as fast as their concurrent senders get them acknowledged by
/// `server`, for `seconds`.
pub async fn measure(server: &Server, deliveries: Deliveries, seconds: u64) -> Result<Ingestion> {
    let batch = deliveries.events();
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..deliveries.senders() {
        let (http, base) = (http.clone(), server.base_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut requests = 0u64;
            while Instant::now() < until {
                webhooks::post(&http, &base, webhooks::dm_batch(batch)).await?;
                requests += 1;
            }
            anyhow::Ok(requests)
        }));
    }
    let mut requests = 0;
    for task in tasks {
        requests += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Ingestion {
        requests_per_second: requests as f64 / elapsed,
        events_per_second: (requests * batch as u64) as f64 / elapsed,
    })
}
