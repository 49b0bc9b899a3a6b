//! Leading- and trailing-edge throttle for snapshot pushes.
//!
//! The first change after a quiet period is published at once; changes
//! arriving within `min_interval` of the last publish are folded into one
//! trailing publish at the end of the interval. A change is never left
//! unpublished: the flag is cleared *before* the recompute reads the store, so
//! a commit that races with a recompute marks the flag again and gets its own
//! publish.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;

use super::StoreError;
use crate::{error_chain, metrics::metrics};

/// How long to wait before retrying after a failed recompute.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// "Something changed since the last publish", plus a wake-up for the coalescer.
#[derive(Debug, Default)]
pub struct DirtyFlag {
    dirty: AtomicBool,
    /// When the oldest change not yet published was marked (for the update
    /// latency metric).
    since: Mutex<Option<Instant>>,
    wake: Notify,
}

impl DirtyFlag {
    /// Marks the stats dirty and wakes the coalescer (cheap; never blocks).
    pub fn mark(&self) {
        self.since
            .lock()
            .expect("dirty flag lock")
            .get_or_insert_with(Instant::now);
        self.dirty.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Clears the flag; `Some(first marked)` when it was set.
    fn take(&self) -> Option<Instant> {
        let since = self.since.lock().expect("dirty flag lock").take();
        self.dirty
            .swap(false, Ordering::SeqCst)
            .then(|| since.unwrap_or_else(Instant::now))
    }
}

/// Calls `publish` whenever `flag` is marked, at most once per `min_interval`,
/// until `shutdown` is cancelled.
pub async fn run<F, Fut>(
    flag: Arc<DirtyFlag>,
    min_interval: Duration,
    shutdown: CancellationToken,
    mut publish: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut next_allowed = Instant::now();
    loop {
        tokio::select! {
            () = flag.wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_allowed) => {}
            () = shutdown.cancelled() => return,
        }
        // Marks made while waiting are folded into this publish.
        let Some(changed_at) = flag.take() else {
            continue;
        };
        let started = Instant::now();
        next_allowed = started + min_interval;
        let published = publish().await;
        if published.is_ok() {
            metrics()
                .update_latency
                .observe(changed_at.elapsed().as_secs_f64());
        }
        if let Err(error) = published {
            tracing::warn!(error = %error_chain(&error), "could not recompute stats; retrying");
            next_allowed = started + RETRY_AFTER_FAILURE.max(min_interval);
            flag.mark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A coalescer whose "recompute" records when it ran and which state it saw.
    struct Harness {
        flag: Arc<DirtyFlag>,
        state: Arc<Mutex<u32>>,
        /// Publishes as (milliseconds since start, state seen).
        log: Arc<Mutex<Vec<(u128, u32)>>>,
        shutdown: CancellationToken,
    }

    impl Harness {
        fn start() -> Self {
            let harness = Harness {
                flag: Arc::default(),
                state: Arc::default(),
                log: Arc::default(),
                shutdown: CancellationToken::new(),
            };
            let (state, log) = (harness.state.clone(), harness.log.clone());
            let start = Instant::now();
            let publish = move || {
                let seen = *state.lock().unwrap();
                log.lock()
                    .unwrap()
                    .push((start.elapsed().as_millis(), seen));
                async { Ok(()) }
            };
            let interval = Duration::from_millis(100);
            tokio::spawn(run(
                harness.flag.clone(),
                interval,
                harness.shutdown.clone(),
                publish,
            ));
            harness
        }

        /// A committed change: the state moves on, then the flag is marked.
        fn commit(&self) {
            *self.state.lock().unwrap() += 1;
            self.flag.mark();
        }

        fn publishes(&self) -> Vec<(u128, u32)> {
            self.log.lock().unwrap().clone()
        }
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    async fn advance(ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_gives_one_leading_and_one_trailing_publish_with_the_last_state() {
        let harness = Harness::start();
        harness.commit();
        advance(10).await;
        for _ in 0..4 {
            harness.commit();
            advance(15).await;
        }
        advance(500).await;
        assert_eq!(harness.publishes(), vec![(0, 1), (100, 5)]);
    }

    #[tokio::test(start_paused = true)]
    async fn isolated_changes_are_published_at_once() {
        let harness = Harness::start();
        harness.commit();
        advance(250).await;
        harness.commit();
        advance(250).await;
        assert_eq!(harness.publishes(), vec![(0, 1), (250, 2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_during_the_trailing_wait_is_never_dropped() {
        let harness = Harness::start();
        harness.commit();
        advance(1).await;
        harness.commit();
        advance(99).await;
        // Lands exactly as the trailing publish runs: it must get its own publish.
        harness.commit();
        advance(1000).await;

        let log = harness.publishes();
        assert_eq!(log.last().map(|&(_, seen)| seen), Some(3), "{log:?}");
        assert!(
            log.windows(2).all(|pair| pair[1].0 - pair[0].0 >= 100),
            "{log:?}"
        );
    }
}
