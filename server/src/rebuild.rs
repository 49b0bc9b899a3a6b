//! The node's catch-up after an upgrade: in a database upgraded with stored
//! events, counts them into what the upgrade started empty (the accounts'
//! history, each account's latest events, the conversations' sketches, then
//! the accounts' conversation sketches) in the background, at retention's
//! pace, and ends once every one is read (`store::account_history_rebuild`,
//! `store::latest_events`, `store::conversation_sketches` and
//! `store::account_conversation_sketches` say how). Every node runs it; on
//! Postgres they take turns.

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    clock::now_ms,
    error_chain,
    store::{PassRun, Store, StoreError},
};

/// The rest between runs (each run rests between its own steps).
const BETWEEN_RUNS: Duration = Duration::from_secs(1);

/// The wait after a run that failed (the database may be away).
const AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Counts the events `store` held before its accounts' history, latest
/// events, conversations' sketches and accounts' conversation sketches were
/// kept into them, until every one is read or `shutdown`.
pub async fn catch_up(store: Store, shutdown: CancellationToken) {
    let history = || store.rebuild_account_history(now_ms());
    if !pass("the accounts' history", history, &shutdown).await {
        return;
    }
    let latest = || store.fill_latest_events();
    if !pass("the accounts' latest events", latest, &shutdown).await {
        return;
    }
    let sketches = || store.fill_conversation_sketches();
    if !pass("the conversations' sketches", sketches, &shutdown).await {
        return;
    }
    let account_sketches = || store.fill_account_conversation_sketches(now_ms());
    pass(
        "the accounts' conversation sketches",
        account_sketches,
        &shutdown,
    )
    .await;
}

/// Runs `run` (which reads stored events for about a minute at most and
/// says how many and whether it is done) until it is done; returns whether
/// it was (`false`: `shutdown`).
async fn pass<Run, Running>(what: &str, mut run: Run, shutdown: &CancellationToken) -> bool
where
    Run: FnMut() -> Running,
    Running: Future<Output = Result<PassRun, StoreError>>,
{
    let mut read = 0;
    loop {
        let wait = match run().await {
            Ok(run) => {
                read += run.events;
                if run.done {
                    if read > 0 {
                        tracing::info!(events = read, "{what} now has every stored event");
                    }
                    return true;
                }
                tracing::info!(events = read, "reading stored events into {what}");
                BETWEEN_RUNS
            }
            Err(error) => {
                tracing::warn!(
                    error = %error_chain(&error),
                    "could not read stored events into {what}; trying again"
                );
                AFTER_FAILURE
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}
