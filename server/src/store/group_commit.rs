//! Group commit: webhook deliveries that arrive while a transaction is being
//! committed wait for it, then go together into the next one. One commit (one
//! fsync on SQLite) then serves many deliveries, and each is still
//! acknowledged only after its own events are durable. No delay is added:
//! a delivery that finds a writer idle is committed alone, at once.
//!
//! On Postgres several writers take groups from the one queue, each on its
//! own connection, writer slot (see `slots`) and thread, so one group's round
//! trips and commit overlap another's; SQLite has one writer.

use std::{sync::Arc, time::Duration};

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_util::sync::CancellationToken;

use super::{
    checkpoints,
    ingest::{self, Received},
    slots::{self, Slot},
    transaction,
    write_health::WriteHealth,
    Backend, IngestOutcome,
};
use crate::event::WebhookEvent;

/// Deliveries waiting for a writer, at most (then senders wait).
const QUEUE: usize = 1024;
/// Events per transaction, at most; a larger backlog goes into the next one.
const MAX_GROUP_EVENTS: usize = 5_000;
/// A group's transaction that takes longer is given up: the database does
/// not answer (a network partition, a frozen server), and its connection
/// would otherwise hang until TCP gives up, minutes after Meta's 20 s. A
/// 5,000-event group commits in well under a second on a healthy database.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting a writer to a database that does not answer is given up after
/// this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A delivery and where to send its outcome.
struct Request {
    events: Vec<WebhookEvent>,
    received_at_ms: i64,
    reply: oneshot::Sender<Result<IngestOutcome, String>>,
}

/// The handle deliveries are sent through. The writers end when it is
/// closed (after storing what was queued) or when every handle is gone.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    sender: mpsc::Sender<Request>,
    /// Cancelled by [`GroupCommit::close`]: the writers take what is queued
    /// and stop.
    closing: CancellationToken,
    /// Yields `None` once every writer (and what it started) has ended:
    /// each holds a sender of it.
    ended: Arc<Mutex<mpsc::Receiver<()>>>,
}

/// Held by a writer (and by what it starts) until it ends.
pub(super) type Running = mpsc::Sender<()>;

/// Where a writer gets the connection it commits on.
pub(super) enum Writer {
    /// SQLite: the one connection of the writer pool, slot 0 (other writes
    /// of the node share that connection between groups); its commits are
    /// noted to the checkpoints.
    Pool {
        pool: AnyPool,
        checkpoints: Option<checkpoints::Committed>,
    },
    /// Postgres: a connection of its own that holds a writer slot, opened
    /// (again, after a failure) when a group needs it.
    Own {
        url: String,
        claimed: Option<(AnyConnection, Slot)>,
    },
}

impl GroupCommit {
    /// Starts one writer per entry of `writers`, all on `backend`, each
    /// reporting its commits and failures to `health`.
    /// `running` is held by each writer until it ends (and by whatever the
    /// caller started for them, such as the checkpoints).
    pub(super) fn start(
        writers: Vec<Writer>,
        backend: Backend,
        health: Arc<WriteHealth>,
        running: (Running, mpsc::Receiver<()>),
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(receiver));
        let closing = CancellationToken::new();
        let (alive, ended) = running;
        for (number, writer) in writers.into_iter().enumerate() {
            let lane = run(
                writer,
                backend,
                queue.clone(),
                health.clone(),
                closing.clone(),
                alive.clone(),
            );
            match backend {
                Backend::Sqlite => {
                    tokio::spawn(lane);
                }
                Backend::Postgres => on_own_thread(number, lane),
            }
        }
        GroupCommit {
            sender,
            closing,
            ended: Arc::new(Mutex::new(ended)),
        }
    }

    /// Lets the writers store what is queued, then stop; returns once every
    /// writer (and what it started) has ended. A delivery sent after this
    /// is refused.
    pub(super) async fn close(&self) {
        self.closing.cancel();
        let mut ended = self.ended.lock().await;
        while ended.recv().await.is_some() {}
    }

    /// Stores one delivery; returns once its transaction has committed.
    /// The error text is the database's, for logs.
    pub(super) async fn ingest(
        &self,
        events: Vec<WebhookEvent>,
        received_at_ms: i64,
    ) -> Result<IngestOutcome, String> {
        let (reply, outcome) = oneshot::channel();
        let request = Request {
            events,
            received_at_ms,
            reply,
        };
        self.sender
            .send(request)
            .await
            .map_err(|_| "the store's writer has stopped".to_string())?;
        outcome
            .await
            .map_err(|_| "the store's writer stopped before committing".to_string())?
    }
}

