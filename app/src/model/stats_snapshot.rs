//! The admin stats snapshot: the one JSON document the dashboard renders.

use serde::{Deserialize, Serialize};

use super::{Delivery, Replies, Waiting};

/// Everything the dashboard shows, computed at one instant from committed data.
///
/// The same document is served by `GET /api/admin/stats`, embedded in the
/// server-rendered page and pushed over SSE, so all three always agree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Count of committed changes to the event store; never goes backwards, so
    /// a receiver can drop anything older than what it already shows.
    pub version: i64,
    /// When the server computed this snapshot (Unix milliseconds).
    pub generated_at_ms: i64,
    /// Why this snapshot was produced.
    pub source: SnapshotSource,
    /// Direct messages sent by the business accounts (echoes).
    pub dms_sent: Counts,
    /// Direct messages received by the business accounts.
    pub dms_received: Counts,
    /// Conversations (business account, other party) with a DM in the last 24 hours.
    pub active_conversations_24h: i64,
    /// Distinct business accounts that ever received a webhook event.
    pub accounts: i64,
    /// The last 60 minutes, oldest first, one bucket per minute (UTC), including
    /// the current minute. On the wire as `{start_ms, sent: [..], received: [..]}`
    /// (see [`compact_series`]): a quarter of the bytes of one object per minute.
    #[serde(with = "compact_series")]
    pub per_minute: Vec<MinuteBucket>,
    /// Timestamp of the newest counted event (Unix milliseconds), if any.
    pub last_event_at_ms: Option<i64>,
    /// Everything else customers do: comments, reactions, reads, ….
    pub engagement: Engagement,
    /// Whether Instagram's deliveries are arriving and being accepted.
    pub webhook_health: WebhookHealth,
    /// How fast the business accounts reply. Absent from older senders.
    #[serde(default)]
    pub replies: Replies,
    /// Conversations waiting for a reply. Absent from older senders.
    #[serde(default)]
    pub waiting: Waiting,
    /// Business accounts that fell silent (see the accounts page). Absent
    /// from older senders.
    #[serde(default)]
    pub silent_accounts: i64,
    /// How the node serving this snapshot hears about other nodes' updates.
    /// Each node sets its own before sending; absent from older senders.
    #[serde(default)]
    pub delivery: Delivery,
    /// The database's room, as the node that computed the snapshot measured
    /// it (at most a minute before). Absent from older senders, and left out
    /// until measured; every frame carries it, so it is kept short.
    #[serde(default, skip_serializing_if = "Storage::is_unmeasured")]
    pub storage: Storage,
    /// Today's counts in each time zone an admin chose (the `today` of
    /// [`Counts`] is the UTC day's), so the live view can show the admin's
    /// own day. Left out when no admin chose a zone; absent from older
    /// senders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones_today: Vec<ZoneToday>,
}

/// Today's counts in the time zones whose day began at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneToday {
    /// The zones' IANA names.
    pub zones: Vec<String>,
    /// When today began in them (Unix ms).
    pub since_ms: i64,
    /// Their offset from UTC now, in seconds (east of Greenwich positive).
    pub offset_s: i64,
    /// DMs received since then.
    pub dms_received: i64,
    /// DMs sent since then.
    pub dms_sent: i64,
    /// Comments since then.
    pub comments: i64,
    /// Mentions since then.
    pub mentions: i64,
    /// Reactions since then.
    pub reactions: i64,
    /// Story replies since then.
    pub story_replies: i64,
    /// Postbacks since then.
    pub postbacks: i64,
    /// Read receipts since then.
    pub reads: i64,
    /// Deleted messages since then.
    pub deleted: i64,
}

/// How much room the database takes, and how much its disk has left. The
/// figures that are unknown are left out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Bytes the database takes (0 until measured).
    pub database_bytes: i64,
    /// Free bytes on the database's disk, when the node can see it (SQLite;
    /// a Postgres server's disk is its own machine's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<i64>,
    /// Size of that disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_total_bytes: Option<i64>,
    /// How fast the database grew over the last hour, per hour (once
    /// measured over a few minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_bytes_per_hour: Option<i64>,
    /// Set when the disk will be full within a day at the current rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Storage {
    /// Nothing measured yet.
    pub fn is_unmeasured(&self) -> bool {
        *self == Storage::default()
    }
}

/// Counts of the non-DM interactions, over the same windows as DMs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    /// Comments on the accounts' media by others.
    pub comments: Counts,
    /// Mentions of the accounts.
    pub mentions: Counts,
    /// Reactions added to messages.
    pub reactions: Counts,
    /// Received DMs that reply to a story (also counted in `dms_received`).
    pub story_replies: Counts,
    /// Button and ice-breaker taps.
    pub postbacks: Counts,
    /// Read receipts for the accounts' messages.
    pub reads: Counts,
    /// Messages deleted by customers (the DM totals never go down).
    pub deleted: Counts,
}

