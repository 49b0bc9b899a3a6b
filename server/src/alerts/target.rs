//! The places alerts go and what each is sent: a Slack-compatible incoming
//! webhook (`{"text": …}`, which Mattermost and Rocket.Chat take too), or a
//! generic webhook whose JSON body is signed with HMAC-SHA256 in
//! `X-Pulse-Signature-256: sha256=<hex>`, the way Meta signs ours, so the
//! receiver can check it came from this deployment.

use secrecy::{ExposeSecret, SecretString};

use super::FieldError;
use crate::{store::alerts::DueMessage, webhook::signature};

/// The header carrying a generic webhook's signature.
pub const SIGNATURE_HEADER: &str = "x-pulse-signature-256";
/// The header naming a message, the same on every attempt, so a receiver can
/// drop a repeat.
pub const MESSAGE_ID_HEADER: &str = "x-pulse-message-id";

/// `text` as a target's URL, or why not (as the field `url`): http or
/// https, with a host and a port in range.
pub fn url(text: &str) -> Result<reqwest::Url, FieldError> {
    let refused = |message: String| FieldError::new("url", message);
    let url = reqwest::Url::parse(text.trim())
        .map_err(|error| refused(format!("not a URL ({error})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refused("the URL has no host".to_string()));
    }
    Ok(url)
}

/// How a message's event reads in a title: `Alert`, `Still` (a reminder),
/// `Resolved` or `Test`.
pub fn mark(event: &str) -> &'static str {
    match event {
        "cleared" => "Resolved",
        "test" => "Test",
        "started" => "Alert",
        _ => "Still",
    }
}

/// A new signing key for a generic webhook: 32 random bytes, in hex.
pub fn new_signing_key() -> SecretString {
    let mut key = [0_u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random source works");
    SecretString::from(hex::encode(key))
}

/// The name a message goes by on every attempt (`X-Pulse-Message-Id`, the
/// email's Message-ID): its row's id, or for a test message, which is never
/// stored, the time it was made.
pub fn message_key(message: &DueMessage) -> String {
    match message.id {
        0 => format!("pulse-test-{}", message.started_at_ms),
        id => format!("pulse-{id}"),
    }
}

/// A message as it is posted.
pub struct Request {
    pub url: reqwest::Url,
    pub body: Vec<u8>,
    /// Headers besides the content type (JSON).
    pub headers: Vec<(&'static str, String)>,
}

/// How `message` is posted to its target.
pub fn request(message: &DueMessage, public_url: Option<&str>) -> Result<Request, String> {
    let title = super::rules::Rule::title(&message.rule);
    let link = public_url.map(|base| format!("{}/admin", base.trim_end_matches('/')));
    let message_id = message_key(message);
    match message.kind.as_str() {
        "slack" => {
            let url = url(message.secret.expose_secret())
                .map_err(|error| format!("the Slack URL: {}", error.message))?;
            let mark = mark(&message.event);
            let mut text = format!("*{mark}: {title}*\n{}", message.summary);
            if let Some(link) = &link {
                text.push_str(&format!("\n<{link}|Open the dashboard>"));
            }
            let body =
                serde_json::to_vec(&serde_json::json!({ "text": text })).expect("JSON serialises");
            Ok(Request {
                url,
                body,
                headers: vec![(MESSAGE_ID_HEADER, message_id)],
            })
        }
        _ => {
            let url = url(message.url.as_deref().unwrap_or_default())
                .map_err(|error| format!("the webhook URL: {}", error.message))?;
            let (event, repeat) = match message.event.strip_prefix("repeat ") {
                Some(number) => ("repeated", number.parse::<i64>().ok()),
                None => (message.event.as_str(), None),
            };
            let body = serde_json::to_vec(&serde_json::json!({
                "id": message_id,
                "event": event,
                "repeat": repeat,
                "rule": message.rule,
                "title": title,
                "summary": message.summary,
                "started_at": app::format::utc_timestamp(message.started_at_ms),
                "cleared_at": message.cleared_at_ms.map(app::format::utc_timestamp),
                "link": link,
            }))
            .expect("JSON serialises");
            // Signed the way Meta signs ours.
            let signed = signature::sign(&message.secret, &body);
            Ok(Request {
                url,
                body,
                headers: vec![(SIGNATURE_HEADER, signed), (MESSAGE_ID_HEADER, message_id)],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_url_is_refused_with_its_field_named() {
        assert!(url("https://hooks.example.com/x").is_ok());
        assert_eq!(
            url("ftp://example.com/").unwrap_err().to_string(),
            "--url: the scheme must be http or https, not ftp"
        );
        assert!(url("https://example.com:70000/")
            .unwrap_err()
            .to_string()
            .starts_with("--url: not a URL (invalid port number"));
        assert!(url("not a url")
            .unwrap_err()
            .to_string()
            .starts_with("--url: not a URL"));
    }
}
