//! Who holds the node's connection places, and who must give one up.
//!
//! A place is cheap to take and, without rules, free to keep: an idle
//! keep-alive or HTTP/2 connection, a client that asks for a large file and
//! never reads it. So that no stranger can hold every place while Meta's
//! next delivery is refused, each connection's use is tracked here (its
//! requests in flight, since when it has been idle, whether a response waits
//! for the client to read) and:
//!
//! - at the node's limit (or an address's), a newcomer takes the place of
//!   the connection that is idle the longest, or else of the one whose
//!   response has waited longest (at least [`MIN_STALL`]) for its client to
//!   read; only when every connection is working is the newcomer refused;
//! - a connection idle for [`IDLE_TIMEOUT`] is closed (HTTP/2 has no idle
//!   timeout of its own, and an HTTP/1 keep-alive's resets with every
//!   request): requests for `/healthz` and `/readyz` do not count as use, so
//!   cheap pings cannot keep one open;
//! - a response whose client has not taken a byte for
//!   [`WRITE_STALL_TIMEOUT`] ends its connection at once (the dashboards'
//!   streams write a comment every 15 s, so a reading client is never
//!   stalled that long).
//!
//! "Waiting for the client" is seen from the response body: once a frame is
//! handed to hyper, hyper asks for the next one only when the previous one
//! is on its way (HTTP/1: written to the socket; HTTP/2: within the
//! stream's window), so a frame handed and not followed by a request for
//! another is a client that does not read.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicI64, AtomicU32, Ordering},
        Arc, Mutex, Weak,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::body::Body;
use hyper::{body::Incoming, Request, Response};
use tokio_util::sync::CancellationToken;

use crate::metrics::metrics;

/// A connection idle this long (requests for the probes aside) is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A response whose client has not read for this long ends its connection.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The least a response must have waited for its client before its
/// connection's place can go to a newcomer.
pub const MIN_STALL: Duration = Duration::from_secs(1);

/// Paths whose requests do not count as use of a connection.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// The node's connections, by address.
pub struct ConnectionTable {
    max_connections: usize,
    /// 0: no limit per address.
    max_per_address: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Entry>,
    per_address: HashMap<AddressKey, usize>,
}

struct Entry {
    address: AddressKey,
    use_: Arc<ConnectionUse>,
}

/// A client address as limits count it: IPv4 whole, IPv6 by its /64 (one
/// host gets a /64 to choose from).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `peer`.
    pub fn of(peer: SocketAddr) -> Self {
        match peer.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    AddressKey(IpAddr::V6(prefix.into()))
                }
            },
            v4 => AddressKey(v4),
        }
    }
}

/// One connection's use, shared by its task, its requests and the table.
pub struct ConnectionUse {
    epoch: Instant,
    /// Requests in flight (their responses not yet finished).
    busy: AtomicU32,
    /// When it last became idle after a request that counts (ms since epoch).
    idle_since_ms: AtomicI64,
    /// Asks the connection to finish what it has in flight and take no more.
    pub close: CancellationToken,
    /// Ends the connection at once.
    pub abort: CancellationToken,
    responses: Mutex<Vec<Weak<ResponseProgress>>>,
}

/// A response's wait for its client: when its last frame was handed over
/// without hyper asking for another since (ms since epoch; 0: not waiting).
#[derive(Default)]
struct ResponseProgress {
    handed_at_ms: AtomicI64,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The node holds its limit and every connection is working.
    Full,
    /// The address holds its limit and each of its connections is working.
    Address,
}

/// A connection's place; gives it back when dropped.
pub struct Place {
    table: Arc<ConnectionTable>,
    id: u64,
    /// The connection's use, for its requests and its task.
    pub use_: Arc<ConnectionUse>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

impl ConnectionTable {
    /// A table for at most `max_connections`, `max_per_address` of them from
    /// one address (0: no such limit).
    pub fn new(max_connections: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionTable {
            max_connections,
            max_per_address,
            epoch: Instant::now(),
            inner: Mutex::default(),
        })
    }

    fn now_ms(&self) -> i64 {
        ms_since(self.epoch)
    }

