//! When the webhook health figures deserve a warning on the dashboard.
//!
//! Meta retries failed deliveries for hours and then disables an endpoint that
//! keeps failing, so an admin should hear about refusals and silence early.

use std::time::Duration;

use app::{
    format::{age, duration, utc_timestamp},
    model::WebhookHealth,
};

use crate::store::{write_health::Refusing, Thresholds};

/// Thresholds for the webhook warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Warn when the last accepted delivery is older than this.
    pub silence_alert: Duration,
    /// Warn when at least this many requests were refused in the last hour.
    pub rejections_alert_per_hour: i64,
    /// When customers wait too long and accounts fall silent.
    pub thresholds: Thresholds,
}

impl HealthPolicy {
    /// The warning to show for `health` at `now_ms`, if any; a database
    /// that refuses every write (`refusing`) comes first, since every
    /// delivery then fails.
    pub fn warning(
        &self,
        health: &WebhookHealth,
        refusing: Option<Refusing>,
        now_ms: i64,
    ) -> Option<String> {
        if let Some(refusing) = refusing {
            return Some(format!(
                "The store is refusing writes: {} (every write has failed since {}, {}). \
                 Webhook deliveries are answered 503 and Meta retries them; free space or \
                 mend the database and they are taken again by themselves. Logins wait for it too.",
                refusing.failure.describe(),
                utc_timestamp(refusing.since_ms),
                duration(Some(now_ms - refusing.since_ms)),
            ));
        }
        if health.rejected_1h >= self.rejections_alert_per_hour {
            return Some(format!(
                "{} webhook requests were refused in the last hour ({} with a bad signature). \
                 Meta disables endpoints that keep failing: check IG_APP_SECRET and the server log.",
                health.rejected_1h, health.signature_failures_1h
            ));
        }
        let silent_for = now_ms - health.last_accepted_at_ms?;
        (silent_for > self.silence_alert.as_millis() as i64).then(|| {
            format!(
                "The last webhook was accepted {}: check the Meta app's webhook subscription and callback URL.",
                age(silent_for)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_631_405_000;
    const POLICY: HealthPolicy = HealthPolicy {
        silence_alert: Duration::from_secs(3600),
        rejections_alert_per_hour: 10,
        thresholds: Thresholds {
            reply_alert: Duration::from_secs(300),
            silence_min_events: 20,
            silence_after: Duration::from_secs(7200),
        },
    };

    #[test]
    fn a_healthy_or_brand_new_endpoint_gets_no_warning() {
        let fresh = WebhookHealth::default();
        assert_eq!(POLICY.warning(&fresh, None, NOW), None);
        let busy = WebhookHealth {
            last_accepted_at_ms: Some(NOW - 5_000),
            rejected_1h: 9,
            ..fresh
        };
        assert_eq!(POLICY.warning(&busy, None, NOW), None);
    }

    #[test]
    fn silence_longer_than_the_window_is_reported_with_its_age() {
        let silent = WebhookHealth {
            last_accepted_at_ms: Some(NOW - 2 * 3_600_000),
            ..Default::default()
        };
        let warning = POLICY.warning(&silent, None, NOW).unwrap();
        assert!(warning.contains("2 h ago"), "{warning}");
    }

    #[test]
    fn repeated_refusals_are_reported_first() {
        let failing = WebhookHealth {
            last_accepted_at_ms: Some(NOW - 2 * 3_600_000),
            rejected_1h: 12,
            signature_failures_1h: 11,
            ..Default::default()
        };
        let warning = POLICY.warning(&failing, None, NOW).unwrap();
        assert!(
            warning.starts_with("12 webhook requests were refused")
                && warning.contains("11 with a bad signature")
        );
    }

    #[test]
    fn a_store_refusing_writes_is_reported_before_anything_else_with_its_cause() {
        let failing = WebhookHealth {
            rejected_1h: 12,
            ..Default::default()
        };
        let refusing = Refusing {
            failure: crate::store::write_health::WriteFailure::DiskFull,
            since_ms: NOW - 180_000,
        };
        let warning = POLICY.warning(&failing, Some(refusing), NOW).unwrap();
        assert!(
            warning.starts_with("The store is refusing writes: the database's disk is full")
                && warning.contains("2026-11-25 18:27:05 UTC, 3 min")
                && warning.contains("503"),
            "{warning}"
        );
    }
}
