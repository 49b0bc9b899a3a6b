//! Session ids this node has looked up and not found, remembered for a
//! while, so that a client repeating a cookie that names no session (a
//! stale browser, a script) costs one database read, not one per request.
//!
//! A session id is 256 random bits, so a live session is never looked up
//! before it exists; one that ends (a logout, expiry) is not found again
//! anyway. The memory is bounded: past [`CAPACITY`] the oldest are forgotten.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long an unknown id is remembered.
const REMEMBERED: Duration = Duration::from_secs(60);
/// Unknown ids remembered at most.
const CAPACITY: usize = 10_000;

/// Hashes of session ids found unknown, with when.
#[derive(Debug, Default)]
pub struct UnknownSessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl UnknownSessions {
    /// Whether `hash` was found unknown within the last minute.
    pub fn contains(&self, hash: &str) -> bool {
        let inner = self.lock();
        inner
            .seen
            .get(hash)
            .is_some_and(|at| at.elapsed() < REMEMBERED)
    }

    /// Remembers that `hash` names no session.
    pub fn insert(&self, hash: &str) {
        let mut inner = self.lock();
        while inner.order.len() >= CAPACITY {
            if let Some(oldest) = inner.order.pop_front() {
                inner.seen.remove(&oldest);
            }
        }
        if inner
            .seen
            .insert(hash.to_string(), Instant::now())
            .is_none()
        {
            inner.order.push_back(hash.to_string());
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
    fn unknown_ids_are_remembered_within_a_bound() {
        let unknown = UnknownSessions::default();
        assert!(!unknown.contains("a"));
        unknown.insert("a");
        assert!(unknown.contains("a"));
        for n in 0..CAPACITY {
            unknown.insert(&n.to_string());
        }
        assert!(!unknown.contains("a"), "the oldest made room");
        assert_eq!(unknown.lock().seen.len(), CAPACITY);
    }
}
