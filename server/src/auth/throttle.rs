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
//! | the network (IPv4 /24, IPv6 /48: 65,536 /64s) | 30 × [`LOCK_AFTER`] | refused (one party's many addresses) |
//! | the account alone | [`SLOW_AFTER`] (= [`LOCK_AFTER`]) | its passwords are checked one at a time, [`CHECK_INTERVAL`] apart, whoever tries: an attempt waits up to [`LONGEST_WAIT`] for its turn, and beyond that is refused as busy (no failure) |
//!
//! The account alone is never locked: a stranger who knows an admin's email
//! would otherwise lock that admin out. Its pace is a rate, not a delay per
//! attempt, so guesses from many addresses at once get no further than one
//! a second; attempts from an address an admin has logged in from before
//! (`Auth`'s trusted prefixes) are not held to it, so the admin's own right
//! password still gets through a flood.
//!
//! An attempt refused because it is locked counts against nothing new (it
//! only keeps its lock fresh), and one refused because the node's password
//! checks were all busy is taken back: neither is a failed password.
//!
//! The counts are shared by every node: in the database on Postgres (one
//! statement per attempt), in memory on SQLite, which serves one node (and
//! whose single writer a login flood must not take from the webhooks). In
//! memory they are kept in the order of their last failure, so that making
//! room (past [`MAX_ENTRIES`]) drops the oldest in O(log n), and never a lock
//! before its window has passed.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use crate::{
    clock::duration_ms,
    metrics::metrics,
    serve::strangers::{throttle_network, throttle_prefix},
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
/// A network may fail this many times more than an account from one address.
const NETWORK_FACTOR: i64 = 30;
/// The count past which each key of an attempt locks, in the order of
/// [`AttemptKeys::all`]: the account never (it only slows), the account
/// from one address, the address, the network.
const LOCK_LIMITS: [Option<i64>; 4] = [
    None,
    Some(LOCK_AFTER),
    Some(LOCK_AFTER * ADDRESS_FACTOR),
    Some(LOCK_AFTER * NETWORK_FACTOR),
];
/// How long failures are remembered, and how long a lock lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How far apart a slowed account's password checks are, across nodes.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The longest an attempt on a slowed account waits for its check.
const LONGEST_WAIT: Duration = Duration::from_secs(8);
/// Counts kept in memory at most (SQLite); expired ones are dropped first.
const MAX_ENTRIES: usize = 100_000;

/// The keys one attempt is counted against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptKeys {
    account: String,
    pair: String,
    address: String,
    network: String,
}

impl AttemptKeys {
    /// The keys of an attempt on `email` (normalised) from `address`.
    pub fn new(email: &str, address: IpAddr) -> Self {
        let prefix = throttle_prefix(address);
        AttemptKeys {
            account: format!("account:{email}"),
            pair: format!("pair:{prefix} {email}"),
            address: format!("address:{prefix}"),
            network: format!("network:{}", throttle_network(address)),
        }
    }

    fn all(&self) -> [&str; 4] {
        [&self.account, &self.pair, &self.address, &self.network]
    }

    /// Each key with the count past which it locks (`None`: never).
    fn with_limits(&self) -> [(&str, Option<i64>); 4] {
        let keys = self.all();
        std::array::from_fn(|index| (keys[index], LOCK_LIMITS[index]))
    }
}

/// What to do with a counted attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password now.
    Allow,
    /// The account is slowed: check the password when its turn comes
    /// ([`LoginThrottle::take_check`]).
    Slowed,
    /// Refuse; the lock lifts this long after the last failure.
    Locked(Duration),
}