/// The webhook endpoint's recent record. Rejected requests are counted here,
/// never stored as events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookHealth {
    /// When a signed delivery was last accepted (Unix ms), if ever.
    pub last_accepted_at_ms: Option<i64>,
    /// Requests refused for a missing or wrong signature in the last hour.
    pub signature_failures_1h: i64,
    /// All refused requests in the last hour (signature, payload, size, handshake).
    pub rejected_1h: i64,
    /// Events stored but flagged as unreadable in the last hour.
    pub flagged_events_1h: i64,
    /// Set when something needs attention (silence, or failures that could
    /// make Meta disable the endpoint), in words.
    pub warning: Option<String>,
}

/// Why a snapshot was produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotSource {
    /// Computed at start-up, for a new reader, or when the node joins the
    /// other nodes again over Redis, before any change.
    #[default]
    Initial,
    /// Pushed because webhook events were committed.
    Push,
    /// Produced by a clock-driven recompute (the minute roll-over) or a
    /// fallback poll.
    Poll,
    /// Requested by an admin with "Refresh now".
    Manual,
}

/// Counts over three windows (days are UTC days).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Since the store was created.
    pub total: i64,
    /// Since 00:00 UTC today.
    pub today: i64,
    /// In the 60 one-minute buckets of `per_minute`.
    pub last_hour: i64,
}

/// DMs in one UTC minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteBucket {
    /// Start of the minute (Unix milliseconds, a multiple of 60 000).
    pub minute_ms: i64,
    /// DMs sent in that minute.
    pub sent: i64,
    /// DMs received in that minute.
    pub received: i64,
}

/// The entry of `days` that counts today in `zone`, if any.
fn day_in<'a>(days: &'a [ZoneToday], zone: &str) -> Option<&'a ZoneToday> {
    days.iter()
        .find(|day| day.zones.iter().any(|name| name == zone))
}

/// Whether `zone` names UTC itself, whose day is every snapshot's `today`.
pub fn is_utc(zone: &str) -> bool {
    matches!(
        zone,
        "UTC" | "Etc/UTC" | "Etc/Universal" | "Universal" | "Zulu" | "Etc/Zulu"
    )
}

impl StatsSnapshot {
    /// Whether it counts today in `zone` (UTC's day it always does).
    pub fn counts_today_in(&self, zone: &str) -> bool {
        self.offset_s_of(zone).is_some()
    }

    /// `zone`'s offset from UTC now, in seconds, when it counts its day
    /// (0 for UTC).
    pub fn offset_s_of(&self, zone: &str) -> Option<i64> {
        if is_utc(zone) {
            return Some(0);
        }
        day_in(&self.zones_today, zone).map(|day| day.offset_s)
    }

    /// This snapshot with `today` meaning today in `zone` when it counts
    /// that day (see [`Self::counts_today_in`]); unchanged when it does not
    /// (no admin chose the zone yet) and for UTC.
    pub fn in_zone(mut self, zone: &str) -> StatsSnapshot {
        let days = std::mem::take(&mut self.zones_today);
        if let Some(today) = day_in(&days, zone) {
            self.set_today(today);
        }
        self.zones_today = days;
        self
    }

    /// Sets every `today` to `today`'s counts.
    fn set_today(&mut self, today: &ZoneToday) {
        self.dms_received.today = today.dms_received;
        self.dms_sent.today = today.dms_sent;
        let engagement = &mut self.engagement;
        for (counts, count) in [
            (&mut engagement.comments, today.comments),
            (&mut engagement.mentions, today.mentions),
            (&mut engagement.reactions, today.reactions),
            (&mut engagement.story_replies, today.story_replies),
            (&mut engagement.postbacks, today.postbacks),
            (&mut engagement.reads, today.reads),
            (&mut engagement.deleted, today.deleted),
        ] {
            counts.today = count;
        }
    }

