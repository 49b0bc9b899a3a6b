//! Reading a snapshot out of a parsed JSON value, without serde.
//!
//! The browser parses the pushed frames with its own `JSON.parse` and reads
//! the fields here: `serde_json` and the float formatting its error messages
//! pull in were a sixth of the wasm. The server writes the JSON with serde;
//! the tests read it back through this module to keep both sides in step.

use super::{
    AccountEvent, AccountPage, AccountRow, AccountsPage, BusMode, Counts, Delivery, Engagement,
    HistoryPoint, HistoryReport, MinuteBucket, PreviousPoint, RangeFigures, Replies, ReplyTimes,
    SnapshotSource, StatsSnapshot, Storage, Waiting, WaitingConversation, WebhookHealth, ZoneToday,
};

/// One minute in milliseconds.
const MINUTE_MS: i64 = 60_000;

/// What the reader needs of a parsed JSON value.
pub trait JsonValue: Sized {
    /// The member `key` of an object (`None` when absent or not an object).
    fn member(&self, key: &str) -> Option<Self>;
    /// The value as a whole number.
    fn integer(&self) -> Option<i64>;
    /// The value as a string.
    fn text(&self) -> Option<String>;
    /// The value as a boolean.
    fn boolean(&self) -> Option<bool>;
    /// Whether the value is `null`.
    fn is_null(&self) -> bool;
    /// The items of an array.
    fn items(&self) -> Option<Vec<Self>>;
}

/// A wire type the browser reads from a parsed JSON value.
pub trait Readable: Sized {
    /// The value in `value` (as the server serialises it); `None` when a
    /// required field is missing or of the wrong type.
    fn read(value: &impl JsonValue) -> Option<Self>;
}

impl Readable for StatsSnapshot {
    /// `replies`, `waiting`, `silent_accounts` and `delivery` default when
    /// absent, as they do for serde.
    fn read(value: &impl JsonValue) -> Option<Self> {
        Some(StatsSnapshot {
            version: int(value, "version")?,
            generated_at_ms: int(value, "generated_at_ms")?,
            source: match value.member("source")?.text()?.as_str() {
                "initial" => SnapshotSource::Initial,
                "push" => SnapshotSource::Push,
                "poll" => SnapshotSource::Poll,
                "manual" => SnapshotSource::Manual,
                _ => return None,
            },
            dms_sent: counts(&value.member("dms_sent")?)?,
            dms_received: counts(&value.member("dms_received")?)?,
            active_conversations_24h: int(value, "active_conversations_24h")?,
            accounts: int(value, "accounts")?,
            per_minute: series(&value.member("per_minute")?)?,
            last_event_at_ms: optional_int(value, "last_event_at_ms")?,
            engagement: engagement(&value.member("engagement")?)?,
            webhook_health: webhook_health(&value.member("webhook_health")?)?,
            replies: match value.member("replies") {
                Some(replies) => Replies {
                    last_hour: reply_times(&replies.member("last_hour")?)?,
                },
                None => Replies::default(),
            },
            waiting: match value.member("waiting") {
                Some(waiting) => Waiting {
                    total: int(&waiting, "total")?,
                    over_threshold: int(&waiting, "over_threshold")?,
                    oldest_ms: optional_int(&waiting, "oldest_ms")?,
                    threshold_s: int(&waiting, "threshold_s")?,
                },
                None => Waiting::default(),
            },
            silent_accounts: match value.member("silent_accounts") {
                Some(count) => count.integer()?,
                None => 0,
            },
            delivery: match value.member("delivery") {
                Some(delivery) => Delivery {
                    mode: match delivery.member("mode")?.text()?.as_str() {
                        "in_process" => BusMode::InProcess,
                        "pubsub" => BusMode::Pubsub,
                        "cache_poll" => BusMode::CachePoll,
                        "db_poll" => BusMode::DbPoll,
                        _ => return None,
                    },
                    poll_every_s: u32::try_from(int(&delivery, "poll_every_s")?).ok()?,
                },
                None => Delivery::default(),
            },
            storage: match value.member("storage") {
                Some(storage) => Storage {
                    database_bytes: int(&storage, "database_bytes")?,
                    disk_free_bytes: optional_int(&storage, "disk_free_bytes")?,
                    disk_total_bytes: optional_int(&storage, "disk_total_bytes")?,
                    growth_bytes_per_hour: optional_int(&storage, "growth_bytes_per_hour")?,
                    warning: optional_text(&storage, "warning")?,
                },
                None => Storage::default(),
            },
            zones_today: match value.member("zones_today") {
                Some(days) => days
                    .items()?
                    .iter()
                    .map(zone_today)
                    .collect::<Option<Vec<_>>>()?,
                None => Vec::new(),
            },
        })
    }
}

