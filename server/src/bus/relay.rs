//! The Redis relay: shares snapshots between nodes, and falls back to polling
//! when Redis cannot push.
//!
//! One relay per node, one Redis subscription per relay, however many
//! dashboards are open. The relay is a small state machine; each state is one
//! function below that runs until the next state is known:
//!
//! ```text
//!            subscribe ok        stream ends / PING or command fails
//!   start ──────────────▶ pubsub ◀──────────────────────────┐
//!     │                     │  ▲  resubscribed (backoff)     │
//!     │ Redis answers,      │  │                             │
//!     │ subscribe fails     ▼  │                             │
//!     └──────────────▶ cache_poll ──── command fails ──▶ db_poll
//!     └─ no answer ─────────────────────────────────────▶ db_poll ──▶ reconnect (backoff)
//! ```
//!
//! * `pubsub`: other nodes' snapshots arrive on `admin:stats:updated`; a
//!   safety poll of the cache every `STATS_SAFETY_POLL_S` repairs a lost message;
//!   the subscription is asked for a PING every 3 s, so a connection cut off
//!   without a word (a network partition) counts as ended within 5 s.
//! * `cache_poll`: the cache `admin:stats` is read every `STATS_SAFETY_POLL_S`
//!   (recomputed from the database when it has expired) while the subscription
//!   is retried; `STATS_PUBSUB=off` stays here.
//! * `db_poll`: Redis is unreachable; the database is read every
//!   `STATS_DB_POLL_S` while the connection is retried.
//!
//! In every state this node's own updates reach its own dashboards at once;
//! the relay only decides how the *other* nodes' updates get here. Redis holds
//! a cache and notifications only: losing it loses nothing.

use std::{sync::Arc, time::Duration};

use app::model::{BusMode, Delivery, SnapshotSource, StatsSnapshot};
use futures::StreamExt;
use redis::{
    aio::{MultiplexedConnection, PubSubSink, PubSubStream},
    AsyncConnectionConfig, RedisResult,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{seal::Seal, PublishedSnapshot, Reach, Recompute, StatsBus};
use crate::{error_chain, metrics::metrics, repeated_warning::RepeatedWarning};

/// The cache key holding the newest snapshot's JSON.
pub const CACHE_KEY: &str = "admin:stats";
/// The channel every node publishes its snapshots on.
pub const CHANNEL: &str = "admin:stats:updated";
/// The least time between two recomputes from the database prompted by
/// messages on Redis that no node sealed (see [`Machine::take_remote`]).
const UNSEALED_RECOMPUTE_INTERVAL: Duration = Duration::from_secs(1);
/// Lifetime of the cached snapshot: an idle cache expires rather than lie.
const CACHE_TTL_S: u64 = 60;
/// Longest wait for Redis to connect or answer before it counts as down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscription's own connection is asked to answer a PING: a
/// connection cut off without a word (a network partition) delivers no
/// message and no end, so only a question it fails to answer reveals it.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// First and longest pause between two reconnection attempts.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// How the relay polls and whether it subscribes.
#[derive(Clone, Copy, Debug)]
pub struct RelaySettings {
    /// Subscribe to Pub/Sub (`STATS_PUBSUB=on`), or only poll the cache.
    pub pubsub: bool,
    /// Cache poll interval, as the safety net in `pubsub` and the main
    /// source in `cache_poll`.
    pub safety_poll: Duration,
    /// Database poll interval in `db_poll`.
    pub db_poll: Duration,
}

/// Where the relay is, with the connections that state holds.
enum State {
    Pubsub {
        commands: MultiplexedConnection,
        subscription: Subscription,
    },
    CachePoll {
        commands: MultiplexedConnection,
    },
    DbPoll,
}

impl State {
    fn mode(&self) -> BusMode {
        match self {
            State::Pubsub { .. } => BusMode::Pubsub,
            State::CachePoll { .. } => BusMode::CachePoll,
            State::DbPoll => BusMode::DbPoll,
        }
    }
}

/// The subscription's connection: the messages it brings, and its sink for
/// the heartbeat.
struct Subscription {
    sink: PubSubSink,
    messages: PubSubStream,
}

/// A Redis failure, kept as a message that never carries the URL (and so
/// never its password).
type RelayError = String;

/// Carries this node's snapshots to Redis and other nodes' snapshots to this
/// node's bus: the state machine and the state it is in.
pub struct Relay {
    machine: Machine,
    state: State,
}

/// What every state works with: the connections' source, the settings, the
/// bus, how to recompute a snapshot, and the retry pace.
struct Machine {
    client: redis::Client,
    settings: RelaySettings,
    bus: StatsBus,
    recompute: Recompute,
    outbox: watch::Receiver<Option<Arc<PublishedSnapshot>>>,
    retry: Backoff,
    /// Whether the "published via Pub/Sub" line was logged since the last
    /// transition (it is said once, not per update).
    said_published: bool,
    /// Seals what this node shares and opens what it takes.
    seal: Seal,
    /// Messages on Redis that no node sealed, logged once per interval.
    unsealed: RepeatedWarning,
    /// When such a message last prompted a recompute from the database.
    last_unsealed_recompute: Option<tokio::time::Instant>,
}

impl Relay {
    /// Connects to Redis once, so the node starts in the right mode and says
    /// so in its first page; the relay keeps trying afterwards if this fails.
    pub async fn start(
        client: redis::Client,
        settings: RelaySettings,
        bus: StatsBus,
        recompute: Recompute,
        seal: Seal,
    ) -> Relay {
        let mut outbox = bus.outbox();
        outbox.mark_unchanged();
        let mut machine = Machine {
            client,
            settings,
            bus,
            recompute,
            outbox,
            retry: Backoff::new(),
            said_published: false,
            seal,
            unsealed: RepeatedWarning::default(),
            last_unsealed_recompute: None,
        };
        let first = machine.connect().await;
        let state = machine.enter(first, BusMode::InProcess).await;
        Relay { machine, state }
    }

    /// Runs the state machine until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Relay {
            mut machine,
            mut state,
        } = self;
        loop {
            let before = state.mode();
            let started = tokio::time::Instant::now();
            let next = tokio::select! {
                next = machine.step(state) => next,
                () = shutdown.cancelled() => return,
            };
            // Only a subscription that held for a while ends the backoff, so
            // one that Redis keeps dropping is retried ever more slowly.
            if before == BusMode::Pubsub && started.elapsed() >= RETRY_MAX {
                machine.retry.reset();
            }
            state = machine.enter(next, before).await;
        }
    }
}

