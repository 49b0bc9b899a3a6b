//! Failed logins, counted so that guessing is slow and nobody can lock an
//! admin out.
//!
//! Every attempt is counted *before* its password is checked, and the count
//! is taken back when the password is right, so concurrent guesses cannot
//! pass the throttle together. Each attempt counts against three keys, each
//! over [`WINDOW`] from its last failure:
//!
//! | key | after | then |
//! | --- | --- | --- |
//! | the account from one client address | [`LOCK_AFTER`] failures | refused (429) until the window has passed |
//! | the client address (IPv4, or an IPv6 /64) | 3 × [`LOCK_AFTER`] | refused (several people may share one) |
//! | the account alone | [`SLOW_AFTER`] (= [`LOCK_AFTER`]) | each attempt waits 1 s, doubling up to [`MAX_DELAY`]; never refused |
//!
//! The account alone is never locked: a stranger who knows an admin's email
//! would otherwise lock that admin out. From the admin's own address the
//! right password still gets through, at worst [`MAX_DELAY`] later.
//!
//! The counts are shared by every node: in the database on Postgres (one
//! statement per attempt), in memory on SQLite, which serves one node (and
//! whose single writer a login flood must not take from the webhooks).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use crate::{
    client_address::throttle_prefix,
    clock::duration_ms,
    metrics::metrics,
    store::{Backend, Store, StoreError},
};

/// Failures of an account (from any address) after which each attempt waits:
/// as many as lock one address out, so a guesser from one address is
/// locked there first and the wait only meets guesses from many addresses.
const SLOW_AFTER: i64 = LOCK_AFTER;
/// Failures of an account from one address after which it is refused there.
const LOCK_AFTER: i64 = 10;
/// A client address may fail this many times more than an account from it,
/// since several people can share an address.
const ADDRESS_FACTOR: i64 = 3;
/// How long failures are remembered, and how long a lock lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest wait added to an attempt on a slowed account.
const MAX_DELAY: Duration = Duration::from_secs(8);
/// Counts kept in memory at most (SQLite); expired ones are dropped first.
const MAX_ENTRIES: usize = 100_000;

/// The keys one attempt is counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptKeys {
    account: String,
    pair: String,
    address: String,
}

impl AttemptKeys {
    /// The keys of an attempt on `email` (normalised) from `address`.
    pub fn new(email: &str, address: IpAddr) -> Self {
        let prefix = throttle_prefix(address);
        AttemptKeys {
            account: format!("account:{email}"),
            pair: format!("pair:{prefix} {email}"),
            address: format!("address:{prefix}"),
        }
    }

    fn all(&self) -> [&str; 3] {
        [&self.account, &self.pair, &self.address]
    }
}

/// What to do with a counted attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password now.
    Allow,
    /// Check it after this pause.
    Delay(Duration),
    /// Refuse; the lock lifts this long after the last failure.
    Locked(Duration),
}

impl Verdict {
    /// The verdict for the counts after this attempt: account, pair, address.
    fn from_counts([account, pair, address]: [i64; 3]) -> Self {
        if pair > LOCK_AFTER || address > LOCK_AFTER * ADDRESS_FACTOR {
            return Verdict::Locked(WINDOW);
        }
        if account > SLOW_AFTER {
            let doublings = u32::try_from(account - SLOW_AFTER - 1).unwrap_or(u32::MAX);
            let delay = Duration::from_secs(1)
                .checked_mul(2u32.saturating_pow(doublings))
                .unwrap_or(MAX_DELAY);
            return Verdict::Delay(delay.min(MAX_DELAY));
        }
        Verdict::Allow
    }
}

/// Failed-login counts, shared by the nodes of one store.
#[derive(Debug)]
pub struct LoginThrottle {
    counts: Counts,
}

#[derive(Debug)]
enum Counts {
    /// One node (SQLite): key → (failures, last failure in Unix ms).
    Memory(Mutex<HashMap<String, (i64, i64)>>),
    /// Every node of a Postgres store.
    Shared(Store),
}

impl LoginThrottle {
    /// Counts kept where every node of `store` sees them.
    pub fn new(store: &Store) -> Self {
        let counts = match store.backend() {
            Backend::Sqlite => Counts::Memory(Mutex::default()),
            Backend::Postgres => Counts::Shared(store.clone()),
        };
        LoginThrottle { counts }
    }

