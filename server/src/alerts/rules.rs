//! The rules: which of the dashboard's warnings hold in a snapshot, and what
//! an incident of each says.

use app::model::StatsSnapshot;

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
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 3] = [Rule::Webhooks, Rule::Waiting, Rule::SilentAccounts];

    /// The key incidents are stored under.
    pub fn key(self) -> &'static str {
        match self {
            Rule::Webhooks => "webhooks",
            Rule::Waiting => "waiting",
            Rule::SilentAccounts => "silent_accounts",
        }
    }

    /// What the incident is about, for a message's title.
    pub fn title(key: &str) -> &'static str {
        match key {
            "webhooks" => "Webhooks from Meta",
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
        snapshot.webhook_health.warning = Some("No webhook for an hour.".into());
        assert_eq!(
            Rule::Webhooks.holds(&snapshot).as_deref(),
            Some("No webhook for an hour.")
        );
    }
}