    /// Admits a connection from `peer`, making room if it must (see the
    /// module's rules).
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Place, Refused> {
        let address = AddressKey::of(peer);
        let now = self.now_ms();
        let mut inner = self.lock();
        if self.max_per_address > 0
            && inner.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address
        {
            let victim = most_evictable(
                inner
                    .open
                    .iter()
                    .filter(|(_, entry)| entry.address == address),
                now,
            )
            .ok_or(Refused::Address)?;
            inner.evict(victim);
        }
        if inner.open.len() >= self.max_connections {
            let victim = most_evictable(inner.open.iter(), now).ok_or(Refused::Full)?;
            inner.evict(victim);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let use_ = Arc::new(ConnectionUse {
            epoch: self.epoch,
            busy: AtomicU32::new(0),
            idle_since_ms: AtomicI64::new(now),
            close: CancellationToken::new(),
            abort: CancellationToken::new(),
            responses: Mutex::default(),
        });
        inner.open.insert(
            id,
            Entry {
                address,
                use_: use_.clone(),
            },
        );
        *inner.per_address.entry(address).or_default() += 1;
        Ok(Place {
            table: self.clone(),
            id,
            use_,
        })
    }

    /// Closes the connections idle past [`IDLE_TIMEOUT`] and ends those
    /// whose client has not read past [`WRITE_STALL_TIMEOUT`]; run about
    /// once a second.
    pub fn sweep(&self) {
        let now = self.now_ms();
        let mut inner = self.lock();
        let expired: Vec<(u64, Eviction)> = inner
            .open
            .iter()
            .filter_map(|(&id, entry)| {
                let use_ = &entry.use_;
                if use_.is_idle() && now - use_.idle_since() >= IDLE_TIMEOUT.as_millis() as i64 {
                    Some((id, Eviction::Idle))
                } else if use_
                    .stalled_since()
                    .is_some_and(|since| now - since >= WRITE_STALL_TIMEOUT.as_millis() as i64)
                {
                    Some((id, Eviction::Stalled))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in expired {
            inner.end(id, why, "timeout");
        }
    }

    fn remove(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(entry) = inner.open.remove(&id) {
            inner.forget_address(entry.address);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change under the lock is one step: a panic cannot leave it half done.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// How a connection is made to give its place up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eviction {
    /// Idle: asked to close (an HTTP/2 client gets a GOAWAY).
    Idle,
    /// Its client does not read: ended at once.
    Stalled,
}

impl Inner {
    fn evict(&mut self, (id, why): (u64, Eviction)) {
        self.end(id, why, "room");
    }

    /// Takes `id` out of the table (its place is free from now on) and ends
    /// its connection as `why` says; `reason` labels the metric.
    fn end(&mut self, id: u64, why: Eviction, reason: &'static str) {
        let Some(entry) = self.open.remove(&id) else {
            return;
        };
        self.forget_address(entry.address);
        let kind = match why {
            Eviction::Idle => {
                entry.use_.close.cancel();
                "idle"
            }
            Eviction::Stalled => {
                entry.use_.abort.cancel();
                "stalled"
            }
        };
        metrics()
            .connections_evicted
            .with_label_values(&[kind, reason])
            .inc();
    }

    fn forget_address(&mut self, address: AddressKey) {
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }
}

/// Milliseconds since `epoch`, the table's clock.
fn ms_since(epoch: Instant) -> i64 {
    epoch.elapsed().as_millis() as i64
}

/// Of `candidates`, the connection idle the longest, or else the one whose
/// response has waited longest (at least [`MIN_STALL`]) for its client.
fn most_evictable<'a>(
    candidates: impl Iterator<Item = (&'a u64, &'a Entry)>,
    now: i64,
) -> Option<(u64, Eviction)> {
    let mut idle: Option<(i64, u64)> = None;
    let mut stalled: Option<(i64, u64)> = None;
    // Ties (the clock counts milliseconds) go to the connection admitted
    // first: ids grow with admission.
    for (&id, entry) in candidates {
        let use_ = &entry.use_;
        if use_.is_idle() {
            let since = use_.idle_since();
            if idle.is_none_or(|oldest| (since, id) < oldest) {
                idle = Some((since, id));
            }
        } else if let Some(since) = use_.stalled_since() {
            if now - since >= MIN_STALL.as_millis() as i64
                && stalled.is_none_or(|oldest| (since, id) < oldest)
            {
                stalled = Some((since, id));
            }
        }
    }
    idle.map(|(_, id)| (id, Eviction::Idle))
        .or(stalled.map(|(_, id)| (id, Eviction::Stalled)))
}

impl ConnectionUse {
    fn now_ms(&self) -> i64 {
        ms_since(self.epoch)
    }

    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn idle_since(&self) -> i64 {
        self.idle_since_ms.load(Ordering::Acquire)
    }

    /// Since when the response waiting longest for its client has waited.
    fn stalled_since(&self) -> Option<i64> {
        let mut responses = self
            .responses
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        responses.retain(|response| response.strong_count() > 0);
        responses
            .iter()
            .filter_map(Weak::upgrade)
            .map(|response| response.handed_at_ms.load(Ordering::Acquire))
            .filter(|&handed| handed > 0)
            .min()
    }

    /// Notes a request starting; the guard notes its end (its response
    /// finished or dropped).
    fn start(self: &Arc<Self>, path: &str) -> (RequestGuard, Arc<ResponseProgress>) {
        self.busy.fetch_add(1, Ordering::AcqRel);
        let progress = Arc::new(ResponseProgress::default());
        self.responses
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Arc::downgrade(&progress));
        let guard = RequestGuard {
            use_: self.clone(),
            counts: !PROBES.contains(&path),
        };
        (guard, progress)
    }
}

/// A request in flight on a connection.
struct RequestGuard {
    use_: Arc<ConnectionUse>,
    /// Whether its end counts as use (probes do not).
    counts: bool,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.counts {
            self.use_
                .idle_since_ms
                .store(self.use_.now_ms(), Ordering::Release);
        }
        self.use_.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Wraps a connection's service so that its requests and responses are
/// tracked in `use_`.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    use_: Arc<ConnectionUse>,
}

impl<S> Tracked<S> {
    /// `inner`, tracked in `use_`.
    pub fn new(inner: S, use_: Arc<ConnectionUse>) -> Self {
        Tracked { inner, use_ }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<TrackedBody>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let (guard, progress) = self.use_.start(request.uri().path());
        let epoch = self.use_.epoch;
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                progress,
                epoch,
                _guard: guard,
            }))
        })
    }
}

