//! The dashboard's document: the [`StatsSnapshot`] built, whole, from the
//! store's rows and what only the running node knows.

use std::collections::BTreeMap;

use app::model::{
    Counts, Delivery, Engagement, MinuteBucket, Replies, ReplyTimes, SnapshotSource, StatsSnapshot,
    Storage, Waiting, WebhookHealth, ZoneToday,
};

use super::HealthPolicy;
use crate::{
    event::{Metric, Rejection},
    store::{
        replies, snapshot::first_series_minute, write_health::Refusing, SnapshotRows, MINUTE_MS,
        SERIES_MINUTES,
    },
};

/// What goes into a snapshot besides the store's rows: what the running
/// node knows.
#[derive(Clone, Debug)]
pub struct NodeView<'a> {
    /// Why the snapshot is made.
    pub source: SnapshotSource,
    /// When to warn about the webhook, and how long a customer may wait.
    pub health: &'a HealthPolicy,
    /// Whether the store refuses every write now.
    pub refusing: Option<Refusing>,
    /// Accounts that fell silent (counted apart: see the publisher).
    pub silent_accounts: i64,
    /// How this node gets its updates now.
    pub delivery: Delivery,
    /// The database's room.
    pub storage: Storage,
}

/// The snapshot the dashboards are sent for `rows`, as `node` sees them.
pub fn document(rows: &SnapshotRows, node: NodeView<'_>) -> StatsSnapshot {
    let now_ms = rows.read_at_ms;
    let counts = MetricCounts::new(rows);
    let rejected = |reason: Option<Rejection>| {
        rows.rejections
            .iter()
            .filter(|(name, _)| reason.is_none_or(|r| r.as_str() == name))
            .map(|(_, count)| count)
            .sum()
    };
    let mut webhook_health = WebhookHealth {
        last_accepted_at_ms: rows.last_accepted_at_ms,
        signature_failures_1h: rejected(Some(Rejection::Signature)),
        rejected_1h: rejected(None),
        flagged_events_1h: counts.get(Metric::Flagged).last_hour,
        warning: None,
    };
    webhook_health.warning = node.health.warning(&webhook_health, node.refusing, now_ms);
    let reply_alert_s = node.health.thresholds.reply_alert.as_secs() as i64;
    StatsSnapshot {
        version: rows.version,
        generated_at_ms: now_ms,
        source: node.source,
        dms_sent: counts.get(Metric::DmSent),
        dms_received: counts.get(Metric::DmReceived),
        active_conversations_24h: rows.active_conversations_24h,
        accounts: rows.accounts,
        per_minute: series(first_series_minute(now_ms), &rows.metric_minutes),
        last_event_at_ms: rows.last_event_at_ms,
        engagement: Engagement {
            comments: counts.get(Metric::Comment),
            mentions: counts.get(Metric::Mention),
            reactions: counts.get(Metric::Reaction),
            story_replies: counts.get(Metric::StoryReply),
            postbacks: counts.get(Metric::Postback),
            reads: counts.get(Metric::Read),
            deleted: counts.get(Metric::Deleted),
        },
        webhook_health,
        replies: Replies {
            last_hour: reply_times_of(&rows.reply_buckets),
        },
        waiting: waiting(&rows.waiting_since, now_ms, reply_alert_s),
        silent_accounts: node.silent_accounts,
        delivery: node.delivery,
        storage: node.storage,
        zones_today: zones_today(rows),
    }
}

