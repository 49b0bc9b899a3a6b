//! Managing alerts, the same from the alerts page and from `pulse alerts`:
//! a target is added only when every field is right (the first wrong one is
//! named, and nothing is saved), a test message is sent at once and how it
//! went is recorded on the target, and rules are named by their keys.

use secrecy::SecretString;

use super::{email::EmailSettings, rules::Rule, send, target, Attempt, FieldError};
use crate::{
    error_chain,
    store::{
        alerts::{Alerts, NewTarget},
        StoreError,
    },
};

/// A target to add, by kind, with its secret.
pub enum NewTargetSpec {
    /// Email through an SMTP server; `password` is empty when the server
    /// takes no login.
    Email {
        settings: EmailSettings,
        password: SecretString,
    },
    /// A Slack-compatible incoming webhook; its URL is its secret.
    Slack { url: SecretString },
    /// A generic webhook, signed with a key made here.
    Webhook { url: String },
}

/// Why a change was not made.
#[derive(Debug)]
pub enum Refused {
    /// A field is not right; nothing was saved.
    Field(FieldError),
    /// The database did not take it.
    Store(StoreError),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Field(error) => error.fmt(f),
            Refused::Store(error) => f.write_str(&error_chain(error)),
        }
    }
}

impl From<FieldError> for Refused {
    fn from(error: FieldError) -> Self {
        Refused::Field(error)
    }
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Refused::Store(error)
    }
}

/// A target's name: 1–64 characters, no control characters.
pub fn target_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "1 to 64 characters, no control characters",
        ));
    }
    Ok(name.to_string())
}

/// Adds the target `name` described by `spec` at `now_ms`: for a generic
/// webhook, the signing key made for it (to be shown once, and never again).
pub async fn add_target(
    alerts: &Alerts<'_>,
    name: &str,
    spec: NewTargetSpec,
    now_ms: i64,
) -> Result<Option<SecretString>, Refused> {
    use secrecy::ExposeSecret;
    let name = target_name(name)?;
    let (kind, url, settings, secret, key) = match spec {
        NewTargetSpec::Email { settings, password } => {
            settings.check()?;
            resolves(settings.host.trim(), settings.port, "host").await?;
            let json = serde_json::to_string(&settings).expect("settings serialise");
            ("email", None, Some(json), password, None)
        }
        NewTargetSpec::Slack { url } => {
            url_resolves(&target::url(url.expose_secret())?).await?;
            ("slack", None, None, url, None)
        }
        NewTargetSpec::Webhook { url } => {
            let url = target::url(&url)?;
            url_resolves(&url).await?;
            let key = target::new_signing_key();
            (
                "webhook",
                Some(url.to_string()),
                None,
                key.clone(),
                Some(key),
            )
        }
    };
    let target = NewTarget {
        name: &name,
        kind,
        url: url.as_deref(),
        settings: settings.as_deref(),
        secret: &secret,
    };
    if !alerts.add_target(&target, now_ms).await? {
        return Err(FieldError::new(
            "name",
            format!("a target named {name:?} exists; nothing was added"),
        )
        .into());
    }
    Ok(key)
}

/// The longest wait for a target's host to resolve when it is added.
const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the host of `url` resolves (an address always does).
async fn url_resolves(url: &reqwest::Url) -> Result<(), FieldError> {
    match url.domain() {
        Some(host) => resolves(host, url.port_or_known_default().unwrap_or(443), "url").await,
        None => Ok(()),
    }
}

/// Whether `host` resolves to an address within [`RESOLVE_WAIT`], as the
/// field `field`: a host that does not is a typo more often than an outage,
/// and a target that can never be reached is refused when it is added, not
/// found out at 3 a.m. (A host that resolves but refuses is not refused
/// here: Send test says so.) The host alone is named: never a URL's path,
/// which for Slack is the secret.
async fn resolves(host: &str, port: u16, field: &'static str) -> Result<(), FieldError> {
    let refused = |why: String| FieldError::new(field, format!("the host {host:?} {why}"));
    match tokio::time::timeout(RESOLVE_WAIT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addresses)) => match addresses.next() {
            Some(_) => Ok(()),
            None => Err(refused("has no address".to_string())),
        },
        Ok(Err(error)) => Err(refused(format!("does not resolve ({error})"))),
        Err(_) => Err(refused(format!(
            "did not resolve within {} s",
            RESOLVE_WAIT.as_secs()
        ))),
    }
}

/// Sends a test message to the target `name` now (linking to `public_url`)
/// and records how it went: `None` when there is no such target, else
/// exactly what failed, if it did.
pub async fn test_target(
    alerts: &Alerts<'_>,
    name: &str,
    public_url: Option<&str>,
    now_ms: i64,
) -> Result<Option<Result<(), String>>, StoreError> {
    let Some(message) = alerts.test_message(name, now_ms).await? else {
        return Ok(None);
    };
    let sent = match send::attempt(&send::client(), &message, public_url).await {
        Ok(()) => Ok(()),
        Err(Attempt::Invalid(error) | Attempt::Failed(error)) => Err(error),
    };
    alerts
        .record_test(name, sent.as_ref().err().map(String::as_str), now_ms)
        .await?;
    Ok(Some(sent))
}

/// The rule whose key is `key` (as field `field`), or the keys there are.
pub fn rule(key: &str, field: &'static str) -> Result<Rule, FieldError> {
    Rule::ALL
        .into_iter()
        .find(|rule| rule.key() == key.trim())
        .ok_or_else(|| {
            let keys = Rule::ALL.map(Rule::key);
            FieldError::new(field, format!("one of {}, not {key:?}", keys.join(", ")))
        })
}
