//! Alerts by email, through an SMTP server (`lettre`): the target's settings,
//! checked when it is added, and the message an alert becomes.

use std::time::Duration;

use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Attempt, FieldError};
use crate::store::alerts::DueMessage;

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (usually port 587); refused
    /// if the server does not offer it.
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

/// An email target's settings (its password is its secret, kept apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The login, when the server wants one.
    pub user: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

impl EmailSettings {
    /// Where messages go, in words: the recipients and the server.
    pub fn describe(&self) -> String {
        format!("{} via {}:{}", self.to.join(", "), self.host, self.port)
    }

    /// Checks every field, naming the one that is wrong.
    pub fn check(&self) -> Result<(), FieldError> {
        let host = self.host.trim();
        if host.is_empty() || host.contains(['/', ' ', ':']) {
            return Err(FieldError::new(
                "host",
                format!("not a host name or address: {:?}", self.host),
            ));
        }
        if self.port == 0 {
            return Err(FieldError::new("port", "1 to 65535"));
        }
        mailbox(&self.from, "from")?;
        if self.to.is_empty() {
            return Err(FieldError::new("to", "at least one address"));
        }
        for to in &self.to {
            mailbox(to, "to")?;
        }
        Ok(())
    }
}

/// `text` as an address, or why not (naming `field`).
fn mailbox(text: &str, field: &'static str) -> Result<Mailbox, FieldError> {
    text.trim().parse::<Mailbox>().map_err(|error| {
        FieldError::new(field, format!("not an email address: {text:?} ({error})"))
    })
}

/// Sends `message` to the target's recipients within `timeout`; what went
/// wrong otherwise (connecting, TLS, the login, the server's answer).
pub async fn send(
    message: &DueMessage,
    public_url: Option<&str>,
    timeout: Duration,
) -> Result<(), Attempt> {
    let settings: EmailSettings = serde_json::from_str(message.settings.as_deref().unwrap_or("{}"))
        .map_err(|error| Attempt::Invalid(format!("the target's settings: {error}")))?;
    settings
        .check()
        .map_err(|error| Attempt::Invalid(error.to_string()))?;
    let title = super::rules::Rule::title(&message.rule);
    let mark = super::target::mark(&message.event);
    let mut body = format!("{}\n", message.summary);
    body.push_str(&format!(
        "\nStarted: {}\n",
        app::format::utc_timestamp(message.started_at_ms)
    ));
    if let Some(cleared) = message.cleared_at_ms {
        body.push_str(&format!(
            "Cleared: {}\n",
            app::format::utc_timestamp(cleared)
        ));
    }
    if let Some(base) = public_url {
        body.push_str(&format!("\n{}/admin\n", base.trim_end_matches('/')));
    }
    let mut builder = Message::builder()
        .from(mailbox(&settings.from, "from").map_err(|error| Attempt::Invalid(error.to_string()))?)
        .subject(format!("[Pulse] {mark}: {title}"))
        .message_id(Some(format!(
            "<{}@pulse>",
            super::target::message_key(message)
        )))
        .header(ContentType::TEXT_PLAIN);
    for to in &settings.to {
        builder =
            builder.to(mailbox(to, "to").map_err(|error| Attempt::Invalid(error.to_string()))?);
    }
    let email = builder
        .body(body)
        .map_err(|error| Attempt::Invalid(format!("the message: {error}")))?;
    let transport = match settings.security {
        Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host),
        Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &settings.host,
        )),
    }
    .map_err(|error| Attempt::Invalid(format!("the SMTP server: {error}")))?;
    let mut transport = transport.port(settings.port).timeout(Some(timeout));
    if let Some(user) = &settings.user {
        transport = transport.credentials(Credentials::new(
            user.clone(),
            message.secret.expose_secret().to_string(),
        ));
    }
    transport
        .build()
        .send(email)
        .await
        .map(|_| ())
        .map_err(|error| Attempt::Failed(describe(&error)))
}

/// What went wrong, in words (lettre's errors never carry the password).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let what = if error.is_timeout() {
        "no answer in time"
    } else if error.is_tls() {
        "TLS failed"
    } else if error.is_permanent() {
        "the server refused"
    } else if error.is_transient() {
        "the server refused for now"
    } else {
        "the SMTP exchange failed"
    };
    format!("{what}: {}", crate::error_chain(error))
}

/// The password of a new email target: none when there is no login.
pub fn no_password() -> SecretString {
    SecretString::from(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmailSettings {
        EmailSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::Starttls,
            user: None,
            from: "pulse@example.com".into(),
            to: vec!["ops@example.com".into()],
        }
    }

    #[test]
    fn email_settings_are_refused_naming_the_field() {
        assert_eq!(settings().check(), Ok(()));
        let mut bad = settings();
        bad.to = vec!["not an address".into()];
        assert!(bad
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("--to: not an email address"));
        let mut bad = settings();
        bad.from = "@".into();
        assert_eq!(bad.check().unwrap_err().field, "from");
        let mut bad = settings();
        bad.host = "smtp.example.com:25".into();
        assert_eq!(bad.check().unwrap_err().field, "host");
        let mut bad = settings();
        bad.to.clear();
        assert_eq!(
            bad.check().unwrap_err().to_string(),
            "--to: at least one address"
        );
    }
}
