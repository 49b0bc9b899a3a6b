//! The Pulse server: Instagram webhooks in, live admin stats out.
//!
//! [`Application::build`] opens the store, computes the first snapshot and
//! binds the listener (port 0 works, so tests run many servers side by side);
//! [`Application::run`] serves until the shutdown future completes.

// The app's pages are one deeply nested view type; computing its layout
// (the router's future) needs more than the default 128 levels.
#![recursion_limit = "256"]

pub mod admin_command;
pub mod alerts;
pub mod alerts_command;
pub mod auth;
pub mod backup_command;
pub mod bus;
pub mod clock;
pub mod config;
mod error_chain;
pub mod event;
pub mod history;
pub mod metrics;
pub mod rebuild;
pub mod repeated_warning;
pub mod retention;
pub mod secrets;
pub mod serve;
pub mod simulate;
pub mod state;
pub mod stats;
pub mod store;
mod tasks;
pub mod typed_secret;
pub mod webhook;

mod routes;

use std::{future::Future, io, net::SocketAddr, sync::Arc};

use leptos::config::{Env, LeptosOptions};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use auth::Auth;
use bus::relay::Relay;
pub use config::Config;
pub use error_chain::error_chain;
pub use secrets::WebhookSecrets;
use serve::{stream_lane::StreamLane, tls::Tls};
use state::{AppState, SharedState};
use stats::StatsPublisher;
use store::{Store, StoreError};
use tasks::NodeTasks;
use webhook::refusals::FINAL_WRITE_WAIT;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory in question.
        path: std::path::PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    /// `REDIS_URL` is not a Redis URL (the URL itself is not repeated: it
    /// may carry a password).
    #[error("REDIS_URL is not a valid Redis URL (expected redis://[:PASSWORD@]HOST:PORT[/DB]): {reason}")]
    RedisUrl {
        /// What the Redis client found wrong.
        reason: String,
    },
    /// `PULSE_ADMIN_EMAIL` / `PULSE_ADMIN_PASSWORD` could not make the first admin.
    #[error("cannot create the first admin from PULSE_ADMIN_EMAIL / PULSE_ADMIN_PASSWORD")]
    FirstAdmin(#[source] auth::NewAdminError),
    /// Only one of `PULSE_ADMIN_EMAIL` / `PULSE_ADMIN_PASSWORD` is set.
    #[error(
        "set both PULSE_ADMIN_EMAIL and PULSE_ADMIN_PASSWORD to create the first admin, or neither"
    )]
    FirstAdminHalfSet,
    /// Only one of `PULSE_TLS_CERT` / `PULSE_TLS_KEY` is set.
    #[error("{0}")]
    TlsHalfSet(&'static str),
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] serve::tls::TlsError),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address in question.
        addr: SocketAddr,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// A server that is bound and ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
    relay: Option<Relay>,
    tls: Option<Tls>,
}

