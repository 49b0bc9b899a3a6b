//! Alerts: the dashboard's warnings told to someone who is not watching.
//!
//! Every node runs two tasks. [`watch`] reads the node's newest snapshot every
//! few seconds and, once a rule's condition has held (or been gone) for
//! `ALERT_FOR_S`, opens (or clears) its incident in the database; [`send`]
//! claims the messages due and posts them to their targets ([`target`],
//! [`email`]),
//! retrying with backoff. The database decides each step once, whatever the
//! number of nodes (`store::alerts`): one open incident per rule, one message
//! per incident, target and event, one node sending it at a time.

pub mod email;
pub mod manage;
pub mod overview;
pub mod rules;
pub mod send;
pub mod target;
pub mod thresholds;
pub mod watch;

/// What the alert tasks need from the configuration.
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// The thresholds of the settings (`ALERT_FOR_S`, the dashboard's
    /// warnings), for those no admin has set on the alerts page.
    pub defaults: thresholds::Limits,
    /// How often the targets are reminded of an incident that lasts.
    pub repeat: std::time::Duration,
    /// The dashboard's address for links, if known.
    pub public_url: Option<String>,
    /// This node, as its own rules' incidents name it (`host:port`).
    pub node: String,
}

/// This node's name in its own rules' incidents: the machine's host name and
/// the port it listens on.
pub fn node_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{port}")
}

/// A field of a target or threshold that is not right: its name (the
/// page's form field, and the command's flag without `--`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    /// As the command says it: `--field: why`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--{}: {}", self.field, self.message)
    }
}

/// Why an attempt to send a message failed.
pub enum Attempt {
    /// The target cannot be sent to (its URL, its settings): trying again
    /// cannot help.
    Invalid(String),
    /// The sending failed: what went wrong (DNS, refused, TLS, a timeout, the
    /// status the target answered, the SMTP server's refusal).
    Failed(String),
}
