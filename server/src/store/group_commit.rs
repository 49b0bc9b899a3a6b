//! Group commit: webhook deliveries that arrive while a transaction is being
//! committed wait for it, then go together into the next one. One commit (one
//! fsync on SQLite) then serves many deliveries, and each is still
//! acknowledged only after its own events are durable. No delay is added:
//! a delivery that finds the writer idle is committed alone, at once.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::{
    queries::{self, Received},
    Backend, IngestOutcome,
};
use crate::webhook::payload::WebhookEvent;

/// Deliveries waiting for the writer, at most (then senders wait).
const QUEUE: usize = 1024;
/// Events per transaction, at most; a larger backlog goes into the next one.
const MAX_GROUP_EVENTS: usize = 5_000;

/// A delivery and where to send its outcome.
struct Request {
    events: Vec<WebhookEvent>,
    received_at_ms: i64,
    reply: oneshot::Sender<Result<IngestOutcome, String>>,
}

/// The handle deliveries are sent through; the writer task ends when every
/// handle is gone.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    sender: mpsc::Sender<Request>,
}

impl GroupCommit {
    /// Starts the writer task on `writer`, a pool of `backend`.
    pub(super) fn start(writer: AnyPool, backend: Backend) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, backend, receiver));
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

async fn run(writer: AnyPool, backend: Backend, mut receiver: mpsc::Receiver<Request>) {
    while let Some(first) = receiver.recv().await {
        let mut events = first.events.len();
        let mut group = vec![first];
        while events < MAX_GROUP_EVENTS {
            let Ok(next) = receiver.try_recv() else {
                break;
            };
            events += next.events.len();
            group.push(next);
        }
        commit(&writer, backend, group).await;
    }
}

/// Commits `group` in one transaction. If that fails, each delivery is tried
/// alone, so one delivery the database refuses cannot fail the others.
async fn commit(writer: &AnyPool, backend: Backend, group: Vec<Request>) {
    let deliveries: Vec<Received> = group
        .iter()
        .map(|request| Received {
            events: &request.events,
            received_at_ms: request.received_at_ms,
        })
        .collect();
    match queries::ingest(writer, backend, &deliveries).await {
        Ok(outcomes) => {
            for (request, outcome) in group.into_iter().zip(outcomes) {
                let _ = request.reply.send(Ok(outcome));
            }
        }
        Err(error) if group.len() == 1 => {
            let request = group.into_iter().next().expect("one request");
            let _ = request.reply.send(Err(crate::error_chain(&error)));
        }
        Err(_) => {
            for request in group {
                let alone = [Received {
                    events: &request.events,
                    received_at_ms: request.received_at_ms,
                }];
                let outcome = queries::ingest(writer, backend, &alone)
                    .await
                    .map(|mut outcomes| outcomes.remove(0))
                    .map_err(|error| crate::error_chain(&error));
                let _ = request.reply.send(outcome);
            }
        }
    }
}