impl Verdict {
    /// The verdict for the counts after this attempt: account, pair,
    /// address, network.
    fn from_counts(counts: [i64; 4]) -> Self {
        if counts
            .iter()
            .zip(LOCK_LIMITS)
            .any(|(count, limit)| limit.is_some_and(|limit| *count > limit))
        {
            return Verdict::Locked(WINDOW);
        }
        if counts[0] > SLOW_AFTER {
            return Verdict::Slowed;
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
    /// One node (SQLite).
    Memory(Mutex<MemoryCounts>),
    /// Every node of a Postgres store.
    Shared(Store),
}

impl LoginThrottle {
    /// Counts kept where every node of `store` sees them.
    pub fn new(store: &Store) -> Self {
        let counts = match store.backend() {
            Backend::Sqlite => Counts::Memory(Mutex::new(MemoryCounts::new(MAX_ENTRIES))),
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
            Counts::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                counts.count(keys, now_ms, window_start)
            }
            Counts::Shared(store) => {
                let failures = store.login_failures();
                // A lock refuses the attempt before it is counted: it adds
                // no row and counts against no other key, only keeps the
                // lock fresh (as in memory).
                let current = failures.current(&keys.all(), window_start).await?;
                let locked = keys
                    .with_limits()
                    .into_iter()
                    .zip(&current)
                    .find(|((_, limit), count)| limit.is_some_and(|limit| **count > limit));
                if let Some(((key, _), _)) = locked {
                    failures.refresh(key, now_ms).await?;
                    return Ok(Verdict::Locked(WINDOW));
                }
                let counts = failures.count(&keys.all(), now_ms, window_start).await?;
                [counts[0], counts[1], counts[2], counts[3]]
            }
        };
        report_thresholds(keys, counts);
        Ok(Verdict::from_counts(counts))
    }

    /// Takes the next turn of the slowed account of `keys` at `now_ms`: how
    /// long to wait for it, or `None` when it is more than [`LONGEST_WAIT`]
    /// away (the attempt is then refused as busy, and taken back).
    pub async fn take_check(
        &self,
        keys: &AttemptKeys,
        now_ms: i64,
    ) -> Result<Option<Duration>, StoreError> {
        let (interval, longest) = (duration_ms(CHECK_INTERVAL), duration_ms(LONGEST_WAIT));
        let wait_ms = match &self.counts {
            Counts::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                counts.take_check(&keys.account, now_ms, interval, longest)
            }
            Counts::Shared(store) => {
                store
                    .login_failures()
                    .take_check(&keys.account, now_ms, interval, longest)
                    .await?
            }
        };
        Ok(wait_ms.map(|ms| Duration::from_millis(ms.unsigned_abs())))
    }

    /// Takes back a successful attempt: the account's failures (from every
    /// address) are forgotten, the address keeps the others it made, so one
    /// right password does not clear a guesser's record for other accounts.
    pub async fn refund(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        match &self.counts {
            Counts::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                counts.forget(&keys.account);
                counts.forget(&keys.pair);
                counts.take_one_back(&keys.address);
                counts.take_one_back(&keys.network);
                Ok(())
            }
            Counts::Shared(store) => {
                store
                    .login_failures()
                    .refund(
                        &[&keys.account, &keys.pair],
                        &[&keys.address, &keys.network],
                    )
                    .await
            }
        }
    }

    /// Takes back an attempt that was counted but never checked (the node's
    /// password checks were all busy): it is no failure.
    pub async fn take_back(&self, keys: &AttemptKeys) -> Result<(), StoreError> {
        match &self.counts {
            Counts::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                for key in keys.all() {
                    counts.take_one_back(key);
                }
                Ok(())
            }
            Counts::Shared(store) => store.login_failures().refund(&[], &keys.all()).await,
        }
    }

    /// Drops the counts whose window has passed (the shared table would
    /// otherwise grow with every email a guesser tries).
    pub async fn purge(&self, now_ms: i64) -> Result<(), StoreError> {
        let window_start = now_ms - duration_ms(WINDOW);
        match &self.counts {
            Counts::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
                counts.forget_expired(window_start);
            }
            Counts::Shared(store) => {
                store.login_failures().purge(window_start).await?;
            }
        }
        Ok(())
    }
}

/// The counts of one node, by key, and in the order of their last failure:
/// the locks apart from the rest, so that making room never drops a lock
/// before its window has passed.
#[derive(Debug)]
struct MemoryCounts {
    capacity: usize,
    entries: HashMap<String, Count>,
    /// (last failure, key) of the entries that are not locks.
    unlocked: BTreeSet<(i64, String)>,
    /// (last failure, key) of the locks.
    locks: BTreeSet<(i64, String)>,
}

