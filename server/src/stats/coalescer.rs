//! Throttle for snapshot pushes: a token bucket of [`BURST`] publishes that
//! refills one publish per interval. The interval is asked of `pace` before
//! each publish (the node's `Pacer`: what the last pushes cost).
//!
//! A change that finds a token is published at once: sparse changes, even
//! ones arriving at nearly the full rate with jitter, never wait. A burst
//! spends the tokens, then its changes are folded into one publish per
//! interval, the last one showing the final state. (A strict "at least
//! `min_interval` apart" rule makes a steady stream near that rate wait more
//! and more: each wait pushes the next slot later.) A change is never left
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

/// Publishes that may follow each other without waiting.
const BURST: f64 = 5.0;

/// Calls `publish` whenever `flag` is marked, on average at most once per
/// interval (with bursts of [`BURST`]), until `shutdown` is cancelled; the
/// interval is what `pace` says before each publish.
pub async fn run<F, Fut, P>(
    flag: Arc<DirtyFlag>,
    mut pace: P,
    shutdown: CancellationToken,
    mut publish: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
    P: FnMut() -> Duration,
{
    let mut bucket = TokenBucket::full(pace());
    let mut not_before = Instant::now();
    loop {
        tokio::select! {
            () = flag.wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
        bucket.set_interval(pace());
        let ready = not_before.max(bucket.token_at());
        tokio::select! {
            () = tokio::time::sleep_until(ready) => {}
            () = shutdown.cancelled() => return,
        }
        // Marks made while waiting are folded into this publish.
        let Some(changed_at) = flag.take() else {
            continue;
        };
        bucket.spend();
        let started = Instant::now();
        match publish().await {
            Ok(()) => metrics()
                .update_latency
                .observe(changed_at.elapsed().as_secs_f64()),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "could not recompute stats; retrying");
                not_before = started + RETRY_AFTER_FAILURE.max(bucket.interval);
                flag.mark();
            }
        }
    }
}

/// Publishes allowed now: up to [`BURST`], one more per `interval` elapsed.
struct TokenBucket {
    tokens: f64,
    counted_at: Instant,
    interval: Duration,
}

impl TokenBucket {
    fn full(interval: Duration) -> Self {
        TokenBucket {
            tokens: BURST,
            counted_at: Instant::now(),
            interval,
        }
    }

    /// Counts what was earned at the old interval, then earns at `interval`.
    fn set_interval(&mut self, interval: Duration) {
        self.refill();
        self.interval = interval;
    }

    /// Adds the tokens earned since the last count.
    fn refill(&mut self) {
        let earned = self.counted_at.elapsed().as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(BURST);
        self.counted_at = Instant::now();
    }

    /// When a whole token is (or was) available.
    fn token_at(&mut self) -> Instant {
        self.refill();
        self.counted_at + self.interval.mul_f64((1.0 - self.tokens).max(0.0))
    }

    /// Takes one token, counting what was earned meanwhile.
    fn spend(&mut self) {
        self.refill();
        self.tokens -= 1.0;
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
                move || interval,
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
    async fn a_burst_spends_the_bucket_then_folds_into_one_publish_with_the_last_state() {
        let harness = Harness::start();
        for _ in 0..20 {
            harness.commit();
            advance(2).await;
        }
        advance(500).await;
        let log = harness.publishes();
        // The bucket's five at once, then one when a token is back (about
        // 100 ms after the burst began), carrying the last state.
        assert_eq!(
            log.iter().map(|&(at, _)| at).collect::<Vec<_>>(),
            vec![0, 2, 4, 6, 8, 100],
            "{log:?}"
        );
        assert_eq!(log.last().map(|&(_, seen)| seen), Some(20), "{log:?}");
    }

    /// Gaps of 70–130 ms (a fixed pseudo-random sequence, 100 ms on average).
    fn jittered_gaps() -> Vec<u64> {
        let mut seed: u64 = 12_345;
        (0..100)
            .map(|_| {
                seed = (seed * 1_103_515_245 + 12_345) % (1 << 31);
                70 + seed % 61
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_jittered_stream_at_about_the_full_rate_is_published_without_waiting() {
        // A strict "100 ms apart" rule makes these wait up to 158 ms: each
        // wait pushes the next slot later. The bucket absorbs the jitter.
        let harness = Harness::start();
        let gaps = jittered_gaps();
        for gap in &gaps {
            harness.commit();
            advance(*gap).await;
        }
        let log = harness.publishes();
        assert_eq!(log.len(), gaps.len(), "every change published: {log:?}");
        let mut committed_at = 0u128;
        for (step, ((published_at, _), gap)) in log.iter().zip(&gaps).enumerate() {
            assert!(
                published_at - committed_at <= 1,
                "change {step} waited {} ms",
                published_at - committed_at
            );
            committed_at += u128::from(*gap);
        }
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
        // Never faster than the bucket allows: at most BURST + 1 publishes
        // within any one interval.
        assert!(
            log.windows(BURST as usize + 2)
                .all(|window| window[window.len() - 1].0 - window[0].0 >= 100),
            "{log:?}"
        );
    }
}
