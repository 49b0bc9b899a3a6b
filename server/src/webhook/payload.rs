//! Instagram webhook payloads → [`WebhookEvent`]s ready to store.
//!
//! Parsing is strict about the envelope (a delivery that is not an
//! `"object": "instagram"` batch, or a DM without its `mid`, is rejected whole
//! with a message naming the offending place) and lenient about everything
//! else: unknown fields are ignored and event kinds this version does not
//! model are kept raw under their own kind, so nothing Meta sends is lost.

use serde::Deserialize;
use serde_json::value::RawValue;

/// What a stored event means for the stats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A DM received by a business account.
    DmReceived,
    /// A DM sent by a business account (Meta's "echo").
    DmSent,
    /// Stored raw, not counted: reactions, reads, postbacks, comments, ….
    /// Holds the kind's name, e.g. `reaction` or `change:comments`.
    Unmodelled(String),
}

impl EventKind {
    /// Name stored in the `kind` column.
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::DmReceived => "dm_received",
            EventKind::DmSent => "dm_sent",
            EventKind::Unmodelled(name) => name,
        }
    }
}

/// One event of a delivery, with its exact JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// What the event is.
    pub kind: EventKind,
    /// Natural key for deduplication (`dm_received:<mid>`), when the kind has one.
    pub dedupe_key: Option<String>,
    /// The business account the entry belongs to (`entry[].id`).
    pub account_id: String,
    /// The other party of a DM: the customer's Instagram-scoped id.
    pub peer_id: Option<String>,
    /// When the event happened (Unix milliseconds).
    pub occurred_at_ms: i64,
    /// The event's JSON exactly as received.
    pub raw: String,
}

/// Why a delivery was rejected. Shown to the sender as is.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed webhook payload: {0}")]
    Malformed(String),
    /// A different product's webhook (e.g. `"object": "page"`).
    #[error("unsupported webhook object {0:?}; this endpoint accepts \"instagram\" only")]
    UnsupportedObject(String),
    /// A required field is missing or has the wrong type.
    #[error("invalid event at {location}: {reason}")]
    InvalidEvent {
        /// Where, e.g. `entry[0].messaging[2]`.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    object: String,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    id: String,
    time: Option<i64>,
    #[serde(borrow, default)]
    messaging: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    changes: Option<Vec<&'a RawValue>>,
    field: Option<String>,
}

#[derive(Deserialize)]
struct MessagingItem {
    sender: Party,
    recipient: Party,
    timestamp: Option<i64>,
    message: Option<Message>,
    reaction: Option<serde::de::IgnoredAny>,
    postback: Option<serde::de::IgnoredAny>,
    read: Option<serde::de::IgnoredAny>,
    referral: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    is_echo: bool,
}

#[derive(Deserialize)]
struct Change {
    field: String,
}

/// Parses a delivery received at `received_at_ms` into its events, in order.
pub fn parse(body: &[u8], received_at_ms: i64) -> Result<Vec<WebhookEvent>, PayloadError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|error| PayloadError::Malformed(error.to_string()))?;
    if envelope.object != "instagram" {
        return Err(PayloadError::UnsupportedObject(envelope.object));
    }
    let mut events = Vec::new();
    for (entry_index, raw_entry) in envelope.entry.iter().enumerate() {
        let location = format!("entry[{entry_index}]");
        let entry: Entry = from_raw(raw_entry, &location)?;
        let entry_time = entry
            .time
            .map(normalise_timestamp)
            .unwrap_or(received_at_ms);
        let mut found_events = false;

        for (index, raw_item) in entry.messaging.iter().flatten().enumerate() {
            let location = format!("{location}.messaging[{index}]");
            let item: MessagingItem = from_raw(raw_item, &location)?;
            events.push(messaging_event(&entry.id, item, raw_item, entry_time));
            found_events = true;
        }
        for (index, raw_change) in entry.changes.iter().flatten().enumerate() {
            let location = format!("{location}.changes[{index}]");
            let change: Change = from_raw(raw_change, &location)?;
            events.push(unmodelled(
                &entry.id,
                format!("change:{}", change.field),
                raw_change,
                entry_time,
            ));
            found_events = true;
        }
        // Some logins deliver a change as `field`/`value` on the entry itself.
        if let Some(field) = &entry.field {
            events.push(unmodelled(
                &entry.id,
                format!("change:{field}"),
                raw_entry,
                entry_time,
            ));
            found_events = true;
        }
        if !found_events {
            events.push(unmodelled(
                &entry.id,
                "entry".to_string(),
                raw_entry,
                entry_time,
            ));
        }
    }
    Ok(events)
}

fn from_raw<'a, T: Deserialize<'a>>(raw: &'a RawValue, location: &str) -> Result<T, PayloadError> {
    serde_json::from_str(raw.get()).map_err(|error| PayloadError::InvalidEvent {
        location: location.to_string(),
        reason: error.to_string(),
    })
}

