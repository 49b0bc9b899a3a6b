//! Wire types shared by the server and the browser.

mod stats_snapshot;

pub use stats_snapshot::{
    Counts, Engagement, MinuteBucket, SnapshotSource, StatsSnapshot, WebhookHealth,
};
