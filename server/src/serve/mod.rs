//! The accept loop: every TCP connection the node takes, and the bounds that
//! keep a stranger from holding them.
//!
//! The router is served through hyper's connection builders (rather than
//! `axum::serve`) so that the connection-level settings are ours. Plain TCP
//! speaks HTTP/1.1; with TLS ([`tls`]) the protocol is the one ALPN agreed
//! on, HTTP/2 or HTTP/1.1, on the same address.
//!
//! - a TLS handshake must finish within `header_read_timeout` of the accept.
//! - a request head must arrive within `header_read_timeout` of the moment
//!   the connection starts waiting for it. hyper starts that clock whenever
//!   it waits for a head, so the same bound closes an idle keep-alive
//!   connection; it does not run while a response (an SSE stream) is being
//!   written.
//! - at most `max_connections` connections are served at once; one over it
//!   is closed as soon as it is accepted (and counted), so the node never
//!   runs out of file descriptors for its database and Redis.
//! - a plain connection whose first request is the stats stream is served on
//!   the [`stream_lane`]'s threads, so that writing to thousands of
//!   dashboards never delays a webhook.
//! - on shutdown every connection is asked to finish (hyper's graceful
//!   shutdown: an idle one closes, a request in flight completes, the SSE
//!   streams end on the shutdown token), and the loop waits at most
//!   [`SHUTDOWN_GRACE`] for them.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
    Request,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::{
    metrics::{metrics, Counted},
    repeated_warning::RepeatedWarning,
};
use connection_table::{ConnectionTable, Place, Refused, Tracked};

pub mod connection_table;
pub mod strangers;
pub mod stream_lane;
pub mod tls;

use stream_lane::{FirstRequest, LaneRoute};
use tls::Tls;

/// Longest wait for open connections to finish once shutdown has begun
/// (the node's last writes then get `webhook::refusals::FINAL_WRITE_WAIT`:
/// a node stops within 10 s of SIGTERM, whatever its database does).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// File descriptors kept back from the connection limit for everything
/// else the node opens: database and Redis connections, the SQLite files,
/// the built site's files, the log.
const RESERVED_FILE_DESCRIPTORS: u64 = 256;
/// The smallest default connection limit, however low the open-file limit.
const MIN_DEFAULT_CONNECTIONS: u64 = 64;

/// The bounds on the node's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; at the limit a newcomer takes the place
    /// of an idle or stalled connection, or is closed at once when every
    /// connection is working (see `connection_table`).
    pub max_connections: usize,
    /// Connections from one address (IPv6: one /64) at once, the same way;
    /// 0: no such limit (behind a proxy every client has its address).
    pub max_per_address: usize,
    /// Time allowed for a request head, counted from the moment the
    /// connection waits for one (so also the keep-alive idle time).
    pub header_read_timeout: Duration,
}

/// Raises this process's soft open-file limit to its hard limit (the soft one
/// is often 1,024, far below what thousands of dashboards need) and returns
/// the limit in force.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The default connection limit for an open-file limit and the machine's
/// memory: all the files but [`RESERVED_FILE_DESCRIPTORS`], and no more
/// than half the memory at [`CONNECTION_MEMORY_BYTES`] each, never less than
/// a small floor.
pub fn default_max_connections(open_file_limit: u64, memory_bytes: u64) -> usize {
    let by_files = open_file_limit.saturating_sub(RESERVED_FILE_DESCRIPTORS);
    let by_memory = memory_bytes / 2 / CONNECTION_MEMORY_BYTES;
    let connections = by_files.min(by_memory).max(MIN_DEFAULT_CONNECTIONS);
    usize::try_from(connections).unwrap_or(usize::MAX)
}

/// The default limit per address: an eighth of the node's, at least 32.
pub fn default_max_per_address(max_connections: usize) -> usize {
    (max_connections / 8).max(32)
}

