//! Whether the browser's stream to the server is open.

/// State of the browser's push connection to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Server-rendered, the browser has not (yet) opened the stream.
    Connecting,
    /// The stream is open; numbers update as webhooks arrive.
    Live,
    /// The stream dropped; the browser is reconnecting by itself.
    Reconnecting,
    /// The stream was refused or closed; retrying less often.
    Offline,
}

impl ConnectionState {
    /// The word shown on the badge.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "Connecting",
            ConnectionState::Live => "Live",
            ConnectionState::Reconnecting => "Reconnecting",
            ConnectionState::Offline => "Offline",
        }
    }

    /// The state a [`key`](Self::key) names.
    pub fn from_key(key: &str) -> Option<Self> {
        [
            ConnectionState::Connecting,
            ConnectionState::Live,
            ConnectionState::Reconnecting,
            ConnectionState::Offline,
        ]
        .into_iter()
        .find(|state| state.key() == key)
    }

    /// CSS modifier and `data-state` value.
    pub fn key(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Offline => "offline",
        }
    }
}
