//! HTTP handlers of `/api/webhooks/instagram`.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::webhook::{
    payload::{self, PayloadError},
    signature::{self, SignatureError},
};
use crate::{
    clock::now_ms, event::Rejection, metrics::metrics, serve::strangers::pause_before_refusal,
    state::AppState, store::write_health::WriteFailure,
};

/// The `Retry-After` of a delivery the store could not take, in seconds.
pub const STORE_RETRY_AFTER_S: u64 = 30;

/// Largest accepted delivery; Meta's batches of up to 1000 events fit well within it.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// `GET`: Meta's subscription handshake. Echoes `hub.challenge` verbatim when
/// `hub.mode` is `subscribe` and `hub.verify_token` matches; 403 otherwise.
#[tracing::instrument(skip_all)]
pub async fn verify_subscription(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mode_ok = params
        .get("hub.mode")
        .is_some_and(|mode| mode == "subscribe");
    let token_ok = params.get("hub.verify_token").is_some_and(|token| {
        bool::from(
            token
                .as_bytes()
                .ct_eq(state.secrets.verify_token.expose_secret().as_bytes()),
        )
    });
    if !(mode_ok && token_ok) {
        const REFUSED: &str = "verification failed: hub.mode must be \"subscribe\" and hub.verify_token must equal IG_VERIFY_TOKEN";
        state
            .refusals
            .record(Rejection::Verification, now_ms(), &REFUSED);
        pause_before_refusal().await;
        return (StatusCode::FORBIDDEN, REFUSED).into_response();
    }
    match params.get("hub.challenge") {
        Some(challenge) => {
            tracing::info!("webhook subscription verified");
            (StatusCode::OK, challenge.clone()).into_response()
        }
        None => (StatusCode::BAD_REQUEST, "hub.challenge is missing").into_response(),
    }
}

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The body could not be read (too large, or the connection failed).
    #[error("{message}")]
    Body {
        /// Status chosen by axum for the rejection (413 for an oversized body).
        status: StatusCode,
        /// Explanation for the sender.
        message: String,
    },
    /// Missing or wrong `X-Hub-Signature-256`.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a well-formed Instagram delivery.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Storing failed; the sender should retry. (The store's failure itself
    /// is logged by its write health, once per interval.)
    #[error("the events could not be stored{}; retry the delivery", .refusing.map(|failure| format!(": {}", failure.describe())).unwrap_or_default())]
    Store {
        /// What fails every write now, if anything (a full disk, say).
        refusing: Option<WriteFailure>,
    },
}

impl WebhookError {
    /// How the refusal is counted in the webhook health figures; `None` for
    /// server-side failures, which are not the sender's fault.
    fn rejection(&self) -> Option<Rejection> {
        match self {
            WebhookError::Body { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE => {
                Some(Rejection::TooLarge)
            }
            WebhookError::Body { .. } => Some(Rejection::Body),
            WebhookError::Signature(_) => Some(Rejection::Signature),
            WebhookError::Payload(_) => Some(Rejection::Payload),
            WebhookError::Store { .. } => None,
        }
    }
}

impl From<BytesRejection> for WebhookError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "request body exceeds the {} MiB limit",
                BODY_LIMIT_BYTES / (1024 * 1024)
            )
        } else {
            rejection.body_text()
        };
        WebhookError::Body { status, message }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebhookError::Body { status, .. } => *status,
            WebhookError::Signature(_) => StatusCode::UNAUTHORIZED,
            WebhookError::Payload(_) => StatusCode::BAD_REQUEST,
            // Meta retries; nothing of the delivery was kept.
            WebhookError::Store { .. } => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, STORE_RETRY_AFTER_S.to_string())],
                    self.to_string(),
                )
                    .into_response();
            }
        };
        // Refusals are logged in summary by `refusals`, and the store's
        // failures by its write health, not one line each.
        (status, self.to_string()).into_response()
    }
}

/// The response header carrying the store version a delivery's commit left:
/// every snapshot with this version or a later one counts its events (the
/// load harness measures update latency with it).
pub const VERSION_HEADER: &str = "x-pulse-version";

/// `POST`: a signed delivery. Answers 200 only once every event is committed.
#[tracing::instrument(skip_all)]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let received_at_ms = now_ms();
    match accept(&state, &headers, body, received_at_ms).await {
        Ok(version) => {
            metrics().webhooks_accepted.inc();
            ([(VERSION_HEADER, version.to_string())], "EVENT_RECEIVED").into_response()
        }
        Err(error) => {
            if let Some(rejection) = error.rejection() {
                state.refusals.record(rejection, received_at_ms, &error);
                pause_before_refusal().await;
            }
            error.into_response()
        }
    }
}

async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    received_at_ms: i64,
) -> Result<i64, WebhookError> {
    let body = body?;
    signature::verify(
        &state.secrets.app_secret,
        headers.get(signature::HEADER).map(|value| value.as_bytes()),
        &body,
    )?;
    let events = payload::parse(&body, received_at_ms)?;
    let outcome = state
        .store
        .ingest(events, received_at_ms)
        .await
        .map_err(|_| WebhookError::Store {
            refusing: state
                .store
                .write_health()
                .refusing()
                .map(|refusing| refusing.failure),
        })?;
    // Even an all-duplicate delivery moves "last accepted" on the dashboard.
    state.publisher.mark_dirty();
    tracing::debug!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        "webhook delivery stored"
    );
    for (kind, count) in &outcome.stored_by_kind {
        metrics()
            .events_stored
            .with_label_values(&[kind])
            .inc_by(*count);
    }
    Ok(outcome.version)
}
