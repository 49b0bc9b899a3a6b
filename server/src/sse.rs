//! `GET /api/admin/stats/stream`: the dashboard's Server-Sent Events stream.
//!
//! The stream opens with a `retry:` hint and the current snapshot, then sends
//! each newer snapshot as the pre-built frame from the bus (the same bytes for
//! every client), and a comment line every 15 s so proxies keep the
//! connection open. When the client goes away, the response body is dropped
//! and with it the bus subscription; no task is left behind.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::stream::{self, Stream};
use tokio::{sync::watch, time::Interval};
use tokio_util::sync::CancellationToken;

use crate::{bus::PublishedSnapshot, state::AppState};

/// Sent before the first event: reconnect after 3 s when the connection drops.
const RETRY_FRAME: &[u8] = b"retry: 3000\n\n";
/// A comment line; ignored by `EventSource`, keeps idle proxies from closing.
const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";
/// Time between keep-alive comments.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// Streams snapshots to one dashboard until it disconnects or the server stops.
pub async fn stream(State(state): State<AppState>) -> Response {
    let receiver = state.publisher.bus().subscribe();
    let body = Body::from_stream(frames(receiver, state.shutdown.clone()));
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

struct StreamState {
    receiver: watch::Receiver<Arc<PublishedSnapshot>>,
    keep_alive: Interval,
    shutdown: CancellationToken,
    opened: bool,
}

fn frames(
    receiver: watch::Receiver<Arc<PublishedSnapshot>>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let start = tokio::time::Instant::now() + KEEP_ALIVE_INTERVAL;
    let state = StreamState {
        receiver,
        keep_alive: tokio::time::interval_at(start, KEEP_ALIVE_INTERVAL),
        shutdown,
        opened: false,
    };
    stream::unfold(state, |mut state| async move {
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
                Ok(()) => state.receiver.borrow_and_update().sse_frame.clone(),
                // The publisher is gone: the server is stopping.
                Err(_) => return None,
            },
            _ = state.keep_alive.tick() => Bytes::from_static(KEEP_ALIVE_FRAME),
            () = state.shutdown.cancelled() => return None,
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
        let mut stream = Box::pin(frames(bus.subscribe(), CancellationToken::new()));
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
        let mut stream = Box::pin(frames(bus.subscribe(), CancellationToken::new()));
        next_text(&mut stream).await;
        for version in 2..=50 {
            bus.publish(snapshot(version), Reach::ThisNode);
        }
        assert!(next_text(&mut stream)
            .await
            .starts_with("event: sync\nid: 50\n"));
    }
}
