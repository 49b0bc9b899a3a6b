//! The stats bus: how a new snapshot reaches every connected dashboard.
//!
//! In-process, one latest-value channel ([`tokio::sync::watch`]) fans each
//! snapshot out to every SSE stream. A slow client never blocks the others and
//! never builds a queue: it simply skips to the newest snapshot when it next
//! reads. Each snapshot is serialised once, when published; every client gets
//! the same bytes.

use std::sync::Arc;

use app::model::StatsSnapshot;
use bytes::Bytes;
use tokio::sync::watch;

/// A snapshot with its wire encodings, built once per publish.
#[derive(Debug)]
pub struct PublishedSnapshot {
    /// The snapshot itself.
    pub snapshot: StatsSnapshot,
    /// Its JSON, as served by `GET /api/admin/stats`.
    pub json: Bytes,
    /// The complete SSE frame (`event: sync`, `id: <version>`, `data: <json>`).
    pub sse_frame: Bytes,
}

impl PublishedSnapshot {
    /// Serialises `snapshot` into both encodings.
    pub fn new(snapshot: StatsSnapshot) -> Self {
        let json = serde_json::to_string(&snapshot).expect("a snapshot always serialises to JSON");
        // Compact JSON has no raw newlines, so one `data:` line carries it whole.
        let sse_frame = format!("event: sync\nid: {}\ndata: {json}\n\n", snapshot.version);
        PublishedSnapshot {
            snapshot,
            json: Bytes::from(json),
            sse_frame: Bytes::from(sse_frame),
        }
    }
}

/// The in-process fan-out point for stats snapshots.
#[derive(Clone, Debug)]
pub struct StatsBus {
    sender: Arc<watch::Sender<Arc<PublishedSnapshot>>>,
}

impl StatsBus {
    /// A bus holding `initial` until the first publish.
    pub fn new(initial: StatsSnapshot) -> Self {
        StatsBus {
            sender: Arc::new(watch::Sender::new(Arc::new(PublishedSnapshot::new(
                initial,
            )))),
        }
    }

    /// Makes `snapshot` the latest one and wakes every subscriber. A snapshot
    /// older (lower version) than the one held is dropped, so a dashboard never
    /// goes backwards.
    pub fn publish(&self, snapshot: StatsSnapshot) {
        let published = Arc::new(PublishedSnapshot::new(snapshot));
        self.sender.send_if_modified(|current| {
            if published.snapshot.version < current.snapshot.version {
                return false;
            }
            *current = published;
            true
        });
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Arc<PublishedSnapshot> {
        self.sender.borrow().clone()
    }

    /// A receiver that sees every later snapshot (or skips to the newest).
    pub fn subscribe(&self) -> watch::Receiver<Arc<PublishedSnapshot>> {
        self.sender.subscribe()
    }

    /// Number of live subscribers (open SSE streams).
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use app::model::{SnapshotSource, StatsSnapshot};

    use super::*;

    fn snapshot(version: i64, source: SnapshotSource) -> StatsSnapshot {
        StatsSnapshot {
            version,
            source,
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn frames_carry_the_version_and_the_json_once() {
        let published = PublishedSnapshot::new(snapshot(7, SnapshotSource::Push));
        let frame = std::str::from_utf8(&published.sse_frame).unwrap();
        let json = std::str::from_utf8(&published.json).unwrap();
        assert_eq!(frame, format!("event: sync\nid: 7\ndata: {json}\n\n"));
        assert!(!json.contains('\n'));
    }

    #[tokio::test]
    async fn older_snapshots_are_dropped_and_equal_versions_replace() {
        let bus = StatsBus::new(snapshot(5, SnapshotSource::Initial));
        let mut receiver = bus.subscribe();
        bus.publish(snapshot(4, SnapshotSource::Push));
        assert!(!receiver.has_changed().unwrap());
        assert_eq!(bus.latest().snapshot.version, 5);

        bus.publish(snapshot(5, SnapshotSource::Manual));
        assert!(receiver.has_changed().unwrap());
        assert_eq!(
            receiver.borrow_and_update().snapshot.source,
            SnapshotSource::Manual
        );
        assert_eq!(bus.subscriber_count(), 1);
        drop(receiver);
        assert_eq!(bus.subscriber_count(), 0);
    }
}
