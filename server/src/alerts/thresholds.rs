//! The rules' thresholds as admins set them on the alerts page: each one a
//! setting's default (`WEBHOOK_SILENCE_ALERT_MIN`, …) until an admin sets it,
//! kept in the database so every node judges by the same. The dashboard's
//! warnings follow them too: a rule fires exactly when its warning shows.

use std::time::Duration;

use crate::stats::HealthPolicy;

/// One threshold: its name in the database and the form, and its bounds
/// (those of its setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    pub name: &'static str,
    /// What it is, in words, before its value.
    pub label: &'static str,
    /// Its unit, after its value.
    pub unit: &'static str,
    /// The setting giving its default.
    pub setting: &'static str,
    pub min: i64,
    pub max: i64,
}

/// Every threshold, in the page's order.
pub const ALL: [Threshold; 6] = [
    Threshold {
        name: "webhook_silence_min",
        label: "Webhooks: none accepted for",
        unit: "min",
        setting: "WEBHOOK_SILENCE_ALERT_MIN",
        min: 1,
        max: 10_080,
    },
    Threshold {
        name: "webhook_refusals_per_hour",
        label: "Webhooks: refused in an hour, at least",
        unit: "requests",
        setting: "WEBHOOK_REJECTIONS_ALERT_PER_HOUR",
        min: 1,
        max: 1_000_000_000,
    },
    Threshold {
        name: "reply_wait_s",
        label: "Customers waiting for a reply longer than",
        unit: "s",
        setting: "AUTOMATION_REPLY_ALERT_S",
        min: 1,
        max: 86_399,
    },
    Threshold {
        name: "account_silence_events",
        label: "Silent accounts: busy with at least",
        unit: "events in the previous 24 h",
        setting: "ACCOUNT_SILENCE_MIN_EVENTS",
        min: 1,
        max: 1_000_000_000,
    },
    Threshold {
        name: "account_silence_min",
        label: "Silent accounts: and none for",
        unit: "min",
        setting: "ACCOUNT_SILENCE_ALERT_MIN",
        min: 1,
        max: 1_439,
    },
    Threshold {
        name: "alert_for_s",
        label: "Every rule: a condition holds (or is gone) for",
        unit: "s before its incident opens (or clears)",
        setting: "ALERT_FOR_S",
        min: 0,
        max: 86_400,
    },
];

/// What the rules judge by: the dashboard's warning policy and how long a
/// condition must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub policy: HealthPolicy,
    pub hold: Duration,
}

impl Limits {
    /// The value of the threshold `name` (0 for a name there is not).
    pub fn value(&self, name: &str) -> i64 {
        let policy = &self.policy;
        let seconds = |duration: Duration| i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        match name {
            "webhook_silence_min" => seconds(policy.silence_alert) / 60,
            "webhook_refusals_per_hour" => policy.rejections_alert_per_hour,
            "reply_wait_s" => seconds(policy.thresholds.reply_alert),
            "account_silence_events" => policy.thresholds.silence_min_events,
            "account_silence_min" => seconds(policy.thresholds.silence_after) / 60,
            "alert_for_s" => seconds(self.hold),
            _ => 0,
        }
    }

    /// These limits with the threshold `name` at `value`.
    pub fn with(mut self, name: &str, value: i64) -> Self {
        let policy = &mut self.policy;
        let seconds = |value: i64| Duration::from_secs(value.max(0).unsigned_abs());
        match name {
            "webhook_silence_min" => policy.silence_alert = seconds(value * 60),
            "webhook_refusals_per_hour" => policy.rejections_alert_per_hour = value,
            "reply_wait_s" => policy.thresholds.reply_alert = seconds(value),
            "account_silence_events" => policy.thresholds.silence_min_events = value,
            "account_silence_min" => policy.thresholds.silence_after = seconds(value * 60),
            "alert_for_s" => self.hold = seconds(value),
            _ => {}
        }
        self
    }

    /// These limits (the settings' defaults) with the thresholds admins set
    /// (`set`: name and value, as the database keeps them); a name or value
    /// out of bounds (written by a later release) is passed over.
    pub fn with_set(self, set: &[(String, i64)]) -> Self {
        set.iter().fold(self, |limits, (name, value)| {
            match ALL.iter().find(|threshold| threshold.name == name) {
                Some(threshold) if (threshold.min..=threshold.max).contains(value) => {
                    limits.with(name, *value)
                }
                _ => limits,
            }
        })
    }
}

impl Threshold {
    /// `text`, as typed in the form, as this threshold's value: `None` when
    /// empty (back to the default); why not, naming it, otherwise.
    pub fn parse(&self, text: &str) -> Result<Option<i64>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<i64>() {
            Ok(value) if (self.min..=self.max).contains(&value) => Ok(Some(value)),
            _ => Err(format!(
                "a whole number from {} to {}, not {text:?}",
                self.min, self.max
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Thresholds;

    fn defaults() -> Limits {
        Limits {
            policy: HealthPolicy {
                silence_alert: Duration::from_secs(3_600),
                rejections_alert_per_hour: 10,
                thresholds: Thresholds::default(),
            },
            hold: Duration::from_secs(60),
        }
    }

    #[test]
    fn every_threshold_reads_back_what_was_set() {
        for threshold in ALL {
            for value in [threshold.min, threshold.min + 7, threshold.max] {
                assert_eq!(
                    defaults().with(threshold.name, value).value(threshold.name),
                    value,
                    "{}",
                    threshold.name
                );
            }
        }
    }

    #[test]
    fn values_out_of_bounds_are_refused_and_passed_over() {
        let wait = ALL[2];
        assert_eq!(wait.parse(" 90 "), Ok(Some(90)));
        assert_eq!(wait.parse(""), Ok(None));
        assert_eq!(
            wait.parse("86400").unwrap_err(),
            "a whole number from 1 to 86399, not \"86400\""
        );
        assert!(wait.parse("1.5").is_err());
        let set = [
            ("reply_wait_s".to_string(), 0),
            ("unknown".to_string(), 5),
            ("account_silence_min".to_string(), 30),
        ];
        let limits = defaults().with_set(&set);
        assert_eq!(limits.value("reply_wait_s"), 300);
        assert_eq!(
            limits.policy.thresholds.silence_after,
            Duration::from_secs(1_800)
        );
    }
}