/// What one connection is counted to cost in memory for the default limit:
/// an HTTP/1 connection's buffers are bounded at 2 × [`HTTP1_MAX_BUFFER`];
/// a busy one is a few tens of KiB, an HTTP/2 one at its worst
/// [`H2_MAX_STREAMS`] × [`H2_MAX_SEND_BUFFER`] (2 MiB).
pub const CONNECTION_MEMORY_BYTES: u64 = 256 * 1024;

/// The machine's memory (`MemTotal` of `/proc/meminfo`), if it can be read.
pub fn machine_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Streams one HTTP/2 connection may have open at once.
pub const H2_MAX_STREAMS: u32 = 32;
/// Bytes an HTTP/2 stream may hold waiting for its client's window.
pub const H2_MAX_SEND_BUFFER: usize = 64 * 1024;
/// An HTTP/1 connection's read and write buffers, at most.
pub const HTTP1_MAX_BUFFER: usize = 64 * 1024;
/// How often the connections are checked for idleness and stalls.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How often an idle HTTP/2 connection is pinged, and how long the answer
/// may take before the connection counts as dead.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The connection builders, set up once and shared by every connection.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// Also the time allowed for a TLS handshake.
    header_read_timeout: Duration,
    tls: Option<Tls>,
    /// Where plain connections that open a stream are served; `None`: on
    /// the runtime that accepted them, like every other.
    lane: Option<LaneRoute>,
}

/// Serves `router` on `listener` within `limits` (over TLS when `tls` is
/// given; streams on `lane` when given) until `shutdown` is cancelled, then
/// lets the open connections finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<Tls>,
    lane: Option<LaneRoute>,
    shutdown: CancellationToken,
) {
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HTTP1_MAX_BUFFER)
        .keep_alive(true);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_send_buf_size(H2_MAX_SEND_BUFFER);
    let protocols = Arc::new(Protocols {
        http1,
        http2,
        header_read_timeout: limits.header_read_timeout,
        tls,
        lane,
    });
    tracing::info!(
        max_connections = limits.max_connections,
        max_per_address = limits.max_per_address,
        header_read_timeout_s = limits.header_read_timeout.as_secs(),
        tls = protocols.tls.is_some(),
        "accepting connections"
    );
    let table = ConnectionTable::new(limits.max_connections, limits.max_per_address);
    let connections = TaskTracker::new();
    connections.spawn(sweep(Arc::clone(&table), shutdown.clone()));
    // Refused connections are all counted, and logged once per interval.
    let refusals = RepeatedWarning::default();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                pause_after_accept_error(&error).await;
                continue;
            }
        };
        let place = match table.admit(peer) {
            Ok(place) => place,
            Err(why) => {
                // Dropping the stream closes it: the cheapest answer there is.
                metrics().connections_refused.inc();
                if let Some(refused) = refusals.note() {
                    log_refusals(refused, why, &limits);
                }
                continue;
            }
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            Arc::clone(&protocols),
            shutdown.clone(),
            Slot {
                place,
                _open: Counted::new(&metrics().connections_open),
            },
            connections.clone(),
        ));
    }
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
}

/// A connection's place among the [`ConnectionLimits::max_connections`],
/// held while it is served, and its count in `pulse_connections_open`.
struct Slot {
    place: Place,
    _open: Counted,
}

/// Closes idle connections and ends stalled ones (see `connection_table`)
/// every [`SWEEP_INTERVAL`] until shutdown.
async fn sweep(table: Arc<ConnectionTable>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => table.sweep(),
        }
    }
}

