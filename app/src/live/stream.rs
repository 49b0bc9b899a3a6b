//! Browser only: one `EventSource` on the server's stream (gloo-net), and
//! what it says, as [`Report`]s to whoever holds it.
//!
//! The browser reconnects by itself after a dropped connection (the server
//! asks for a 3 s retry); when the server refuses the stream outright the
//! `EventSource` closes for good, so a new one is opened after
//! [`OFFLINE_RETRY`]. A refused stream may mean the session is gone (an
//! `EventSource` cannot tell a 401 from a server that is down): the snapshot
//! endpoint is asked, and a 401 ends the stream as an expired session.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::Duration,
};

use futures::{channel::oneshot, future, StreamExt};
use gloo_net::eventsource::{futures::EventSource, State};
use leptos::prelude::*;

use super::ConnectionState;

/// The SSE route served by the `pulse` server.
const STREAM_URL: &str = "/api/admin/stats/stream";
/// Delay before opening a new stream after the browser gave up on one.
const OFFLINE_RETRY: Duration = Duration::from_secs(10);

/// What the stream says.
pub(super) enum Report {
    /// A snapshot frame's data (JSON).
    Sync(String),
    /// The first snapshot frame of a (re)connected stream: what the server
    /// holds now, to be shown even when older than what the tab shows (the
    /// tab may hold a version the server no longer stands by: a database
    /// restored from a backup, a snapshot it took before seals).
    First(String),
    /// The connection changed state.
    State(ConnectionState),
    /// The session is over (`logged_out` or `expired`); the stream is closed.
    SessionEnded(String),
}

/// An open stream; dropping it closes the stream and stops its retries.
pub(super) struct Stream {
    control: Rc<Control>,
}

/// Shared by a [`Stream`] and the tasks that run it.
struct Control {
    /// Cleared when the holder drops the stream: no retry after that.
    open: Cell<bool>,
    /// Stops the `EventSource` being read now.
    stop: RefCell<Option<oneshot::Sender<()>>>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.control.open.set(false);
        if let Some(stop) = self.control.stop.borrow_mut().take() {
            let _ = stop.send(());
        }
    }
}

/// Opens the stream; every frame and state change goes to `report` until the
/// returned [`Stream`] is dropped.
pub(super) fn open(report: Rc<dyn Fn(Report)>) -> Stream {
    let control = Rc::new(Control {
        open: Cell::new(true),
        stop: RefCell::default(),
    });
    run(report, control.clone());
    Stream { control }
}

/// One `EventSource` until it closes for good, then another after a pause.
fn run(report: Rc<dyn Fn(Report)>, control: Rc<Control>) {
    let (stop, stopped) = oneshot::channel();
    *control.stop.borrow_mut() = Some(stop);
    leptos::task::spawn_local(async move {
        match listen(&report, stopped).await {
            Ended::Stopped | Ended::SessionOver => {}
            Ended::Refused => {
                report(Report::State(ConnectionState::Offline));
                if session_is_gone().await {
                    report(Report::SessionEnded("expired".into()));
                    return;
                }
                set_timeout(
                    move || {
                        if control.open.get() {
                            run(report, control);
                        }
                    },
                    OFFLINE_RETRY,
                );
            }
        }
    });
}

/// How one `EventSource` ended.
enum Ended {
    /// Its holder dropped it.
    Stopped,
    /// The server said the session is over.
    SessionOver,
    /// The browser gave up on it (refused, or closed for good).
    Refused,
}

/// Reads one `EventSource` until it ends.
async fn listen(report: &Rc<dyn Fn(Report)>, mut stopped: oneshot::Receiver<()>) -> Ended {
    let Ok(mut source) = EventSource::new(STREAM_URL) else {
        return Ended::Refused;
    };
    let kinds = ["sync", "session_ended", "open", "error"];
    let mut subscriptions = Vec::with_capacity(kinds.len());
    for kind in kinds {
        match source.subscribe(kind) {
            Ok(subscription) => subscriptions.push(subscription),
            // Only an invalid event name fails, which these are not.
            Err(_) => return Ended::Refused,
        }
    }
    let mut events = futures::stream::select_all(subscriptions);
    // Set when the stream (re)connects: its next frame is a first one.
    let mut fresh = true;
    loop {
        let next = match future::select(events.next(), &mut stopped).await {
            future::Either::Left((next, _)) => next,
            future::Either::Right(_) => return Ended::Stopped,
        };
        let Some(Ok((kind, event))) = next else {
            // gloo-net reports a closed source as an error item.
            return Ended::Refused;
        };
        match kind.as_str() {
            "sync" => {
                if let Some(data) = event.data().as_string() {
                    if std::mem::take(&mut fresh) {
                        report(Report::First(data));
                    } else {
                        report(Report::Sync(data));
                    }
                }
            }
            "session_ended" => {
                let reason = match event.data().as_string().as_deref() {
                    Some("logged_out") => "logged_out",
                    _ => "expired",
                };
                report(Report::SessionEnded(reason.into()));
                return Ended::SessionOver;
            }
            "open" => {
                fresh = true;
                report(Report::State(ConnectionState::Live));
            }
            _ => match source.state() {
                State::Connecting => report(Report::State(ConnectionState::Reconnecting)),
                State::Closed => return Ended::Refused,
                State::Open => {}
            },
        }
    }
}

/// Whether the snapshot endpoint says the session is gone (401).
async fn session_is_gone() -> bool {
    gloo_net::http::Request::get("/api/admin/stats")
        .send()
        .await
        .is_ok_and(|response| response.status() == 401)
}
