//! Instagram webhook payloads → [`WebhookEvent`]s ready to store.
//!
//! Strict about the envelope, lenient about events. A delivery that is not
//! JSON, or not an `"object": "instagram"` batch with an `entry` array, is
//! rejected whole (400, nothing stored). Inside it, every event Meta documents
//! is parsed into its typed kind; an event of an unknown kind is kept raw
//! under its own name (logged once per kind), and an event that cannot be read
//! is kept raw and flagged with the reason. Nothing Meta sends is lost, and
//! one bad event never costs the others.

use std::{
    collections::HashSet,
    sync::{Mutex, OnceLock},
};

use serde::{de::IgnoredAny, Deserialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::event::{EventKind, WebhookEvent};

/// Why a delivery was rejected whole. Shown to the sender as is.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or not an object with an `entry` array.
    #[error("malformed webhook payload: {0}")]
    Malformed(String),
    /// JSON nested deeper than any Instagram delivery, refused before parsing.
    #[error("webhook payload nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A different product's webhook (e.g. `"object": "page"`).
    #[error("unsupported webhook object {0:?}; this endpoint accepts \"instagram\" only")]
    UnsupportedObject(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    object: String,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: Id,
    time: Option<Timestamp>,
    #[serde(borrow, default)]
    messaging: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    changes: Option<Vec<&'a RawValue>>,
    field: Option<String>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

/// An id as Meta sends it: a string, occasionally a bare number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(u64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(text) => text,
            Id::Number(number) => number.to_string(),
        }
    }
}

/// A timestamp in seconds or milliseconds, as a number or a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl Timestamp {
    fn to_ms(&self) -> Option<i64> {
        let value = match self {
            Timestamp::Integer(value) => *value,
            Timestamp::Float(value) if value.is_finite() => *value as i64,
            Timestamp::Float(_) => return None,
            Timestamp::Text(text) => text.trim().parse().ok()?,
        };
        Some(normalise_timestamp(value))
    }
}

#[derive(Deserialize)]
struct Party {
    id: Id,
}

#[derive(Deserialize)]
struct MessagingItem {
    sender: Party,
    recipient: Party,
    timestamp: Option<Timestamp>,
    message: Option<Message>,
    reaction: Option<Reaction>,
    postback: Option<Postback>,
    read: Option<Read>,
    referral: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_self: bool,
    reply_to: Option<ReplyTo>,
}

