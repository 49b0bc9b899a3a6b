//! Group commit: webhook deliveries that arrive while a transaction is being
//! committed wait for it, then go together into the next one. One commit (one
//! fsync on SQLite) then serves many deliveries, and each is still
//! acknowledged only after its own events are durable. No delay is added:
//! a delivery that finds a writer idle is committed alone, at once.
//!
//! On Postgres several writers take groups from the one queue, each on its
//! own connection, writer slot (see `slots`) and thread, so one group's round
//! trips and commit overlap another's; SQLite has one writer.

use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{
    checkpoints,
    queries::{self, Received},
    slots::{self, Slot},
    Backend, IngestOutcome,
};
use crate::webhook::payload::WebhookEvent;

/// Deliveries waiting for a writer, at most (then senders wait).
const QUEUE: usize = 1024;
/// Events per transaction, at most; a larger backlog goes into the next one.
const MAX_GROUP_EVENTS: usize = 5_000;

/// A delivery and where to send its outcome.
struct Request {
    events: Vec<WebhookEvent>,
    received_at_ms: i64,
    reply: oneshot::Sender<Result<IngestOutcome, String>>,
}

/// The handle deliveries are sent through; the writer tasks end when every
/// handle is gone.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    sender: mpsc::Sender<Request>,
}

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
    /// Starts one writer per entry of `writers`, all on `backend`.
    pub(super) fn start(writers: Vec<Writer>, backend: Backend) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(receiver));
        for (number, writer) in writers.into_iter().enumerate() {
            let lane = run(writer, backend, queue.clone());
            match backend {
                Backend::Sqlite => {
                    tokio::spawn(lane);
                }
                Backend::Postgres => on_own_thread(number, lane),
            }
        }
        GroupCommit { sender }
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
/// [`MAX_GROUP_EVENTS`]. `None` once every handle is gone.
async fn next_group(queue: &Mutex<mpsc::Receiver<Request>>) -> Option<Vec<Request>> {
    let mut receiver = queue.lock().await;
    let first = receiver.recv().await?;
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

async fn run(mut writer: Writer, backend: Backend, queue: Arc<Mutex<mpsc::Receiver<Request>>>) {
    while let Some(group) = next_group(&queue).await {
        match &mut writer {
            Writer::Pool { pool, checkpoints } => match pool.acquire().await {
                Ok(mut connection) => {
                    commit(&mut connection, backend, Slot::SINGLE, group).await;
                    if let Some(checkpoints) = checkpoints {
                        checkpoints.note();
                    }
                }
                Err(error) => fail(group, &error),
            },
            Writer::Own { url, claimed } => {
                if claimed.is_none() {
                    match slots::claim(url).await {
                        Ok(fresh) => *claimed = Some(fresh),
                        Err(error) => {
                            fail(group, &error);
                            continue;
                        }
                    }
                }
                let (connection, slot) = claimed.as_mut().expect("claimed above");
                if !commit(connection, backend, *slot, group).await
                    && connection.ping().await.is_err()
                {
                    // Closing the connection gives its slot back; the next
                    // group claims one on a new connection.
                    tracing::warn!(slot = slot.0, "writer connection lost; reconnecting");
                    *claimed = None;
                }
            }
        }
    }
}

/// Answers every delivery of `group` with `error`.
fn fail(group: Vec<Request>, error: &(dyn std::error::Error + 'static)) {
    let text = crate::error_chain(error);
    for request in group {
        let _ = request.reply.send(Err(text.clone()));
    }
}

/// Commits `group` in one transaction on `connection`, adding to `slot`'s
/// aggregate rows. If that fails, each delivery is tried alone, so one
/// delivery the database refuses cannot fail the others. Returns whether
/// every delivery was stored.
async fn commit(
    connection: &mut AnyConnection,
    backend: Backend,
    slot: Slot,
    group: Vec<Request>,
) -> bool {
    let deliveries: Vec<Received> = group
        .iter()
        .map(|request| Received {
            events: &request.events,
            received_at_ms: request.received_at_ms,
        })
        .collect();
    match queries::ingest(connection, backend, slot, &deliveries).await {
        Ok(outcomes) => {
            crate::metrics::metrics().store_commits.inc();
            for (request, outcome) in group.into_iter().zip(outcomes) {
                let _ = request.reply.send(Ok(outcome));
            }
            true
        }
        Err(error) if group.len() == 1 => {
            let request = group.into_iter().next().expect("one request");
            let _ = request.reply.send(Err(crate::error_chain(&error)));
            false
        }
        Err(_) => {
            let mut all_stored = true;
            for request in group {
                let alone = [Received {
                    events: &request.events,
                    received_at_ms: request.received_at_ms,
                }];
                let outcome = queries::ingest(connection, backend, slot, &alone)
                    .await
                    .map(|mut outcomes| {
                        crate::metrics::metrics().store_commits.inc();
                        outcomes.remove(0)
                    })
                    .map_err(|error| crate::error_chain(&error));
                all_stored &= outcome.is_ok();
                let _ = request.reply.send(outcome);
            }
            all_stored
        }
    }
}
