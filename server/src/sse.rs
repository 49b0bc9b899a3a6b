//! `GET /api/admin/stats/stream`: the dashboard's Server-Sent Events stream.
//!
//! The stream opens with a `retry:` hint and the current snapshot, then sends
//! each newer snapshot as the pre-built frame from the bus (the same bytes for
//! every client), and a comment line every 15 s so proxies keep the
//! connection open. When the client goes away, the response body is dropped
//! and with it the bus subscription; no task is left behind.
//!
//! A stream never outlives the session that opened it: it ends with an
//! `event: session_ended` frame (data `expired` or `logged_out`) when the
//! session's lifetime is over, when it is logged out on this node (at once),
//! or when the node's periodic check finds it gone (logged out on another
//! node; see [`crate::auth::streamed`]).

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use bytes::Bytes;
use futures::stream::{self, Stream};
use tokio::{
    sync::{broadcast, watch},
    time::Interval,
};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::{
    auth::{streamed::Watching, Auth, Session},
    bus::PublishedSnapshot,
    clock::now_ms,
    metrics::{metrics, Counted},
    state::AppState,
};

/// The stream's route.
pub const PATH: &str = "/api/admin/stats/stream";
/// Sent before the first event: reconnect after 3 s when the connection drops.
const RETRY_FRAME: &[u8] = b"retry: 3000\n\n";
/// A comment line; ignored by `EventSource`, keeps idle proxies from closing.
const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";
/// Time between keep-alive comments.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Streams snapshots to one dashboard until it disconnects, its session ends
/// or the server stops. A session already holding its most streams gets 429.
#[tracing::instrument(skip_all)]
pub async fn stream(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let watching = match state.auth.watch_stream(&session) {
        Ok(watching) => watching,
        Err(refused) => {
            metrics().streams_refused.inc();
            tracing::info!(
                open = refused.0,
                "stream refused: the session holds its most streams"
            );
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, HeaderValue::from_static("30"))],
                refused.to_string(),
            )
                .into_response();
        }
    };
    let receiver = state.publisher.bus().subscribe();
    let session_end = session_ended(state.auth.clone(), session, watching);
    let body = Body::from_stream(frames(receiver, state.shutdown.clone(), session_end));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Why a stream's session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// Its lifetime (or idle time) ran out.
    Expired,
    /// The admin logged out.
    LoggedOut,
}

impl SessionEnd {
    fn frame(self) -> Bytes {
        Bytes::from_static(match self {
            SessionEnd::Expired => b"event: session_ended\ndata: expired\n\n",
            SessionEnd::LoggedOut => b"event: session_ended\ndata: logged_out\n\n",
        })
    }
}