fn messaging_event(
    account_id: &str,
    item: MessagingItem,
    raw: &RawValue,
    entry_time: i64,
) -> WebhookEvent {
    let occurred_at_ms = item
        .timestamp
        .map(normalise_timestamp)
        .unwrap_or(entry_time);
    let Some(message) = item.message else {
        let kind = if item.reaction.is_some() {
            "reaction"
        } else if item.postback.is_some() {
            "postback"
        } else if item.read.is_some() {
            "read"
        } else if item.referral.is_some() {
            "referral"
        } else {
            "unknown"
        };
        return unmodelled(account_id, kind.to_string(), raw, occurred_at_ms);
    };
    // An echo is sent by the business account, so the customer is the recipient.
    let (kind, peer) = if message.is_echo {
        (EventKind::DmSent, item.recipient.id)
    } else {
        (EventKind::DmReceived, item.sender.id)
    };
    WebhookEvent {
        dedupe_key: Some(format!("{}:{}", kind.as_str(), message.mid)),
        kind,
        account_id: account_id.to_string(),
        peer_id: Some(peer),
        occurred_at_ms,
        raw: raw.get().to_string(),
    }
}

fn unmodelled(account_id: &str, kind: String, raw: &RawValue, occurred_at_ms: i64) -> WebhookEvent {
    WebhookEvent {
        kind: EventKind::Unmodelled(kind),
        dedupe_key: None,
        account_id: account_id.to_string(),
        peer_id: None,
        occurred_at_ms,
        raw: raw.get().to_string(),
    }
}

/// Messaging events carry milliseconds, some change events seconds: anything
/// below 10^11 (a date in 1973 when read as milliseconds) is taken as seconds.
fn normalise_timestamp(value: i64) -> i64 {
    if value.abs() < 100_000_000_000 {
        value * 1000
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_631_405_000;

    fn dm(mid: &str, is_echo: bool) -> String {
        let (sender, recipient) = if is_echo {
            ("biz", "cust")
        } else {
            ("cust", "biz")
        };
        format!(
            r#"{{"sender":{{"id":"{sender}"}},"recipient":{{"id":"{recipient}"}},"timestamp":1795631400000,
               "message":{{"mid":"{mid}","text":"hi","is_echo":{is_echo},"extra":[1,2]}}}}"#
        )
    }

    fn batch(items: &[String]) -> Vec<u8> {
        format!(r#"{{"object":"instagram","entry":[{{"id":"biz","time":1795631400,"messaging":[{}]}}]}}"#, items.join(","))
            .into_bytes()
    }

    #[test]
    fn received_and_echoed_dms_become_typed_events_with_their_raw_json() {
        let events = parse(&batch(&[dm("m1", false), dm("m2", true)]), NOW).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, EventKind::DmReceived);
        assert_eq!(events[0].dedupe_key.as_deref(), Some("dm_received:m1"));
        assert_eq!(events[0].peer_id.as_deref(), Some("cust"));
        assert_eq!(events[0].occurred_at_ms, 1_795_631_400_000);
        assert!(events[0].raw.contains(r#""extra":[1,2]"#));
        assert_eq!(events[1].kind, EventKind::DmSent);
        assert_eq!(events[1].peer_id.as_deref(), Some("cust"));
        assert_eq!(events[1].account_id, "biz");
    }

    #[test]
    fn unmodelled_kinds_are_kept_raw_under_their_name() {
        let reaction = r#"{"sender":{"id":"c"},"recipient":{"id":"biz"},"timestamp":1,"reaction":{"mid":"m","action":"react"}}"#;
        let body = format!(
            r#"{{"object":"instagram","entry":[
                {{"id":"biz","time":1795631400,"messaging":[{reaction}]}},
                {{"id":"biz","time":1795631400,"changes":[{{"field":"comments","value":{{"id":"c1"}}}}]}},
                {{"id":"biz","time":1795631400,"field":"mentions","value":{{"comment_id":"c2"}}}}]}}"#
        );
        let kinds: Vec<String> = parse(body.as_bytes(), NOW)
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_string())
            .collect();
        assert_eq!(kinds, ["reaction", "change:comments", "change:mentions"]);
    }

    #[test]
    fn seconds_are_normalised_to_milliseconds() {
        assert_eq!(normalise_timestamp(1_795_631_400), 1_795_631_400_000);
        assert_eq!(normalise_timestamp(1_795_631_400_123), 1_795_631_400_123);
    }

    #[test]
    fn wrong_shapes_are_rejected_with_their_location() {
        let no_mid =
            r#"{"sender":{"id":"c"},"recipient":{"id":"biz"},"message":{"text":"x"}}"#.to_string();
        let error = parse(&batch(&[dm("ok", false), no_mid]), NOW)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("entry[0].messaging[1]") && error.contains("mid"),
            "{error}"
        );

        assert!(matches!(
            parse(b"{not json", NOW),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"object":"instagram"}"#, NOW),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"object":"page","entry":[]}"#, NOW),
            Err(PayloadError::UnsupportedObject(object)) if object == "page"
        ));
    }

    #[test]
    fn absurdly_deep_nesting_is_rejected_not_overflowed() {
        let depth = 100_000;
        let body = format!(
            r#"{{"object":"instagram","entry":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Rejected with a readable reason; the parser neither recurses that deep nor panics.
        let error = parse(body.as_bytes(), NOW).unwrap_err().to_string();
        assert!(error.starts_with("invalid event at entry[0]"), "{error}");
    }
}