    /// The largest per-minute value in the series (at least 1), used to scale the chart.
    pub fn per_minute_peak(&self) -> i64 {
        self.per_minute
            .iter()
            .map(|bucket| bucket.sent.max(bucket.received))
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// The per-minute series as it travels: the first minute and two parallel
/// arrays. Every snapshot goes to every dashboard on every update, and the
/// series was three quarters of its JSON as one object per minute.
pub mod compact_series {
    use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

    use super::MinuteBucket;

    /// One minute in milliseconds.
    const MINUTE_MS: i64 = 60_000;

    #[derive(Serialize, Deserialize)]
    struct Series {
        start_ms: i64,
        sent: Vec<i64>,
        received: Vec<i64>,
    }

    /// Writes consecutive minute buckets as one start and two arrays.
    pub fn serialize<S: Serializer>(
        buckets: &[MinuteBucket],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Series {
            start_ms: buckets.first().map_or(0, |bucket| bucket.minute_ms),
            sent: buckets.iter().map(|bucket| bucket.sent).collect(),
            received: buckets.iter().map(|bucket| bucket.received).collect(),
        }
        .serialize(serializer)
    }

    /// Reads them back; the two arrays must be of equal length.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<MinuteBucket>, D::Error> {
        let series = Series::deserialize(deserializer)?;
        if series.sent.len() != series.received.len() {
            return Err(D::Error::custom(
                "per_minute: `sent` and `received` differ in length",
            ));
        }
        Ok(series
            .sent
            .iter()
            .zip(&series.received)
            .enumerate()
            .map(|(offset, (&sent, &received))| MinuteBucket {
                minute_ms: series.start_ms + offset as i64 * MINUTE_MS,
                sent,
                received,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_with(per_minute: Vec<MinuteBucket>) -> StatsSnapshot {
        StatsSnapshot {
            version: 3,
            source: SnapshotSource::Push,
            per_minute,
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn source_serialises_in_snake_case() {
        let json = serde_json::to_value(snapshot_with(vec![])).unwrap();
        assert_eq!(json["source"], "push");
        assert_eq!(json["dms_sent"]["last_hour"], 0);
    }

    #[test]
    fn the_series_travels_compactly_and_comes_back_whole() {
        let buckets: Vec<MinuteBucket> = (0..60)
            .map(|i| MinuteBucket {
                minute_ms: 1_795_630_800_000 + i * 60_000,
                sent: i % 3,
                received: i % 7,
            })
            .collect();
        let snapshot = snapshot_with(buckets.clone());
        let json = serde_json::to_string(&snapshot).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["per_minute"]["start_ms"], 1_795_630_800_000_i64);
        assert_eq!(value["per_minute"]["sent"].as_array().unwrap().len(), 60);
        let back: StatsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back.per_minute, buckets);
        assert!(json.len() < 1_200, "{} bytes: {json}", json.len());

        let uneven = json.replacen("\"received\":[0,", "\"received\":[", 1);
        assert!(serde_json::from_str::<StatsSnapshot>(&uneven).is_err());
    }

    #[test]
    fn in_a_zone_today_is_the_zones_day_and_the_rest_stays() {
        let mut snapshot = snapshot_with(vec![]);
        snapshot.dms_received = Counts {
            total: 50,
            today: 5,
            last_hour: 2,
        };
        snapshot.engagement.reads.today = 1;
        snapshot.zones_today = vec![ZoneToday {
            zones: vec!["Asia/Kolkata".into(), "Asia/Colombo".into()],
            since_ms: 1_795_545_000_000,
            offset_s: 19_800,
            dms_received: 9,
            reads: 4,
            ..ZoneToday::default()
        }];
        let colombo = snapshot.clone().in_zone("Asia/Colombo");
        assert_eq!(
            colombo.dms_received,
            Counts {
                total: 50,
                today: 9,
                last_hour: 2
            }
        );
        assert_eq!(colombo.engagement.reads.today, 4);
        assert_eq!(colombo.dms_sent.today, 0);
        assert_eq!(colombo.zones_today, snapshot.zones_today);
        assert_eq!(snapshot.clone().in_zone("Europe/Paris"), snapshot);
        assert!(
            snapshot.counts_today_in("Asia/Kolkata") && !snapshot.counts_today_in("Europe/Paris")
        );
        assert_eq!(snapshot.offset_s_of("Asia/Colombo"), Some(19_800));
        assert_eq!(snapshot.offset_s_of("UTC"), Some(0));
        assert_eq!(snapshot.clone().in_zone("Etc/UTC"), snapshot);

        let json = serde_json::to_string(&snapshot_with(vec![])).unwrap();
        assert!(!json.contains("zones_today"), "left out when empty: {json}");
    }

    #[test]
    fn peak_is_the_largest_bucket_value_and_never_zero() {
        assert_eq!(snapshot_with(vec![]).per_minute_peak(), 1);
        let buckets = vec![
            MinuteBucket {
                minute_ms: 0,
                sent: 2,
                received: 7,
            },
            MinuteBucket {
                minute_ms: 60_000,
                sent: 5,
                received: 1,
            },
        ];
        assert_eq!(snapshot_with(buckets).per_minute_peak(), 7);
    }
}
