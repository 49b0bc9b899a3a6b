//! The task that sends: it claims the oldest message due, posts it to its
//! target with a timeout, and records the outcome; a failure is tried again
//! after 10 s, 20 s, 40 s and 80 s, then recorded as failed with what went
//! wrong. Sending happens here only, never on a delivery's path.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{target, AlertSettings, Attempt};
use crate::{
    clock::now_ms,
    error_chain,
    repeated_warning::RepeatedWarning,
    store::{
        alerts::{DueMessage, Outcome, ATTEMPTS},
        Store,
    },
};

/// Longest wait for a target's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the second attempt; each later one waits twice as long.
const FIRST_RETRY_MS: i64 = 10_000;

/// Sends the messages due until `shutdown`.
pub async fn send(store: Store, settings: AlertSettings, shutdown: CancellationToken) {
    let client = client();
    let failures = RepeatedWarning::default();
    loop {
        let claimed = store.alerts().claim(now_ms()).await;
        let idle = match claimed {
            Ok(Some(message)) => {
                let outcome = deliver(&client, &message, &settings).await;
                match &outcome {
                    Outcome::Sent => {
                        tracing::info!(target = %message.target_name, rule = %message.rule, event = %message.event, "alert sent")
                    }
                    Outcome::Retry { error, .. } | Outcome::Failed { error } => tracing::warn!(
                        target = %message.target_name, rule = %message.rule, attempt = message.attempts, %error,
                        "alert not sent"
                    ),
                }
                if let Err(error) = store.alerts().record(message.id, &outcome, now_ms()).await {
                    tracing::warn!(error = %error_chain(&error), "cannot record an alert's outcome");
                }
                false
            }
            Ok(None) => true,
            Err(error) => {
                if let Some(times) = failures.note() {
                    tracing::warn!(error = %error_chain(&error), failures = times, "cannot read the alerts due");
                }
                true
            }
        };
        if idle {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
        } else if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Posts `message` and says what became of it.
async fn deliver(
    client: &reqwest::Client,
    message: &DueMessage,
    settings: &AlertSettings,
) -> Outcome {
    let error = match attempt(client, message, settings.public_url.as_deref()).await {
        Ok(()) => return Outcome::Sent,
        Err(Attempt::Invalid(error)) => return Outcome::Failed { error },
        Err(Attempt::Failed(error)) => error,
    };
    if message.attempts >= ATTEMPTS {
        Outcome::Failed { error }
    } else {
        Outcome::Retry {
            at_ms: now_ms() + FIRST_RETRY_MS * (1 << (message.attempts - 1).clamp(0, 16)),
            error,
        }
    }
}

/// One post of `message` to its target.
pub async fn attempt(
    client: &reqwest::Client,
    message: &DueMessage,
    public_url: Option<&str>,
) -> Result<(), Attempt> {
    if message.kind == "email" {
        return super::email::send(message, public_url, TIMEOUT).await;
    }
    let target::Request { url, body, headers } =
        target::request(message, public_url).map_err(Attempt::Invalid)?;
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(Attempt::Failed(format!(
            "the target answered {}",
            response.status()
        ))),
        Err(error) => Err(Attempt::Failed(describe(error))),
    }
}

/// The client alerts are sent with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// What went wrong, without the URL (a Slack URL is a secret).
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let what = if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    format!("{what}: {}", error_chain(&error.without_url()))
}
