//! The node's retention task: once a minute, raw events past
//! `PULSE_EVENT_RETENTION_DAYS`, per-minute rows past their windows and what
//! the conversations' chains no longer need are removed, in small steps (`store::retention` says what goes and why no
//! figure changes). Every node runs it; their deletes do not conflict.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{
    clock::now_ms,
    error_chain,
    store::{retention::Walks, Store},
};

/// How often the task runs.
const EVERY: Duration = Duration::from_secs(60);

/// Removes what is past its time from `store` once a minute, keeping raw
/// events for `events_kept`, until `shutdown`.
pub async fn keep_bounded(store: Store, events_kept: Duration, shutdown: CancellationToken) {
    let mut walks = Walks::default();
    loop {
        match store
            .remove_expired(now_ms(), events_kept, &mut walks)
            .await
        {
            Ok(removed) if removed.total() > 0 => tracing::info!(
                events = removed.events,
                minute_rows = removed.minute_rows,
                chain_rows = removed.chain_rows,
                incident_rows = removed.incident_rows,
                account_history_rows = removed.account_history_rows,
                latest_event_rows = removed.latest_event_rows,
                account_sketch_rows = removed.account_sketch_rows,
                "removed rows past their retention"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "could not remove rows past their retention")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