    /// Counts an attempt as a failure (until [`LoginThrottle::refund`]) and
    /// says what to do with it.
    pub async fn count_attempt(
        &self,
        keys: &AttemptKeys,
        now_ms: i64,
    ) -> Result<Verdict, StoreError> {
        let window_start = now_ms - duration_ms(WINDOW);
        let counts = match &self.counts {
            Counts::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if map.len() + 3 > MAX_ENTRIES {
                    forget_oldest(&mut map, window_start);
                }
                keys.all().map(|key| {
                    let entry = map.entry(key.to_string()).or_insert((0, now_ms));
                    if entry.1 <= window_start {
                        entry.0 = 0;
                    }
                    entry.0 += 1;
                    entry.1 = now_ms;
                    entry.0
                })
            }
            Counts::Shared(store) => {
                let counts = store
                    .login_failures()
                    .count(&keys.all(), now_ms, window_start)
                    .await?;
                [counts[0], counts[1], counts[2]]
            }
        };
        report_thresholds(keys, counts);
        Ok(Verdict::from_counts(counts))
    }

    /// Takes back a successful attempt: the account's failures (from every
    /// address) are forgotten, the address keeps the others it made, so one
    /// right password does not clear a guesser's record for other accounts.
    pub async fn refund(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        match &self.counts {
            Counts::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                map.remove(&keys.account);
                map.remove(&keys.pair);
                if let Some(entry) = map.get_mut(&keys.address) {
                    entry.0 = (entry.0 - 1).max(0);
                }
                Ok(())
            }
            Counts::Shared(store) => {
                store
                    .login_failures()
                    .refund(&[&keys.account, &keys.pair], &[&keys.address])
                    .await
            }
        }
    }

    /// Drops the counts whose window has passed (the shared table would
    /// otherwise grow with every email a guesser tries).
    pub async fn purge(&self, now_ms: i64) -> Result<(), StoreError> {
        let window_start = now_ms - duration_ms(WINDOW);
        match &self.counts {
            Counts::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                map.retain(|_, (_, last)| *last > window_start);
            }
            Counts::Shared(store) => {
                store.login_failures().purge(window_start).await?;
            }
        }
        Ok(())
    }
}

/// Makes room in the in-memory counts: expired ones first, then the oldest.
fn forget_oldest(map: &mut HashMap<String, (i64, i64)>, window_start: i64) {
    map.retain(|_, (_, last)| *last > window_start);
    while map.len() + 3 > MAX_ENTRIES {
        let oldest = map
            .iter()
            .min_by_key(|(_, (_, last))| *last)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => map.remove(&key),
            None => break,
        };
    }
}

/// Logs and counts the attempt that crosses a threshold, once per crossing
/// (not once per attempt beyond it).
fn report_thresholds(keys: &AttemptKeys, [account, pair, address]: [i64; 3]) {
    if pair == LOCK_AFTER + 1 {
        metrics().login_locks.inc();
        tracing::warn!(
            key = %keys.pair,
            "login locked for an account from one address: {LOCK_AFTER} failures in 15 minutes"
        );
    }
    if address == LOCK_AFTER * ADDRESS_FACTOR + 1 {
        metrics().login_locks.inc();
        tracing::warn!(
            key = %keys.address,
            "logins locked for a client address: {} failures in 15 minutes",
            LOCK_AFTER * ADDRESS_FACTOR
        );
    }
    if account == SLOW_AFTER + 1 {
        tracing::warn!(
            key = %keys.account,
            "failed logins for an account: each attempt now waits, up to {} s",
            MAX_DELAY.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_or_an_address_locks_and_an_account_alone_only_slows() {
        assert_eq!(Verdict::from_counts([1, 1, 1]), Verdict::Allow);
        assert_eq!(Verdict::from_counts([10, 10, 10]), Verdict::Allow);
        assert_eq!(
            Verdict::from_counts([11, 1, 1]),
            Verdict::Delay(Duration::from_secs(1))
        );
        assert_eq!(
            Verdict::from_counts([12, 1, 1]),
            Verdict::Delay(Duration::from_secs(2))
        );
        assert_eq!(
            Verdict::from_counts([14, 1, 1]),
            Verdict::Delay(MAX_DELAY),
            "8 s"
        );
        assert_eq!(
            Verdict::from_counts([1_000_000, 1, 1]),
            Verdict::Delay(MAX_DELAY),
            "capped, however many strangers tried"
        );
        assert_eq!(Verdict::from_counts([11, 11, 11]), Verdict::Locked(WINDOW));
        assert_eq!(Verdict::from_counts([1, 1, 30]), Verdict::Allow);
        assert_eq!(Verdict::from_counts([1, 1, 31]), Verdict::Locked(WINDOW));
    }

    #[test]
    fn ipv6_attempts_from_one_64_share_their_keys() {
        let one = AttemptKeys::new("a@b.c", "2001:db8:0:1::1".parse().unwrap());
        let other = AttemptKeys::new("a@b.c", "2001:db8:0:1:ffff::2".parse().unwrap());
        assert_eq!(one, other);
    }

    #[tokio::test]
    async fn memory_counts_expire_with_the_window_and_a_success_is_refunded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("pulse.db").display()
        ))
        .await
        .unwrap();
        let throttle = LoginThrottle::new(&store);
        let keys = AttemptKeys::new("a@b.c", "192.0.2.7".parse().unwrap());
        let start = 1_000_000_000_000;
        for _ in 0..LOCK_AFTER {
            throttle.count_attempt(&keys, start).await.unwrap();
        }
        assert_eq!(
            throttle.count_attempt(&keys, start).await.unwrap(),
            Verdict::Locked(WINDOW)
        );
        let later = start + duration_ms(WINDOW) + 1;
        assert_eq!(
            throttle.count_attempt(&keys, later).await.unwrap(),
            Verdict::Allow,
            "a new window starts from one"
        );
        throttle.count_attempt(&keys, later).await.unwrap();
        throttle.count_attempt(&keys, later).await.unwrap();
        throttle.refund(&keys).await.unwrap();
        assert_eq!(
            throttle.count_attempt(&keys, later).await.unwrap(),
            Verdict::Allow,
            "the account and the pair were forgotten"
        );
        throttle
            .purge(later + duration_ms(WINDOW) + 1)
            .await
            .unwrap();
        let Counts::Memory(map) = &throttle.counts else {
            panic!("SQLite keeps its counts in memory")
        };
        assert!(map.lock().unwrap().is_empty());
    }
}
