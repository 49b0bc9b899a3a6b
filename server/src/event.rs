//! The domain: the typed events a webhook delivery is made of, what each one
//! counts for, and why a delivery can be refused.
//!
//! Both the webhook (which reads deliveries into these types) and the store
//! (which keeps and counts them) depend on this module; it depends on nothing
//! of the crate.

/// What a stored event is. Every kind Meta documents for Instagram has its own
/// variant; anything else is kept raw as [`EventKind::Unknown`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A DM received from a customer (text, attachments, quick reply,
    /// referral, unsupported content, or a reply to a story).
    DmReceived {
        /// The DM answers one of the account's stories (`reply_to.story`).
        story_reply: bool,
    },
    /// A DM sent by the business account (Meta's "echo").
    DmSent,
    /// A message the account sent to itself (`is_self`); not a conversation.
    SelfMessage,
    /// A customer deleted a message (`is_deleted`). Totals never go down: the
    /// DM was received, and deletions are counted on their own.
    MessageDeleted,
    /// A customer reacted to a message.
    Reaction,
    /// A customer removed a reaction.
    Unreaction,
    /// A button or ice-breaker tap.
    Postback,
    /// A customer read the account's messages up to `mid` (`messaging_seen`).
    Read,
    /// A customer arrived through an ad or link referral.
    Referral,
    /// A comment on the account's media by someone else.
    Comment,
    /// A comment by the account itself (a reply); not "received".
    OwnComment,
    /// The account was mentioned in a comment or caption.
    Mention,
    /// A kind this version does not know; kept raw, never counted.
    Unknown(String),
    /// An event that could not be read; kept raw with the reason. It counts
    /// only towards the webhook health figures.
    Invalid,
}

impl EventKind {
    /// Name stored in the `kind` column: [`EventKind::label`], except that an
    /// unmodelled kind keeps the name the payload gave it.
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Unknown(name) => name,
            modelled => modelled.label(),
        }
    }

    /// The kind's name with every unmodelled kind as `unknown`: the metrics
    /// label (a payload must not choose label values).
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::DmReceived { .. } => "dm_received",
            EventKind::DmSent => "dm_sent",
            EventKind::SelfMessage => "message_self",
            EventKind::MessageDeleted => "message_deleted",
            EventKind::Reaction => "reaction",
            EventKind::Unreaction => "unreaction",
            EventKind::Postback => "postback",
            EventKind::Read => "read",
            EventKind::Referral => "referral",
            EventKind::Comment => "comment",
            EventKind::OwnComment => "own_comment",
            EventKind::Mention => "mention",
            EventKind::Unknown(_) => "unknown",
            EventKind::Invalid => "invalid",
        }
    }

    /// The counters this kind adds one to.
    pub fn metrics(&self) -> &'static [Metric] {
        match self {
            EventKind::DmReceived { story_reply: false } => &[Metric::DmReceived],
            EventKind::DmReceived { story_reply: true } => {
                &[Metric::DmReceived, Metric::StoryReply]
            }
            EventKind::DmSent => &[Metric::DmSent],
            EventKind::MessageDeleted => &[Metric::Deleted],
            EventKind::Reaction => &[Metric::Reaction],
            EventKind::Postback => &[Metric::Postback],
            EventKind::Read => &[Metric::Read],
            EventKind::Comment => &[Metric::Comment],
            EventKind::Mention => &[Metric::Mention],
            EventKind::Invalid => &[Metric::Flagged],
            EventKind::SelfMessage
            | EventKind::Unreaction
            | EventKind::Referral
            | EventKind::OwnComment
            | EventKind::Unknown(_) => &[],
        }
    }

    /// The kind of a stored event, from its `kind` column and its raw JSON
    /// (which says whether a received DM replies to a story): what it was
    /// stored as, so that it counts for the same metrics again.
    pub fn from_stored(kind: &str, raw: &str) -> EventKind {
        match kind {
            "dm_received" => EventKind::DmReceived {
                story_reply: replies_to_story(raw),
            },
            "dm_sent" => EventKind::DmSent,
            "message_self" => EventKind::SelfMessage,
            "message_deleted" => EventKind::MessageDeleted,
            "reaction" => EventKind::Reaction,
            "unreaction" => EventKind::Unreaction,
            "postback" => EventKind::Postback,
            "read" => EventKind::Read,
            "referral" => EventKind::Referral,
            "comment" => EventKind::Comment,
            "own_comment" => EventKind::OwnComment,
            "mention" => EventKind::Mention,
            "invalid" => EventKind::Invalid,
            other => EventKind::Unknown(other.to_string()),
        }
    }

    /// Whether the event is a DM in a conversation with a customer.
    pub fn is_dm(&self) -> bool {
        matches!(self, EventKind::DmReceived { .. } | EventKind::DmSent)
    }

    /// Whether the event was understood (it then counts its business account).
    pub fn is_modelled(&self) -> bool {
        !matches!(self, EventKind::Unknown(_) | EventKind::Invalid)
    }
}

