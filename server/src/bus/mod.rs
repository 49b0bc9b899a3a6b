//! The stats bus: how a new snapshot reaches every connected dashboard.
//!
//! In-process, one latest-value channel ([`tokio::sync::watch`]) fans each
//! snapshot out to every SSE stream. A slow client never blocks the others and
//! never builds a queue: it simply skips to the newest snapshot when it next
//! reads. Each snapshot is serialised once, when published; every client gets
//! the same bytes.
//!
//! With Redis configured, the [`relay`] carries snapshots between nodes and
//! decides, as a small state machine, whether this node is pushed to
//! (Pub/Sub) or polls (the Redis cache, or the database when Redis is down).

pub mod relay;
pub mod seal;

use std::{future::Future, pin::Pin, sync::Arc};

use app::model::{Delivery, SnapshotSource, StatsSnapshot};
use bytes::Bytes;
use tokio::sync::watch;

use crate::metrics::metrics;

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
///
/// It also holds the node's [`Delivery`] mode: every snapshot is stamped with
/// it before it is serialised, and a change of mode re-sends the newest
/// snapshot so the dashboards can say how they are being updated.
#[derive(Clone, Debug)]
pub struct StatsBus {
    sender: Arc<watch::Sender<Arc<PublishedSnapshot>>>,
    /// The newest snapshot to share with the other nodes (read by the relay).
    outbox: Arc<watch::Sender<Option<Arc<PublishedSnapshot>>>>,
}

/// Which dashboards a published snapshot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Only this node's: every node computes it for itself (the minute
    /// roll-over, a fallback poll).
    ThisNode,
    /// Every node's: the relay, when there is one, shares it through Redis.
    AllNodes,
}

impl Reach {
    /// The one rule for which dashboards a snapshot is for, by why it was
    /// computed. A clock-driven recompute or a fallback poll is made by every
    /// node for itself, so it stays here. Committed deliveries, a manual
    /// refresh and a node starting (or joining the others again over Redis)
    /// change what every node should show: while a node was cut off from
    /// Redis, what it committed reached only its own dashboards, and its
    /// first snapshot after rejoining is how the others learn it at once.
    pub fn of(source: SnapshotSource) -> Reach {
        match source {
            SnapshotSource::Push | SnapshotSource::Manual | SnapshotSource::Initial => {
                Reach::AllNodes
            }
            SnapshotSource::Poll => Reach::ThisNode,
        }
    }
}

/// A snapshot computed afresh from the database, for the given reason: the
/// stats publisher's work, handed to the relay so that the bus never depends
/// on the stats. The error is the store's, with its causes.
pub type Recompute = Arc<
    dyn Fn(
            SnapshotSource,
        ) -> Pin<
            Box<
                dyn Future<Output = Result<StatsSnapshot, Box<dyn std::error::Error + Send + Sync>>>
                    + Send,
            >,
        > + Send
        + Sync,
>;