#[derive(Deserialize)]
struct ReplyTo {
    story: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Reaction {
    mid: String,
    action: String,
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Read {
    mid: String,
}

#[derive(Deserialize)]
struct Change<'a> {
    field: String,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CommentValue {
    id: Id,
    from: Option<Party>,
    created_time: Option<Timestamp>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct MentionValue {
    comment_id: Option<Id>,
    media_id: Option<Id>,
}

/// Change fields that carry a messaging item as their value (the Meta
/// dashboard's "Test" button and some logins send DMs this way).
const MESSAGING_FIELDS: [&str; 6] = [
    "messages",
    "message_echoes",
    "message_reactions",
    "messaging_postbacks",
    "messaging_seen",
    "messaging_referral",
];

/// Deepest nesting of arrays and objects accepted. Real deliveries stay under
/// ten levels; the limit keeps absurd input from costing anything to store.
pub const MAX_DEPTH: usize = 64;

/// Parses a delivery received at `received_at_ms` into its events, in order.
pub fn parse(body: &[u8], received_at_ms: i64) -> Result<Vec<WebhookEvent>, PayloadError> {
    if nesting_exceeds(body, MAX_DEPTH) {
        return Err(PayloadError::TooDeep);
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|error| PayloadError::Malformed(error.to_string()))?;
    if envelope.object != "instagram" {
        return Err(PayloadError::UnsupportedObject(envelope.object));
    }
    let mut events = Vec::new();
    for (index, raw_entry) in envelope.entry.iter().enumerate() {
        parse_entry(
            raw_entry,
            &format!("entry[{index}]"),
            received_at_ms,
            &mut events,
        );
    }
    // Keys are made from the times as sent (so a redelivery matches); the
    // buckets use a time no earlier than Instagram and not in the future.
    let latest = received_at_ms.saturating_add(MAX_CLOCK_SKEW_MS);
    for event in &mut events {
        event.occurred_at_ms = event
            .occurred_at_ms
            .clamp(EARLIEST_EVENT_MS, latest.max(EARLIEST_EVENT_MS));
    }
    Ok(events)
}

/// No event predates Instagram's launch (2010-10-06 UTC); earlier times are
/// read as that day.
pub const EARLIEST_EVENT_MS: i64 = 1_286_323_200_000;
/// How far after its arrival an event may say it happened (clocks differ);
/// later times are read as arrival plus this.
pub const MAX_CLOCK_SKEW_MS: i64 = 60 * 60 * 1000;

fn parse_entry(
    raw_entry: &RawValue,
    location: &str,
    received_at_ms: i64,
    events: &mut Vec<WebhookEvent>,
) {
    let entry: Entry = match serde_json::from_str(raw_entry.get()) {
        Ok(entry) => entry,
        Err(error) => {
            events.push(invalid(
                "",
                raw_entry,
                received_at_ms,
                location,
                &error.to_string(),
            ));
            return;
        }
    };
    let account = entry.id.into_string();
    let entry_time = entry
        .time
        .as_ref()
        .and_then(Timestamp::to_ms)
        .unwrap_or(received_at_ms);
    let before = events.len();

    for (index, raw_item) in entry.messaging.iter().flatten().enumerate() {
        let location = format!("{location}.messaging[{index}]");
        events.push(messaging_event(&account, raw_item, entry_time, &location));
    }
    for (index, raw_change) in entry.changes.iter().flatten().enumerate() {
        let location = format!("{location}.changes[{index}]");
        events.push(match serde_json::from_str::<Change>(raw_change.get()) {
            Ok(change) => change_event(
                &account,
                &change.field,
                change.value,
                raw_change,
                entry_time,
                &location,
            ),
            Err(error) => invalid(
                &account,
                raw_change,
                entry_time,
                &location,
                &error.to_string(),
            ),
        });
    }
    // Some logins deliver a change as `field`/`value` on the entry itself.
    if let Some(field) = &entry.field {
        events.push(change_event(
            &account,
            field,
            entry.value,
            raw_entry,
            entry_time,
            location,
        ));
    }
    if events.len() == before {
        events.push(unknown(&account, "entry", raw_entry, entry_time));
    }
}

fn messaging_event(account: &str, raw: &RawValue, entry_time: i64, location: &str) -> WebhookEvent {
    let item: MessagingItem = match serde_json::from_str(raw.get()) {
        Ok(item) => item,
        Err(error) => return invalid(account, raw, entry_time, location, &error.to_string()),
    };
    let at = item
        .timestamp
        .as_ref()
        .and_then(Timestamp::to_ms)
        .unwrap_or(entry_time);
    let sender = item.sender.id.into_string();
    let recipient = item.recipient.id.into_string();
    let event = |kind, key, peer| typed(kind, key, account, peer, at, raw);

    if let Some(message) = item.message {
        let (kind, peer) = if message.is_deleted {
            (EventKind::MessageDeleted, sender)
        } else if message.is_self {
            (EventKind::SelfMessage, recipient)
        } else if message.is_echo {
            // Sent by the business account, so the customer is the recipient.
            (EventKind::DmSent, recipient)
        } else {
            let story_reply = message.reply_to.is_some_and(|reply| reply.story.is_some());
            (EventKind::DmReceived { story_reply }, sender)
        };
        return event(kind, message.mid, Some(peer));
    }
    if let Some(reaction) = item.reaction {
        let kind = if reaction.action == "unreact" {
            EventKind::Unreaction
        } else {
            EventKind::Reaction
        };
        return event(
            kind,
            format!("{sender}:{}:{at}", reaction.mid),
            Some(sender),
        );
    }
    if let Some(postback) = item.postback {
        let key = match postback.mid {
            Some(mid) => mid,
            None => format!("{sender}:{at}:{}", postback.payload.unwrap_or_default()),
        };
        return event(EventKind::Postback, key, Some(sender));
    }
    if let Some(read) = item.read {
        return event(
            EventKind::Read,
            format!("{sender}:{}", read.mid),
            Some(sender),
        );
    }
    if item.referral.is_some() {
        return event(EventKind::Referral, format!("{sender}:{at}"), Some(sender));
    }
    unknown(account, &messaging_kind_name(raw), raw, at)
}

fn change_event(
    account: &str,
    field: &str,
    value: Option<&RawValue>,
    raw: &RawValue,
    entry_time: i64,
    location: &str,
) -> WebhookEvent {
    let Some(value) = value else {
        return invalid(
            account,
            raw,
            entry_time,
            location,
            &format!("change {field:?} has no value"),
        );
    };
    let typed = |kind, key, at, peer| typed(kind, key, account, peer, at, raw);
    match field {
        "comments" | "live_comments" => match serde_json::from_str::<CommentValue>(value.get()) {
            Ok(comment) => {
                let at = comment
                    .created_time
                    .or(comment.timestamp)
                    .as_ref()
                    .and_then(Timestamp::to_ms)
                    .unwrap_or(entry_time);
                let from = comment.from.map(|party| party.id.into_string());
                let kind = if from.as_deref() == Some(account) {
                    EventKind::OwnComment
                } else {
                    EventKind::Comment
                };
                typed(kind, comment.id.into_string(), at, from)
            }
            Err(error) => invalid(account, raw, entry_time, location, &error.to_string()),
        },
        "mentions" => match serde_json::from_str::<MentionValue>(value.get()) {
            Ok(MentionValue {
                comment_id: None,
                media_id: None,
            }) => invalid(
                account,
                raw,
                entry_time,
                location,
                "a mention needs comment_id or media_id",
            ),
            Ok(mention) => {
                let media = mention.media_id.map(Id::into_string).unwrap_or_default();
                let comment = mention.comment_id.map(Id::into_string).unwrap_or_default();
                // One comment can mention several connected accounts: each
                // account's mention is its own event.
                typed(
                    EventKind::Mention,
                    format!("{account}:{media}:{comment}"),
                    entry_time,
                    None,
                )
            }
            Err(error) => invalid(account, raw, entry_time, location, &error.to_string()),
        },
        field if MESSAGING_FIELDS.contains(&field) => {
            let mut event = messaging_event(account, value, entry_time, location);
            // Keep the whole change as received, not only its value.
            event.raw = raw.get().to_string();
            event
        }
        other => unknown(account, &format!("change:{other}"), raw, entry_time),
    }
}

/// A modelled event, deduplicated on its kind and natural key.
fn typed(
    kind: EventKind,
    natural_key: String,
    account: &str,
    peer: Option<String>,
    at: i64,
    raw: &RawValue,
) -> WebhookEvent {
    WebhookEvent {
        dedupe_key: format!("{}:{natural_key}", kind.as_str()),
        kind,
        account_id: account.to_string(),
        peer_id: peer,
        occurred_at_ms: at,
        raw: raw.get().to_string(),
        error: None,
    }
}

/// The name of an unknown messaging item's kind: its first key that is not
/// part of every item (e.g. `message_edit`).
fn messaging_kind_name(raw: &RawValue) -> String {
    let keys: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw.get()).unwrap_or_default();
    keys.keys()
        .find(|key| !matches!(key.as_str(), "sender" | "recipient" | "timestamp"))
        .map(|key| format!("messaging:{key}"))
        .unwrap_or_else(|| "messaging:empty".to_string())
}

fn unknown(account: &str, kind: &str, raw: &RawValue, at: i64) -> WebhookEvent {
    log_unknown_kind_once(kind);
    let kind = EventKind::Unknown(kind.to_string());
    WebhookEvent {
        dedupe_key: content_key(&kind, account, raw),
        kind,
        account_id: account.to_string(),
        peer_id: None,
        occurred_at_ms: at,
        raw: raw.get().to_string(),
        error: None,
    }
}

fn invalid(account: &str, raw: &RawValue, at: i64, location: &str, reason: &str) -> WebhookEvent {
    let error = format!("{location}: {reason}");
    tracing::warn!(%error, "webhook event stored raw and flagged: it could not be read");
    WebhookEvent {
        dedupe_key: content_key(&EventKind::Invalid, account, raw),
        kind: EventKind::Invalid,
        account_id: account.to_string(),
        peer_id: None,
        occurred_at_ms: at,
        raw: raw.get().to_string(),
        error: Some(error),
    }
}

/// Kinds without a natural key are deduplicated on their exact content: a
/// redelivery repeats the same bytes.
fn content_key(kind: &EventKind, account: &str, raw: &RawValue) -> String {
    let mut hash = Sha256::new();
    hash.update(account.as_bytes());
    hash.update([0]);
    hash.update(raw.get().as_bytes());
    format!("{}:{}", kind.as_str(), hex::encode(hash.finalize()))
}

fn log_unknown_kind_once(kind: &str) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.insert(kind.to_string()) {
        tracing::warn!(
            kind,
            "unknown webhook event kind: stored raw, not counted (logged once per kind)"
        );
    }
}

/// Whether `json` nests arrays or objects deeper than `limit`, counting only
/// brackets outside string literals (one pass, no allocation).
fn nesting_exceeds(json: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Messaging events carry milliseconds, some change events seconds: anything
/// below 10^11 (a date in 1973 when read as milliseconds) is taken as seconds.
fn normalise_timestamp(value: i64) -> i64 {
    if value.unsigned_abs() < 100_000_000_000 {
        value.saturating_mul(1000)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Metric;

    const NOW: i64 = 1_795_631_405_000;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn only_event(name: &str) -> WebhookEvent {
        let mut events = parse(fixture(name).as_bytes(), NOW).unwrap();
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        events.remove(0)
    }

    #[test]
    fn every_documented_kind_parses_to_its_typed_event() {
        let cases: &[(&str, &str, &[Metric])] = &[
            ("dm_text", "dm_received", &[Metric::DmReceived]),
            ("dm_attachments", "dm_received", &[Metric::DmReceived]),
            (
                "dm_story_reply",
                "dm_received",
                &[Metric::DmReceived, Metric::StoryReply],
            ),
            ("dm_quick_reply", "dm_received", &[Metric::DmReceived]),
            ("dm_with_referral", "dm_received", &[Metric::DmReceived]),
            ("dm_unsupported", "dm_received", &[Metric::DmReceived]),
            ("dm_reply_to_message", "dm_received", &[Metric::DmReceived]),
            ("dm_echo", "dm_sent", &[Metric::DmSent]),
            ("dm_deleted", "message_deleted", &[Metric::Deleted]),
            ("dm_self", "message_self", &[]),
            ("reaction_react", "reaction", &[Metric::Reaction]),
            ("reaction_unreact", "unreaction", &[]),
            ("postback", "postback", &[Metric::Postback]),
            ("read", "read", &[Metric::Read]),
            ("referral", "referral", &[]),
            ("comment_in_changes", "comment", &[Metric::Comment]),
            ("comment_on_entry", "comment", &[Metric::Comment]),
            ("own_comment", "own_comment", &[]),
            ("mention_in_changes", "mention", &[Metric::Mention]),
            ("mention_on_entry", "mention", &[Metric::Mention]),
            ("test_button_message", "dm_received", &[Metric::DmReceived]),
            ("unknown_messaging_kind", "messaging:message_edit", &[]),
            ("unknown_change_field", "change:story_insights", &[]),
        ];
        for (name, kind, metrics) in cases {
            let event = only_event(name);
            assert_eq!(event.kind.as_str(), *kind, "{name}");
            assert_eq!(event.kind.metrics(), *metrics, "{name}");
            assert_eq!(event.error, None, "{name}");
            assert_eq!(
                EventKind::from_stored(event.kind.as_str(), &event.raw),
                event.kind,
                "{name}: read back from what is stored"
            );
            assert!(
                event.dedupe_key.starts_with(kind),
                "{name}: {}",
                event.dedupe_key
            );
        }
    }

    #[test]
    fn dms_know_their_customer_and_keep_their_exact_json() {
        let received = only_event("dm_text");
        assert_eq!(received.account_id, "17841400000000001");
        assert_eq!(received.peer_id.as_deref(), Some("9001"));
        assert_eq!(received.occurred_at_ms, 1_795_631_400_123);
        assert_eq!(
            received.dedupe_key,
            "dm_received:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx"
        );
        assert!(
            received.raw.starts_with(r#"{"sender":{"id":"9001"}"#),
            "{}",
            received.raw
        );

        let sent = only_event("dm_echo");
        assert_eq!(
            sent.peer_id.as_deref(),
            Some("9001"),
            "the customer is the recipient of an echo"
        );
        let comment = only_event("comment_on_entry");
        assert!(
            comment.raw.contains(r"\u00bfPrecio? \ud83d\ude0d"),
            "escapes are kept: {}",
            comment.raw
        );
        assert_eq!(comment.dedupe_key, "comment:17900000000000002");
    }

    #[test]
    fn seconds_milliseconds_and_numeric_strings_become_milliseconds() {
        assert_eq!(
            only_event("comment_in_changes").occurred_at_ms,
            1_795_631_402_000
        );
        assert_eq!(
            only_event("test_button_message").occurred_at_ms,
            1_527_459_824_000
        );
        assert_eq!(normalise_timestamp(1_795_631_400), 1_795_631_400_000);
        assert_eq!(normalise_timestamp(1_795_631_400_123), 1_795_631_400_123);
    }

    #[test]
    fn event_times_are_clamped_between_instagram_and_arrival_without_overflow() {
        let at = |timestamp: &str| {
            let body = format!(
                r#"{{"object":"instagram","entry":[{{"id":"biz","messaging":[
                {{"sender":{{"id":"c"}},"recipient":{{"id":"biz"}},"timestamp":{timestamp},"message":{{"mid":"m","text":"t"}}}}]}}]}}"#
            );
            let events = parse(body.as_bytes(), NOW).unwrap();
            assert_eq!(events[0].kind.as_str(), "dm_received", "{timestamp}");
            events[0].occurred_at_ms
        };
        assert_eq!(at(&i64::MIN.to_string()), EARLIEST_EVENT_MS);
        assert_eq!(at("-1"), EARLIEST_EVENT_MS);
        assert_eq!(at(&i64::MAX.to_string()), NOW + MAX_CLOCK_SKEW_MS);
        assert_eq!(at("1e300"), NOW + MAX_CLOCK_SKEW_MS);
        assert_eq!(
            at("1795631400000"),
            1_795_631_400_000,
            "sane times are kept"
        );
        assert_eq!(normalise_timestamp(i64::MIN), i64::MIN);
    }

    #[test]
    fn a_comment_mentioning_two_accounts_is_a_mention_for_each() {
        let body = r#"{"object":"instagram","entry":[
            {"id":"acct-a","time":1795631402,"changes":[{"field":"mentions","value":{"media_id":"m1","comment_id":"c1"}}]},
            {"id":"acct-b","time":1795631402,"changes":[{"field":"mentions","value":{"media_id":"m1","comment_id":"c1"}}]}]}"#;
        let events = parse(body.as_bytes(), NOW).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind.as_str(), "mention");
        assert_ne!(events[0].dedupe_key, events[1].dedupe_key);
        assert_eq!(events[0].dedupe_key, "mention:acct-a:m1:c1");
    }

    #[test]
    fn reactions_are_keyed_by_who_what_and_when() {
        let react = only_event("reaction_react");
        let unreact = only_event("reaction_unreact");
        assert_ne!(react.dedupe_key, unreact.dedupe_key);
        assert_eq!(react.dedupe_key, "reaction:9001:mid-echo-1:1795631401700");
    }

    #[test]
    fn one_bad_event_is_flagged_and_the_others_survive() {
        let body = r#"{"object":"instagram","entry":[
            {"id":"biz","messaging":[
                {"sender":{"id":"c"},"recipient":{"id":"biz"},"timestamp":1795631400000,"message":{"mid":"ok","text":"fine"}},
                {"sender":{"id":"c"},"recipient":{"id":"biz"},"timestamp":1795631400000,"message":{"text":"no mid"}},
                "not an object"]},
            {"time":1795631400,"messaging":[]}]}"#;
        let events = parse(body.as_bytes(), NOW).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["dm_received", "invalid", "invalid", "invalid"]);
        let error = events[1].error.as_deref().unwrap();
        assert!(
            error.starts_with("entry[0].messaging[1]") && error.contains("mid"),
            "{error}"
        );
        assert!(events[3].error.as_deref().unwrap().starts_with("entry[1]:"));
        assert_ne!(events[1].dedupe_key, events[2].dedupe_key);
    }

    #[test]
    fn unreadable_deliveries_are_rejected_whole() {
        assert!(matches!(
            parse(b"{not json", NOW),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"object":"instagram"}"#, NOW),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"object":"instagram","entry":{}}"#, NOW),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"object":"page","entry":[]}"#, NOW),
            Err(PayloadError::UnsupportedObject(object)) if object == "page"
        ));
    }

    #[test]
    fn absurdly_deep_nesting_is_refused_before_parsing() {
        let deep = |depth: usize| {
            format!(
                r#"{{"object":"instagram","entry":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(matches!(
            parse(deep(100_000).as_bytes(), NOW),
            Err(PayloadError::TooDeep)
        ));
        assert!(matches!(
            parse(deep(MAX_DEPTH).as_bytes(), NOW),
            Err(PayloadError::TooDeep)
        ));
        // Depth 63 inside the envelope's object is allowed (and flagged as an unreadable entry).
        assert!(parse(deep(MAX_DEPTH - 1).as_bytes(), NOW).is_ok());
        // Brackets inside strings do not count, escaped quotes do not end a string.
        let text = format!(
            r#"{{"object":"instagram","entry":[],"note":"\"{}"}}"#,
            "[".repeat(1000)
        );
        assert!(parse(text.as_bytes(), NOW).is_ok());
    }
}
