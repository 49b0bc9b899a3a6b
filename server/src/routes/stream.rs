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

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use bytes::Bytes;
use futures::{
    stream::{self, Stream},
    task::AtomicWaker,
    StreamExt,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Session, SessionEnd},
    bus::PublishedSnapshot,
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
    let session_end = match state.auth.session_end(&session) {
        Ok(session_end) => session_end,
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

/// The frame that tells the dashboard why its stream ends.
fn session_end_frame(end: SessionEnd) -> Bytes {
    Bytes::from_static(match end {
        SessionEnd::Expired => b"event: session_ended\ndata: expired\n\n",
        SessionEnd::LoggedOut => b"event: session_ended\ndata: logged_out\n\n",
    })
}

/// What else, besides a newer snapshot, a stream waits for.
enum Control {
    /// Time for a keep-alive comment.
    KeepAlive,
    /// The server is stopping.
    Shutdown,
    /// The session ended, for this reason.
    SessionEnded(SessionEnd),
}

/// The keep-alive ticks, the server's shutdown and the session's end, as one
/// stream of [`Control`] signals.
fn control<E>(shutdown: CancellationToken, session_end: E) -> impl Stream<Item = Control> + Send
where
    E: Future<Output = SessionEnd> + Send + 'static,
{
    let start = tokio::time::Instant::now() + KEEP_ALIVE_INTERVAL;
    let keep_alive = stream::unfold(
        tokio::time::interval_at(start, KEEP_ALIVE_INTERVAL),
        |mut interval| async move {
            interval.tick().await;
            Some((Control::KeepAlive, interval))
        },
    );
    let shutdown = stream::once(shutdown.cancelled_owned()).map(|()| Control::Shutdown);
    let session_end = stream::once(session_end).map(Control::SessionEnded);
    stream::select(keep_alive, stream::select(shutdown, session_end))
}

struct StreamState<C> {
    /// Counts the stream in `pulse_sse_clients` while it lives.
    _counted: Counted,
    receiver: watch::Receiver<Arc<PublishedSnapshot>>,
    /// Polled only after one of its parts woke the stream: every other wake
    /// is a newer snapshot, and polling the shutdown token, the session's
    /// end and the keep-alive timer with each frame would cost every stream
    /// a trip through their shared locks per snapshot.
    control: PollWhenWoken<C>,
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
    let state = StreamState {
        _counted: Counted::new(&metrics().sse_clients),
        receiver,
        control: PollWhenWoken::new(control(shutdown, session_end)),
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
            // A newer snapshot first: when one is there, nothing else is polled.
            biased;
            changed = state.receiver.changed() => match changed {
                Ok(()) => {
                    metrics().frames_delivered.inc();
                    state.receiver.borrow_and_update().sse_frame.clone()
                }
                // The publisher is gone: the server is stopping.
                Err(_) => return None,
            },
            signal = state.control.next() => match signal {
                Some(Control::KeepAlive) => Bytes::from_static(KEEP_ALIVE_FRAME),
                Some(Control::SessionEnded(end)) => {
                    state.ended = true;
                    session_end_frame(end)
                }
                Some(Control::Shutdown) | None => return None,
            },
        };
        Some((Ok(frame), state))
    })
}

/// A stream that is polled only when it has asked to be (its own waker was
/// woken), or the first time; any other poll answers `Pending` at the cost
/// of two atomic operations. The task's latest waker is kept, so a wake of
/// the inner stream still wakes the task.
struct PollWhenWoken<S> {
    inner: Pin<Box<S>>,
    signal: Arc<WokenSignal>,
    /// The inner stream's waker (it sets the flag, then wakes the task).
    waker: Waker,
}

struct WokenSignal {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WokenSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<S: Stream> PollWhenWoken<S> {
    fn new(inner: S) -> Self {
        let signal = Arc::new(WokenSignal {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        PollWhenWoken {
            inner: Box::pin(inner),
            waker: Waker::from(Arc::clone(&signal)),
            signal,
        }
    }
}

impl<S: Stream> Stream for PollWhenWoken<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.signal.task.register(cx.waker());
        if !self.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let this = &mut *self;
        this.inner
            .as_mut()
            .poll_next(&mut Context::from_waker(&this.waker))
    }
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

    #[test]
    fn the_control_signals_are_polled_only_after_they_woke_the_stream() {
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inner_waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let inner = stream::poll_fn({
            let polls = Arc::clone(&polls);
            let inner_waker = Arc::clone(&inner_waker);
            move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                *inner_waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::<Option<()>>::Pending
            }
        });
        let mut wrapped = PollWhenWoken::new(inner);
        let task = Arc::new(CountingWaker::default());
        let task_waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&task_waker);
        for _ in 0..10 {
            assert!(Pin::new(&mut wrapped).poll_next(&mut cx).is_pending());
        }
        assert_eq!(
            polls.load(Ordering::SeqCst),
            1,
            "polled once, then not until woken"
        );

        inner_waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(
            task.wakes.load(Ordering::SeqCst),
            1,
            "the inner wake reaches the task"
        );
        assert!(Pin::new(&mut wrapped).poll_next(&mut cx).is_pending());
        assert!(Pin::new(&mut wrapped).poll_next(&mut cx).is_pending());
        assert_eq!(
            polls.load(Ordering::SeqCst),
            2,
            "polled again once after its wake"
        );
    }

    #[derive(Default)]
    struct CountingWaker {
        wakes: std::sync::atomic::AtomicUsize,
    }

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
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
