//! The dashboard's live state and, in the browser, what keeps it live.
//!
//! [`LiveStats`] is the one place every pushed snapshot flows into; the page
//! and its components read it. In the browser ([`subscribe`]) the dashboards
//! of one browser share one stream: `tabs` elects the tab that holds it and
//! passes its frames to the others, `stream` is the `EventSource` itself.

use leptos::prelude::*;

use crate::model::StatsSnapshot;

mod connection_state;
#[cfg(feature = "hydrate")]
mod stream;
#[cfg(feature = "hydrate")]
mod tabs;

pub use connection_state::ConnectionState;

/// Live state of the page, shared by the components and the stream subscription.
#[derive(Clone, Copy)]
pub(crate) struct LiveStats {
    /// The newest snapshot received.
    pub snapshot: RwSignal<StatsSnapshot>,
    /// Whether the push stream is connected (this tab's, or the one of the
    /// tab that holds the stream for the browser).
    pub connection: RwSignal<ConnectionState>,
    /// When (browser clock, Unix ms) the newest snapshot arrived.
    pub received_at_ms: RwSignal<i64>,
    /// Delay between the snapshot's computation and its arrival, in ms.
    pub latency_ms: RwSignal<Option<i64>>,
}

impl LiveStats {
    /// Takes a snapshot from the server unless an equal or newer one is already shown.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn accept(&self, next: StatsSnapshot, now_ms: i64) {
        let shown = self.shown();
        if next.version >= shown.0 {
            self.take(next, now_ms, shown);
        }
    }

    /// Takes the first snapshot of a (re)connected stream whatever version
    /// the tab shows: the server's word on where the store stands (the tab
    /// may hold a version the server no longer stands by: a database
    /// restored from a backup, a snapshot taken before seals).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub fn accept_first(&self, next: StatsSnapshot, now_ms: i64) {
        let shown = self.shown();
        self.take(next, now_ms, shown);
    }

    /// The version and computation time of the snapshot shown.
    fn shown(&self) -> (i64, i64) {
        self.snapshot
            .with_untracked(|current| (current.version, current.generated_at_ms))
    }

    fn take(&self, next: StatsSnapshot, now_ms: i64, shown: (i64, i64)) {
        if (next.version, next.generated_at_ms) == shown {
            // The same snapshot again with another delivery mode: nothing new
            // arrived, so the latency and age stay as they were.
            self.snapshot.set(next);
            return;
        }
        self.latency_ms
            .set(Some((now_ms - next.generated_at_ms).max(0)));
        self.received_at_ms.set(now_ms);
        self.snapshot.set(next);
    }
}

/// Keeps `live` up to date until the component is cleaned up: through this
/// tab's own stream, or through the tab of this browser that holds it.
#[cfg(feature = "hydrate")]
pub(crate) fn subscribe(live: LiveStats) {
    tabs::subscribe(live);
}

/// Tells the other dashboards of this browser that this one is logging out,
/// so they leave at once too (the server ends the session's streams as well).
pub(crate) fn announce_logout() {
    #[cfg(feature = "hydrate")]
    tabs::announce_logout();
}

