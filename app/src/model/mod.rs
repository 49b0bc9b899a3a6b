//! Wire types shared by the server and the browser.

mod stats_snapshot;

pub use stats_snapshot::{DmCounts, MinuteBucket, SnapshotSource, StatsSnapshot};
