//! What every request handler can reach.

use std::{ops::Deref, sync::Arc};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::Auth, secrets::WebhookSecrets, stats::StatsPublisher, store::Store,
    webhook::refusals::Refusals,
};

/// Shared state of one server process: one `Arc`, so the clone that every
/// extractor and middleware makes per request is a reference count, not a
/// copy of options and secrets.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct SharedState {
    /// Leptos rendering options (site root, output name, address).
    pub leptos_options: LeptosOptions,
    /// The durable event store.
    pub store: Store,
    /// Recomputes and broadcasts stats snapshots.
    pub publisher: StatsPublisher,
    /// Admin logins and sessions.
    pub auth: Auth,
    /// Lets a scraper read `/metrics` without a session, when set.
    pub metrics_token: Option<SecretString>,
    /// Trusted proxy hops in front of the node (`PULSE_TRUST_FORWARDED_FOR`):
    /// how the client address is read (see [`crate::serve::strangers`]).
    pub proxy_hops: u8,
    /// Refused webhook requests, counted in memory until written.
    pub refusals: Arc<Refusals>,
    /// Secrets the webhook checks requests against.
    pub secrets: WebhookSecrets,
    /// The alert rules' thresholds the settings give (admins may set others
    /// on the alerts page).
    pub alert_defaults: crate::alerts::thresholds::Limits,
    /// The dashboard's address as admins reach it, for links in alerts.
    pub public_url: Option<String>,
    /// Cancelled when the server begins shutting down; long-lived streams end on it.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