fn zone_today(value: &impl JsonValue) -> Option<ZoneToday> {
    Some(ZoneToday {
        zones: value
            .member("zones")?
            .items()?
            .iter()
            .map(JsonValue::text)
            .collect::<Option<Vec<_>>>()?,
        since_ms: int(value, "since_ms")?,
        offset_s: int(value, "offset_s")?,
        dms_received: int(value, "dms_received")?,
        dms_sent: int(value, "dms_sent")?,
        comments: int(value, "comments")?,
        mentions: int(value, "mentions")?,
        reactions: int(value, "reactions")?,
        story_replies: int(value, "story_replies")?,
        postbacks: int(value, "postbacks")?,
        reads: int(value, "reads")?,
        deleted: int(value, "deleted")?,
    })
}

/// A text handed from a page's render to its island; `null` when it has none.
impl Readable for Option<String> {
    fn read(value: &impl JsonValue) -> Option<Self> {
        if value.is_null() {
            Some(None)
        } else {
            Some(Some(value.text()?))
        }
    }
}

impl Readable for AccountsPage {
    fn read(value: &impl JsonValue) -> Option<Self> {
        Some(AccountsPage {
            generated_at_ms: int(value, "generated_at_ms")?,
            version: int(value, "version")?,
            total: int(value, "total")?,
            offset: int(value, "offset")?,
            silent: int(value, "silent")?,
            zone: optional_text(value, "zone")?,
            today: value.member("today")?.text()?,
            rows: value
                .member("rows")?
                .items()?
                .iter()
                .map(account_row)
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

impl Readable for AccountPage {
    fn read(value: &impl JsonValue) -> Option<Self> {
        Some(AccountPage {
            generated_at_ms: int(value, "generated_at_ms")?,
            version: int(value, "version")?,
            row: account_row(&value.member("row")?)?,
            zone: optional_text(value, "zone")?,
            today: value.member("today")?.text()?,
            zone_offset_s: int(value, "zone_offset_s")?,
            hours: value
                .member("hours")?
                .items()?
                .iter()
                .map(|pair| {
                    let pair = pair.items()?;
                    Some((pair.first()?.integer()?, pair.get(1)?.integer()?))
                })
                .collect::<Option<Vec<_>>>()?,
            silence: optional_text(value, "silence")?,
            waiting: value
                .member("waiting")?
                .items()?
                .iter()
                .map(|item| {
                    Some(WaitingConversation {
                        customer: item.member("customer")?.text()?,
                        since_ms: int(item, "since_ms")?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            latest: value
                .member("latest")?
                .items()?
                .iter()
                .map(|item| {
                    Some(AccountEvent {
                        at_ms: int(item, "at_ms")?,
                        kind: item.member("kind")?.text()?,
                        customer: optional_text(item, "customer")?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

impl Readable for HistoryReport {
    fn read(value: &impl JsonValue) -> Option<Self> {
        let text = |key: &str| value.member(key)?.text();
        Some(HistoryReport {
            page: text("page")?,
            range: text("range")?,
            query: text("query")?,
            label: text("label")?,
            zone: text("zone")?,
            zone_chosen: value.member("zone_chosen")?.boolean()?,
            zone_offset: text("zone_offset")?,
            from: text("from")?,
            to: text("to")?,
            step: text("step")?,
            figures: range_figures(&value.member("figures")?)?,
            previous: range_figures(&value.member("previous")?)?,
            previous_from: text("previous_from")?,
            previous_to: text("previous_to")?,
            still_changing: value.member("still_changing")?.boolean()?,
            points: value
                .member("points")?
                .items()?
                .iter()
                .map(history_point)
                .collect::<Option<Vec<_>>>()?,
            overlay: value.member("overlay")?.boolean()?,
            previous_points: value
                .member("previous_points")?
                .items()?
                .iter()
                .map(previous_point)
                .collect::<Option<Vec<_>>>()?,
            note: optional_text(value, "note")?,
        })
    }
}

fn previous_point(value: &impl JsonValue) -> Option<PreviousPoint> {
    Some(PreviousPoint {
        start: value.member("start")?.text()?,
        label: value.member("label")?.text()?,
        dms_received: int(value, "dms_received")?,
        dms_sent: int(value, "dms_sent")?,
    })
}

fn history_point(value: &impl JsonValue) -> Option<HistoryPoint> {
    Some(HistoryPoint {
        start_ms: int(value, "start_ms")?,
        start: value.member("start")?.text()?,
        label: value.member("label")?.text()?,
        figures: range_figures(&value.member("figures")?)?,
    })
}

fn range_figures(value: &impl JsonValue) -> Option<RangeFigures> {
    Some(RangeFigures {
        dms_received: int(value, "dms_received")?,
        dms_sent: int(value, "dms_sent")?,
        story_replies: int(value, "story_replies")?,
        reactions: int(value, "reactions")?,
        comments: int(value, "comments")?,
        mentions: int(value, "mentions")?,
        postbacks: int(value, "postbacks")?,
        reads: int(value, "reads")?,
        deleted: int(value, "deleted")?,
        replies: int(value, "replies")?,
        reply_median_ms: optional_int(value, "reply_median_ms")?,
        reply_p90_ms: optional_int(value, "reply_p90_ms")?,
        refused: int(value, "refused")?,
        active_conversations: optional_int(value, "active_conversations")?,
    })
}

fn account_row(value: &impl JsonValue) -> Option<AccountRow> {
    Some(AccountRow {
        account_id: value.member("account_id")?.text()?,
        received_today: int(value, "received_today")?,
        sent_today: int(value, "sent_today")?,
        waiting: int(value, "waiting")?,
        median_reply_ms: optional_int(value, "median_reply_ms")?,
        last_event_at_ms: optional_int(value, "last_event_at_ms")?,
        silent: value.member("silent")?.boolean()?,
        name: optional_text(value, "name")?,
    })
}

fn int(value: &impl JsonValue, key: &str) -> Option<i64> {
    value.member(key)?.integer()
}

/// `Some(None)` when absent or `null`, `None` when of the wrong type.
fn optional_int(value: &impl JsonValue, key: &str) -> Option<Option<i64>> {
    match value.member(key) {
        None => Some(None),
        Some(member) if member.is_null() => Some(None),
        Some(member) => member.integer().map(Some),
    }
}

fn counts(value: &impl JsonValue) -> Option<Counts> {
    Some(Counts {
        total: int(value, "total")?,
        today: int(value, "today")?,
        last_hour: int(value, "last_hour")?,
    })
}

/// The compact series: `{start_ms, sent: [..], received: [..]}`, arrays of
/// equal length.
fn series(value: &impl JsonValue) -> Option<Vec<MinuteBucket>> {
    let start_ms = int(value, "start_ms")?;
    let numbers = |key: &str| -> Option<Vec<i64>> {
        value
            .member(key)?
            .items()?
            .iter()
            .map(JsonValue::integer)
            .collect()
    };
    let (sent, received) = (numbers("sent")?, numbers("received")?);
    if sent.len() != received.len() {
        return None;
    }
    Some(
        sent.into_iter()
            .zip(received)
            .enumerate()
            .map(|(offset, (sent, received))| MinuteBucket {
                minute_ms: start_ms + offset as i64 * MINUTE_MS,
                sent,
                received,
            })
            .collect(),
    )
}

fn engagement(value: &impl JsonValue) -> Option<Engagement> {
    let field = |key: &str| counts(&value.member(key)?);
    Some(Engagement {
        comments: field("comments")?,
        mentions: field("mentions")?,
        reactions: field("reactions")?,
        story_replies: field("story_replies")?,
        postbacks: field("postbacks")?,
        reads: field("reads")?,
        deleted: field("deleted")?,
    })
}

fn webhook_health(value: &impl JsonValue) -> Option<WebhookHealth> {
    Some(WebhookHealth {
        last_accepted_at_ms: optional_int(value, "last_accepted_at_ms")?,
        signature_failures_1h: int(value, "signature_failures_1h")?,
        rejected_1h: int(value, "rejected_1h")?,
        flagged_events_1h: int(value, "flagged_events_1h")?,
        warning: optional_text(value, "warning")?,
    })
}

/// A text member that may be absent or null.
fn optional_text(value: &impl JsonValue, key: &str) -> Option<Option<String>> {
    match value.member(key) {
        None => Some(None),
        Some(text) if text.is_null() => Some(None),
        Some(text) => Some(Some(text.text()?)),
    }
}

fn reply_times(value: &impl JsonValue) -> Option<ReplyTimes> {
    Some(ReplyTimes {
        count: int(value, "count")?,
        median_ms: optional_int(value, "median_ms")?,
        p90_ms: optional_int(value, "p90_ms")?,
    })
}

/// The browser's values, from `JSON.parse`.
#[cfg(feature = "hydrate")]
impl JsonValue for wasm_bindgen::JsValue {
    fn member(&self, key: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        js_sys::Reflect::get(self, &wasm_bindgen::JsValue::from_str(key))
            .ok()
            .filter(|member| !member.is_undefined())
    }

    fn integer(&self) -> Option<i64> {
        // JSON numbers are doubles; every figure here is a whole number
        // well inside the 2^53 they hold exactly.
        let number = self.as_f64()?;
        (number.fract() == 0.0 && number.abs() <= 9_007_199_254_740_992.0).then_some(number as i64)
    }

    fn text(&self) -> Option<String> {
        self.as_string()
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn is_null(&self) -> bool {
        wasm_bindgen::JsValue::is_null(self)
    }

    fn items(&self) -> Option<Vec<Self>> {
        js_sys::Array::is_array(self).then(|| js_sys::Array::from(self).iter().collect())
    }
}

/// Parses `text` with the browser's `JSON.parse` and reads a `T` from it.
#[cfg(feature = "hydrate")]
pub fn parse<T: Readable>(text: &str) -> Option<T> {
    T::read(&js_sys::JSON::parse(text).ok()?)
}

#[cfg(test)]
impl JsonValue for serde_json::Value {
    fn member(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).cloned()
    }

    fn integer(&self) -> Option<i64> {
        self.as_i64()
    }

    fn text(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn is_null(&self) -> bool {
        serde_json::Value::is_null(self)
    }

    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot with a different value in every field.
    fn full_snapshot() -> StatsSnapshot {
        let counts = |base: i64| Counts {
            total: base,
            today: base + 1,
            last_hour: base + 2,
        };
        StatsSnapshot {
            version: 7,
            generated_at_ms: 1_795_631_405_000,
            source: SnapshotSource::Manual,
            dms_sent: counts(10),
            dms_received: counts(20),
            active_conversations_24h: 30,
            accounts: 31,
            per_minute: (0..60)
                .map(|i| MinuteBucket {
                    minute_ms: 1_795_627_860_000 + i * MINUTE_MS,
                    sent: i,
                    received: 2 * i,
                })
                .collect(),
            last_event_at_ms: Some(1_795_631_404_000),
            engagement: Engagement {
                comments: counts(40),
                mentions: counts(50),
                reactions: counts(60),
                story_replies: counts(70),
                postbacks: counts(80),
                reads: counts(90),
                deleted: counts(100),
            },
            webhook_health: WebhookHealth {
                last_accepted_at_ms: Some(1_795_631_400_000),
                signature_failures_1h: 3,
                rejected_1h: 4,
                flagged_events_1h: 5,
                warning: Some("Check \"IG_APP_SECRET\" </script>".to_string()),
            },
            replies: Replies {
                last_hour: ReplyTimes {
                    count: 12,
                    median_ms: Some(30_000),
                    p90_ms: Some(300_000),
                },
            },
            waiting: Waiting {
                total: 4,
                over_threshold: 2,
                oldest_ms: Some(660_000),
                threshold_s: 300,
            },
            silent_accounts: 2,
            storage: Storage {
                database_bytes: 123_456_789,
                disk_free_bytes: Some(9_000_000_000),
                disk_total_bytes: Some(20_000_000_000),
                growth_bytes_per_hour: Some(45_000_000),
                warning: Some("The disk fills in about 3 hours".to_string()),
            },
            delivery: Delivery {
                mode: BusMode::DbPoll,
                poll_every_s: 10,
            },
            zones_today: vec![ZoneToday {
                zones: vec!["Asia/Kathmandu".to_string(), "Asia/Katmandu".to_string()],
                since_ms: 1_795_546_000_000,
                offset_s: 20_700,
                dms_received: 110,
                dms_sent: 111,
                comments: 112,
                mentions: 113,
                reactions: 114,
                story_replies: 115,
                postbacks: 116,
                reads: 117,
                deleted: 118,
            }],
        }
    }

    #[test]
    fn what_the_server_writes_reads_back_whole() {
        let snapshot = full_snapshot();
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(StatsSnapshot::read(&json), Some(snapshot));

        let empty = StatsSnapshot::default();
        let json = serde_json::to_value(&empty).unwrap();
        assert_eq!(StatsSnapshot::read(&json), Some(empty));
    }

    #[test]
    fn an_accounts_page_reads_back_whole() {
        let page = AccountsPage {
            generated_at_ms: 1_795_631_405_000,
            version: 9,
            total: 250,
            offset: 100,
            silent: 1,
            zone: Some("Asia/Kolkata".to_string()),
            today: "today: from 00:30 in Asia/Kolkata".to_string(),
            rows: vec![
                AccountRow {
                    account_id: "17841400000001".to_string(),
                    received_today: 5,
                    sent_today: 4,
                    waiting: 1,
                    median_reply_ms: Some(30_000),
                    last_event_at_ms: Some(1_795_631_000_000),
                    silent: false,
                    name: Some("Shop \"Lisbon\", 2nd floor".to_string()),
                },
                AccountRow {
                    account_id: "quiet".to_string(),
                    silent: true,
                    ..AccountRow::default()
                },
            ],
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(AccountsPage::read(&json), Some(page));
        let mut broken = json;
        broken["rows"][1]["silent"] = serde_json::json!("yes");
        assert_eq!(AccountsPage::read(&broken), None);
    }

    #[test]
    fn an_account_page_reads_back_whole() {
        let page = AccountPage {
            generated_at_ms: 1_795_631_405_000,
            version: 12,
            row: AccountRow {
                account_id: "17841400000001".to_string(),
                received_today: 5,
                silent: true,
                ..AccountRow::default()
            },
            zone: Some("Asia/Kathmandu".to_string()),
            today: "today: since midnight in Asia/Kathmandu".to_string(),
            zone_offset_s: 20_700,
            hours: vec![(1_795_600_800_000, 40), (1_795_604_400_000, 2)],
            silence: Some("Busy in the previous 24 hours".to_string()),
            waiting: vec![WaitingConversation {
                customer: "customer-7".to_string(),
                since_ms: 1_795_631_000_000,
            }],
            latest: vec![
                AccountEvent {
                    at_ms: 1_795_631_400_000,
                    kind: "dm_received".to_string(),
                    customer: Some("customer-7".to_string()),
                },
                AccountEvent {
                    at_ms: 1_795_631_300_000,
                    kind: "mention".to_string(),
                    customer: None,
                },
            ],
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(AccountPage::read(&json), Some(page.clone()));
        let quiet = AccountPage {
            silence: None,
            hours: Vec::new(),
            waiting: Vec::new(),
            latest: Vec::new(),
            ..page
        };
        let json = serde_json::to_value(&quiet).unwrap();
        assert_eq!(AccountPage::read(&json), Some(quiet));
        let mut broken = json;
        broken["hours"] = serde_json::json!([[1, "two"]]);
        assert_eq!(AccountPage::read(&broken), None);
    }

    #[test]
    fn a_history_report_reads_back_whole() {
        let figures = RangeFigures {
            dms_received: 12,
            dms_sent: 9,
            story_replies: 1,
            reactions: 2,
            comments: 3,
            mentions: 4,
            postbacks: 5,
            reads: 6,
            deleted: 7,
            replies: 8,
            reply_median_ms: Some(60_000),
            reply_p90_ms: None,
            refused: 10,
            active_conversations: Some(11),
        };
        let report = HistoryReport {
            page: "/admin/accounts/17841400000001".to_string(),
            range: "7d".to_string(),
            query: "range=7d&zone=Asia%2FKolkata&step=day".to_string(),
            label: "Last 7 days".to_string(),
            zone: "Asia/Kolkata".to_string(),
            zone_chosen: true,
            zone_offset: "IST, UTC+05:30".to_string(),
            from: "2026-11-30T00:00:00+05:30".to_string(),
            to: "2026-12-07T00:00:00+05:30".to_string(),
            step: "day".to_string(),
            figures: figures.clone(),
            previous: RangeFigures::default(),
            previous_from: "2026-11-23T00:00:00+05:30".to_string(),
            previous_to: "2026-11-30T00:00:00+05:30".to_string(),
            still_changing: true,
            points: vec![HistoryPoint {
                start_ms: 1_795_631_400_000,
                start: "2026-11-30T00:00:00+05:30".to_string(),
                label: "Mon 30 Nov".to_string(),
                figures,
            }],
            overlay: true,
            previous_points: vec![PreviousPoint {
                start: "2026-11-23T00:00:00+05:30".to_string(),
                label: "Mon 23 Nov".to_string(),
                dms_received: 4,
                dms_sent: 2,
            }],
            note: Some("One account's figures are kept by the hour".to_string()),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(HistoryReport::read(&json), Some(report));
    }

    #[test]
    fn every_bus_mode_and_source_reads_back() {
        for mode in [
            BusMode::InProcess,
            BusMode::Pubsub,
            BusMode::CachePoll,
            BusMode::DbPoll,
        ] {
            for source in [
                SnapshotSource::Initial,
                SnapshotSource::Push,
                SnapshotSource::Poll,
                SnapshotSource::Manual,
            ] {
                let mut snapshot = full_snapshot();
                snapshot.delivery.mode = mode;
                snapshot.source = source;
                let json = serde_json::to_value(&snapshot).unwrap();
                assert_eq!(StatsSnapshot::read(&json), Some(snapshot));
            }
        }
    }

    #[test]
    fn sections_added_later_default_when_absent() {
        let mut json = serde_json::to_value(full_snapshot()).unwrap();
        let object = json.as_object_mut().unwrap();
        object.remove("replies");
        object.remove("waiting");
        object.remove("delivery");
        object.remove("zones_today");
        let read = StatsSnapshot::read(&json).unwrap();
        assert_eq!(read.zones_today, Vec::new());
        assert_eq!(read.replies, Replies::default());
        assert_eq!(read.waiting, Waiting::default());
        assert_eq!(read.delivery, Delivery::default());
    }

    #[test]
    fn missing_wrong_or_uneven_fields_are_refused() {
        let json = serde_json::to_value(full_snapshot()).unwrap();
        let without = |key: &str| {
            let mut json = json.clone();
            json.as_object_mut().unwrap().remove(key);
            json
        };
        assert_eq!(StatsSnapshot::read(&without("version")), None);
        assert_eq!(StatsSnapshot::read(&without("engagement")), None);
        let mut wrong = json.clone();
        wrong["dms_sent"]["today"] = serde_json::json!("many");
        assert_eq!(StatsSnapshot::read(&wrong), None);
        let mut uneven = json.clone();
        uneven["per_minute"]["sent"] = serde_json::json!([1, 2]);
        assert_eq!(StatsSnapshot::read(&uneven), None);
        let mut zone = json.clone();
        zone["zones_today"][0]["zones"] = serde_json::json!([7]);
        assert_eq!(StatsSnapshot::read(&zone), None);
        let mut unknown = json;
        unknown["source"] = serde_json::json!("telepathy");
        assert_eq!(StatsSnapshot::read(&unknown), None);
    }
}
