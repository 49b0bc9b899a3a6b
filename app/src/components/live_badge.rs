//! The connection badge: whether the numbers on screen are live.

use leptos::prelude::*;

/// State of the browser's push connection to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A small pill showing the connection state in words and colour.
#[component]
pub fn LiveBadge(
    /// Current connection state.
    #[prop(into)]
    state: Signal<ConnectionState>,
) -> impl IntoView {
    view! {
        <span
            class=move || format!("live-badge live-badge--{}", state.get().key())
            data-state=move || state.get().key()
            role="status"
        >
            <span class="live-badge__dot" aria-hidden="true"></span>
            {move || state.get().label()}
        </span>
    }
}
