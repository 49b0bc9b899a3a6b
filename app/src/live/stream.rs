//! Browser only: the `EventSource` subscription that feeds the dashboard.
//!
//! One stream per page. The browser reconnects by itself after a dropped
//! connection (the server asks for a 3 s retry); when the server refuses the
//! stream outright the `EventSource` closes for good, so this module opens a
//! new one after [`OFFLINE_RETRY_MS`]. Everything is closed when the dashboard
//! is unmounted.
//!
//! When the session ends (the server says so with a `session_ended` event, or
//! a refused stream turns out to be a 401) the page goes to `/login` rather
//! than keep showing numbers nobody is allowed to see any more.

use std::{cell::RefCell, rc::Rc};

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventSource, MessageEvent};

use crate::{components::ConnectionState, model::StatsSnapshot, pages::admin::LiveStats};

/// The SSE route served by the `pulse` server.
const STREAM_URL: &str = "/api/admin/stats/stream";
/// Delay before opening a new stream after the browser gave up on one.
const OFFLINE_RETRY_MS: i32 = 10_000;

/// An open stream and the callbacks it holds; dropping the callbacks while the
/// stream can still call them would be undefined, so they live together.
struct OpenStream {
    source: EventSource,
    _on_sync: Closure<dyn FnMut(MessageEvent)>,
    _on_session_ended: Closure<dyn FnMut(MessageEvent)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

type StreamSlot = Rc<RefCell<Option<OpenStream>>>;

/// Opens the stream and keeps `live` up to date until the component is cleaned up.
pub(crate) fn subscribe(live: LiveStats) {
    let slot: StreamSlot = Rc::new(RefCell::new(None));
    open(live, slot.clone());
    let slot = SendWrapper::new(slot);
    on_cleanup(move || {
        if let Some(stream) = slot.take().borrow_mut().take() {
            stream.source.close();
        }
    });
}

fn open(live: LiveStats, slot: StreamSlot) {
    let Ok(source) = EventSource::new(STREAM_URL) else {
        live.connection.set(ConnectionState::Offline);
        return;
    };

    let on_sync = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<StatsSnapshot>(&text) {
            Ok(snapshot) => {
                live.connection.set(ConnectionState::Live);
                live.accept(snapshot, js_sys::Date::now() as i64);
            }
            Err(error) => leptos::logging::warn!("ignoring an unreadable stats event: {error}"),
        }
    });
    let ended_slot = slot.clone();
    let on_session_ended = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(stream) = ended_slot.borrow().as_ref() {
            stream.source.close();
        }
        let reason = match event.data().as_string().as_deref() {
            Some("logged_out") => "logged_out",
            _ => "expired",
        };
        go_to_login(reason);
    });
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        live.connection.set(ConnectionState::Live);
    });
    let error_slot = slot.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let closed = error_slot
            .borrow()
            .as_ref()
            .is_some_and(|stream| stream.source.ready_state() == EventSource::CLOSED);
        if !closed {
            live.connection.set(ConnectionState::Reconnecting);
            return;
        }
        live.connection.set(ConnectionState::Offline);
        leave_if_logged_out();
        retry_later(live, error_slot.clone());
    });

    // Registration only fails for an invalid event name, which these are not.
    let _ = source.add_event_listener_with_callback("sync", on_sync.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback(
        "session_ended",
        on_session_ended.as_ref().unchecked_ref(),
    );
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));

    *slot.borrow_mut() = Some(OpenStream {
        source,
        _on_sync: on_sync,
        _on_session_ended: on_session_ended,
        _on_open: on_open,
        _on_error: on_error,
    });
}

/// Sends the browser to the login page, saying why.
fn go_to_login(reason: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window
            .location()
            .set_href(&format!("/login?reason={reason}"));
    }
}

/// A refused stream may mean the session is gone (the `EventSource` cannot
/// tell a 401 from a server that is down): asks the snapshot endpoint, and
/// goes to the login page on a 401.
fn leave_if_logged_out() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let request = window.fetch_with_str("/api/admin/stats");
    leptos::task::spawn_local(async move {
        let Ok(response) = wasm_bindgen_futures::JsFuture::from(request).await else {
            return;
        };
        let status = response
            .dyn_into::<web_sys::Response>()
            .map(|response| response.status())
            .unwrap_or(0);
        if status == 401 {
            go_to_login("expired");
        }
    });
}

/// Opens a fresh stream after a pause, unless the page was cleaned up meanwhile.
fn retry_later(live: LiveStats, slot: StreamSlot) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let retry = Closure::once_into_js(move || {
        // A cleaned-up page has emptied the slot; do not resurrect it.
        if slot.borrow().is_some() {
            open(live, slot);
        }
    });
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
        retry.unchecked_ref(),
        OFFLINE_RETRY_MS,
    );
}

/// Advances `now_ms` every second so relative times on the page stay true.
pub(crate) fn tick_clock(now_ms: RwSignal<i64>) {
    let handle = set_interval_with_handle(
        move || now_ms.set(js_sys::Date::now() as i64),
        std::time::Duration::from_secs(1),
    );
    if let Ok(handle) = handle {
        on_cleanup(move || handle.clear());
    }
}
