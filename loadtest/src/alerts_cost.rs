//! Ingestion while every alert target times out: single-DM deliveries are
//! measured on a node whose three webhook targets never answer (a listener
//! that takes connections and says nothing, so each send waits out its
//! 10 s timeout and is tried again) with an incident open, and on a node
//! without targets; alternated, as the ingestion comparisons are.

use std::{path::Path, process::Command};

use anyhow::{bail, Context, Result};

use crate::{
    ingestion::{self, Deliveries},
    server::Server,
    webhooks,
};

/// What the comparison saw: deliveries acknowledged per second, per run.
pub struct AlertsCost {
    pub without_targets: Vec<f64>,
    pub with_targets_timing_out: Vec<f64>,
}

/// Runs `pairs` alternated pairs of `seconds` each.
pub async fn run(binary: &Path, pairs: usize, seconds: u64) -> Result<AlertsCost> {
    // Takes connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let silent_url = format!("http://{}/", silent.local_addr()?);
    let env = [("ALERT_FOR_S", "0".to_string())];
    let mut cost = AlertsCost {
        without_targets: Vec::new(),
        with_targets_timing_out: Vec::new(),
    };
    for _ in 0..pairs {
        let plain = Server::start(binary, &env).await?;
        let measured = ingestion::measure(&[&plain], None, Deliveries::Single, seconds).await?;
        cost.without_targets.push(measured.requests_per_second);
        drop(plain);

        let data_dir = tempfile::tempdir().context("temporary data directory")?;
        for name in ["first", "second", "third"] {
            let added = Command::new(binary)
                .args([
                    "alerts",
                    "add-webhook",
                    "--name",
                    name,
                    "--url",
                    &silent_url,
                ])
                .env("PULSE_DATA_DIR", data_dir.path())
                .env_remove("DATABASE_URL")
                .output()?;
            if !added.status.success() {
                bail!(
                    "pulse alerts add-webhook: {}",
                    String::from_utf8_lossy(&added.stderr)
                );
            }
        }
        let node = Server::start_in(binary, &env, data_dir.path()).await?;
        // A customer who wrote ten minutes ago and waits: an incident opens at
        // once and its three messages start timing out.
        webhooks::post(&reqwest::Client::new(), &node.base_url, waiting_dm()).await?;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let measured = ingestion::measure(&[&node], None, Deliveries::Single, seconds).await?;
        cost.with_targets_timing_out
            .push(measured.requests_per_second);
        // The scenario held: the incident is open and none of its messages
        // got through (the first still waiting out its timeout, or retrying).
        let incidents = Command::new(binary)
            .args(["alerts", "incidents"])
            .env("PULSE_DATA_DIR", data_dir.path())
            .env_remove("DATABASE_URL")
            .output()?;
        let incidents = String::from_utf8_lossy(&incidents.stdout).to_string();
        if !(incidents.contains("waiting") && incidents.contains("open"))
            || incidents.contains(": sent")
        {
            bail!("no open incident with its messages failing: {incidents}");
        }
    }
    drop(silent);
    Ok(cost)
}

/// A delivery of one DM received ten minutes ago.
fn waiting_dm() -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_millis() as i64)
        .unwrap_or_default()
        - 600_000;
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","time":{at},"messaging":[{{"sender":{{"id":"customer-waiting"}},"recipient":{{"id":"biz-1"}},"timestamp":{at},"message":{{"mid":"alerts-waiting","text":"hello"}}}}]}}]}}"#
    )
}

/// The report's row.
pub fn report(table: &mut String, cost: &AlertsCost, seconds: u64) {
    use std::fmt::Write as _;
    let mean = |runs: &[f64]| runs.iter().sum::<f64>() / runs.len().max(1) as f64;
    let runs = |runs: &[f64]| {
        runs.iter()
            .map(|rate| format!("{rate:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        table,
        "| ingestion while every alert target times out (SQLite, {} senders of single DMs, {seconds} s a run, alternated) | without targets {} /s (mean {:.0}); three webhook targets never answering, an incident open: {} /s (mean {:.0}, {:+.0} %) |",
        ingestion::SINGLE_SENDERS,
        runs(&cost.without_targets),
        mean(&cost.without_targets),
        runs(&cost.with_targets_timing_out),
        mean(&cost.with_targets_timing_out),
        (mean(&cost.with_targets_timing_out) / mean(&cost.without_targets) - 1.0) * 100.0,
    );
}