impl Machine {
    async fn step(&mut self, state: State) -> State {
        match state {
            State::Pubsub {
                commands,
                subscription,
            } => self.pubsub(commands, subscription).await,
            State::CachePoll { commands } => self.cache_poll(commands).await,
            State::DbPoll => self.db_poll().await,
        }
    }

    /// Makes `state` current: tells the dashboards, logs the transition, and
    /// after (re)subscribing refreshes at once, because whatever was published
    /// while this node was not listening is lost.
    async fn enter(&mut self, state: State, before: BusMode) -> State {
        let mode = state.mode();
        let poll_every = match mode {
            BusMode::CachePoll => self.settings.safety_poll,
            BusMode::DbPoll => self.settings.db_poll,
            BusMode::InProcess | BusMode::Pubsub => Duration::ZERO,
        };
        self.bus.set_delivery(Delivery {
            mode,
            poll_every_s: u32::try_from(poll_every.as_secs()).unwrap_or(u32::MAX),
        });
        if mode != before {
            self.said_published = false;
            if before == BusMode::DbPoll {
                metrics().redis_reconnects.inc();
            }
            let seconds = poll_every.as_secs();
            match mode {
                BusMode::Pubsub => {
                    tracing::info!("SSE using Redis Pub/Sub for real-time updates");
                }
                BusMode::CachePoll if !self.settings.pubsub => tracing::info!(
                    "Redis Pub/Sub is switched off (STATS_PUBSUB=off), polling the Redis cache every {seconds} s"
                ),
                BusMode::CachePoll => tracing::warn!(
                    "Redis Pub/Sub unavailable, polling the Redis cache every {seconds} s and retrying the subscription"
                ),
                BusMode::DbPoll => tracing::warn!(
                    "Redis unavailable, polling the database every {seconds} s and retrying the connection"
                ),
                BusMode::InProcess => {}
            }
        }
        if mode == BusMode::Pubsub {
            match (self.recompute)(SnapshotSource::Initial).await {
                Ok(snapshot) => {
                    self.bus
                        .publish(snapshot, Reach::of(SnapshotSource::Initial));
                }
                Err(error) => tracing::warn!(
                    error = %error_chain(&*error),
                    "could not refresh the stats after subscribing"
                ),
            }
        }
        state
    }

    /// Opens a command connection and, unless switched off, the subscription.
    async fn connect(&mut self) -> State {
        let mut commands = match self.open_commands().await {
            Ok(commands) => commands,
            Err(error) => {
                tracing::debug!(%error, "Redis connection attempt failed");
                return State::DbPoll;
            }
        };
        if let Err(error) = ping(&mut commands).await {
            tracing::debug!(%error, "Redis did not answer PING");
            return State::DbPoll;
        }
        if !self.settings.pubsub {
            return State::CachePoll { commands };
        }
        match self.subscribe().await {
            Ok(subscription) => State::Pubsub {
                commands,
                subscription,
            },
            Err(error) => {
                tracing::warn!(%error, "could not subscribe to {CHANNEL}");
                State::CachePoll { commands }
            }
        }
    }