/// Whether a received DM's raw JSON (a `messaging` item) replies to a story
/// (`message.reply_to.story`).
fn replies_to_story(raw: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .is_some_and(|item| !item["message"]["reply_to"]["story"].is_null())
}

/// A counter kept in the aggregate tables (total, per UTC day, per minute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// DMs received.
    DmReceived,
    /// DMs sent.
    DmSent,
    /// DMs received that reply to a story.
    StoryReply,
    /// Messages deleted by customers.
    Deleted,
    /// Reactions added.
    Reaction,
    /// Postbacks (button taps).
    Postback,
    /// Read receipts.
    Read,
    /// Comments received.
    Comment,
    /// Mentions.
    Mention,
    /// Events stored flagged as unreadable (a webhook health figure).
    Flagged,
}

impl Metric {
    /// Every metric, in a fixed order.
    pub const ALL: [Metric; 10] = [
        Metric::DmReceived,
        Metric::DmSent,
        Metric::StoryReply,
        Metric::Deleted,
        Metric::Reaction,
        Metric::Postback,
        Metric::Read,
        Metric::Comment,
        Metric::Mention,
        Metric::Flagged,
    ];

    /// Name stored in the `metric` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::DmReceived => "dm_received",
            Metric::DmSent => "dm_sent",
            Metric::StoryReply => "story_reply",
            Metric::Deleted => "message_deleted",
            Metric::Reaction => "reaction",
            Metric::Postback => "postback",
            Metric::Read => "read",
            Metric::Comment => "comment",
            Metric::Mention => "mention",
            Metric::Flagged => "flagged",
        }
    }

    /// The metric stored under `name`, if any.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL
            .into_iter()
            .find(|metric| metric.as_str() == name)
    }
}

/// One event of a delivery, with its exact JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// What the event is.
    pub kind: EventKind,
    /// Natural key for deduplication (e.g. `dm_received:<mid>`, `comment:<id>`).
    pub dedupe_key: String,
    /// The business account the entry belongs to (`entry[].id`; empty when unreadable).
    pub account_id: String,
    /// The other party of a DM: the customer's Instagram-scoped id.
    pub peer_id: Option<String>,
    /// When the event happened (Unix milliseconds).
    pub occurred_at_ms: i64,
    /// The event's JSON exactly as received.
    pub raw: String,
    /// Why the event could not be read ([`EventKind::Invalid`] only).
    pub error: Option<String>,
}

/// Why a webhook request was refused before anything was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// Missing, malformed or wrong `X-Hub-Signature-256`.
    Signature,
    /// Not a readable Instagram delivery.
    Payload,
    /// Body over the size limit.
    TooLarge,
    /// The body could not be read for another reason.
    Body,
    /// A failed subscription handshake (wrong verify token or mode).
    Verification,
}

impl Rejection {
    /// Every reason, in a fixed order.
    pub const ALL: [Rejection; 5] = [
        Rejection::Signature,
        Rejection::Payload,
        Rejection::TooLarge,
        Rejection::Body,
        Rejection::Verification,
    ];

    /// Name stored in the `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Signature => "signature",
            Rejection::Payload => "payload",
            Rejection::TooLarge => "too_large",
            Rejection::Body => "body",
            Rejection::Verification => "verification",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip_and_are_distinct() {
        for metric in Metric::ALL {
            assert_eq!(Metric::from_name(metric.as_str()), Some(metric));
        }
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
    }

    #[test]
    fn story_replies_count_as_received_dms_too() {
        let kind = EventKind::DmReceived { story_reply: true };
        assert_eq!(kind.metrics(), &[Metric::DmReceived, Metric::StoryReply]);
        assert!(kind.is_dm());
        assert!(EventKind::Unknown("x".into()).metrics().is_empty());
        assert_eq!(EventKind::Invalid.metrics(), &[Metric::Flagged]);
    }
}
