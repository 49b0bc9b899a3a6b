//! Whether the database takes writes: a full disk, an I/O failure or a
//! database that cannot be reached makes every write fail until it is
//! mended, and the node must say so (503 to Meta, `/readyz`, the dashboard)
//! rather than fail one request at a time in silence. A failure of one write
//! only (a constraint, a bad row) is not such a condition.
//!
//! Every write path reports its outcome here; the condition starts with the
//! first write that fails for such a reason and ends with the first write that
//! commits. Its warning is logged once, then at most once per
//! [`REPEATED_WARNING_INTERVAL`](crate::repeated_warning::REPEATED_WARNING_INTERVAL)
//! with the number of writes refused in between.

use tokio::sync::watch;

use crate::{clock::now_ms, error_chain, repeated_warning::RepeatedWarning};

/// Why the database refuses every write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// The disk holding the database is full (SQLite `SQLITE_FULL`, Postgres
    /// `53100 disk_full`, or the operating system's `ENOSPC`).
    DiskFull,
    /// The database file cannot be read or written, or is read-only.
    Storage,
    /// The database server cannot be reached, refuses connections or is
    /// shutting down.
    Unreachable,
}

impl WriteFailure {
    /// The cause in words, for the dashboard, `/readyz` and responses.
    pub fn describe(self) -> &'static str {
        match self {
            WriteFailure::DiskFull => "the database's disk is full",
            WriteFailure::Storage => "the database's storage fails to read or write",
            WriteFailure::Unreachable => "the database cannot be reached",
        }
    }

    /// Every condition.
    pub const ALL: [WriteFailure; 3] = [
        WriteFailure::DiskFull,
        WriteFailure::Storage,
        WriteFailure::Unreachable,
    ];

    /// The short name used in `/readyz` and metrics.
    pub fn key(self) -> &'static str {
        match self {
            WriteFailure::DiskFull => "disk_full",
            WriteFailure::Storage => "storage_error",
            WriteFailure::Unreachable => "unreachable",
        }
    }

    /// The condition `error` shows, if it is one that fails every write.
    pub fn of(error: &sqlx::Error) -> Option<WriteFailure> {
        match error {
            sqlx::Error::Database(database) => {
                let code = database.code();
                let code = code.as_deref().unwrap_or_default();
                let sqlite = database
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .is_some();
                let by_code = if sqlite {
                    from_sqlite_code(code)
                } else {
                    from_sqlstate(code)
                };
                by_code.or_else(|| from_text(database.message()))
            }
            sqlx::Error::Io(io) => Some(if io.raw_os_error() == Some(libc::ENOSPC) {
                WriteFailure::DiskFull
            } else {
                WriteFailure::Unreachable
            }),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                Some(WriteFailure::Unreachable)
            }
            other => from_text(&error_chain(other)),
        }
    }
}

/// SQLite's extended result code (its low byte is the primary code).
fn from_sqlite_code(code: &str) -> Option<WriteFailure> {
    match code.parse::<i32>().ok()? & 0xff {
        13 => Some(WriteFailure::DiskFull), // SQLITE_FULL
        // READONLY, IOERR, CORRUPT, CANTOPEN, NOTADB
        8 | 10 | 11 | 14 | 26 => Some(WriteFailure::Storage),
        _ => None,
    }
}

/// Postgres's SQLSTATE.
fn from_sqlstate(code: &str) -> Option<WriteFailure> {
    match code {
        "53100" => Some(WriteFailure::DiskFull),
        "58030" => Some(WriteFailure::Storage), // io_error
        // admin_shutdown, crash_shutdown, cannot_connect_now
        "57P01" | "57P02" | "57P03" => Some(WriteFailure::Unreachable),
        class if class.starts_with("08") => Some(WriteFailure::Unreachable), // connection exception
        _ => None,
    }
}

/// The words a failure carries when its code is lost on the way.
fn from_text(text: &str) -> Option<WriteFailure> {
    let text = text.to_ascii_lowercase();
    (text.contains("disk is full") || text.contains("no space left on device"))
        .then_some(WriteFailure::DiskFull)
}

/// The node's view of whether the database takes writes; its changes can be
/// followed ([`WriteHealth::changes`]).
#[derive(Debug)]
pub struct WriteHealth {
    refusing: watch::Sender<Option<Refusing>>,
    warning: RepeatedWarning,
}

