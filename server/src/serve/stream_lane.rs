//! The streams' own threads: open dashboards are written to on a runtime of
//! their own, so that a webhook never waits behind them.
//!
//! With thousands of dashboards open, a published snapshot wakes thousands of
//! connection tasks, and writing their frames is most of the node's CPU. On
//! one runtime a webhook's task would wait in the same run queues behind
//! every one of them, several times per delivery (its request, its commit,
//! its answer). So a plain-TCP connection whose first request is the stats
//! stream is served on this lane's runtime (threads named `pulse-streams`)
//! and the operating system's scheduler shares the cores between the lane's
//! threads and the main runtime's; a woken webhook thread gets a core within
//! a time slice however many streams are waiting.
//!
//! Only the writing moves: the stream request itself (the session lookup,
//! the subscription) is handled on the main runtime, so that database
//! connections, timers and the bus stay registered there and the lane never
//! has to run for a webhook's query to make progress.
//!
//! A connection is sorted by its first bytes, peeked (not consumed) before
//! hyper reads them. Over TLS they cannot be read before the handshake, and
//! HTTP/2 carries every request on one connection, so connections over TLS
//! stay on the main runtime; behind a proxy that terminates TLS (nginx), the
//! node's connections are plain and sorted.

use std::{convert::Infallible, future::Future, io, num::NonZeroUsize};

use axum::response::Response;
use hyper::{body::Incoming, Request};
use tokio::{
    net::TcpStream,
    runtime::{Handle, Runtime},
    task::JoinError,
};
use tower::{Service, ServiceExt};

/// The runtime that writes the streams, and its threads.
pub struct StreamLane {
    /// Always `Some` until dropped: taken then, to shut it down without
    /// blocking (a runtime may not be dropped inside another one).
    runtime: Option<Runtime>,
    /// The path of the stream whose connections the lane writes.
    path: &'static str,
}

/// Where [`crate::serve::serve`] sends a connection whose first request is a
/// `GET` of `path`: onto `runtime`.
#[derive(Clone, Debug)]
pub struct LaneRoute {
    /// The lane's runtime.
    pub runtime: Handle,
    /// The stream's path.
    pub path: &'static str,
}

impl StreamLane {
    /// Starts a lane of `threads` worker threads for the stream at `path`
    /// (short enough to be told from the first [`PEEKED`] bytes).
    pub fn start(threads: NonZeroUsize, path: &'static str) -> io::Result<Self> {
        assert!(
            "GET ".len() + path.len() < PEEKED,
            "the stream's path is too long to peek"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.get())
            .thread_name("pulse-streams")
            .enable_all()
            .build()?;
        Ok(StreamLane {
            runtime: Some(runtime),
            path,
        })
    }

    /// Where the streams' connections are sent.
    pub fn route(&self) -> LaneRoute {
        LaneRoute {
            runtime: self
                .runtime
                .as_ref()
                .expect("the runtime lives until the lane is dropped")
                .handle()
                .clone(),
            path: self.path,
        }
    }
}

impl Drop for StreamLane {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a connection's first request is, as far as its first bytes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstRequest {
    /// `GET` of the stats stream.
    Stream,
    /// Anything else, or too few bytes yet to tell (served as anything else).
    Other,
    /// The client closed the connection before sending a byte.
    None,
}

/// Bytes peeked: enough for `GET `, the stream's path and the byte after it.
pub const PEEKED: usize = 64;

/// Looks at the connection's first bytes without consuming them, to tell a
/// `GET` of the stream at `path`; waits for the first byte to arrive (the
/// caller bounds the wait).
pub async fn first_request(stream: &TcpStream, path: &str) -> io::Result<FirstRequest> {
    let mut head = [0_u8; PEEKED];
    let peeked = stream.peek(&mut head).await?;
    Ok(classify(&head[..peeked], path))
}

fn classify(head: &[u8], path: &str) -> FirstRequest {
    if head.is_empty() {
        return FirstRequest::None;
    }
    let after_path = head
        .strip_prefix(b"GET ")
        .and_then(|rest| rest.strip_prefix(path.as_bytes()));
    match after_path.and_then(|rest| rest.first()) {
        Some(b' ' | b'?') => FirstRequest::Stream,
        _ => FirstRequest::Other,
    }
}

/// `service` as a hyper service whose requests are handled on the runtime
/// this is called on, whichever runtime then drives the connection: a
/// stream's connection is written on the lane, its request handled here.
pub fn handled_here<S>(
    service: S,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = JoinError,
    Future = impl Future<Output = Result<Response, JoinError>> + Send + 'static,
> + Send
       + 'static
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let here = Handle::current();
    hyper::service::service_fn(move |request| {
        let handled = here.spawn(service.clone().oneshot(request));
        async move {
            match handled.await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(infallible)) => match infallible {},
                Err(failed) => Err(failed),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(head: &str) -> FirstRequest {
        classify(head.as_bytes(), "/api/admin/stats/stream")
    }

    #[test]
    fn only_a_get_of_the_stream_path_is_a_stream() {
        assert_eq!(of("GET /api/admin/stats/stream "), FirstRequest::Stream);
        assert_eq!(of("GET /api/admin/stats/stream?"), FirstRequest::Stream);
        assert_eq!(
            of("GET /api/admin/stats/stream HTTP/1.1\r\nHost: pulse\r\n"),
            FirstRequest::Stream
        );
        assert_eq!(of("GET /api/admin/stats/streamer"), FirstRequest::Other);
        assert_eq!(of("GET /api/admin/stats HTTP/1.1"), FirstRequest::Other);
        assert_eq!(of("POST /webhooks/instagram HTT"), FirstRequest::Other);
        assert_eq!(of("GET /api/ad"), FirstRequest::Other, "too short to tell");
        assert_eq!(of(""), FirstRequest::None);
    }
}