/// Serves one connection until the client closes it, a bound closes it, or
/// shutdown finishes it.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    protocols: Arc<Protocols>,
    shutdown: CancellationToken,
    slot: Slot,
    connections: TaskTracker,
) {
    // Snapshot frames are small writes that should leave at once, not wait
    // for the previous one's ACK (Nagle's algorithm).
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let router = router.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let Some(tls) = &protocols.tls else {
        if let Some(lane) = protocols.lane.clone() {
            let first = tokio::time::timeout(
                protocols.header_read_timeout,
                stream_lane::first_request(&stream, lane.path),
            )
            .await;
            match first {
                Ok(Ok(FirstRequest::Stream)) => {
                    let service = stream_lane::handled_here(router);
                    connections.spawn_on(
                        serve_plain(stream, peer, service, protocols, shutdown, slot),
                        &lane.runtime,
                    );
                    return;
                }
                Ok(Ok(FirstRequest::Other)) => {}
                // Closed, failed, or silent for as long as a request head may take.
                Ok(Ok(FirstRequest::None) | Err(_)) | Err(_) => return,
            }
        }
        let service = TowerToHyperService::new(router);
        return serve_plain(stream, peer, service, protocols, shutdown, slot).await;
    };
    let service = Tracked::new(TowerToHyperService::new(router), slot.place.use_.clone());
    // Boxed: the TLS path's state (rustls, HTTP/2) is large, and the task of
    // every plain connection would otherwise carry room for it.
    Box::pin(serve_tls(
        stream, peer, service, tls, &protocols, &shutdown, &slot,
    ))
    .await;
}

/// The plain side of [`serve_connection`]: HTTP/1.1, holding `slot` until
/// the connection ends.
async fn serve_plain<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    protocols: Arc<Protocols>,
    shutdown: CancellationToken,
    slot: Slot,
) where
    S: hyper::service::Service<Request<Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = Tracked::new(service, slot.place.use_.clone());
    let connection = protocols
        .http1
        .serve_connection(TokioIo::new(stream), service);
    drive(
        connection,
        |c| c.graceful_shutdown(),
        &shutdown,
        &slot,
        peer,
    )
    .await;
}

/// The TLS side of [`serve_connection`]: the handshake, then HTTP/2 or
/// HTTP/1.1 as ALPN agreed.
async fn serve_tls<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    tls: &Tls,
    protocols: &Protocols,
    shutdown: &CancellationToken,
    slot: &Slot,
) where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = axum::http::Response<connection_table::TrackedBody>,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let handshake =
        tokio::time::timeout(protocols.header_read_timeout, tls.acceptor().accept(stream)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake not finished in time");
            return;
        }
    };
    if stream.get_ref().1.alpn_protocol() == Some(tls::H2) {
        let connection = protocols
            .http2
            .serve_connection(TokioIo::new(stream), service);
        drive(connection, |c| c.graceful_shutdown(), shutdown, slot, peer).await;
    } else {
        let connection = protocols
            .http1
            .serve_connection(TokioIo::new(stream), service);
        drive(connection, |c| c.graceful_shutdown(), shutdown, slot, peer).await;
    }
}

