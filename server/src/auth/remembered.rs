//! A bounded set of keys, each remembered for a while after it was last
//! noted; past its capacity the key noted longest ago is forgotten. Auth
//! keeps two: session ids found unknown (so a client repeating a cookie that
//! names no session costs one database read, not one per request; a session
//! id is 256 random bits, so a live one is never looked up before it
//! exists), and client addresses an admin logged in from (they may take the
//! password check kept apart, so a login flood from elsewhere cannot keep
//! the admin out; nothing else trusts them).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Keys noted within the last `remembered`, at most `capacity` of them.
#[derive(Debug)]
pub struct Remembered {
    remembered: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    noted: HashMap<String, Instant>,
    by_age: BTreeSet<(Instant, String)>,
}

impl Remembered {
    /// Keys remembered for `remembered`, at most `capacity`.
    pub fn new(remembered: Duration, capacity: usize) -> Self {
        Remembered {
            remembered,
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Whether `key` was noted within the time keys are remembered.
    pub fn contains(&self, key: &str) -> bool {
        self.lock()
            .noted
            .get(key)
            .is_some_and(|at| at.elapsed() < self.remembered)
    }

    /// Notes `key` now (again, if it was already).
    pub fn note(&self, key: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(before) = inner.noted.insert(key.to_string(), now) {
            inner.by_age.remove(&(before, key.to_string()));
        }
        inner.by_age.insert((now, key.to_string()));
        while inner.noted.len() > self.capacity {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            inner.noted.remove(&oldest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_remembered_for_its_time_and_the_oldest_make_room() {
        let remembered = Remembered::new(Duration::from_secs(60), 100);
        assert!(!remembered.contains("a"));
        remembered.note("a");
        assert!(remembered.contains("a"));
        for n in 0..100 {
            remembered.note(&n.to_string());
        }
        assert!(!remembered.contains("a"), "the oldest made room");
        let inner = remembered.lock();
        assert_eq!((inner.noted.len(), inner.by_age.len()), (100, 100));
    }

    #[test]
    fn a_key_is_forgotten_once_its_time_has_passed() {
        let remembered = Remembered::new(Duration::from_millis(20), 100);
        remembered.note("a");
        std::thread::sleep(Duration::from_millis(30));
        assert!(!remembered.contains("a"));
    }
}
