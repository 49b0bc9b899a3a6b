//! The connection badge: whether the numbers on screen are live.

use leptos::prelude::*;

use crate::{
    live::ConnectionState,
    model::{BusMode, Delivery},
};

/// The badge's words and `data-state` for a connection state and the
/// serving node's delivery mode: an open stream is only "Live" when the node
/// itself gets every update pushed.
pub fn badge_text(state: ConnectionState, delivery: Delivery) -> (String, &'static str) {
    if state != ConnectionState::Live {
        return (state.label().to_string(), state.key());
    }
    let key = match delivery.mode {
        BusMode::InProcess | BusMode::Pubsub => "live",
        BusMode::CachePoll => "polling",
        BusMode::DbPoll => "degraded",
    };
    (delivery.label(), key)
}

/// A small pill showing the connection state in words and colour.
#[component]
pub fn LiveBadge(
    /// Current connection state.
    #[prop(into)]
    state: Signal<ConnectionState>,
    /// How the serving node receives other nodes' updates.
    #[prop(into)]
    delivery: Signal<Delivery>,
) -> impl IntoView {
    let text = Memo::new(move |_| badge_text(state.get(), delivery.get()));
    view! {
        <span
            class=move || format!("live-badge live-badge--{}", text.with(|t| t.1))
            data-state=move || text.with(|t| t.1)
            data-mode=move || delivery.get().mode.key()
            role="status"
        >
            <span class="live-badge__dot" aria-hidden="true"></span>
            {move || text.with(|t| t.0.clone())}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_comes_back_from_its_key() {
        for state in [
            ConnectionState::Connecting,
            ConnectionState::Live,
            ConnectionState::Reconnecting,
            ConnectionState::Offline,
        ] {
            assert_eq!(ConnectionState::from_key(state.key()), Some(state));
        }
        assert_eq!(ConnectionState::from_key("sleeping"), None);
    }

    #[test]
    fn an_open_stream_reads_live_only_when_updates_are_pushed() {
        let polling = Delivery {
            mode: BusMode::DbPoll,
            poll_every_s: 10,
        };
        assert_eq!(
            badge_text(ConnectionState::Live, Delivery::default()),
            ("Live".to_string(), "live")
        );
        assert_eq!(
            badge_text(ConnectionState::Live, polling),
            ("Redis down, polling every 10 s".to_string(), "degraded")
        );
        assert_eq!(
            badge_text(ConnectionState::Reconnecting, polling),
            ("Reconnecting".to_string(), "reconnecting")
        );
    }
}