    async fn open_commands(&self) -> Result<MultiplexedConnection, RelayError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| describe(&error))
    }

    async fn subscribe(&self) -> Result<Subscription, RelayError> {
        let subscribed = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            let (sink, messages) = pubsub.split();
            RedisResult::Ok(Subscription { sink, messages })
        };
        match tokio::time::timeout(REDIS_TIMEOUT, subscribed).await {
            Ok(Ok(messages)) => Ok(messages),
            Ok(Err(error)) => Err(describe(&error)),
            Err(_) => Err("Redis did not answer the subscription in time".to_string()),
        }
    }

    /// `pubsub`: take other nodes' snapshots as they are published.
    async fn pubsub(
        &mut self,
        mut commands: MultiplexedConnection,
        mut subscription: Subscription,
    ) -> State {
        let mut safety_poll = every(self.settings.safety_poll);
        let mut heartbeat = every(HEARTBEAT);
        loop {
            tokio::select! {
                message = subscription.messages.next() => {
                    let Some(message) = message else {
                        tracing::warn!("the Redis Pub/Sub connection closed");
                        return subscription_lost(commands).await;
                    };
                    self.take_remote(message.get_payload_bytes()).await;
                }
                // The relay holds the bus, so the outbox never closes.
                Ok(()) = self.outbox.changed() => {
                    if let Err(error) = self.share(&mut commands).await {
                        return lost(&error);
                    }
                }
                _ = safety_poll.tick() => {
                    if let Err(error) = self.poll_cache(&mut commands).await {
                        return lost(&error);
                    }
                }
                _ = heartbeat.tick() => {
                    let answered = tokio::time::timeout(
                        REDIS_TIMEOUT,
                        subscription.sink.ping::<redis::Value>(),
                    )
                    .await;
                    if !matches!(answered, Ok(Ok(_))) {
                        tracing::warn!("the Redis Pub/Sub connection stopped answering");
                        return subscription_lost(commands).await;
                    }
                }
            }
        }
    }

    /// `cache_poll`: read the cache on a timer; retry the subscription.
    async fn cache_poll(&mut self, mut commands: MultiplexedConnection) -> State {
        let mut poll = every(self.settings.safety_poll);
        let resubscribe = tokio::time::sleep(self.retry.next_delay());
        tokio::pin!(resubscribe);
        loop {
            tokio::select! {
                Ok(()) = self.outbox.changed() => {
                    if let Err(error) = self.share(&mut commands).await {
                        return lost(&error);
                    }
                }
                _ = poll.tick() => {
                    if let Err(error) = self.poll_cache(&mut commands).await {
                        return lost(&error);
                    }
                }
                () = &mut resubscribe, if self.settings.pubsub => {
                    match self.subscribe().await {
                        Ok(subscription) => return State::Pubsub { commands, subscription },
                        Err(error) => {
                            tracing::debug!(%error, "subscription retry failed");
                            resubscribe.as_mut().reset(tokio::time::Instant::now() + self.retry.next_delay());
                        }
                    }
                }
            }
        }
    }

    /// `db_poll`: read the database on a timer; retry the connection.
    async fn db_poll(&mut self) -> State {
        let mut poll = every(self.settings.db_poll);
        let reconnect = tokio::time::sleep(self.retry.next_delay());
        tokio::pin!(reconnect);
        loop {
            tokio::select! {
                Ok(()) = self.outbox.changed() => {
                    // Local dashboards already have it; Redis cannot take it.
                    self.outbox.mark_unchanged();
                }
                _ = poll.tick() => self.poll_database().await,
                () = &mut reconnect => {
                    match self.connect().await {
                        State::DbPoll => {
                            reconnect.as_mut().reset(tokio::time::Instant::now() + self.retry.next_delay());
                        }
                        connected => return connected,
                    }
                }
            }
        }
    }

    /// Writes the newest outgoing snapshot to the cache and publishes it:
    /// two commands in one round trip, whatever the number of dashboards.
    async fn share(&mut self, commands: &mut MultiplexedConnection) -> RedisResult<()> {
        let Some(published) = self.outbox.borrow_and_update().clone() else {
            return Ok(());
        };
        let sealed = self.seal.seal(&published.json);
        redis::pipe()
            .add_command(write_cache(&sealed))
            .ignore()
            .cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(&sealed)
            .ignore()
            .exec_async(commands)
            .await?;
        if !self.said_published {
            self.said_published = true;
            tracing::info!("Admin stats update published via Pub/Sub");
        } else {
            tracing::debug!(
                version = published.snapshot.version,
                "stats update published via Pub/Sub"
            );
        }
        Ok(())
    }

    /// Takes the cached snapshot if it is newer than ours; when the cache has
    /// expired, recomputes from the database and fills it again.
    async fn poll_cache(&mut self, commands: &mut MultiplexedConnection) -> RedisResult<()> {
        let cached: Option<Vec<u8>> = redis::cmd("GET")
            .arg(CACHE_KEY)
            .query_async(commands)
            .await?;
        if let Some(json) = cached {
            self.take_remote(&json).await;
            return Ok(());
        }
        self.poll_database().await;
        write_cache(&self.seal.seal(&self.bus.latest().json))
            .exec_async(commands)
            .await
    }

    /// Recomputes from the database and shows the result on this node's
    /// dashboards if it carries changes they have not seen.
    async fn poll_database(&self) {
        match (self.recompute)(SnapshotSource::Poll).await {
            Ok(snapshot) if snapshot.version > self.bus.latest().snapshot.version => {
                self.bus.publish(snapshot, Reach::of(SnapshotSource::Poll));
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(
                error = %error_chain(&*error),
                "could not poll the database for stats"
            ),
        }
    }

    /// Hands a snapshot from Redis to the bus, which keeps it only if newer,
    /// when a node sealed it. Anything else on the channel or in the cache
    /// (a stray or hostile `PUBLISH`, a node of an older version during an
    /// upgrade) is never shown: it only prompts a recompute from the
    /// database, at most once per [`UNSEALED_RECOMPUTE_INTERVAL`], so that a
    /// real change it may announce still arrives.
    async fn take_remote(&mut self, payload: &[u8]) {
        let Some(json) = self.seal.open(payload) else {
            if let Some(times) = self.unsealed.note() {
                tracing::warn!(
                    times,
                    "ignoring stats snapshots on Redis that no Pulse node on this database sealed \
                     (someone else writes to Redis, or a node of an older version runs)"
                );
            }
            let due = self
                .last_unsealed_recompute
                .is_none_or(|at| at.elapsed() >= UNSEALED_RECOMPUTE_INTERVAL);
            if due {
                self.last_unsealed_recompute = Some(tokio::time::Instant::now());
                self.poll_database().await;
            }
            return;
        };
        match serde_json::from_slice::<StatsSnapshot>(json) {
            Ok(snapshot) => {
                self.bus.accept_remote(snapshot);
            }
            Err(error) => {
                tracing::warn!(%error, "ignoring an unreadable stats snapshot from Redis");
            }
        }
    }
}

