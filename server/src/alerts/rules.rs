//! The rules: which of the dashboard's warnings hold in a snapshot, and what
//! an incident of each says.

use app::model::{BusMode, StatsSnapshot};

/// A rule, by the key incidents are stored under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Webhooks: none accepted for `WEBHOOK_SILENCE_ALERT_MIN`, too many
    /// refused, or the store refusing them (the Webhooks panel's warning).
    Webhooks,
    /// Customers waiting past `AUTOMATION_REPLY_ALERT_S`.
    Waiting,
    /// Business accounts flagged silent.
    SilentAccounts,
    /// This node cannot use Redis Pub/Sub and polls instead: a rule of each
    /// node's own, its incidents keyed by the node ([`Rule::incident_key`]).
    RedisPolling,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 4] = [
        Rule::Webhooks,
        Rule::Waiting,
        Rule::SilentAccounts,
        Rule::RedisPolling,
    ];

    /// The key incidents are stored under.
    pub fn key(self) -> &'static str {
        match self {
            Rule::Webhooks => "webhooks",
            Rule::Waiting => "waiting",
            Rule::SilentAccounts => "silent_accounts",
            Rule::RedisPolling => "redis",
        }
    }

    /// The key this rule's incidents are stored under on `node`: the rule's
    /// key, and for a rule of each node's own, `key@node`, so that each node
    /// opens and clears only its own (another node's view never clears it).
    pub fn incident_key(self, node: &str) -> String {
        match self {
            Rule::RedisPolling => format!("{}@{node}", self.key()),
            _ => self.key().to_string(),
        }
    }

    /// What the incident is about, for a message's title.
    pub fn title(key: &str) -> &'static str {
        match key.split('@').next().unwrap_or_default() {
            "webhooks" => "Webhooks from Meta",
            "redis" => "A node polling without Redis",
            "waiting" => "Customers waiting for a reply",
            "silent_accounts" => "Business accounts gone silent",
            _ => "Pulse",
        }
    }

    /// What is wrong in `snapshot`, if this rule's condition holds there.
    pub fn holds(self, snapshot: &StatsSnapshot) -> Option<String> {
        match self {
            Rule::Webhooks => snapshot.webhook_health.warning.clone(),
            Rule::Waiting => (snapshot.waiting.over_threshold > 0).then(|| {
                let longest = snapshot
                    .waiting
                    .oldest_ms
                    .map(|ms| format!(" (the longest for {} min)", ms / 60_000))
                    .unwrap_or_default();
                format!(
                    "{} customers have waited longer than {} s for a reply{longest}.",
                    snapshot.waiting.over_threshold, snapshot.waiting.threshold_s
                )
            }),
            Rule::RedisPolling => {
                let polled = match snapshot.delivery.mode {
                    BusMode::CachePoll => "the Redis cache",
                    BusMode::DbPoll => "the database",
                    BusMode::InProcess | BusMode::Pubsub => return None,
                };
                Some(format!(
                    "Redis Pub/Sub is unavailable to this node: it polls {polled} every {} s, so \
                     its dashboards show other nodes' updates up to that late.",
                    snapshot.delivery.poll_every_s
                ))
            }
            Rule::SilentAccounts => (snapshot.silent_accounts > 0).then(|| {
                format!(
                    "{} business accounts busy in the previous 24 hours have gone silent.",
                    snapshot.silent_accounts
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_holds_on_its_warning_only() {
        let mut snapshot = StatsSnapshot::default();
        assert!(Rule::ALL.iter().all(|rule| rule.holds(&snapshot).is_none()));
        snapshot.waiting.over_threshold = 2;
        snapshot.waiting.threshold_s = 300;
        snapshot.waiting.oldest_ms = Some(600_000);
        assert_eq!(
            Rule::Waiting.holds(&snapshot).as_deref(),
            Some("2 customers have waited longer than 300 s for a reply (the longest for 10 min).")
        );
        assert_eq!(Rule::SilentAccounts.holds(&snapshot), None);
        snapshot.silent_accounts = 1;
        assert!(Rule::SilentAccounts.holds(&snapshot).is_some());
        snapshot.delivery.mode = BusMode::DbPoll;
        snapshot.delivery.poll_every_s = 10;
        assert!(Rule::RedisPolling
            .holds(&snapshot)
            .unwrap()
            .contains("polls the database every 10 s"));
        assert_eq!(
            Rule::RedisPolling.incident_key("host:3000"),
            "redis@host:3000"
        );
        assert_eq!(
            Rule::title("redis@host:3000"),
            "A node polling without Redis"
        );
        snapshot.webhook_health.warning = Some("No webhook for an hour.".into());
        assert_eq!(
            Rule::Webhooks.holds(&snapshot).as_deref(),
            Some("No webhook for an hour.")
        );
    }
}
