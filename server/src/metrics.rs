//! `GET /metrics`: the server's counters in the Prometheus text format.
//!
//! One process-wide registry ([`metrics()`]); each figure is updated where the
//! thing happens (the SSE stream, the bus, the webhook, the relay, the
//! snapshot computation). Reading requires an admin session or
//! `Authorization: Bearer <PULSE_METRICS_TOKEN>` (see `auth::guard`).

use std::sync::LazyLock;

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every figure the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open SSE streams.
    pub sse_clients: IntGauge,
    /// Snapshots that became this node's latest (computed here or received from Redis).
    pub snapshots_published: IntCounter,
    /// Snapshot frames written to SSE streams (one per stream per update).
    pub frames_delivered: IntCounter,
    /// From the first commit of a change to the publish of the snapshot that shows it.
    pub update_latency: Histogram,
    /// Webhook deliveries acknowledged (200).
    pub webhooks_accepted: IntCounter,
    /// Webhook requests refused, by reason.
    pub webhooks_rejected: IntCounterVec,
    /// New events stored, by kind (`unknown` for every unmodelled kind).
    pub events_stored: IntCounterVec,
    /// 1 for the bus mode in force, 0 for the others.
    pub bus_mode: IntGaugeVec,
    /// Times the relay got Redis back after losing it.
    pub redis_reconnects: IntCounter,
    /// Transactions that stored webhook deliveries (one per group commit).
    pub store_commits: IntCounter,
    /// 1 while the database refuses every write (a full disk, say), by cause.
    pub store_refusing_writes: IntGaugeVec,
    /// Time to compute one snapshot from the database.
    pub snapshot_seconds: Histogram,
    /// Time to compute one page of the accounts table from the database.
    pub accounts_page_seconds: Histogram,
    /// Time to compute a date range's report from the history.
    pub history_report_seconds: Histogram,
    /// Accounts whose sortable figures a catch-up recomputed.
    pub account_figures_recomputed: IntCounter,
    /// Time to bring the accounts' sortable figures up to date.
    pub account_figures_catch_up_seconds: Histogram,
    /// Business accounts whose sortable figures this node holds.
    pub account_figures_held: IntGauge,
    /// When the newest accepted webhook arrived, from the database (the same
    /// on every node), Unix seconds; 0 before the first.
    pub webhook_last_accepted: IntGauge,
    /// Customers waiting past `AUTOMATION_REPLY_ALERT_S`, from the database.
    pub conversations_waiting_over_threshold: IntGauge,
    /// Business accounts flagged silent, from the database.
    pub accounts_silent: IntGauge,
    /// Bytes the database takes, as last measured.
    pub database_bytes: IntGauge,
    /// Free bytes on the database's disk (SQLite), as last measured.
    pub database_disk_free_bytes: IntGauge,
    /// TCP connections being served.
    pub connections_open: IntGauge,
    /// TCP connections closed at once because the node held its maximum.
    pub connections_refused: IntCounter,
    /// Connections ended to make room or on a timeout, by what they were
    /// doing (`idle`, `stalled`) and why (`room`, `timeout`).
    pub connections_evicted: IntCounterVec,
    /// Streams refused because their session already held its maximum.
    pub streams_refused: IntCounter,
    /// Login attempts by outcome (`success`, `failure`, `locked`, `busy`).
    pub login_attempts: IntCounterVec,
    /// Times a client address, or an account from one address, became locked.
    pub login_locks: IntCounter,
}