/// `SET admin:stats <json> EX 60`: the cached snapshot, expiring when idle.
fn write_cache(json: &[u8]) -> redis::Cmd {
    let mut command = redis::cmd("SET");
    command.arg(CACHE_KEY).arg(json).arg("EX").arg(CACHE_TTL_S);
    command
}

/// A failed Redis command: the connection is not trusted any more.
fn lost(error: &redis::RedisError) -> State {
    tracing::warn!(error = %describe(error), "a Redis command failed");
    State::DbPoll
}

/// Where the relay goes once its subscription is lost: Redis itself may
/// still answer, and then only the subscription is retried, with backoff.
async fn subscription_lost(mut commands: MultiplexedConnection) -> State {
    match ping(&mut commands).await {
        Ok(()) => State::CachePoll { commands },
        Err(_) => State::DbPoll,
    }
}

async fn ping(commands: &mut MultiplexedConnection) -> Result<(), RelayError> {
    redis::cmd("PING")
        .query_async::<String>(commands)
        .await
        .map(|_| ())
        .map_err(|error| describe(&error))
}

/// A Redis error in words. redis-rs errors name the failing operation and
/// the server's reply, not the connection URL, so no password can leak here.
fn describe(error: &redis::RedisError) -> String {
    error.to_string()
}

/// A timer that first fires one `period` from now.
fn every(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Capped exponential backoff with jitter: each delay is drawn between half
/// and all of the current step, so nodes that lost Redis together do not all
/// come back in the same instant.
#[derive(Debug)]
struct Backoff {
    step: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { step: RETRY_FIRST }
    }

    fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(RETRY_MAX);
        let half = step / 2;
        let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
        let jitter = getrandom::u64().unwrap_or(0) % spread;
        half + Duration::from_millis(jitter)
    }

    fn reset(&mut self) {
        self.step = RETRY_FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new();
        let mut steps = Vec::new();
        for _ in 0..8 {
            steps.push(backoff.next_delay());
        }
        for (delay, step) in steps
            .iter()
            .zip([250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
        {
            let step = Duration::from_millis(step);
            assert!(
                *delay >= step / 2 && *delay <= step,
                "{delay:?} outside {step:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= RETRY_FIRST);
    }
}
