//! The node's accounts' history rebuild: in a database upgraded with stored
//! events, counts them into the accounts' history in the background, at
//! retention's pace, and ends once every one is counted
//! (`store::account_history_rebuild` says how and what it cannot rebuild).
//! Every node runs it; on Postgres they take turns.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{clock::now_ms, error_chain, store::Store};

/// The rest between runs (each run rests between its own steps).
const BETWEEN_RUNS: Duration = Duration::from_secs(1);

/// The wait after a run that failed (the database may be away).
const AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Counts the events `store` held before its accounts' history began into
/// it, until they are all counted or `shutdown`.
pub async fn rebuild_account_history(store: Store, shutdown: CancellationToken) {
    let mut counted = 0;
    loop {
        let wait = match store.rebuild_account_history(now_ms()).await {
            Ok(rebuilt) => {
                counted += rebuilt.events;
                if rebuilt.done {
                    if counted > 0 {
                        tracing::info!(
                            events = counted,
                            "the accounts' history now counts every stored event"
                        );
                    }
                    return;
                }
                tracing::info!(
                    events = counted,
                    "counting stored events into the accounts' history"
                );
                BETWEEN_RUNS
            }
            Err(error) => {
                tracing::warn!(
                    error = %error_chain(&error),
                    "could not count stored events into the accounts' history; trying again"
                );
                AFTER_FAILURE
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