/// Completes when `session` is over, saying why. While it waits, `_watching`
/// keeps the session on the node's list of sessions to check (see
/// [`crate::auth::streamed`]).
async fn session_ended(auth: Auth, session: Session, _watching: Watching) -> SessionEnd {
    let mut ended = auth.ended_sessions();
    let lifetime_left = u64::try_from(session.lifetime_ends_at_ms - now_ms()).unwrap_or(0);
    let lifetime_over = tokio::time::sleep(Duration::from_millis(lifetime_left));
    tokio::pin!(lifetime_over);
    loop {
        tokio::select! {
            () = &mut lifetime_over => return SessionEnd::Expired,
            hash = ended.recv() => match hash {
                Ok(hash) if hash == session.token_hash => return SessionEnd::LoggedOut,
                // A missed announcement is repeated by the next periodic check.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            },
        }
    }
}

struct StreamState<E> {
    /// Counts the stream in `pulse_sse_clients` while it lives.
    _counted: Counted,
    receiver: watch::Receiver<Arc<PublishedSnapshot>>,
    keep_alive: Interval,
    /// Created once, not per frame: every stream waits on the same token, and
    /// a new wait would leave and rejoin its shared waiter list each frame.
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    session_end: Pin<Box<E>>,
    opened: bool,
    ended: bool,
}

fn frames<E>(
    receiver: watch::Receiver<Arc<PublishedSnapshot>>,
    shutdown: CancellationToken,
    session_end: E,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send
where
    E: Future<Output = SessionEnd> + Send + 'static,
{
    let start = tokio::time::Instant::now() + KEEP_ALIVE_INTERVAL;
    let state = StreamState {
        _counted: Counted::new(&metrics().sse_clients),
        receiver,
        keep_alive: tokio::time::interval_at(start, KEEP_ALIVE_INTERVAL),
        shutdown: Box::pin(shutdown.cancelled_owned()),
        session_end: Box::pin(session_end),
        opened: false,
        ended: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        if !state.opened {
            state.opened = true;
            let first = state.receiver.borrow_and_update().clone();
            let mut frame = Vec::with_capacity(RETRY_FRAME.len() + first.sse_frame.len());
            frame.extend_from_slice(RETRY_FRAME);
            frame.extend_from_slice(&first.sse_frame);
            return Some((Ok(Bytes::from(frame)), state));
        }
        let frame = tokio::select! {
            changed = state.receiver.changed() => match changed {
                Ok(()) => {
                    metrics().frames_delivered.inc();
                    state.receiver.borrow_and_update().sse_frame.clone()
                }
                // The publisher is gone: the server is stopping.
                Err(_) => return None,
            },
            _ = state.keep_alive.tick() => Bytes::from_static(KEEP_ALIVE_FRAME),
            () = state.shutdown.as_mut() => return None,
            end = state.session_end.as_mut() => {
                state.ended = true;
                end.frame()
            }
        };
        Some((Ok(frame), state))
    })
}

#[cfg(test)]
mod tests {
    use app::model::{SnapshotSource, StatsSnapshot};
    use futures::StreamExt;

    use super::*;
    use crate::bus::{Reach, StatsBus};

    fn snapshot(version: i64) -> StatsSnapshot {
        StatsSnapshot {
            version,
            source: SnapshotSource::Push,
            ..StatsSnapshot::default()
        }
    }

    async fn next_text(
        stream: &mut (impl Stream<Item = Result<Bytes, Infallible>> + Unpin),
    ) -> String {
        let Some(Ok(bytes)) = stream.next().await else {
            panic!("the stream ended")
        };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn idle_streams_get_a_keep_alive_comment_every_15_seconds() {
        let bus = StatsBus::new(snapshot(1));
        let mut stream = Box::pin(frames(
            bus.subscribe(),
            CancellationToken::new(),
            std::future::pending(),
        ));
        let first = next_text(&mut stream).await;
        assert!(
            first.starts_with("retry: 3000\n\nevent: sync\nid: 1\n"),
            "{first}"
        );

        let started = tokio::time::Instant::now();
        assert_eq!(next_text(&mut stream).await, ": keep-alive\n\n");
        assert_eq!(started.elapsed(), KEEP_ALIVE_INTERVAL);

        bus.publish(snapshot(2), Reach::ThisNode);
        assert!(next_text(&mut stream)
            .await
            .starts_with("event: sync\nid: 2\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_skips_to_the_newest_snapshot() {
        let bus = StatsBus::new(snapshot(1));
        let mut stream = Box::pin(frames(
            bus.subscribe(),
            CancellationToken::new(),
            std::future::pending(),
        ));
        next_text(&mut stream).await;
        for version in 2..=50 {
            bus.publish(snapshot(version), Reach::ThisNode);
        }
        assert!(next_text(&mut stream)
            .await
            .starts_with("event: sync\nid: 50\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_ends_with_a_frame_saying_why_when_its_session_ends() {
        let bus = StatsBus::new(snapshot(1));
        let session_end = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            SessionEnd::Expired
        };
        let mut stream = Box::pin(frames(
            bus.subscribe(),
            CancellationToken::new(),
            session_end,
        ));
        next_text(&mut stream).await;
        assert_eq!(
            next_text(&mut stream).await,
            "event: session_ended\ndata: expired\n\n"
        );
        assert!(stream.next().await.is_none(), "nothing after the end");
    }
}
