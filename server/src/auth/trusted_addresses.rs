//! Client addresses an admin logged in from, remembered by this node for
//! [`TRUSTED_FOR`]: an attempt from one of them may take the password check
//! kept apart (see `password::PasswordChecks`), so that a login flood from
//! other addresses cannot keep the admin out. Nothing else trusts them: the
//! throttle counts their failures like any others'. At most [`CAPACITY`]
//! are kept; past it the one trusted longest ago is forgotten.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long an address stays trusted after its last successful login.
pub const TRUSTED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Addresses kept at most.
const CAPACITY: usize = 10_000;

/// The addresses (throttle prefixes) this node saw an admin log in from.
#[derive(Debug, Default)]
pub struct TrustedAddresses {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    last_success: HashMap<String, Instant>,
    by_age: BTreeSet<(Instant, String)>,
}

impl TrustedAddresses {
    /// Whether an admin logged in from `prefix` within [`TRUSTED_FOR`].
    pub fn contains(&self, prefix: &str) -> bool {
        self.lock()
            .last_success
            .get(prefix)
            .is_some_and(|at| at.elapsed() < TRUSTED_FOR)
    }

    /// Notes a successful login from `prefix`.
    pub fn note(&self, prefix: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(before) = inner.last_success.insert(prefix.to_string(), now) {
            inner.by_age.remove(&(before, prefix.to_string()));
        }
        inner.by_age.insert((now, prefix.to_string()));
        while inner.last_success.len() > CAPACITY {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            inner.last_success.remove(&oldest);
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
    fn an_address_is_trusted_after_a_success_and_the_oldest_make_room() {
        let trusted = TrustedAddresses::default();
        assert!(!trusted.contains("192.0.2.7"));
        trusted.note("192.0.2.7");
        assert!(trusted.contains("192.0.2.7"));
        for n in 0..CAPACITY {
            trusted.note(&format!("10.0.{}.{}", n / 256, n % 256));
        }
        assert!(!trusted.contains("192.0.2.7"), "the oldest made room");
        assert_eq!(trusted.lock().last_success.len(), CAPACITY);
        assert_eq!(trusted.lock().by_age.len(), CAPACITY);
    }
}
