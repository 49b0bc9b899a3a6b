//! Typed configuration for `pulse serve`, read from flags and the environment.
//!
//! Every knob has a default that works on one machine with nothing installed:
//! an SQLite file under `./data`, the in-process bus, port 3000 on loopback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    auth::session::SessionPolicy,
    bus::relay::RelaySettings,
    serve::{self, tls::TlsFiles, ConnectionLimits},
    stats::{HealthPolicy, Pacer},
    store::Thresholds,
};

/// The variable holding the first admin's password.
pub const ADMIN_PASSWORD_VAR: &str = "PULSE_ADMIN_PASSWORD";
/// The variable holding the metrics scraper's token.
pub const METRICS_TOKEN_VAR: &str = "PULSE_METRICS_TOKEN";

/// Default of `PULSE_DATA_DIR`.
pub const DEFAULT_DATA_DIR: &str = "data";
/// Default of `LEPTOS_SITE_ADDR`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// Default of `LEPTOS_SITE_ROOT`.
pub const DEFAULT_SITE_ROOT: &str = "target/site";
/// Default of `STATS_SAFETY_POLL_S`.
pub const DEFAULT_SAFETY_POLL_S: u64 = 30;
/// Default of `STATS_DB_POLL_S`.
pub const DEFAULT_DB_POLL_S: u64 = 10;
/// Default of `STATS_NOTIFY_MIN_INTERVAL_MS`.
pub const DEFAULT_NOTIFY_MIN_INTERVAL_MS: u64 = 100;
/// Default of `PULSE_SESSION_IDLE_TIMEOUT_S`: half an hour.
pub const DEFAULT_SESSION_IDLE_TIMEOUT_S: u64 = 30 * 60;
/// Default of `PULSE_SESSION_LIFETIME_S`: eight hours.
pub const DEFAULT_SESSION_LIFETIME_S: u64 = 8 * 3600;
/// Default of `PULSE_SESSION_STREAM_CHECK_S`.
pub const DEFAULT_SESSION_STREAM_CHECK_S: u64 = 30;
/// Default of `WEBHOOK_SILENCE_ALERT_MIN`.
pub const DEFAULT_WEBHOOK_SILENCE_ALERT_MIN: u64 = 60;
/// Default of `WEBHOOK_REJECTIONS_ALERT_PER_HOUR`.
pub const DEFAULT_WEBHOOK_REJECTIONS_ALERT_PER_HOUR: i64 = 10;
/// Default of `AUTOMATION_REPLY_ALERT_S`.
pub const DEFAULT_AUTOMATION_REPLY_ALERT_S: u64 = 300;
/// Default of `ACCOUNT_SILENCE_MIN_EVENTS`.
pub const DEFAULT_ACCOUNT_SILENCE_MIN_EVENTS: i64 = 20;
/// Default of `ACCOUNT_SILENCE_ALERT_MIN`.
pub const DEFAULT_ACCOUNT_SILENCE_ALERT_MIN: u64 = 120;
/// Default of `PULSE_EVENT_RETENTION_DAYS`.
pub const DEFAULT_EVENT_RETENTION_DAYS: u64 = 90;
/// Default `ALERT_FOR_S`.
pub const DEFAULT_ALERT_FOR_S: u64 = 60;
/// Default `ALERT_REPEAT_MIN`.
pub const DEFAULT_ALERT_REPEAT_MIN: u64 = 60;
/// Default of `PULSE_HEADER_READ_TIMEOUT_S`.
pub const DEFAULT_HEADER_READ_TIMEOUT_S: u64 = 10;
/// Default of `PULSE_MAX_STREAMS_PER_SESSION`.
pub const DEFAULT_MAX_STREAMS_PER_SESSION: u64 = 16;
/// Default of `STATS_FANOUT_CPU_BUDGET`: half a core.
pub const DEFAULT_FANOUT_CPU_BUDGET: f64 = 0.5;

/// A URL that may carry a password, held as a secret from the moment it is read.
fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_owned()))
}