/// Runs Postgres writer `number` on a thread of its own (a single-threaded
/// runtime that owns the writer's connection): each group waits on six
/// round trips, and on the node's runtime every answer waited for a worker
/// busy with HTTP requests before the next statement could go. Measured,
/// alternated: single events 8,800–9,900/s against 6,700–7,600, batches
/// 43,500–46,500 events/s against 33,700–39,200. SQLite's writer stays a
/// task: its answers come from sqlx's own thread, and there it was 5 %
/// slower on a thread (smaller groups).
fn on_own_thread(number: usize, lane: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::Builder::new()
        .name(format!("pulse-writer-{number}"))
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a writer's runtime")
                .block_on(lane)
        })
        .expect("a writer's thread");
}

/// Takes the next group from `queue`: everything waiting, up to
/// [`MAX_GROUP_EVENTS`]. `None` once every handle is gone, or once
/// `closing` is cancelled and nothing is queued.
async fn next_group(
    queue: &Mutex<mpsc::Receiver<Request>>,
    closing: &CancellationToken,
) -> Option<Vec<Request>> {
    let mut receiver = queue.lock().await;
    let first = tokio::select! {
        first = receiver.recv() => first?,
        () = closing.cancelled() => {
            // Refuses new deliveries; what is queued is still taken.
            receiver.close();
            receiver.recv().await?
        }
    };
    let mut events = first.events.len();
    let mut group = vec![first];
    while events < MAX_GROUP_EVENTS {
        let Ok(next) = receiver.try_recv() else {
            break;
        };
        events += next.events.len();
        group.push(next);
    }
    Some(group)
}

async fn run(
    mut writer: Writer,
    backend: Backend,
    queue: Arc<Mutex<mpsc::Receiver<Request>>>,
    health: Arc<WriteHealth>,
    closing: CancellationToken,
    _running: Running,
) {
    while let Some(group) = next_group(&queue, &closing).await {
        if let Err(group) = writer.store(group, backend, &health).await {
            // One delivery the database refuses must not fail the others:
            // each is tried alone, each time on a settled connection.
            for request in group {
                let _ = writer.store(vec![request], backend, &health).await;
            }
        }
    }
}