/// A response body that notes when it waits for its client to read.
pub struct TrackedBody {
    inner: Body,
    progress: Arc<ResponseProgress>,
    epoch: Instant,
    _guard: RequestGuard,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        // Asked for more: whatever was handed over is on its way.
        self.progress.handed_at_ms.store(0, Ordering::Release);
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if frame.is_data() {
                // 0 means "not waiting": the first millisecond counts as 1.
                let now = ms_since(self.epoch).max(1);
                self.progress.handed_at_ms.store(now, Ordering::Release);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            AddressKey::of(peer("[2001:db8:1:2:aaaa::1]:1")),
            AddressKey::of(peer("[2001:db8:1:2:bbbb::9]:2"))
        );
        assert_ne!(
            AddressKey::of(peer("[2001:db8:1:2::1]:1")),
            AddressKey::of(peer("[2001:db8:1:3::1]:1"))
        );
        assert_eq!(
            AddressKey::of(peer("[::ffff:10.0.0.1]:1")),
            AddressKey::of(peer("10.0.0.1:2"))
        );
    }

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room_and_a_working_one_does_not() {
        let table = ConnectionTable::new(2, 0);
        // In the same millisecond: the first admitted is the longest idle.
        let first = table.admit(peer("10.0.0.1:1")).unwrap();
        let second = table.admit(peer("10.0.0.2:1")).unwrap();
        let third = table.admit(peer("10.0.0.3:1")).unwrap();
        assert!(first.use_.close.is_cancelled(), "the longest idle gave way");
        assert!(!second.use_.close.is_cancelled());
        // Both left are working now: a newcomer is refused.
        let (_working_2, _) = second.use_.start("/admin");
        let (_working_3, _) = third.use_.start("/api/webhooks/instagram");
        assert_eq!(table.admit(peer("10.0.0.4:1")).err(), Some(Refused::Full));
        drop(first);
        assert_eq!(
            table.lock().open.len(),
            2,
            "an evicted place is not counted twice"
        );
    }

    #[test]
    fn a_response_its_client_does_not_read_gives_way_after_a_second() {
        let table = ConnectionTable::new(1, 0);
        let reader = table.admit(peer("10.0.0.1:1")).unwrap();
        let (_request, progress) = reader.use_.start("/pkg/pulse.wasm");
        progress
            .handed_at_ms
            .store(table.now_ms().max(1), Ordering::Release);
        assert_eq!(
            table.admit(peer("10.0.0.2:1")).err(),
            Some(Refused::Full),
            "not yet"
        );
        std::thread::sleep(MIN_STALL + Duration::from_millis(50));
        let newcomer = table.admit(peer("10.0.0.2:1"));
        assert!(newcomer.is_ok());
        assert!(
            reader.use_.abort.is_cancelled(),
            "the reader is ended at once"
        );
    }

    #[test]
    fn an_address_at_its_limit_gives_up_its_own_places_not_others() {
        let table = ConnectionTable::new(10, 2);
        let other = table.admit(peer("10.0.0.9:1")).unwrap();
        let a = table.admit(peer("10.0.0.1:1")).unwrap();
        let b = table.admit(peer("10.0.0.1:2")).unwrap();
        let (_busy_b, _) = b.use_.start("/admin");
        let _c = table.admit(peer("10.0.0.1:3")).unwrap();
        assert!(a.use_.close.is_cancelled(), "its own idle one gave way");
        assert!(
            !other.use_.close.is_cancelled(),
            "another address's idle one did not"
        );
        let (_busy_c, _) = _c.use_.start("/admin");
        assert_eq!(
            table.admit(peer("10.0.0.1:4")).err(),
            Some(Refused::Address)
        );
    }

    #[test]
    fn probes_do_not_count_as_use() {
        let table = ConnectionTable::new(4, 0);
        let pinger = table.admit(peer("10.0.0.1:1")).unwrap();
        let before = pinger.use_.idle_since();
        std::thread::sleep(Duration::from_millis(5));
        drop(pinger.use_.start("/healthz"));
        assert_eq!(pinger.use_.idle_since(), before);
        drop(pinger.use_.start("/admin"));
        assert!(pinger.use_.idle_since() > before);
    }
}