/// Runs `connection` to its end; on shutdown, or when its place is taken
/// back from an idle connection, asks it to finish gracefully (`graceful`)
/// and waits for that; a connection whose client does not read is dropped
/// at once.
async fn drive<C>(
    connection: C,
    graceful: impl FnOnce(std::pin::Pin<&mut C>),
    shutdown: &CancellationToken,
    slot: &Slot,
    peer: SocketAddr,
) where
    C: std::future::Future<Output = Result<(), hyper::Error>>,
{
    let use_ = &slot.place.use_;
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = use_.abort.cancelled() => return,
        () = shutdown.cancelled() => {
            graceful(connection.as_mut());
            tokio::select! {
                result = connection => result,
                () = use_.abort.cancelled() => return,
            }
        }
        () = use_.close.cancelled() => {
            graceful(connection.as_mut());
            tokio::select! {
                result = connection => result,
                () = use_.abort.cancelled() => return,
            }
        }
    };
    if let Err(error) = result {
        // Timeouts, resets and malformed requests: the client's doing, and
        // frequent on the public internet; not worth a line each.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The line for `refused` connections refused since the last one, the
/// latest for `why`.
fn log_refusals(refused: u64, why: Refused, limits: &ConnectionLimits) {
    tracing::warn!(
        refused,
        max_connections = limits.max_connections,
        max_per_address = limits.max_per_address,
        "connections refused: {}",
        match why {
            Refused::Full => "the node holds PULSE_MAX_CONNECTIONS, every one of them working",
            Refused::Address =>
                "an address holds PULSE_MAX_CONNECTIONS_PER_ADDRESS, every one of them working",
        }
    );
}

/// After a failed accept: out of file descriptors (or memory) is worth a
/// pause and a line, since accepting again at once would spin; a connection
/// reset before it was accepted is not.
async fn pause_after_accept_error(error: &io::Error) {
    let exhausted = matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if exhausted {
        tracing::error!(%error, "cannot accept connections: out of file descriptors or memory");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(%error, "accept failed");
    }
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, num::NonZeroUsize, sync::Mutex};

    use axum::{body::Body, routing::get};
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const STREAM: &str = "/api/admin/stats/stream";

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_owned()
    }

    /// A route whose handler and body note the thread they ran on.
    fn noting_route(
        noted: &Arc<Mutex<Vec<(&'static str, String)>>>,
    ) -> axum::routing::MethodRouter {
        let noted = Arc::clone(noted);
        get(move || async move {
            noted.lock().unwrap().push(("handled", thread_name()));
            let body = futures::stream::once(async move {
                noted.lock().unwrap().push(("written", thread_name()));
                Ok::<_, Infallible>(Bytes::from_static(b"data: x\n\n"))
            });
            Body::from_stream(body)
        })
    }

    async fn get_over_tcp(addr: SocketAddr, path: &str) -> String {
        let mut connection = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: pulse\r\nConnection: close\r\n\r\n");
        connection.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        connection.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_stream_is_written_on_the_lane_and_handled_on_the_main_runtime() {
        let lane = stream_lane::StreamLane::start(NonZeroUsize::MIN, STREAM).unwrap();
        let stream_noted = Arc::new(Mutex::new(Vec::new()));
        let other_noted = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route(STREAM, noting_route(&stream_noted))
            .route("/other", noting_route(&other_noted));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let limits = ConnectionLimits {
            max_connections: 16,
            max_per_address: 0,
            header_read_timeout: Duration::from_secs(5),
        };
        let served = tokio::spawn(serve(
            listener,
            router,
            limits,
            None,
            Some(lane.route()),
            shutdown.clone(),
        ));

        assert!(get_over_tcp(addr, STREAM).await.contains("data: x"));
        assert!(get_over_tcp(addr, "/other").await.contains("data: x"));
        // The test runtime's workers carry tokio's default name.
        let main = "tokio-rt-worker".to_owned();
        assert_eq!(
            *stream_noted.lock().unwrap(),
            [
                ("handled", main.clone()),
                ("written", "pulse-streams".to_owned())
            ]
        );
        assert_eq!(
            *other_noted.lock().unwrap(),
            [("handled", main.clone()), ("written", main)]
        );
        shutdown.cancel();
        served.await.unwrap();
    }

    #[test]
    fn the_default_limit_leaves_room_for_the_database_and_redis_and_fits_the_memory() {
        let plenty = u64::MAX;
        assert_eq!(default_max_connections(20_000, plenty), 19_744);
        assert_eq!(default_max_connections(1_024, plenty), 768);
        assert_eq!(
            default_max_connections(100, plenty),
            64,
            "never below the floor"
        );
        let gib = 1 << 30;
        assert_eq!(
            default_max_connections(1_048_576, 24 * gib),
            49_152,
            "half of 24 GiB at 256 KiB each"
        );
        assert_eq!(default_max_per_address(49_152), 6_144);
        assert_eq!(default_max_per_address(64), 32);
    }
}
