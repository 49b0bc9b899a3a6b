//! What every request handler can reach.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::{auth::Auth, secrets::WebhookSecrets, stats::StatsPublisher, store::Store};

/// Shared state of one server process; cheap to clone.
#[derive(Clone)]
pub struct AppState {
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
    /// Secrets the webhook checks requests against.
    pub secrets: WebhookSecrets,
    /// Cancelled when the server begins shutting down; long-lived streams end on it.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