/// Asks the server (`POST url`, the `refresh_stats` server function) to
/// recompute the snapshot and shows the result; `pending` is set meanwhile.
#[cfg(feature = "hydrate")]
pub(crate) fn refresh(url: &'static str, live: LiveStats, pending: RwSignal<bool>) {
    pending.set(true);
    leptos::task::spawn_local(async move {
        let request = gloo_net::http::Request::post(url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(next) = fetch::<StatsSnapshot>(request).await {
            live.accept(next, js_sys::Date::now() as i64);
        }
        pending.set(false);
    });
}

/// Sends `request` and reads its JSON answer as a `T`; `None` when it fails.
/// A 401 means the session is over: the browser goes to the login page.
#[cfg(feature = "hydrate")]
async fn fetch<T: crate::model::reading::Readable>(
    request: gloo_net::http::RequestBuilder,
) -> Option<T> {
    let response = request.send().await.ok()?;
    if response.status() == 401 {
        go_to_login("expired");
        return None;
    }
    if !response.ok() {
        return None;
    }
    crate::model::reading::parse(&response.text().await.ok()?)
}

/// Keeps a page computed on request (`page`, read from `url`; `version`
/// says which store version it shows) up to date while it is open: it joins
/// the browser's stats stream like a dashboard and asks for the page again
/// whenever the store has moved past the version shown, one request at a
/// time, and once a minute as the time windows move on.
#[cfg(feature = "hydrate")]
pub(crate) fn follow_page<T>(page: RwSignal<T>, url: String, version: fn(&T) -> i64)
where
    T: crate::model::reading::Readable + Send + Sync + 'static,
{
    use std::{cell::Cell, rc::Rc};

    let live = LiveStats {
        snapshot: RwSignal::new(StatsSnapshot {
            version: page.with_untracked(version),
            ..StatsSnapshot::default()
        }),
        connection: RwSignal::new(ConnectionState::Connecting),
        received_at_ms: RwSignal::new(0),
        latency_ms: RwSignal::new(None),
    };
    subscribe(live);
    let busy = send_wrapper::SendWrapper::new(Rc::new(Cell::new(false)));
    let fetch = move |always: bool| {
        let stale = || live.snapshot.with_untracked(|s| s.version) > page.with_untracked(version);
        if busy.get() || !(always || stale()) {
            return;
        }
        busy.set(true);
        let (busy, url) = (busy.clone(), url.clone());
        leptos::task::spawn_local(async move {
            loop {
                match fetch(gloo_net::http::Request::get(&url)).await {
                    Some(next) => page.set(next),
                    None => break,
                }
                // A push that came in meanwhile asks for one more.
                if live.snapshot.with_untracked(|s| s.version) <= page.with_untracked(version) {
                    break;
                }
            }
            busy.set(false);
        });
    };
    let on_push = fetch.clone();
    Effect::new(move |_| {
        live.snapshot.track();
        on_push(false);
    });
    let handle = set_interval_with_handle(move || fetch(true), std::time::Duration::from_secs(60));
    if let Ok(handle) = handle {
        on_cleanup(move || handle.clear());
    }
}

/// Keeps a date range's `report` (for `query`) up to date while the page is
/// open and the range may still change: it joins the browser's stats stream
/// and asks for the report again each time the store moves on, one request
/// at a time (a push that arrives meanwhile asks for one more).
#[cfg(feature = "hydrate")]
pub(crate) fn follow_history(
    report: RwSignal<crate::model::HistoryReport>,
    query: &crate::model::HistoryQuery,
) {
    use std::{cell::Cell, rc::Rc};

    let live = LiveStats {
        snapshot: RwSignal::new(StatsSnapshot::default()),
        connection: RwSignal::new(ConnectionState::Connecting),
        received_at_ms: RwSignal::new(0),
        latency_ms: RwSignal::new(None),
    };
    subscribe(live);
    let url = format!(
        "{}?{}",
        report.with_untracked(|r| r.json_address()),
        query.to_query_string()
    );
    let busy = send_wrapper::SendWrapper::new(Rc::new(Cell::new(false)));
    // The store version the report shown was asked for after.
    let asked_at = send_wrapper::SendWrapper::new(Rc::new(Cell::new(0_i64)));
    Effect::new(move |_| {
        let version = live.snapshot.with(|s| s.version);
        if busy.get() || version <= asked_at.get() {
            return;
        }
        busy.set(true);
        let (busy, asked_at, url) = (busy.clone(), asked_at.clone(), url.clone());
        leptos::task::spawn_local(async move {
            loop {
                let version = live.snapshot.with_untracked(|s| s.version);
                asked_at.set(version);
                match fetch(gloo_net::http::Request::get(&url)).await {
                    Some(next) => report.set(next),
                    None => break,
                }
                if live.snapshot.with_untracked(|s| s.version) <= asked_at.get() {
                    break;
                }
            }
            busy.set(false);
        });
    });
}

/// The browser's IANA time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`).
#[cfg(feature = "hydrate")]
pub(crate) fn browser_time_zone() -> Option<String> {
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    let options = format.resolved_options();
    js_sys::Reflect::get(&options, &"timeZone".into())
        .ok()?
        .as_string()
}

/// Advances `now_ms` every second so relative times on the page stay true.
#[cfg(feature = "hydrate")]
pub(crate) fn tick_clock(now_ms: RwSignal<i64>) {
    let handle = set_interval_with_handle(
        move || now_ms.set(js_sys::Date::now() as i64),
        std::time::Duration::from_secs(1),
    );
    if let Ok(handle) = handle {
        on_cleanup(move || handle.clear());
    }
}

/// Sends the browser to the login page, saying why.
#[cfg(feature = "hydrate")]
fn go_to_login(reason: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window
            .location()
            .set_href(&format!("/login?reason={reason}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LiveStats {
        LiveStats {
            snapshot: RwSignal::new(StatsSnapshot::default()),
            connection: RwSignal::new(ConnectionState::Connecting),
            received_at_ms: RwSignal::new(0),
            latency_ms: RwSignal::new(None),
        }
    }

    fn snapshot(version: i64, received: i64) -> StatsSnapshot {
        let mut snapshot = StatsSnapshot {
            version,
            generated_at_ms: version * 1_000,
            ..Default::default()
        };
        snapshot.dms_received.total = received;
        snapshot
    }

    #[test]
    fn versions_never_go_back_except_for_a_streams_first_snapshot() {
        let owner = Owner::new();
        owner.with(|| {
            let live = live();
            live.accept(snapshot(999_999, 999_999), 0);
            live.accept(snapshot(12, 5), 0);
            assert_eq!(
                live.snapshot.get_untracked().version,
                999_999,
                "a later frame"
            );
            live.accept_first(snapshot(12, 5), 0);
            assert_eq!(
                live.snapshot.get_untracked().dms_received.total,
                5,
                "the first frame of a stream is the server's word"
            );
            live.accept(snapshot(13, 6), 0);
            assert_eq!(
                live.snapshot.get_untracked().version,
                13,
                "and it goes on from there"
            );
        });
    }
}