/// Today's counts in each zone admins chose, the zones whose day began at
/// the same instant (and whose offset is the same now) together, summed from
/// the history's rows since then ([`SnapshotRows::zone_units`]). A name the
/// zone database does not know is left out.
pub fn zones_today(rows: &SnapshotRows) -> Vec<ZoneToday> {
    let mut days: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    for name in &rows.chosen_zones {
        if let Some(day) = crate::clock::start_of_day(name, rows.read_at_ms) {
            days.entry(day).or_default().push(name.clone());
        }
    }
    days.into_iter()
        .map(|((since_ms, offset_s), zones)| {
            let count = |metric: Metric| rows.counted_since(since_ms, metric.as_str());
            ZoneToday {
                zones,
                since_ms,
                offset_s,
                dms_received: count(Metric::DmReceived),
                dms_sent: count(Metric::DmSent),
                comments: count(Metric::Comment),
                mentions: count(Metric::Mention),
                reactions: count(Metric::Reaction),
                story_replies: count(Metric::StoryReply),
                postbacks: count(Metric::Postback),
                reads: count(Metric::Read),
                deleted: count(Metric::Deleted),
            }
        })
        .collect()
}

/// Total, today and last-hour counts per metric, from the rows a snapshot read.
struct MetricCounts(BTreeMap<Metric, Counts>);

impl MetricCounts {
    fn new(rows: &SnapshotRows) -> Self {
        let mut counts: BTreeMap<Metric, Counts> = BTreeMap::new();
        let mut add = |name: &str, field: fn(&mut Counts) -> &mut i64, count: i64| {
            if let Some(metric) = Metric::from_name(name) {
                *field(counts.entry(metric).or_default()) += count;
            }
        };
        for (name, count) in &rows.metric_totals {
            add(name, |c| &mut c.total, *count);
        }
        for (name, count) in &rows.metric_today {
            add(name, |c| &mut c.today, *count);
        }
        for (_, name, count) in &rows.metric_minutes {
            add(name, |c| &mut c.last_hour, *count);
        }
        MetricCounts(counts)
    }

    fn get(&self, metric: Metric) -> Counts {
        self.0.get(&metric).copied().unwrap_or_default()
    }
}

/// Count, median and p90 of a reply-time histogram's `(bucket, count)` rows.
fn reply_times_of(histogram: &[(i64, i64)]) -> ReplyTimes {
    ReplyTimes {
        count: histogram.iter().map(|(_, count)| count).sum(),
        median_ms: replies::quantile(histogram, 0.5),
        p90_ms: replies::quantile(histogram, 0.9),
    }
}

/// The waiting figures from `(minute the wait began, conversations)` rows.
/// A wait counts from the end of the minute it began in, so neither the
/// count over the threshold nor the oldest wait ever says more than is true.
fn waiting(since_minutes: &[(i64, i64)], now_ms: i64, threshold_s: i64) -> Waiting {
    let rows = since_minutes.iter().filter(|(_, count)| *count > 0);
    let waited = |since_minute: i64| (now_ms - (since_minute + MINUTE_MS)).max(0);
    Waiting {
        total: rows.clone().map(|(_, count)| count).sum(),
        over_threshold: rows
            .clone()
            .filter(|(since_minute, _)| waited(*since_minute) >= threshold_s * 1000)
            .map(|(_, count)| count)
            .sum(),
        oldest_ms: rows.map(|(since_minute, _)| waited(*since_minute)).max(),
        threshold_s,
    }
}

/// The 60 DM buckets starting at `first_minute`, zero where no row exists.
fn series(first_minute: i64, rows: &[(i64, String, i64)]) -> Vec<MinuteBucket> {
    let mut buckets: Vec<MinuteBucket> = (0..SERIES_MINUTES)
        .map(|offset| MinuteBucket {
            minute_ms: first_minute + offset * MINUTE_MS,
            ..MinuteBucket::default()
        })
        .collect();
    for (minute_ms, name, count) in rows {
        let Some(bucket) = buckets.get_mut(((minute_ms - first_minute) / MINUTE_MS) as usize)
        else {
            continue;
        };
        match Metric::from_name(name) {
            Some(Metric::DmSent) => bucket.sent += count,
            Some(Metric::DmReceived) => bucket.received += count,
            _ => {}
        }
    }
    buckets
}
