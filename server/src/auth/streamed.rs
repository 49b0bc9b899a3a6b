//! Sessions with open SSE streams on this node.
//!
//! A logout on another node deletes the session from the shared database
//! only; this node finds out by checking, every `stream_check_interval`, each
//! session that has a stream open here: one query per distinct session, not
//! one per stream (10,000 dashboards of one admin cost one query). A session
//! found gone is announced on the same channel as a logout on this node, so
//! its streams end with `logged_out`. The check counts as use of the session
//! (see [`super::Auth::session_by_hash`]): a watched dashboard stays logged
//! in until the session's lifetime ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// Open streams per session hash.
#[derive(Debug, Default)]
pub struct StreamedSessions {
    open: Mutex<HashMap<String, usize>>,
}

/// Counts one open stream for its session until dropped.
#[derive(Debug)]
pub struct Watching {
    sessions: Arc<StreamedSessions>,
    hash: String,
}

/// The session already holds as many streams as it may.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "this session already has {0} live dashboards open, the most allowed \
     (PULSE_MAX_STREAMS_PER_SESSION); close one and reload"
)]
pub struct TooManyStreams(pub usize);

impl StreamedSessions {
    /// Counts a stream of the session `hash` until the returned guard drops,
    /// unless the session already has `max` open.
    pub fn watch(self: &Arc<Self>, hash: &str, max: usize) -> Result<Watching, TooManyStreams> {
        let mut open = self.lock();
        let count = open.entry(hash.to_string()).or_insert(0);
        if *count >= max {
            return Err(TooManyStreams(max));
        }
        *count += 1;
        Ok(Watching {
            sessions: Arc::clone(self),
            hash: hash.to_string(),
        })
    }

    /// The sessions with at least one open stream.
    pub fn hashes(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // The map stays consistent if a holder panicked: every change is one step.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut open = self.sessions.lock();
        if let Some(count) = open.get_mut(&self.hash) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_listed_while_any_of_its_streams_is_open() {
        let sessions = Arc::new(StreamedSessions::default());
        let first = sessions.watch("a", 2).unwrap();
        let second = sessions.watch("a", 2).unwrap();
        assert_eq!(sessions.watch("a", 2).unwrap_err(), TooManyStreams(2));
        let other = sessions.watch("b", 2).unwrap();
        let mut hashes = sessions.hashes();
        hashes.sort();
        assert_eq!(hashes, ["a", "b"]);

        drop(first);
        drop(other);
        assert_eq!(sessions.hashes(), ["a"]);
        let third = sessions
            .watch("a", 2)
            .expect("a closed stream frees its place");
        drop(second);
        drop(third);
        assert!(sessions.hashes().is_empty());
    }
}