impl Application {
    /// Opens the store, computes the first snapshot and binds the listener.
    pub async fn build(config: Config, secrets: WebhookSecrets) -> Result<Self, StartError> {
        config
            .store
            .create_data_dir()
            .map_err(|source| StartError::DataDir {
                path: config.store.data_dir.clone(),
                source,
            })?;
        let tls = match config.tls_files().map_err(StartError::TlsHalfSet)? {
            Some(files) => Some(Tls::load(files)?),
            None => None,
        };
        warn_if_cookies_travel_in_clear(&config, tls.is_some());
        let store = config.store.open().await?;
        first_admin(&store, &config).await?;
        let auth = Auth::new(store.clone(), config.session_policy());
        // The dashboard warns by the thresholds admins set, from the first snapshot on.
        let limits = alert_defaults(&config).with_set(&store.alerts().thresholds().await?);
        let publisher = StatsPublisher::start(store.clone(), limits.policy).await?;
        let relay = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.expose_secret()).map_err(|error| {
                    StartError::RedisUrl {
                        reason: error.to_string(),
                    }
                })?;
                let seal = bus::seal::Seal::new(store.relay_key().await?);
                Some(
                    Relay::start(
                        client,
                        config.relay_settings(),
                        publisher.bus().clone(),
                        publisher.recompute(),
                        seal,
                    )
                    .await,
                )
            }
            None => None,
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        let leptos_options = LeptosOptions::builder()
            .output_name("pulse")
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(local_addr)
            .env(Env::PROD)
            .build();
        let state = AppState::new(SharedState {
            leptos_options,
            store,
            publisher,
            auth,
            metrics_token: config.metrics_token.clone(),
            proxy_hops: config.trust_forwarded_for,
            refusals: Arc::default(),
            secrets,
            alert_defaults: alert_defaults(&config),
            public_url: config.public_url.clone(),
            shutdown: CancellationToken::new(),
        });
        Ok(Application {
            listener,
            state,
            config,
            relay,
            tls,
        })
    }

    /// The address actually bound (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// The shared state, for tests and tools that inspect a running server.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then closes the SSE streams, lets
    /// in-flight requests (and their transactions) finish (at most
    /// [`serve::SHUTDOWN_GRACE`]), writes the last refusal counts (at most
    /// [`webhook::refusals::FINAL_WRITE_WAIT`]; what it cannot write is
    /// logged as lost), joins every task it started and the store's writers,
    /// and returns: within 10 s whatever the database does.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Application {
            listener,
            state,
            config,
            relay,
            tls,
        } = self;
        let token = state.shutdown.clone();
        let mut tasks = NodeTasks::default();
        if let Some(tls) = &tls {
            tasks.spawn(
                "certificate reload",
                tls.clone().reload_on_hangup(token.clone()),
            );
        }
        if let Some(relay) = relay {
            tasks.spawn("redis relay", relay.run(token.clone()));
        }
        tasks.spawn(
            "streamed sessions check",
            state.auth.clone().check_streamed_sessions(token.clone()),
        );
        tasks.spawn(
            "failed logins purge",
            state.auth.clone().forget_old_failures(token.clone()),
        );
        tasks.spawn(
            "retention",
            retention::keep_bounded(
                state.store.clone(),
                std::time::Duration::from_secs(config.event_retention_days * 86_400),
                token.clone(),
            ),
        );
        tasks.spawn(
            "catch-up after an upgrade",
            rebuild::catch_up(state.store.clone(), token.clone()),
        );
        let alert_settings = alerts::AlertSettings {
            defaults: alert_defaults(&config),
            repeat: std::time::Duration::from_secs(config.alert_repeat_min * 60),
            public_url: config.public_url.clone(),
            node: alerts::node_name(state.leptos_options.site_addr.port()),
        };
        tasks.spawn(
            "alert rules",
            alerts::watch::watch(
                state.store.clone(),
                state.publisher.clone(),
                alert_settings.clone(),
                token.clone(),
            ),
        );
        tasks.spawn(
            "alert sender",
            alerts::send::send(state.store.clone(), alert_settings, token.clone()),
        );
        tasks.spawn(
            "stats publisher",
            state.publisher.clone().run(config.pacer(), token.clone()),
        );
        // Stopped only once the last connection is done, so that requests
        // refused during the shutdown grace period are counted too.
        let refusals_stop = CancellationToken::new();
        tasks.spawn("refusal counter", {
            let state = state.clone();
            let stop = refusals_stop.clone();
            async move {
                state
                    .refusals
                    .run(state.store.clone(), state.publisher.clone(), stop)
                    .await
            }
        });
        let store = state.store.clone();
        let lane = match config.stream_threads() {
            Some(threads) => match StreamLane::start(threads, routes::stream::PATH) {
                Ok(lane) => Some(lane),
                Err(error) => {
                    tracing::warn!(%error, "cannot start the streams' threads; serving them with the rest");
                    None
                }
            },
            None => None,
        };
        let limits = config.connection_limits(serve::raise_open_file_limit());
        let router = routes::router(state);
        let stop = token.clone();
        tasks.spawn("shutdown signal", async move {
            tokio::select! {
                () = shutdown => stop.cancel(),
                () = stop.cancelled() => {}
            }
        });
        serve::serve(
            listener,
            router,
            limits,
            tls,
            lane.as_ref().map(StreamLane::route),
            token.clone(),
        )
        .await;
        // The refusal counter's last write is bounded by its FINAL_WRITE_WAIT,
        // whatever the database does; the other tasks stopped on the token
        // when shutdown began. A task still running then is abandoned.
        refusals_stop.cancel();
        tasks.join(FINAL_WRITE_WAIT + STOP_MARGIN).await;
        // Nothing sends deliveries any more: the writers store what is
        // queued and stop.
        if tokio::time::timeout(STOP_MARGIN, store.close())
            .await
            .is_err()
        {
            tracing::warn!("the store's writers did not stop in time; abandoned");
        }
    }
}

