//! The soak: one node under steady load for a long time (200 signed
//! deliveries a second, 100 dashboards streaming), sampled every 10 s: its
//! memory, open files and threads, and how fast each grows. Run alone, as
//! `--only soak` (30 minutes unless `--soak-minutes` says otherwise); not part
//! of `make bench`.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use crate::{fan_out::connect_clients, server::Server, webhooks};

/// Deliveries per second.
pub const RATE: u64 = 200;
/// Dashboards streaming.
pub const STREAMS: usize = 100;
/// Sequential senders of the deliveries.
const SENDERS: u64 = 8;
/// Between two samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples before this are the node warming up, left out of the slopes.
const WARM_UP: Duration = Duration::from_secs(60);

/// One look at the node.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the load began.
    pub at_s: f64,
    pub rss_kib: u64,
    pub open_files: u64,
    pub threads: u64,
}

/// What the soak saw.
pub struct Soak {
    pub minutes: u64,
    pub planned: u64,
    pub acknowledged: u64,
    pub failed: u64,
    pub samples: Vec<Sample>,
}

impl Soak {
    /// How fast `figure` grew per hour after the warm-up (least squares).
    pub fn slope_per_hour(&self, figure: impl Fn(&Sample) -> f64) -> f64 {
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|sample| sample.at_s >= WARM_UP.as_secs_f64())
            .map(|sample| (sample.at_s / 3600.0, figure(sample)))
            .collect();
        let n = points.len() as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let (mean_x, mean_y) = (
            points.iter().map(|(x, _)| x).sum::<f64>() / n,
            points.iter().map(|(_, y)| y).sum::<f64>() / n,
        );
        let covariance: f64 = points
            .iter()
            .map(|(x, y)| (x - mean_x) * (y - mean_y))
            .sum();
        let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
        covariance / variance
    }
}

/// Runs the soak for `minutes` on a fresh node.
pub async fn run(binary: &Path, minutes: u64) -> Result<Soak> {
    let server = Server::start(binary, &[]).await?;
    let cookie = server.log_in().await?;
    let (stop, stopped) = watch::channel(false);
    let clients = connect_clients(&server, &cookie, STREAMS, &stopped).await?;
    let started = Instant::now();
    let sending = tokio::spawn({
        let base_url = server.base_url.clone();
        async move { webhooks::paced(&base_url, RATE, SENDERS, minutes * 60).await }
    });
    let mut samples = vec![sample(&server, started)?];
    while !sending.is_finished() {
        tokio::time::sleep(SAMPLE_EVERY).await;
        samples.push(sample(&server, started)?);
    }
    let paced = sending.await.context("the senders")?;
    let acknowledged = paced.acks.len() as u64;
    let counted = server
        .snapshot_when(&cookie, Duration::from_secs(10), |snapshot| {
            snapshot["dms_received"]["total"].as_u64() == Some(acknowledged)
        })
        .await?;
    if counted["dms_received"]["total"].as_u64() != Some(acknowledged) {
        bail!(
            "the node counts {} DMs, {acknowledged} were acknowledged",
            counted["dms_received"]["total"]
        );
    }
    let _ = stop.send(true);
    for client in clients {
        client.await.context("a client")?;
    }
    Ok(Soak {
        minutes,
        planned: paced.planned,
        acknowledged,
        failed: paced.failed,
        samples,
    })
}

fn sample(server: &Server, started: Instant) -> Result<Sample> {
    let pid = server.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("{name} missing from /proc/{pid}/status"))
    };
    Ok(Sample {
        at_s: started.elapsed().as_secs_f64(),
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
        open_files: std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_is_the_growth_per_hour_after_the_warm_up() {
        let samples = (0..30)
            .map(|i| Sample {
                at_s: f64::from(i) * 10.0,
                // 36 KiB more every 10 s after a jump while warming up.
                rss_kib: if i < 6 {
                    1_000
                } else {
                    50_000 + 36 * u64::from(i as u32)
                },
                open_files: 40,
                threads: 9,
            })
            .collect();
        let soak = Soak {
            minutes: 5,
            planned: 0,
            acknowledged: 0,
            failed: 0,
            samples,
        };
        let rss = soak.slope_per_hour(|sample| sample.rss_kib as f64);
        assert!((rss - 12_960.0).abs() < 1e-6, "{rss}");
        assert_eq!(soak.slope_per_hour(|sample| sample.open_files as f64), 0.0);
    }
}
