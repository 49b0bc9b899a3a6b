//! The database's room over time: a measurement a minute, its growth over
//! the last hour, and a warning when at that rate its disk is full within a
//! day (deliveries are then refused: see `store::write_health`).

use std::collections::VecDeque;

use app::{format::bytes, model::Storage};

use crate::store::StorageUse;

/// Measurements are this far apart, at least.
pub const MEASURE_EVERY_MS: i64 = 60_000;
/// Growth is judged over this much of the past.
const WINDOW_MS: i64 = 3_600_000;
/// Growth needs measurements at least this far apart to be judged.
const MIN_SPAN_MS: i64 = 5 * 60_000;
/// A disk full within this many hours at the current rate is warned about.
const WARN_WITHIN_HOURS: i64 = 24;
const HOUR_MS: i64 = 3_600_000;

/// The measurements of the last hour, oldest first.
#[derive(Debug, Default)]
pub struct StorageWatch {
    measured: VecDeque<(i64, StorageUse)>,
}

impl StorageWatch {
    /// Whether a new measurement is due at `now_ms`.
    pub fn due(&self, now_ms: i64) -> bool {
        self.measured
            .back()
            .is_none_or(|(at_ms, _)| now_ms - at_ms >= MEASURE_EVERY_MS)
    }

    /// Keeps a measurement taken at `at_ms`; forgets those past the window.
    pub fn record(&mut self, at_ms: i64, measured: StorageUse) {
        self.measured.push_back((at_ms, measured));
        while self
            .measured
            .front()
            .is_some_and(|(first, _)| *first < at_ms - WINDOW_MS)
        {
            self.measured.pop_front();
        }
    }

    /// The figures the dashboard shows.
    pub fn storage(&self) -> Storage {
        let (Some((first_at, first)), Some((last_at, last))) =
            (self.measured.front(), self.measured.back())
        else {
            return Storage::default();
        };
        let span = last_at - first_at;
        let per_hour = |then: i64, now: i64| (now - then).saturating_mul(HOUR_MS) / span;
        let judged = span >= MIN_SPAN_MS;
        let growth_bytes_per_hour =
            judged.then(|| per_hour(first.database_bytes, last.database_bytes));
        // The disk fills whoever writes to it: judged by its free space.
        let warning = match (first.disk, last.disk) {
            (Some(before), Some(now)) if judged => {
                let shrinking = per_hour(now.free_bytes, before.free_bytes);
                (shrinking > 0 && now.free_bytes / shrinking < WARN_WITHIN_HOURS).then(|| {
                    format!(
                        "The database's disk is filling: {} free, {} less every hour, so it is \
                         full in about {} h and deliveries will then be refused. Free space or \
                         give the database a larger disk.",
                        bytes(now.free_bytes),
                        bytes(shrinking),
                        now.free_bytes / shrinking
                    )
                })
            }
            _ => None,
        };
        Storage {
            database_bytes: last.database_bytes,
            disk_free_bytes: last.disk.map(|disk| disk.free_bytes),
            disk_total_bytes: last.disk.map(|disk| disk.total_bytes),
            growth_bytes_per_hour,
            warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DiskSpace;

    const GB: i64 = 1_000_000_000;

    fn on_disk(database_bytes: i64, free_bytes: i64) -> StorageUse {
        StorageUse {
            database_bytes,
            disk: Some(DiskSpace {
                free_bytes,
                total_bytes: 100 * GB,
            }),
        }
    }

    #[test]
    fn growth_is_judged_after_five_minutes_and_a_disk_full_within_a_day_is_warned_about() {
        let mut watch = StorageWatch::default();
        assert_eq!(watch.storage(), Storage::default());
        assert!(watch.due(0));
        watch.record(0, on_disk(GB, 20 * GB));
        assert!(!watch.due(59_000));
        assert!(watch.due(60_000));
        watch.record(60_000, on_disk(GB + 10_000_000, 20 * GB - 10_000_000));
        let early = watch.storage();
        assert_eq!(early.database_bytes, GB + 10_000_000);
        assert_eq!(
            early.growth_bytes_per_hour, None,
            "one minute judges nothing"
        );
        assert_eq!(early.warning, None);
        // 1 GB an hour off 20 GB free: full in 20 h.
        watch.record(600_000, on_disk(GB + 166_000_000, 20 * GB - 166_666_666));
        let fast = watch.storage();
        assert_eq!(fast.growth_bytes_per_hour, Some(996_000_000));
        assert_eq!(fast.disk_free_bytes, Some(20 * GB - 166_666_666));
        let warning = fast.warning.expect("full within a day");
        assert!(warning.contains("full in about 19 h"), "{warning}");
    }

    #[test]
    fn a_slow_growth_or_an_unseen_disk_gives_no_warning() {
        let mut watch = StorageWatch::default();
        watch.record(0, on_disk(GB, 20 * GB));
        watch.record(600_000, on_disk(GB + 1_000_000, 20 * GB - 1_000_000));
        assert_eq!(watch.storage().warning, None, "6 MB an hour: years");
        let mut postgres = StorageWatch::default();
        for minute in 0..10 {
            postgres.record(
                minute * 60_000,
                StorageUse {
                    database_bytes: GB + minute * GB,
                    disk: None,
                },
            );
        }
        let storage = postgres.storage();
        assert_eq!(storage.disk_free_bytes, None);
        assert_eq!(
            storage.growth_bytes_per_hour,
            Some(60 * GB),
            "9 GB in 9 minutes"
        );
        assert_eq!(storage.warning, None);
    }

    #[test]
    fn measurements_older_than_an_hour_are_forgotten() {
        let mut watch = StorageWatch::default();
        watch.record(0, on_disk(GB, 20 * GB));
        watch.record(2 * HOUR_MS, on_disk(2 * GB, 19 * GB));
        watch.record(2 * HOUR_MS + 600_000, on_disk(2 * GB, 19 * GB));
        assert_eq!(watch.storage().growth_bytes_per_hour, Some(0));
    }
}