#[derive(Clone, Copy, Debug)]
struct Count {
    failures: i64,
    last_ms: i64,
    /// When the next password check of a slowed account may start.
    next_check_ms: i64,
    /// The count past which the key is locked (`None`: it never is).
    lock_after: Option<i64>,
}

impl Count {
    fn is_lock(&self) -> bool {
        self.lock_after.is_some_and(|limit| self.failures > limit)
    }
}

impl MemoryCounts {
    fn new(capacity: usize) -> Self {
        MemoryCounts {
            capacity,
            entries: HashMap::new(),
            unlocked: BTreeSet::new(),
            locks: BTreeSet::new(),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Counts one attempt against `keys` and returns the counts after it.
    /// An attempt a lock refuses only keeps that lock fresh: it adds no
    /// record and counts against no other key.
    fn count(&mut self, keys: &AttemptKeys, now_ms: i64, window_start: i64) -> [i64; 4] {
        self.forget_expired(window_start);
        let locked = keys.with_limits().into_iter().find(|(key, _)| {
            self.current(key, window_start)
                .is_some_and(|count| count.is_lock())
        });
        if let Some((key, _)) = locked {
            let key = key.to_string();
            let mut count = self.entries[&key];
            count.last_ms = now_ms;
            self.put(key, count);
            return keys
                .all()
                .map(|key| self.entries.get(key).map_or(0, |count| count.failures));
        }
        keys.with_limits().map(|(key, lock_after)| {
            let mut count = self.current(key, window_start).unwrap_or(Count {
                failures: 0,
                last_ms: now_ms,
                next_check_ms: 0,
                lock_after,
            });
            count.failures += 1;
            count.last_ms = now_ms;
            let failures = count.failures;
            if self.entries.contains_key(key) || self.make_room() {
                self.put(key.to_string(), count);
            }
            failures
        })
    }

    /// The wait for the next check of `key` at `now_ms`, checks being
    /// `interval_ms` apart, taking it; `None` when it is more than
    /// `longest_wait_ms` away. A key not kept (every place held by a lock)
    /// has no turns to wait for.
    fn take_check(
        &mut self,
        key: &str,
        now_ms: i64,
        interval_ms: i64,
        longest_wait_ms: i64,
    ) -> Option<i64> {
        let Some(count) = self.entries.get_mut(key) else {
            return Some(0);
        };
        let start = count.next_check_ms.max(now_ms);
        if start - now_ms > longest_wait_ms {
            return None;
        }
        count.next_check_ms = start + interval_ms;
        Some(start - now_ms)
    }

    /// `key`'s count, if its window has not passed.
    fn current(&self, key: &str, window_start: i64) -> Option<Count> {
        self.entries
            .get(key)
            .copied()
            .filter(|count| count.last_ms > window_start)
    }

    /// Frees one place if the counts are full: the oldest entry that is not
    /// a lock. False when every entry is a lock in its window (the attempt
    /// is then judged without being kept).
    fn make_room(&mut self) -> bool {
        if self.len() < self.capacity {
            return true;
        }
        match self.unlocked.pop_first() {
            Some((_, key)) => {
                self.entries.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Stores `count` for `key`, keeping the order of last failures.
    fn put(&mut self, key: String, count: Count) {
        if let Some(old) = self.entries.get(&key).copied() {
            self.order_of(&old).remove(&(old.last_ms, key.clone()));
        }
        self.order_of(&count).insert((count.last_ms, key.clone()));
        self.entries.insert(key, count);
    }

    fn forget(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.order_of(&old).remove(&(old.last_ms, key.to_string()));
        }
    }

    /// The order `count` is kept in: the locks', or the others'.
    fn order_of(&mut self, count: &Count) -> &mut BTreeSet<(i64, String)> {
        if count.is_lock() {
            &mut self.locks
        } else {
            &mut self.unlocked
        }
    }

    fn take_one_back(&mut self, key: &str) {
        if let Some(mut count) = self.entries.get(key).copied() {
            count.failures = (count.failures - 1).max(0);
            self.put(key.to_string(), count);
        }
    }

    /// Drops the entries whose window has passed, oldest first.
    fn forget_expired(&mut self, window_start: i64) {
        for order in [&mut self.unlocked, &mut self.locks] {
            while let Some((last_ms, _)) = order.first() {
                if *last_ms > window_start {
                    break;
                }
                let (_, key) = order.pop_first().expect("seen first");
                self.entries.remove(&key);
            }
        }
    }
}

/// Logs and counts the attempt that crosses a threshold, once per crossing
/// (not once per attempt beyond it).
fn report_thresholds(keys: &AttemptKeys, [account, pair, address, network]: [i64; 4]) {
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
    if network == LOCK_AFTER * NETWORK_FACTOR + 1 {
        metrics().login_locks.inc();
        tracing::warn!(
            key = %keys.network,
            "logins locked for a network: {} failures in 15 minutes",
            LOCK_AFTER * NETWORK_FACTOR
        );
    }
    if account == SLOW_AFTER + 1 {
        tracing::warn!(
            key = %keys.account,
            "failed logins for an account: its passwords are now checked one at a time, {} s apart",
            CHECK_INTERVAL.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_an_address_or_a_network_locks_and_an_account_alone_only_slows() {
        assert_eq!(Verdict::from_counts([1, 1, 1, 1]), Verdict::Allow);
        assert_eq!(Verdict::from_counts([10, 10, 10, 10]), Verdict::Allow);
        assert_eq!(Verdict::from_counts([11, 1, 1, 1]), Verdict::Slowed);
        assert_eq!(
            Verdict::from_counts([1_000_000, 1, 1, 1]),
            Verdict::Slowed,
            "never locked, however many strangers tried"
        );
        assert_eq!(
            Verdict::from_counts([11, 11, 11, 11]),
            Verdict::Locked(WINDOW)
        );
        assert_eq!(Verdict::from_counts([1, 1, 30, 30]), Verdict::Allow);
        assert_eq!(
            Verdict::from_counts([1, 1, 31, 31]),
            Verdict::Locked(WINDOW)
        );
        assert_eq!(Verdict::from_counts([1, 1, 1, 300]), Verdict::Allow);
        assert_eq!(
            Verdict::from_counts([1, 1, 1, 301]),
            Verdict::Locked(WINDOW),
            "one party's many addresses"
        );
    }

    #[test]
    fn ipv6_attempts_from_one_64_share_their_keys_and_a_48_its_network() {
        let one = AttemptKeys::new("a@b.c", "2001:db8:0:1::1".parse().unwrap());
        let other = AttemptKeys::new("a@b.c", "2001:db8:0:1:ffff::2".parse().unwrap());
        assert_eq!(one, other);
        let neighbour = AttemptKeys::new("a@b.c", "2001:db8:0:2::1".parse().unwrap());
        assert_ne!(one.address, neighbour.address);
        assert_eq!(one.network, neighbour.network);
    }

    const START: i64 = 1_000_000_000_000;

    fn keys(email: &str, address: &str) -> AttemptKeys {
        AttemptKeys::new(email, address.parse().unwrap())
    }

    #[test]
    fn a_locked_address_adds_no_records_and_counts_against_no_account() {
        let mut counts = MemoryCounts::new(MAX_ENTRIES);
        let window_start = START - duration_ms(WINDOW);
        for n in 0..LOCK_AFTER * ADDRESS_FACTOR {
            let attempt = keys(&format!("guess{n}@b.c"), "192.0.2.7");
            let after = counts.count(&attempt, START, window_start);
            assert_ne!(Verdict::from_counts(after), Verdict::Locked(WINDOW), "{n}");
        }
        let locking = counts.count(&keys("one-more@b.c", "192.0.2.7"), START, window_start);
        assert_eq!(Verdict::from_counts(locking), Verdict::Locked(WINDOW));
        let records = counts.len();
        for n in 0..1_000 {
            let attempt = keys(&format!("flood{n}@b.c"), "192.0.2.7");
            let after = counts.count(&attempt, START + 1, window_start);
            assert_eq!(Verdict::from_counts(after), Verdict::Locked(WINDOW));
        }
        assert_eq!(counts.len(), records, "no new records while locked");
        let admin = keys("flood7@b.c", "198.51.100.1");
        assert_eq!(
            Verdict::from_counts(counts.count(&admin, START + 2, window_start)),
            Verdict::Allow,
            "the flooded emails were not counted"
        );
    }

    #[test]
    fn a_slowed_account_is_checked_once_a_second_whoever_tries() {
        let mut counts = MemoryCounts::new(1_000);
        // Eleven failures from eleven addresses: the account is slowed.
        for n in 0..11 {
            counts.count(
                &keys("admin@example.com", &format!("192.0.2.{n}")),
                START,
                0,
            );
        }
        let (interval, longest) = (duration_ms(CHECK_INTERVAL), duration_ms(LONGEST_WAIT));
        let admin = keys("admin@example.com", "192.0.2.1").account;
        let other = keys("other@example.com", "192.0.2.1").account;
        // Twelve attempts at once: each gets its own turn a second apart, up
        // to the longest wait; the rest are refused (nothing taken).
        let waits: Vec<Option<i64>> = (0..12)
            .map(|_| counts.take_check(&admin, START, interval, longest))
            .collect();
        let expected: Vec<Option<i64>> = (0..=8)
            .map(|n| Some(n * 1_000))
            .chain([None, None, None])
            .collect();
        assert_eq!(waits, expected);
        // Turns free up as time passes, a second at a time.
        assert_eq!(
            counts.take_check(&admin, START + 1_000, interval, longest),
            Some(8_000)
        );
        assert_eq!(
            counts.take_check(&admin, START + 1_000, interval, longest),
            None
        );
        // Another account is not held up.
        counts.count(&keys("other@example.com", "192.0.2.1"), START, 0);
        assert_eq!(counts.take_check(&other, START, interval, longest), Some(0));
    }

    #[test]
    fn making_room_drops_the_oldest_counts_and_never_a_lock_in_its_window() {
        let mut counts = MemoryCounts::new(40);
        let window_start = START - duration_ms(WINDOW);
        // A pair locked first (so its lock is the oldest entry of all).
        let locked = keys("admin@b.c", "192.0.2.7");
        for _ in 0..=LOCK_AFTER {
            counts.count(&locked, START, window_start);
        }
        assert_eq!(counts.locks.len(), 1);
        // Then many others, each from its own network.
        for n in 0..1_000 {
            let attempt = keys(
                &format!("e{n}@b.c"),
                &format!("10.{}.{}.1", n / 250, n % 250),
            );
            counts.count(&attempt, START + 1 + n, window_start);
            assert!(counts.len() <= 40);
        }
        assert_eq!(
            Verdict::from_counts(counts.count(&locked, START + 2_000, window_start)),
            Verdict::Locked(WINDOW),
            "the lock outlived the flood"
        );
        // Once the window has passed, the lock goes too.
        let later = START + 2_000 + duration_ms(WINDOW) + 1;
        counts.forget_expired(later - duration_ms(WINDOW));
        assert!(counts.locks.is_empty() && counts.len() == 0);
    }

    #[tokio::test]
    async fn memory_counts_expire_with_the_window_and_a_success_or_a_busy_attempt_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("pulse.db").display()
        ))
        .await
        .unwrap();
        let throttle = LoginThrottle::new(&store);
        let keys = keys("a@b.c", "192.0.2.7");
        for _ in 0..LOCK_AFTER {
            throttle.count_attempt(&keys, START).await.unwrap();
        }
        throttle.take_back(&keys).await.unwrap();
        assert_eq!(
            throttle.count_attempt(&keys, START).await.unwrap(),
            Verdict::Allow,
            "the busy attempt was not a failure"
        );
        assert_eq!(
            throttle.count_attempt(&keys, START).await.unwrap(),
            Verdict::Locked(WINDOW)
        );
        let later = START + duration_ms(WINDOW) + 1;
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
        let Counts::Memory(counts) = &throttle.counts else {
            panic!("SQLite keeps its counts in memory")
        };
        assert_eq!(counts.lock().unwrap().len(), 0);
    }
}
