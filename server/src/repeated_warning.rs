//! A warning that can repeat many times a second (a full disk fails every
//! write) logged at most once per interval, with how many times it happened
//! since the last line, so that the log stays readable and small while the
//! condition lasts.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// How often, at most, one repeated warning is logged.
pub const REPEATED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Counts the occurrences of one warning and says when a line is due.
#[derive(Debug)]
pub struct RepeatedWarning {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl Default for RepeatedWarning {
    fn default() -> Self {
        RepeatedWarning::every(REPEATED_WARNING_INTERVAL)
    }
}

impl RepeatedWarning {
    /// A warning logged at most once per `interval`.
    pub fn every(interval: Duration) -> Self {
        RepeatedWarning {
            interval,
            state: Mutex::default(),
        }
    }

    /// Notes one occurrence; returns `Some(n)` when a line is due, `n` being
    /// the occurrences it stands for (this one included).
    pub fn note(&self) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        state.unlogged += 1;
        let due = state
            .last_logged
            .is_none_or(|at| at.elapsed() >= self.interval);
        if !due {
            return None;
        }
        state.last_logged = Some(Instant::now());
        Some(std::mem::take(&mut state.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_occurrence_is_logged_then_one_line_per_interval_counts_the_rest() {
        let warning = RepeatedWarning::every(Duration::from_millis(200));
        assert_eq!(warning.note(), Some(1));
        for _ in 0..99 {
            assert_eq!(warning.note(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(warning.note(), Some(100), "99 held back and this one");
        assert_eq!(warning.note(), None);
    }
}