/// What the node's stop gives, beyond the refusal counter's last write, to
/// its tasks and then to the store's writers (by then nothing is queued:
/// every connection has ended).
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// Says plainly when session cookies would cross a network in clear: no TLS
/// here, a non-loopback address, and nothing saying a proxy terminates TLS.
/// The alert rules' thresholds the settings give, for those no admin has
/// set on the alerts page.
fn alert_defaults(config: &Config) -> alerts::thresholds::Limits {
    alerts::thresholds::Limits {
        policy: config.health_policy(),
        hold: std::time::Duration::from_secs(config.alert_for_s),
    }
}

fn warn_if_cookies_travel_in_clear(config: &Config, tls: bool) {
    if cookies_travel_in_clear(config, tls) {
        tracing::warn!(
            addr = %config.addr,
            "serving plain HTTP on a non-loopback address: session cookies are not Secure and \
             travel in clear. Set PULSE_TLS_CERT and PULSE_TLS_KEY to serve HTTPS, or \
             PULSE_SECURE_COOKIES=true when a proxy in front terminates TLS"
        );
    }
}

/// Plain HTTP here, on an address other machines can reach, with nothing
/// saying a proxy in front terminates TLS.
fn cookies_travel_in_clear(config: &Config, tls: bool) -> bool {
    !tls && !config.secure_cookies && !config.addr.ip().is_loopback()
}

/// On a start with no admin: creates the one named by `PULSE_ADMIN_EMAIL` and
/// `PULSE_ADMIN_PASSWORD`, or says exactly how to create one.
async fn first_admin(store: &Store, config: &Config) -> Result<(), StartError> {
    if store.accounts().has_admins().await? {
        return Ok(());
    }
    let email = config
        .admin_email
        .as_deref()
        .filter(|email| !email.trim().is_empty());
    match (email, &config.admin_password) {
        (Some(email), Some(password)) => {
            let email = auth::create_admin(store, email, password)
                .await
                .map_err(StartError::FirstAdmin)?;
            tracing::info!(%email, "created the first admin from PULSE_ADMIN_EMAIL; log in at /login");
            Ok(())
        }
        (None, None) => {
            tracing::warn!(
                "no admin account yet, so nobody can log in: create one with \
                 `pulse admin create --email you@example.com` (it asks for the password), \
                 or start with PULSE_ADMIN_EMAIL and PULSE_ADMIN_PASSWORD set"
            );
            Ok(())
        }
        _ => Err(StartError::FirstAdminHalfSet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_on_a_public_address_without_a_proxy_is_warned_about() {
        let mut config = Config::local(std::path::PathBuf::from("unused"));
        assert!(!cookies_travel_in_clear(&config, false), "loopback");
        config.addr = "0.0.0.0:3000".parse().unwrap();
        assert!(cookies_travel_in_clear(&config, false));
        assert!(!cookies_travel_in_clear(&config, true), "TLS here");
        config.secure_cookies = true;
        assert!(!cookies_travel_in_clear(&config, false), "TLS at a proxy");
        config.secure_cookies = false;
        config.addr = "[::1]:3000".parse().unwrap();
        assert!(!cookies_travel_in_clear(&config, false), "IPv6 loopback");
    }
}