/// Latency buckets from 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0,
];

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
                .expect("valid histogram")
        };
        let metrics = Metrics {
            sse_clients: IntGauge::new("pulse_sse_clients", "Open SSE streams.").expect("valid"),
            snapshots_published: IntCounter::new(
                "pulse_snapshots_published_total",
                "Snapshots that became this node's latest.",
            )
            .expect("valid"),
            frames_delivered: IntCounter::new(
                "pulse_snapshot_frames_delivered_total",
                "Snapshot frames written to SSE streams.",
            )
            .expect("valid"),
            update_latency: histogram(
                "pulse_update_latency_seconds",
                "From the first commit of a change to the publish of the snapshot showing it.",
            ),
            webhooks_accepted: IntCounter::new(
                "pulse_webhooks_accepted_total",
                "Webhook deliveries acknowledged.",
            )
            .expect("valid"),
            webhooks_rejected: IntCounterVec::new(
                Opts::new("pulse_webhooks_rejected_total", "Webhook requests refused."),
                &["reason"],
            )
            .expect("valid"),
            events_stored: IntCounterVec::new(
                Opts::new("pulse_events_stored_total", "New events stored."),
                &["kind"],
            )
            .expect("valid"),
            bus_mode: IntGaugeVec::new(
                Opts::new("pulse_bus_mode", "1 for the bus mode in force."),
                &["mode"],
            )
            .expect("valid"),
            redis_reconnects: IntCounter::new(
                "pulse_redis_reconnects_total",
                "Times Redis came back after being lost.",
            )
            .expect("valid"),
            store_commits: IntCounter::new(
                "pulse_store_commits_total",
                "Transactions that stored webhook deliveries (deliveries per commit: pulse_webhooks_accepted_total over this).",
            )
            .expect("valid"),
            store_refusing_writes: IntGaugeVec::new(
                Opts::new(
                    "pulse_store_refusing_writes",
                    "1 while the database refuses every write, by cause (disk_full, storage_error, unreachable).",
                ),
                &["cause"],
            )
            .expect("valid"),
            snapshot_seconds: histogram(
                "pulse_snapshot_compute_seconds",
                "Time to compute one snapshot from the database.",
            ),
            accounts_page_seconds: histogram(
                "pulse_accounts_page_compute_seconds",
                "Time to compute one page of the accounts table from the database.",
            ),
            history_report_seconds: histogram(
                "pulse_history_report_compute_seconds",
                "Time to compute a date range's report (its figures, the previous period's and its chart) from the history.",
            ),
            account_figures_recomputed: IntCounter::new(
                "pulse_account_figures_recomputed_total",
                "Accounts whose sortable figures were recomputed (all of them when the node starts, then those touched since the last catch-up or whose time windows moved).",
            )
            .expect("valid"),
            account_figures_catch_up_seconds: histogram(
                "pulse_account_figures_catch_up_seconds",
                "Time to bring the accounts page's sortable figures up to date (every account when the node starts, then each minute and before each page the accounts changed since).",
            ),
            account_figures_held: IntGauge::new(
                "pulse_account_figures_accounts",
                "Business accounts whose sortable figures this node holds (0 until they are built after the node starts).",
            )
            .expect("valid"),
            webhook_last_accepted: IntGauge::new(
                "pulse_webhook_last_accepted_timestamp_seconds",
                "When the newest accepted webhook arrived (Unix seconds, from the database, the same on every node); 0 before the first.",
            )
            .expect("valid"),
            conversations_waiting_over_threshold: IntGauge::new(
                "pulse_conversations_waiting_over_threshold",
                "Customers waiting longer than AUTOMATION_REPLY_ALERT_S for a reply (from the database, the same on every node).",
            )
            .expect("valid"),
            accounts_silent: IntGauge::new(
                "pulse_accounts_silent",
                "Business accounts flagged silent (from the database, the same on every node).",
            )
            .expect("valid"),
            database_bytes: IntGauge::new(
                "pulse_database_bytes",
                "Bytes the database takes (SQLite: its files; Postgres: pg_database_size), measured once a minute.",
            )
            .expect("valid"),
            database_disk_free_bytes: IntGauge::new(
                "pulse_database_disk_free_bytes",
                "Free bytes on the SQLite database's disk, measured once a minute (not set on Postgres, whose disk is the database server's).",
            )
            .expect("valid"),
            connections_open: IntGauge::new(
                "pulse_connections_open",
                "TCP connections being served.",
            )
            .expect("valid"),
            connections_evicted: IntCounterVec::new(
                Opts::new(
                    "pulse_connections_evicted_total",
                    "Connections ended to make room for a newcomer or on a timeout, by state (idle, stalled: its client did not read) and reason (room, timeout).",
                ),
                &["state", "reason"],
            )
            .expect("valid"),
            connections_refused: IntCounter::new(
                "pulse_connections_refused_total",
                "TCP connections closed at once because the node held PULSE_MAX_CONNECTIONS.",
            )
            .expect("valid"),
            streams_refused: IntCounter::new(
                "pulse_streams_refused_total",
                "Streams refused because their session held PULSE_MAX_STREAMS_PER_SESSION.",
            )
            .expect("valid"),
            login_attempts: IntCounterVec::new(
                Opts::new("pulse_login_attempts_total", "Login attempts by outcome."),
                &["outcome"],
            )
            .expect("valid"),
            login_locks: IntCounter::new(
                "pulse_login_locks_total",
                "Times an address, or an account from one address, became locked.",
            )
            .expect("valid"),
            registry,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 28] = [
            Box::new(metrics.sse_clients.clone()),
            Box::new(metrics.snapshots_published.clone()),
            Box::new(metrics.frames_delivered.clone()),
            Box::new(metrics.update_latency.clone()),
            Box::new(metrics.webhooks_accepted.clone()),
            Box::new(metrics.webhooks_rejected.clone()),
            Box::new(metrics.events_stored.clone()),
            Box::new(metrics.bus_mode.clone()),
            Box::new(metrics.redis_reconnects.clone()),
            Box::new(metrics.store_commits.clone()),
            Box::new(metrics.store_refusing_writes.clone()),
            Box::new(metrics.snapshot_seconds.clone()),
            Box::new(metrics.accounts_page_seconds.clone()),
            Box::new(metrics.history_report_seconds.clone()),
            Box::new(metrics.account_figures_recomputed.clone()),
            Box::new(metrics.account_figures_catch_up_seconds.clone()),
            Box::new(metrics.account_figures_held.clone()),
            Box::new(metrics.webhook_last_accepted.clone()),
            Box::new(metrics.conversations_waiting_over_threshold.clone()),
            Box::new(metrics.accounts_silent.clone()),
            Box::new(metrics.database_bytes.clone()),
            Box::new(metrics.database_disk_free_bytes.clone()),
            Box::new(metrics.connections_open.clone()),
            Box::new(metrics.connections_refused.clone()),
            Box::new(metrics.connections_evicted.clone()),
            Box::new(metrics.streams_refused.clone()),
            Box::new(metrics.login_attempts.clone()),
            Box::new(metrics.login_locks.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("each metric is registered once");
        }
        metrics
    }

    /// Sets the figures alert rules read from `snapshot`, the newest this
    /// node holds.
    pub fn set_alert_figures(&self, snapshot: &app::model::StatsSnapshot) {
        self.webhook_last_accepted.set(
            snapshot
                .webhook_health
                .last_accepted_at_ms
                .map_or(0, |at_ms| at_ms / 1000),
        );
        self.conversations_waiting_over_threshold
            .set(snapshot.waiting.over_threshold);
        self.accounts_silent.set(snapshot.silent_accounts);
    }

    /// Marks `mode` as the one in force.
    pub fn set_bus_mode(&self, mode: &str) {
        for known in ["in_process", "pubsub", "cache_poll", "db_poll"] {
            self.bus_mode
                .with_label_values(&[known])
                .set(i64::from(known == mode));
        }
    }
}

/// Counts one thing (an open stream, a served connection) in a gauge for as
/// long as it lives.
pub struct Counted(&'static IntGauge);

impl Counted {
    /// Adds one to `gauge` until the returned value drops.
    pub fn new(gauge: &'static IntGauge) -> Self {
        gauge.inc();
        Counted(gauge)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub async fn export() -> Response {
    let mut text = Vec::new();
    let encoder = TextEncoder::new();
    if let Err(error) = encoder.encode(&metrics().registry.gather(), &mut text) {
        tracing::error!(%error, "could not encode the metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_string())],
        text,
    )
        .into_response()
}
