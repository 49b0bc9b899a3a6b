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
pub mod rules;
pub mod send;
pub mod target;
pub mod watch;

/// What the alert tasks need from the configuration.
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// How long a condition holds (or is gone) before its incident opens
    /// (or clears).
    pub hold: std::time::Duration,
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