impl StatsBus {
    /// A bus holding `initial` until the first publish.
    pub fn new(initial: StatsSnapshot) -> Self {
        metrics().set_bus_mode(initial.delivery.mode.key());
        metrics().set_alert_figures(&initial);
        StatsBus {
            sender: Arc::new(watch::Sender::new(Arc::new(PublishedSnapshot::new(
                initial,
            )))),
            outbox: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Makes a snapshot computed on this node the latest one and wakes every
    /// subscriber. A snapshot older (lower version) than the one held is
    /// dropped, so a dashboard never goes backwards; an equal version replaces
    /// it (a manual refresh, or the minute roll-over moving the time windows).
    /// With [`Reach::AllNodes`], the published snapshot is also handed to the
    /// relay (if any) for the other nodes. Returns whether it was published.
    pub fn publish(&self, snapshot: StatsSnapshot, reach: Reach) -> bool {
        let published = self.replace_if(snapshot, |next, current| next.version >= current.version);
        match published {
            Some(published) => {
                if reach == Reach::AllNodes {
                    self.outbox.send_replace(Some(published));
                }
                true
            }
            None => false,
        }
    }

    /// What the relay reads: each snapshot published for all nodes, newest
    /// only (a relay that falls behind skips to the latest).
    pub fn outbox(&self) -> watch::Receiver<Option<Arc<PublishedSnapshot>>> {
        self.outbox.subscribe()
    }

    /// Takes a snapshot published by another node (or this one's own, echoed
    /// back by Redis) only when it is strictly newer than the one held:
    /// higher version, or the same version computed later. The echo of a
    /// node's own publish is therefore dropped, and concurrent publishers on
    /// several nodes never make a dashboard go backwards.
    pub fn accept_remote(&self, snapshot: StatsSnapshot) -> bool {
        self.replace_if(snapshot, |next, current| {
            (next.version, next.generated_at_ms) > (current.version, current.generated_at_ms)
        })
        .is_some()
    }

    /// Switches the node's delivery mode; when it changes, the newest snapshot
    /// is sent again carrying the new mode.
    pub fn set_delivery(&self, delivery: Delivery) {
        self.sender.send_if_modified(|current| {
            if current.snapshot.delivery == delivery {
                return false;
            }
            metrics().set_bus_mode(delivery.mode.key());
            let mut snapshot = current.snapshot.clone();
            snapshot.delivery = delivery;
            *current = Arc::new(PublishedSnapshot::new(snapshot));
            true
        });
    }

    /// The node's current delivery mode.
    pub fn delivery(&self) -> Delivery {
        self.sender.borrow().snapshot.delivery
    }

    /// Receivers of the snapshots: the node's open streams (and any other
    /// subscriber).
    pub fn receivers(&self) -> usize {
        self.sender.receiver_count()
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

    /// Stamps `snapshot` with the current mode and makes it the latest when
    /// `is_newer(next, current)`; serialised under the channel's lock so a
    /// concurrent mode change cannot be overwritten by a stale stamp.
    fn replace_if(
        &self,
        mut snapshot: StatsSnapshot,
        is_newer: impl FnOnce(&StatsSnapshot, &StatsSnapshot) -> bool,
    ) -> Option<Arc<PublishedSnapshot>> {
        let mut published = None;
        self.sender.send_if_modified(|current| {
            if !is_newer(&snapshot, &current.snapshot) {
                return false;
            }
            snapshot.delivery = current.snapshot.delivery;
            metrics().set_alert_figures(&snapshot);
            let next = Arc::new(PublishedSnapshot::new(std::mem::take(&mut snapshot)));
            published = Some(next.clone());
            *current = next;
            metrics().snapshots_published.inc();
            true
        });
        published
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

    #[test]
    fn only_what_every_node_makes_for_itself_stays_on_this_node() {
        assert_eq!(Reach::of(SnapshotSource::Poll), Reach::ThisNode);
        for shared in [
            SnapshotSource::Push,
            SnapshotSource::Manual,
            SnapshotSource::Initial,
        ] {
            assert_eq!(Reach::of(shared), Reach::AllNodes, "{shared:?}");
        }
    }

    #[tokio::test]
    async fn older_snapshots_are_dropped_and_equal_versions_replace() {
        let bus = StatsBus::new(snapshot(5, SnapshotSource::Initial));
        let mut receiver = bus.subscribe();
        assert!(!bus.publish(snapshot(4, SnapshotSource::Push), Reach::ThisNode));
        assert!(!receiver.has_changed().unwrap());
        assert_eq!(bus.latest().snapshot.version, 5);

        assert!(bus.publish(snapshot(5, SnapshotSource::Manual), Reach::ThisNode));
        assert!(receiver.has_changed().unwrap());
        assert_eq!(
            receiver.borrow_and_update().snapshot.source,
            SnapshotSource::Manual
        );
        assert_eq!(bus.subscriber_count(), 1);
        drop(receiver);
        assert_eq!(bus.subscriber_count(), 0);
    }

    #[test]
    fn remote_snapshots_must_be_strictly_newer_so_echoes_are_dropped() {
        let bus = StatsBus::new(snapshot(5, SnapshotSource::Initial));
        let mut outbox = bus.outbox();
        assert!(bus.publish(snapshot(6, SnapshotSource::Push), Reach::AllNodes));
        assert!(outbox.has_changed().unwrap());
        let own = outbox.borrow_and_update().clone().unwrap();
        assert!(!bus.accept_remote(own.snapshot.clone()), "own echo");
        assert!(!bus.accept_remote(snapshot(5, SnapshotSource::Push)));

        let mut later = own.snapshot.clone();
        later.generated_at_ms += 1;
        assert!(bus.accept_remote(later));
        assert!(bus.accept_remote(snapshot(9, SnapshotSource::Push)));
        assert_eq!(bus.latest().snapshot.version, 9);
        assert!(
            !outbox.has_changed().unwrap(),
            "remote snapshots are not shared again"
        );
    }

    #[tokio::test]
    async fn a_mode_change_resends_the_latest_snapshot_and_stamps_later_ones() {
        use app::model::BusMode;
        let bus = StatsBus::new(snapshot(3, SnapshotSource::Initial));
        let mut receiver = bus.subscribe();
        let down = Delivery {
            mode: BusMode::DbPoll,
            poll_every_s: 10,
        };
        bus.set_delivery(down);
        assert!(receiver.has_changed().unwrap());
        let resent = receiver.borrow_and_update().clone();
        assert_eq!(resent.snapshot.version, 3);
        assert!(std::str::from_utf8(&resent.json)
            .unwrap()
            .contains("db_poll"));

        bus.set_delivery(down);
        assert!(!receiver.has_changed().unwrap(), "no change, no frame");

        let mut foreign = snapshot(4, SnapshotSource::Push);
        foreign.delivery = Delivery::default();
        assert!(bus.accept_remote(foreign));
        assert_eq!(bus.latest().snapshot.delivery, down);
    }
}
