//! Typed configuration for `pulse serve`, read from flags and the environment.
//!
//! Every knob has a default that works on one machine with nothing installed:
//! an SQLite file under `./data`, the in-process bus, port 3000 on loopback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use crate::stats::HealthPolicy;

/// Settings of a running server. Secrets are not here: see [`crate::secrets`].
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Directory holding the built site (`pkg/pulse.wasm`, `pkg/pulse.js`, `pkg/pulse.css`).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Directory for local state: the SQLite database and generated webhook secrets.
    #[arg(long, env = "PULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Database to use: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`;
    /// defaults to `sqlite://<data dir>/pulse.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Minimum time between two pushed snapshots, in milliseconds. The first
    /// change after a quiet period is pushed at once; bursts are coalesced.
    #[arg(
        long,
        env = "STATS_NOTIFY_MIN_INTERVAL_MS",
        default_value_t = 100,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub stats_notify_min_interval_ms: u64,

    /// Warn on the dashboard when no webhook was accepted for this many minutes.
    #[arg(
        long,
        env = "WEBHOOK_SILENCE_ALERT_MIN",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=10_080)
    )]
    pub webhook_silence_alert_min: u64,

    /// Warn on the dashboard when this many webhook requests were refused in an hour.
    #[arg(
        long,
        env = "WEBHOOK_REJECTIONS_ALERT_PER_HOUR",
        default_value_t = 10,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub webhook_rejections_alert_per_hour: i64,
}

impl Config {
    /// Settings for one process on this machine, rooted at `data_dir`,
    /// listening on a free loopback port. Used by tests and tools.
    pub fn local(data_dir: PathBuf) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            site_root: PathBuf::from("target/site"),
            data_dir,
            database_url: None,
            stats_notify_min_interval_ms: 100,
            webhook_silence_alert_min: 60,
            webhook_rejections_alert_per_hour: 10,
        }
    }

    /// The database URL in force: the configured one or the default SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("pulse.db").display()),
        }
    }

    /// When the webhook health deserves a warning.
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            silence_alert: Duration::from_secs(self.webhook_silence_alert_min * 60),
            rejections_alert_per_hour: self.webhook_rejections_alert_per_hour,
        }
    }

    /// Minimum time between two pushed snapshots.
    pub fn stats_notify_min_interval(&self) -> Duration {
        Duration::from_millis(self.stats_notify_min_interval_ms)
    }
}