/// `STATS_FANOUT_CPU_BUDGET`: a share of one core, 0.05 to 64.
fn parse_cpu_budget(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(budget) if (0.05..=64.0).contains(&budget) => Ok(budget),
        _ => Err(format!(
            "expected a share of one core between 0.05 and 64 (0.5 is half a core), got {value:?}"
        )),
    }
}

/// Most proxy hops `PULSE_TRUST_FORWARDED_FOR` may name.
const MAX_PROXY_HOPS: u8 = 10;

/// `PULSE_TRUST_FORWARDED_FOR`: a count of trusted proxy hops, with the
/// earlier `true` / `false` read as 1 / 0.
fn parse_proxy_hops(value: &str) -> Result<u8, String> {
    let hops = match value.trim() {
        "true" => 1,
        "false" => 0,
        number => number.parse::<u8>().map_err(|_| {
            format!("expected the number of trusted proxy hops (0–{MAX_PROXY_HOPS}), got {value:?}")
        })?,
    };
    if hops > MAX_PROXY_HOPS {
        return Err(format!(
            "at most {MAX_PROXY_HOPS} trusted proxy hops, got {hops}"
        ));
    }
    Ok(hops)
}

/// An on/off setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where the data lives; shared by `pulse serve` and `pulse admin`.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Directory for local state: the SQLite database and generated webhook secrets.
    #[arg(long, env = "PULSE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Database to use: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`;
    /// defaults to `sqlite://<data dir>/pulse.db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,

    /// Concurrent writers of webhook deliveries, each on its own database
    /// connection (Postgres; SQLite takes exactly one). Default: 1 on SQLite,
    /// 2 on Postgres.
    #[arg(long, env = "PULSE_STORE_WRITERS")]
    pub store_writers: Option<std::num::NonZeroUsize>,
}

impl StoreArgs {
    /// The local defaults under `data_dir`.
    pub fn local(data_dir: PathBuf) -> Self {
        StoreArgs {
            data_dir,
            database_url: None,
            store_writers: None,
        }
    }

    /// Creates the data directory (and its missing parents) readable by its
    /// owner only (0700): it holds the database and the webhook secrets. An
    /// existing directory is left as the operator made it.
    pub fn create_data_dir(&self) -> std::io::Result<()> {
        crate::secrets::create_private_dir(&self.data_dir)
    }

    /// For a command: creates the data directory and opens the store, or
    /// says in words why not.
    pub async fn open_for_command(&self) -> Result<crate::store::Store, String> {
        self.create_data_dir().map_err(|error| {
            format!(
                "cannot create the data directory {}: {error}",
                self.data_dir.display()
            )
        })?;
        crate::store::Store::open(&self.database_url())
            .await
            .map_err(|error| crate::error_chain(&error))
    }

    /// Opens the store these settings name.
    pub async fn open(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        let url = self.database_url();
        match self.store_writers {
            Some(writers) => crate::store::Store::open_with_writers(&url, writers).await,
            None => crate::store::Store::open(&url).await,
        }
    }

    /// The database URL in force: the configured one or the default SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("pulse.db").display()),
        }
    }
}

