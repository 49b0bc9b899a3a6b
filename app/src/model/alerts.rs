//! What the alerts page (`/admin/alerts`) shows: the targets (never their
//! secrets), the rules with their state and mutes, the thresholds, and the
//! incidents with what was sent where; and what the server answers a form
//! with when it renders the page itself.

use serde::{Deserialize, Serialize};

/// A place alerts go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTarget {
    pub name: String,
    /// `email`, `slack` or `webhook`.
    pub kind: String,
    /// Where it sends, in words (a Slack URL is a secret: not shown).
    pub place: String,
    pub added_at_ms: i64,
    /// When its last test message went, and what failed.
    pub tested: Option<(i64, Option<String>)>,
}

/// A rule and its state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    /// Its key (`webhooks`, `waiting`, …), as muting names it.
    pub key: String,
    pub title: String,
    /// The open incidents of this rule (one, or one per node for a node's
    /// own rule): who, and since when.
    pub open: Vec<(String, i64)>,
    pub muted_until_ms: Option<i64>,
}

/// A threshold, as set or by its setting's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertThreshold {
    pub name: String,
    pub label: String,
    pub unit: String,
    /// The setting giving its default (`AUTOMATION_REPLY_ALERT_S`, …).
    pub setting: String,
    pub value: i64,
    pub default: i64,
    /// Whether an admin set it (else it is the default).
    pub set: bool,
    pub min: i64,
    pub max: i64,
}

/// One message of an incident to one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMessage {
    pub target: String,
    /// `started`, `cleared` or `repeat N`.
    pub event: String,
    /// How sending it went, in words.
    pub outcome: String,
    /// Whether it failed for good.
    pub failed: bool,
}

/// An incident: a rule's condition from when it held until it cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertIncident {
    pub id: i64,
    pub rule: String,
    pub title: String,
    pub summary: String,
    pub started_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
    pub messages: Vec<AlertMessage>,
}

/// Everything the alerts page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsOverview {
    pub targets: Vec<AlertTarget>,
    pub rules: Vec<AlertRule>,
    pub thresholds: Vec<AlertThreshold>,
    /// The latest incidents, newest first.
    pub incidents: Vec<AlertIncident>,
    /// The time zone the page shows times in: the admin's (IANA name), or
    /// `UTC` when they have none.
    pub zone: String,
}

/// The server's answer to a form it renders the page for, instead of
/// sending the browser back to it: a field that is not right (the form is
/// shown again with what was typed, secrets left out), or a new webhook's
/// signing key, shown this once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsFormAnswer {
    /// The form's `action` (`add-email`, `thresholds`, …).
    pub action: String,
    /// The field that is not right, and why.
    pub error: Option<(String, String)>,
    /// What was typed, by field (never a password or a Slack URL).
    pub values: Vec<(String, String)>,
    /// A webhook target added: its name and signing key.
    pub signing_key: Option<(String, String)>,
}

impl AlertsFormAnswer {
    /// What was typed in `field`, if it was.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }

    /// The error of `field` in the form `action`, if that is where it is.
    pub fn error_of(&self, action: &str, field: &str) -> Option<&str> {
        match &self.error {
            Some((name, message)) if self.action == action && name == field => {
                Some(message.as_str())
            }
            _ => None,
        }
    }
}
