//! How a server node learns about updates made on other nodes.

use serde::{Deserialize, Serialize};

/// The node's bus mode: push, or which kind of polling stands in for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusMode {
    /// One node, no Redis: every update is pushed in-process.
    #[default]
    InProcess,
    /// Subscribed to Redis Pub/Sub: every node's updates are pushed.
    Pubsub,
    /// Redis answers but Pub/Sub does not (or is switched off): other nodes'
    /// updates arrive by polling the Redis cache.
    CachePoll,
    /// Redis is unreachable: other nodes' updates arrive by polling the database.
    DbPoll,
}

impl BusMode {
    /// The name used in logs, `/readyz` and the `data-mode` attribute.
    pub fn key(self) -> &'static str {
        match self {
            BusMode::InProcess => "in_process",
            BusMode::Pubsub => "pubsub",
            BusMode::CachePoll => "cache_poll",
            BusMode::DbPoll => "db_poll",
        }
    }
}

/// The bus mode of the node that sent a snapshot to the browser, with the
/// polling interval in force when it is polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The node's current mode.
    pub mode: BusMode,
    /// Seconds between two polls in `cache_poll` and `db_poll` (0 otherwise).
    pub poll_every_s: u32,
}

impl Delivery {
    /// Whether every update reaches this node's dashboards as it happens.
    pub fn is_push(self) -> bool {
        matches!(self.mode, BusMode::InProcess | BusMode::Pubsub)
    }

    /// What the dashboard badge says while its stream is open.
    pub fn label(self) -> String {
        match self.mode {
            BusMode::InProcess | BusMode::Pubsub => "Live".to_string(),
            BusMode::CachePoll => format!("Polling every {} s", self.poll_every_s),
            BusMode::DbPoll => format!("Redis down, polling every {} s", self.poll_every_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_says_the_mode_in_words() {
        let at = |mode, poll_every_s| Delivery { mode, poll_every_s }.label();
        assert_eq!(at(BusMode::InProcess, 0), "Live");
        assert_eq!(at(BusMode::Pubsub, 0), "Live");
        assert_eq!(at(BusMode::CachePoll, 30), "Polling every 30 s");
        assert_eq!(at(BusMode::DbPoll, 10), "Redis down, polling every 10 s");
    }

    #[test]
    fn modes_serialise_as_their_keys() {
        for mode in [
            BusMode::InProcess,
            BusMode::Pubsub,
            BusMode::CachePoll,
            BusMode::DbPoll,
        ] {
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.key());
        }
    }
}