impl Default for WriteHealth {
    fn default() -> Self {
        // Every cause is exposed from the start, at 0, so a scraper's rule
        // sees the series before the first refusal.
        for failure in WriteFailure::ALL {
            gauge(failure).set(0);
        }
        WriteHealth {
            refusing: watch::Sender::new(None),
            warning: RepeatedWarning::default(),
        }
    }
}

/// A condition that fails every write, since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusing {
    /// Why.
    pub failure: WriteFailure,
    /// The first write it failed (Unix ms).
    pub since_ms: i64,
}

impl WriteHealth {
    /// The condition failing every write now, if any.
    pub fn refusing(&self) -> Option<Refusing> {
        *self.refusing.borrow()
    }

    /// Follows the condition: the receiver sees each start and end.
    pub fn changes(&self) -> watch::Receiver<Option<Refusing>> {
        self.refusing.subscribe()
    }

    /// Notes the outcome of a write (`what`, in words, for the log) and
    /// passes it on.
    pub(super) fn observe<T>(
        &self,
        what: &str,
        outcome: Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        match &outcome {
            Ok(_) => self.committed(),
            Err(error) => self.failed(what, error),
        }
        outcome
    }

    /// Notes that a write committed: that ends any condition.
    pub(super) fn committed(&self) {
        let mut ended = None;
        self.refusing.send_if_modified(|refusing| {
            ended = refusing.take();
            ended.is_some()
        });
        if let Some(ended) = ended {
            gauge(ended.failure).set(0);
            tracing::info!(
                cause = ended.failure.describe(),
                lasted_s = (now_ms() - ended.since_ms) / 1000,
                "the database takes writes again"
            );
        }
    }

    /// Notes that `what` failed with `error`, which starts (or changes) a
    /// condition when it is one that fails every write.
    pub(super) fn failed(&self, what: &str, error: &sqlx::Error) {
        let failure = WriteFailure::of(error);
        if let Some(failure) = failure {
            self.refusing.send_if_modified(|refusing| {
                if refusing.is_some_and(|current| current.failure == failure) {
                    return false;
                }
                if let Some(previous) = refusing {
                    gauge(previous.failure).set(0);
                }
                gauge(failure).set(1);
                *refusing = Some(Refusing {
                    failure,
                    since_ms: now_ms(),
                });
                true
            });
        }
        if let Some(times) = self.warning.note() {
            tracing::warn!(
                cause = failure.map_or("a database error", WriteFailure::describe),
                failed_writes = times,
                error = %error_chain(error),
                "{what} failed"
            );
        }
    }
}

/// `pulse_store_refusing_writes{cause}`.
fn gauge(failure: WriteFailure) -> prometheus::IntGauge {
    crate::metrics::metrics()
        .store_refusing_writes
        .with_label_values(&[failure.key()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_both_engines_are_told_apart() {
        assert_eq!(from_sqlite_code("13"), Some(WriteFailure::DiskFull));
        assert_eq!(
            from_sqlite_code("778"),
            Some(WriteFailure::Storage),
            "SQLITE_IOERR_WRITE"
        );
        assert_eq!(from_sqlite_code("2067"), None, "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(from_sqlstate("53100"), Some(WriteFailure::DiskFull));
        assert_eq!(from_sqlstate("08006"), Some(WriteFailure::Unreachable));
        assert_eq!(from_sqlstate("57P01"), Some(WriteFailure::Unreachable));
        assert_eq!(from_sqlstate("23505"), None, "unique violation");
        assert_eq!(
            from_text("could not extend file: No space left on device"),
            Some(WriteFailure::DiskFull)
        );
    }

    #[test]
    fn a_condition_starts_with_a_failure_of_its_kind_and_ends_with_a_commit() {
        let health = WriteHealth::default();
        let mut changes = health.changes();
        let constraint = sqlx::Error::Protocol("a bad row".into());
        health.failed("a write", &constraint);
        assert_eq!(
            health.refusing(),
            None,
            "one write's failure is no condition"
        );
        assert!(!changes.has_changed().unwrap());
        let full = sqlx::Error::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        health.failed("a write", &full);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        health.failed("a write", &full);
        assert!(!changes.has_changed().unwrap(), "the same condition again");
        assert_eq!(
            health.refusing().map(|refusing| refusing.failure),
            Some(WriteFailure::DiskFull)
        );
        health.committed();
        assert!(changes.has_changed().unwrap());
        assert_eq!(health.refusing(), None);
    }
}