/// Settings of a running server. Secrets are not here: see [`crate::secrets`].
/// The URLs that may carry passwords are held as secrets, so `Debug` never
/// shows them.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Directory holding the built site (`pkg/pulse.wasm`, `pkg/pulse.js`, `pkg/pulse.css`).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = DEFAULT_SITE_ROOT)]
    pub site_root: PathBuf,

    /// Where the data lives.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Redis to share snapshots between nodes: `redis://[:PASSWORD@]HOST:PORT[/DB]`.
    /// Unset, the node pushes in-process only (one node).
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_parser = parse_secret)]
    pub redis_url: Option<SecretString>,

    /// `off` never subscribes to Redis Pub/Sub and polls the Redis cache instead.
    #[arg(long, env = "STATS_PUBSUB", value_enum, default_value_t = Switch::On)]
    pub stats_pubsub: Switch,

    /// Seconds between two reads of the Redis cache: a safety net while
    /// subscribed, the update source while Pub/Sub is unavailable or off.
    #[arg(
        long,
        env = "STATS_SAFETY_POLL_S",
        default_value_t = DEFAULT_SAFETY_POLL_S,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub stats_safety_poll_s: u64,

    /// Seconds between two reads of the database while Redis is unreachable.
    #[arg(
        long,
        env = "STATS_DB_POLL_S",
        default_value_t = DEFAULT_DB_POLL_S,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub stats_db_poll_s: u64,

    /// PEM certificate chain: with `--tls-key`, serve HTTPS (HTTP/2 and
    /// HTTP/1.1) on the listen address.
    #[arg(long, env = "PULSE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "PULSE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Mark the session cookie `Secure`: set when a proxy in front serves the
    /// dashboard over HTTPS (with `PULSE_TLS_CERT` it is always `Secure`).
    #[arg(long, env = "PULSE_SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,

    /// Trusted proxy hops in front of the node: the client address for login
    /// throttling is that entry from the right of `X-Forwarded-For` (0: the
    /// connection's peer; `true`/`false` mean 1/0).
    #[arg(
        long,
        env = "PULSE_TRUST_FORWARDED_FOR",
        default_value = "0",
        value_parser = parse_proxy_hops
    )]
    pub trust_forwarded_for: u8,

    /// Seconds a connection may take to send a request head, counted from
    /// when the node waits for one (so also how long an idle keep-alive
    /// connection stays open).
    #[arg(
        long,
        env = "PULSE_HEADER_READ_TIMEOUT_S",
        default_value_t = DEFAULT_HEADER_READ_TIMEOUT_S,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub header_read_timeout_s: u64,

    /// Connections served at once; at the limit a newcomer takes the place
    /// of the longest-idle (or a stalled) connection, and is closed on
    /// arrival only when every one is working. Defaults to the open-file
    /// limit less 256 (kept for the database, Redis and files), and at most
    /// half the machine's memory at 256 KiB a connection.
    #[arg(long, env = "PULSE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: Option<u64>,

    /// Connections one client address (IPv6: one /64) may hold at once, by
    /// the same rule; 0 for no limit. Defaults to an eighth of
    /// `PULSE_MAX_CONNECTIONS` (at least 32), and to no limit behind a
    /// trusted proxy (`PULSE_TRUST_FORWARDED_FOR` > 0), whose address every
    /// client shares: there the proxy limits (the nginx recipe's `limit_conn`).
    #[arg(long, env = "PULSE_MAX_CONNECTIONS_PER_ADDRESS", value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub max_connections_per_address: Option<u64>,

    /// Threads that write the dashboards' streams (plain-TCP connections
    /// only), apart from the threads that take webhooks; 0 serves the
    /// streams on the same threads as everything else. Defaults to the
    /// number of cores.
    #[arg(long, env = "PULSE_STREAM_THREADS", value_parser = clap::value_parser!(u64).range(0..=1_024))]
    pub stream_threads: Option<u64>,

    /// Streams (open dashboards) one session may hold at once; the next gets 429.
    #[arg(
        long,
        env = "PULSE_MAX_STREAMS_PER_SESSION",
        default_value_t = DEFAULT_MAX_STREAMS_PER_SESSION,
        value_parser = clap::value_parser!(u64).range(1..=100_000)
    )]
    pub max_streams_per_session: u64,

    /// Seconds a session may go unused before it ends.
    #[arg(
        long,
        env = "PULSE_SESSION_IDLE_TIMEOUT_S",
        default_value_t = DEFAULT_SESSION_IDLE_TIMEOUT_S,
        value_parser = clap::value_parser!(u64).range(1..=604_800)
    )]
    pub session_idle_timeout_s: u64,

    /// Seconds after login a session ends, however busy.
    #[arg(
        long,
        env = "PULSE_SESSION_LIFETIME_S",
        default_value_t = DEFAULT_SESSION_LIFETIME_S,
        value_parser = clap::value_parser!(u64).range(1..=2_592_000)
    )]
    pub session_lifetime_s: u64,

    /// Seconds between checks of the sessions that have open streams on this
    /// node: a logout on another node ends them within this time.
    #[arg(
        long,
        env = "PULSE_SESSION_STREAM_CHECK_S",
        default_value_t = DEFAULT_SESSION_STREAM_CHECK_S,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub session_stream_check_s: u64,

    /// On a first start with no admin, create this one (with `PULSE_ADMIN_PASSWORD`).
    #[arg(long, env = "PULSE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password for `PULSE_ADMIN_EMAIL`: read from `PULSE_ADMIN_PASSWORD` by
    /// [`Config::read_secrets`], never from the command line.
    #[arg(skip)]
    pub admin_password: Option<SecretString>,

    /// A token that lets a scraper read `/metrics` without a session
    /// (`Authorization: Bearer …`): read from `PULSE_METRICS_TOKEN` by
    /// [`Config::read_secrets`], never from the command line.
    #[arg(skip)]
    pub metrics_token: Option<SecretString>,

    /// Push throttle, in milliseconds: on average at most one snapshot per
    /// interval; up to five in a row go out at once, so sparse changes never
    /// wait and bursts are coalesced.
    #[arg(
        long,
        env = "STATS_NOTIFY_MIN_INTERVAL_MS",
        default_value_t = DEFAULT_NOTIFY_MIN_INTERVAL_MS,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub stats_notify_min_interval_ms: u64,

    /// Share of one core that pushing snapshots to the open streams may take:
    /// the push interval follows the measured cost of a push against it,
    /// between 5 ms and `STATS_NOTIFY_MIN_INTERVAL_MS`.
    #[arg(
        long,
        env = "STATS_FANOUT_CPU_BUDGET",
        default_value_t = DEFAULT_FANOUT_CPU_BUDGET,
        value_parser = parse_cpu_budget
    )]
    pub stats_fanout_cpu_budget: f64,

    /// Warn on the dashboard when no webhook was accepted for this many minutes.
    #[arg(
        long,
        env = "WEBHOOK_SILENCE_ALERT_MIN",
        default_value_t = DEFAULT_WEBHOOK_SILENCE_ALERT_MIN,
        value_parser = clap::value_parser!(u64).range(1..=10_080)
    )]
    pub webhook_silence_alert_min: u64,

    /// Warn on the dashboard when this many webhook requests were refused in an hour.
    #[arg(
        long,
        env = "WEBHOOK_REJECTIONS_ALERT_PER_HOUR",
        default_value_t = DEFAULT_WEBHOOK_REJECTIONS_ALERT_PER_HOUR,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub webhook_rejections_alert_per_hour: i64,

    /// Warn on the dashboard when a customer has waited this many seconds for
    /// a reply (below a day: after 24 h a conversation no longer waits).
    #[arg(
        long,
        env = "AUTOMATION_REPLY_ALERT_S",
        default_value_t = DEFAULT_AUTOMATION_REPLY_ALERT_S,
        value_parser = clap::value_parser!(u64).range(1..86_400)
    )]
    pub automation_reply_alert_s: u64,

    /// An account is flagged silent when it had at least this many events in
    /// the previous 24 h …
    #[arg(
        long,
        env = "ACCOUNT_SILENCE_MIN_EVENTS",
        default_value_t = DEFAULT_ACCOUNT_SILENCE_MIN_EVENTS,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub account_silence_min_events: i64,

    /// … and none for this many minutes (below a day).
    #[arg(
        long,
        env = "ACCOUNT_SILENCE_ALERT_MIN",
        default_value_t = DEFAULT_ACCOUNT_SILENCE_ALERT_MIN,
        value_parser = clap::value_parser!(u64).range(1..1440)
    )]
    pub account_silence_alert_min: u64,

    /// Raw events are kept this many days after they were received (at
    /// least 2: Meta redelivers for up to 36 hours, and a redelivery is
    /// recognised by the event it repeats). Figures are kept apart, for
    /// good.
    #[arg(
        long,
        env = "PULSE_EVENT_RETENTION_DAYS",
        default_value_t = DEFAULT_EVENT_RETENTION_DAYS,
        value_parser = clap::value_parser!(u64).range(2..=36_500)
    )]
    pub event_retention_days: u64,

    /// A rule's condition must hold this many seconds before its incident
    /// opens (and be gone as long before it clears), so a blip pages nobody.
    #[arg(
        long,
        env = "ALERT_FOR_S",
        default_value_t = DEFAULT_ALERT_FOR_S,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub alert_for_s: u64,

    /// While an incident lasts, its targets are reminded every this many
    /// minutes.
    #[arg(
        long,
        env = "ALERT_REPEAT_MIN",
        default_value_t = DEFAULT_ALERT_REPEAT_MIN,
        value_parser = clap::value_parser!(u64).range(1..=10_080)
    )]
    pub alert_repeat_min: u64,

    /// The dashboard's address as admins reach it (`https://pulse.example.com`),
    /// for the links in alert messages; none when unset.
    #[arg(long, env = "PULSE_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Config {
    /// Settings for one process on this machine, rooted at `data_dir`,
    /// listening on a free loopback port. Used by tests and tools.
    pub fn local(data_dir: PathBuf) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            site_root: PathBuf::from(DEFAULT_SITE_ROOT),
            store: StoreArgs::local(data_dir),
            redis_url: None,
            stats_pubsub: Switch::On,
            stats_safety_poll_s: DEFAULT_SAFETY_POLL_S,
            stats_db_poll_s: DEFAULT_DB_POLL_S,
            stats_notify_min_interval_ms: DEFAULT_NOTIFY_MIN_INTERVAL_MS,
            stats_fanout_cpu_budget: DEFAULT_FANOUT_CPU_BUDGET,
            tls_cert: None,
            tls_key: None,
            secure_cookies: false,
            trust_forwarded_for: 0,
            header_read_timeout_s: DEFAULT_HEADER_READ_TIMEOUT_S,
            max_connections: None,
            max_connections_per_address: None,
            stream_threads: None,
            max_streams_per_session: DEFAULT_MAX_STREAMS_PER_SESSION,
            session_idle_timeout_s: DEFAULT_SESSION_IDLE_TIMEOUT_S,
            session_lifetime_s: DEFAULT_SESSION_LIFETIME_S,
            session_stream_check_s: DEFAULT_SESSION_STREAM_CHECK_S,
            admin_email: None,
            admin_password: None,
            metrics_token: None,
            webhook_silence_alert_min: DEFAULT_WEBHOOK_SILENCE_ALERT_MIN,
            webhook_rejections_alert_per_hour: DEFAULT_WEBHOOK_REJECTIONS_ALERT_PER_HOUR,
            automation_reply_alert_s: DEFAULT_AUTOMATION_REPLY_ALERT_S,
            account_silence_min_events: DEFAULT_ACCOUNT_SILENCE_MIN_EVENTS,
            account_silence_alert_min: DEFAULT_ACCOUNT_SILENCE_ALERT_MIN,
            event_retention_days: DEFAULT_EVENT_RETENTION_DAYS,
            alert_for_s: DEFAULT_ALERT_FOR_S,
            alert_repeat_min: DEFAULT_ALERT_REPEAT_MIN,
            public_url: None,
        }
    }

    /// When the webhook health deserves a warning.
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            silence_alert: Duration::from_secs(self.webhook_silence_alert_min * 60),
            rejections_alert_per_hour: self.webhook_rejections_alert_per_hour,
            thresholds: Thresholds {
                reply_alert: Duration::from_secs(self.automation_reply_alert_s),
                silence_min_events: self.account_silence_min_events,
                silence_after: Duration::from_secs(self.account_silence_alert_min * 60),
            },
        }
    }

    /// Takes the secrets that are never flags from the environment: the
    /// first admin's password and the metrics token.
    pub fn read_secrets(&mut self) {
        let secret = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .map(SecretString::from)
        };
        self.admin_password = secret(ADMIN_PASSWORD_VAR);
        self.metrics_token = secret(METRICS_TOKEN_VAR);
    }

    /// How long sessions last and how their cookie is marked.
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(self.session_idle_timeout_s),
            lifetime: Duration::from_secs(self.session_lifetime_s),
            secure_cookies: self.secure_cookies || self.tls_cert.is_some(),
            max_streams: usize::try_from(self.max_streams_per_session).unwrap_or(usize::MAX),
            // The check is what keeps a watched session in use, so it must
            // come round well within the idle timeout.
            stream_check_interval: Duration::from_secs(
                self.session_stream_check_s
                    .min(self.session_idle_timeout_s / 2)
                    .max(1),
            ),
        }
    }

    /// The TLS files, when both are set; an error names the one missing.
    pub fn tls_files(&self) -> Result<Option<TlsFiles>, &'static str> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(certificate), Some(key)) => Ok(Some(TlsFiles {
                certificate: certificate.clone(),
                key: key.clone(),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("PULSE_TLS_CERT is set but PULSE_TLS_KEY is not: set both to serve HTTPS, or neither"),
            (None, Some(_)) => Err("PULSE_TLS_KEY is set but PULSE_TLS_CERT is not: set both to serve HTTPS, or neither"),
        }
    }

    /// The bounds on the node's connections; the default connection limit
    /// comes from `open_file_limit`, the limit in force.
    pub fn connection_limits(&self, open_file_limit: u64) -> ConnectionLimits {
        let max_connections = match self.max_connections {
            Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
            None => serve::default_max_connections(
                open_file_limit,
                serve::machine_memory_bytes().unwrap_or(u64::MAX),
            ),
        };
        let max_per_address = match self.max_connections_per_address {
            Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
            None if self.trust_forwarded_for > 0 => 0,
            None => serve::default_max_per_address(max_connections),
        };
        ConnectionLimits {
            max_connections,
            max_per_address,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_s),
        }
    }

    /// How many threads write the streams (see [`crate::serve::stream_lane`]);
    /// `None`: none of their own.
    pub fn stream_threads(&self) -> Option<std::num::NonZeroUsize> {
        match self.stream_threads {
            Some(threads) => std::num::NonZeroUsize::new(usize::try_from(threads).ok()?),
            None => std::thread::available_parallelism().ok(),
        }
    }

    /// How the Redis relay polls and whether it subscribes.
    pub fn relay_settings(&self) -> RelaySettings {
        RelaySettings {
            pubsub: self.stats_pubsub == Switch::On,
            safety_poll: Duration::from_secs(self.stats_safety_poll_s),
            db_poll: Duration::from_secs(self.stats_db_poll_s),
        }
    }

    /// The push pacer: within the fan-out CPU budget, at least every
    /// `STATS_NOTIFY_MIN_INTERVAL_MS` when changes come.
    pub fn pacer(&self) -> Pacer {
        Pacer::new(
            self.stats_fanout_cpu_budget,
            Duration::from_millis(self.stats_notify_min_interval_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_password_a_url_carries() {
        let mut config = Config::local(PathBuf::from("unused"));
        config.store.database_url = Some("postgres://pulse:db-password@db/pulse".to_owned().into());
        config.redis_url = Some("redis://:redis-password@cache:6379".to_owned().into());
        config.admin_password = Some("admin-password".to_owned().into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("password@"), "{shown}");
        assert!(!shown.contains("admin-password"), "{shown}");
        assert!(
            shown.contains("database_url"),
            "the field is listed: {shown}"
        );
    }

    #[test]
    fn proxy_hops_are_a_small_count_and_the_old_booleans_still_read() {
        assert_eq!(parse_proxy_hops("0"), Ok(0));
        assert_eq!(parse_proxy_hops("2"), Ok(2));
        assert_eq!(parse_proxy_hops("true"), Ok(1));
        assert_eq!(parse_proxy_hops("false"), Ok(0));
        assert!(parse_proxy_hops("11").unwrap_err().contains("at most 10"));
        assert!(parse_proxy_hops("yes")
            .unwrap_err()
            .contains("number of trusted proxy hops"));
    }

    #[test]
    fn the_stream_session_check_comes_round_within_half_the_idle_timeout() {
        let mut config = Config::local(PathBuf::from("unused"));
        let check = |config: &Config| config.session_policy().stream_check_interval;
        assert_eq!(check(&config), Duration::from_secs(30), "the default");
        config.session_idle_timeout_s = 40;
        assert_eq!(check(&config), Duration::from_secs(20));
        config.session_idle_timeout_s = 1;
        assert_eq!(
            check(&config),
            Duration::from_secs(1),
            "never below a second"
        );
    }
}