impl Writer {
    /// Commits `group` in one transaction and answers its deliveries; when
    /// that fails, a group of one is answered with the failure, a larger one
    /// is handed back unanswered. A connection the failure left inside a
    /// transaction is never used again (see `transaction`).
    async fn store(
        &mut self,
        group: Vec<Request>,
        backend: Backend,
        health: &WriteHealth,
    ) -> Result<(), Vec<Request>> {
        match self {
            Writer::Pool { pool, checkpoints } => {
                let mut connection = match pool.acquire().await {
                    Ok(connection) => connection,
                    Err(error) => return fail(group, &error, health),
                };
                // A connection left inside a transaction (or given up inside
                // one) is closed when it goes back to the pool (its
                // `after_release`).
                let committed = tokio::time::timeout(
                    COMMIT_TIMEOUT,
                    commit(&mut connection, backend, Slot::SINGLE, group, health),
                )
                .await;
                let Ok(stored) = committed else {
                    return gave_up(health);
                };
                if stored.is_ok() {
                    if let Some(checkpoints) = checkpoints {
                        checkpoints.note();
                    }
                }
                stored
            }
            Writer::Own { url, claimed } => {
                if claimed.is_none() {
                    match tokio::time::timeout(CONNECT_TIMEOUT, slots::claim(url)).await {
                        Ok(Ok(fresh)) => *claimed = Some(fresh),
                        Ok(Err(error)) => return fail(group, &error, health),
                        Err(_) => return fail(group, &sqlx::Error::PoolTimedOut, health),
                    }
                }
                let (connection, slot) = claimed.as_mut().expect("claimed above");
                let committed = tokio::time::timeout(
                    COMMIT_TIMEOUT,
                    commit(connection, backend, *slot, group, health),
                )
                .await;
                let Ok(stored) = committed else {
                    // Dropping the connection gives its slot back once the
                    // database answers again; the next group claims one anew.
                    *claimed = None;
                    return gave_up(health);
                };
                if stored.is_err()
                    && (!transaction::is_settled(connection) || connection.ping().await.is_err())
                {
                    // Closing the connection gives its slot back; the next
                    // group claims one on a new connection.
                    tracing::warn!(
                        slot = slot.0,
                        "writer connection lost or unsettled; reconnecting"
                    );
                    *claimed = None;
                }
                stored
            }
        }
    }
}

/// What the writers do, in words, for the log.
const STORING: &str = "storing webhook deliveries";

/// A group's transaction that did not end within [`COMMIT_TIMEOUT`]: its
/// deliveries were answered with a failure when it was dropped (they may
/// have been stored: Meta's redelivery is deduplicated), and the database
/// counts as unreachable until a write succeeds.
fn gave_up(health: &WriteHealth) -> Result<(), Vec<Request>> {
    tracing::debug!("a group's transaction did not end in time; given up");
    health.failed(STORING, &sqlx::Error::PoolTimedOut);
    Ok(())
}

/// Answers every delivery of `group` with `error`, which came before any
/// transaction began.
fn fail(
    group: Vec<Request>,
    error: &(dyn std::error::Error + 'static),
    health: &WriteHealth,
) -> Result<(), Vec<Request>> {
    let text = crate::error_chain(error);
    let mut cause = Some(error);
    let database_error = std::iter::from_fn(|| {
        let current = cause?;
        cause = current.source();
        Some(current)
    })
    .find_map(|error| error.downcast_ref::<sqlx::Error>());
    match database_error {
        Some(error) => health.failed(STORING, error),
        None => health.failed(STORING, &sqlx::Error::Protocol(text.clone())),
    }
    for request in group {
        let _ = request.reply.send(Err(text.clone()));
    }
    Ok(())
}

/// Commits `group` in one transaction on `connection`, adding to `slot`'s
/// aggregate rows, and answers its deliveries; a failed group of more than
/// one is handed back unanswered (see [`Writer::store`]).
async fn commit(
    connection: &mut AnyConnection,
    backend: Backend,
    slot: Slot,
    group: Vec<Request>,
    health: &WriteHealth,
) -> Result<(), Vec<Request>> {
    let deliveries: Vec<Received> = group
        .iter()
        .map(|request| Received {
            events: &request.events,
            received_at_ms: request.received_at_ms,
        })
        .collect();
    let outcome = ingest::ingest(connection, backend, slot, &deliveries).await;
    match health.observe(STORING, outcome) {
        Ok(outcomes) => {
            crate::metrics::metrics().store_commits.inc();
            for (request, outcome) in group.into_iter().zip(outcomes) {
                let _ = request.reply.send(Ok(outcome));
            }
            Ok(())
        }
        Err(error) if group.len() == 1 => {
            let request = group.into_iter().next().expect("one request");
            let _ = request.reply.send(Err(crate::error_chain(&error)));
            Err(Vec::new())
        }
        Err(_) => Err(group),
    }
}
