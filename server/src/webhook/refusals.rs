//! Refused webhook requests, counted without costing a write each.
//!
//! A request refused for a bad signature, an unreadable body or a failed
//! handshake comes from someone who holds no secret, so the work it causes
//! must be small and bounded: it is counted in memory ([`Refusals::record`]:
//! a lock and an addition, no I/O), and a task writes the counts of the last
//! second in one statement ([`Refusals::run`], at most once every
//! [`FLUSH_INTERVAL`], and once more on shutdown), then marks the stats
//! dirty so the Webhooks panel shows them. Nothing on this path takes the
//! writer, the group-commit queue or a pool connection.
//!
//! Refusals are logged the same way: one line per reason per
//! [`LOG_INTERVAL`] with the count and one example of the reason, never one
//! line per request (a flood would fill the disk).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    error_chain,
    event::Rejection,
    metrics::metrics,
    stats::StatsPublisher,
    store::{Store, MINUTE_MS},
};

/// How often, at most, the counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// The longest the last write of the counts waits on shutdown.
pub const FINAL_WRITE_WAIT: Duration = Duration::from_secs(2);
/// How often, at most, each reason gets a log line.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Refused requests not yet written or logged.
#[derive(Debug, Default)]
pub struct Refusals {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Not yet written: (minute, reason) → count.
    unwritten: HashMap<(i64, Rejection), i64>,
    /// Not yet logged: reason → (count, the first reason given to a sender).
    unlogged: HashMap<Rejection, (u64, String)>,
}

impl Refusals {
    /// Counts a refused request at `at_ms`; `why` is what the sender was
    /// told (formatted only for the first refusal of a reason per report).
    pub fn record(&self, rejection: Rejection, at_ms: i64, why: &dyn std::fmt::Display) {
        metrics()
            .webhooks_rejected
            .with_label_values(&[rejection.as_str()])
            .inc();
        let minute = at_ms - at_ms.rem_euclid(MINUTE_MS);
        let mut pending = self.lock();
        *pending.unwritten.entry((minute, rejection)).or_insert(0) += 1;
        pending
            .unlogged
            .entry(rejection)
            .or_insert_with(|| (0, why.to_string()))
            .0 += 1;
    }

    /// Writes the pending counts every [`FLUSH_INTERVAL`] and logs them every
    /// [`LOG_INTERVAL`], until `stop`; then writes and logs what is left.
    pub async fn run(&self, store: Store, publisher: StatsPublisher, stop: CancellationToken) {
        let mut flushes = tokio::time::interval(FLUSH_INTERVAL);
        flushes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut logs = tokio::time::interval(LOG_INTERVAL);
        logs.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = flushes.tick() => self.write(&store, &publisher).await,
                _ = logs.tick() => self.log(),
            }
        }
        // The last write waits at most FINAL_WRITE_WAIT: a node told to stop
        // stops, whatever the database does; what it could not write is
        // logged as lost.
        let pending: i64 = self.lock().unwritten.values().sum();
        let lost =
            match tokio::time::timeout(FINAL_WRITE_WAIT, self.write(&store, &publisher)).await {
                Ok(()) => self.lock().unwritten.values().sum(),
                Err(_) => pending,
            };
        if lost > 0 {
            tracing::warn!(
                lost,
                "refused webhook requests not counted: the database did not take them before the node stopped"
            );
        }
        self.log();
    }

    /// Writes every pending count in one statement. On failure the counts go
    /// back to pending, to be written with the next ones.
    async fn write(&self, store: &Store, publisher: &StatsPublisher) {
        let unwritten = std::mem::take(&mut self.lock().unwritten);
        if unwritten.is_empty() {
            return;
        }
        let rows: Vec<(i64, Rejection, i64)> = unwritten
            .iter()
            .map(|(&(minute, rejection), &count)| (minute, rejection, count))
            .collect();
        match store.record_rejections(&rows).await {
            Ok(()) => publisher.mark_dirty(),
            Err(error) => {
                // The store's write health logs the failure, once per interval.
                tracing::debug!(error = %error_chain(&error), "could not count refused webhook requests; keeping them for the next try");
                let mut pending = self.lock();
                for (key, count) in unwritten {
                    *pending.unwritten.entry(key).or_insert(0) += count;
                }
            }
        }
    }

    /// One line per reason refused since the last one.
    fn log(&self) {
        let unlogged = std::mem::take(&mut self.lock().unlogged);
        for rejection in Rejection::ALL {
            if let Some((count, example)) = unlogged.get(&rejection) {
                tracing::warn!(
                    reason = rejection.as_str(),
                    count,
                    example = %example,
                    "webhook requests refused since the last report"
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Each change under the lock is one step: a panic cannot leave it half done.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_summed_per_minute_and_reason_and_logged_with_the_first_reason() {
        let refusals = Refusals::default();
        refusals.record(Rejection::Signature, 60_000, &"bad signature");
        refusals.record(Rejection::Signature, 119_999, &"other text");
        refusals.record(Rejection::Signature, 120_000, &"bad signature");
        refusals.record(Rejection::Payload, 61_000, &"not JSON");
        let pending = refusals.lock();
        assert_eq!(pending.unwritten.len(), 3);
        assert_eq!(pending.unwritten[&(60_000, Rejection::Signature)], 2);
        assert_eq!(pending.unwritten[&(120_000, Rejection::Signature)], 1);
        assert_eq!(pending.unwritten[&(60_000, Rejection::Payload)], 1);
        assert_eq!(
            pending.unlogged[&Rejection::Signature],
            (3, "bad signature".to_string())
        );
    }
}
