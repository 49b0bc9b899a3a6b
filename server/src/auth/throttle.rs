//! Slowing down, then refusing, repeated failed logins, per account and per
//! client address. Kept in memory on each node: a guesser spread over many
//! nodes is still slowed on each of them.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures within [`WINDOW`] after which every attempt waits [`SLOW_DELAY`].
const SLOW_AFTER: u32 = 3;
/// Failures within [`WINDOW`] after which attempts are refused until the
/// window has passed since the last failure.
const LOCK_AFTER: u32 = 10;
/// How long failures are remembered, and how long a lock lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The pause added to each attempt once slowed.
const SLOW_DELAY: Duration = Duration::from_secs(1);
/// A client address may fail this many times more than one account, since
/// several people can share an address.
const ADDRESS_FACTOR: u32 = 3;
/// Entries kept at most; the oldest are forgotten first.
const MAX_ENTRIES: usize = 100_000;

/// Whose failures are counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// One account (normalised email), whether or not it exists.
    Account(String),
    /// One client address.
    Address(IpAddr),
}

impl ThrottleKey {
    fn factor(&self) -> u32 {
        match self {
            ThrottleKey::Account(_) => 1,
            ThrottleKey::Address(_) => ADDRESS_FACTOR,
        }
    }
}

/// What to do with a login attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Go ahead after this pause.
    Slow(Duration),
    /// Refuse; the lock lifts after this long.
    Locked(Duration),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_at: Instant,
}

/// Failed-login bookkeeping for one node.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<ThrottleKey, Failures>>,
}

impl LoginThrottle {
    /// The strictest verdict over `keys` at `now`.
    pub fn check(&self, keys: &[ThrottleKey], now: Instant) -> Verdict {
        let failures = self.failures.lock().expect("throttle lock");
        let mut verdict = Verdict::Allow;
        for key in keys {
            let Some(record) = failures.get(key) else {
                continue;
            };
            let since = now.saturating_duration_since(record.last_at);
            if since >= WINDOW {
                continue;
            }
            if record.count >= LOCK_AFTER * key.factor() {
                return Verdict::Locked(WINDOW - since);
            }
            if record.count >= SLOW_AFTER * key.factor() {
                verdict = Verdict::Slow(SLOW_DELAY);
            }
        }
        verdict
    }

    /// Counts a failed attempt against every key.
    pub fn record_failure(&self, keys: &[ThrottleKey], now: Instant) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, record| now.saturating_duration_since(record.last_at) < WINDOW);
            if failures.len() >= MAX_ENTRIES {
                let oldest = failures
                    .iter()
                    .min_by_key(|(_, record)| record.last_at)
                    .map(|(key, _)| key.clone());
                if let Some(oldest) = oldest {
                    failures.remove(&oldest);
                }
            }
        }
        for key in keys {
            let record = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last_at: now,
            });
            if now.saturating_duration_since(record.last_at) >= WINDOW {
                record.count = 0;
            }
            record.count += 1;
            record.last_at = now;
        }
    }

    /// Forgets the failures of `key` (the account after a successful login;
    /// the address keeps its record, so one good password does not reset a
    /// guesser's count for every other account).
    pub fn forget(&self, key: &ThrottleKey) {
        self.failures.lock().expect("throttle lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_then_lock_an_account_until_the_window_passes() {
        let throttle = LoginThrottle::default();
        let keys = [ThrottleKey::Account("a@b.c".into())];
        let start = Instant::now();
        for _ in 0..SLOW_AFTER {
            assert_eq!(throttle.check(&keys, start), Verdict::Allow);
            throttle.record_failure(&keys, start);
        }
        assert_eq!(throttle.check(&keys, start), Verdict::Slow(SLOW_DELAY));
        for _ in SLOW_AFTER..LOCK_AFTER {
            throttle.record_failure(&keys, start);
        }
        assert_eq!(throttle.check(&keys, start), Verdict::Locked(WINDOW));
        let later = start + Duration::from_secs(60);
        assert_eq!(
            throttle.check(&keys, later),
            Verdict::Locked(WINDOW - Duration::from_secs(60))
        );
        assert_eq!(throttle.check(&keys, start + WINDOW), Verdict::Allow);
        // Other accounts are not affected.
        assert_eq!(
            throttle.check(&[ThrottleKey::Account("x@y.z".into())], start),
            Verdict::Allow
        );
    }

    #[test]
    fn an_address_gets_more_room_than_one_account_and_success_forgets_the_account() {
        let throttle = LoginThrottle::default();
        let address = ThrottleKey::Address("192.0.2.7".parse().unwrap());
        let account = ThrottleKey::Account("a@b.c".into());
        let now = Instant::now();
        for _ in 0..LOCK_AFTER {
            throttle.record_failure(&[account.clone(), address.clone()], now);
        }
        assert!(matches!(
            throttle.check(std::slice::from_ref(&account), now),
            Verdict::Locked(_)
        ));
        assert_eq!(
            throttle.check(std::slice::from_ref(&address), now),
            Verdict::Slow(SLOW_DELAY)
        );
        throttle.forget(&account);
        assert_eq!(throttle.check(&[account], now), Verdict::Allow);
    }
}
