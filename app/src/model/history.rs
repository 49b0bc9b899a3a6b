//! What a date range shows: its figures, the previous period's, and its
//! chart, one point per step (`GET /api/admin/history`, the range view of
//! `/admin`).

use serde::{Deserialize, Serialize};

/// Every figure of one span of time (a whole range, the period before it,
/// or one step of its chart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeFigures {
    /// DMs received.
    pub dms_received: i64,
    /// DMs sent.
    pub dms_sent: i64,
    /// DMs received that reply to a story.
    pub story_replies: i64,
    /// Reactions added.
    pub reactions: i64,
    /// Comments received.
    pub comments: i64,
    /// Mentions.
    pub mentions: i64,
    /// Postbacks (button taps).
    pub postbacks: i64,
    /// Read receipts.
    pub reads: i64,
    /// Messages deleted by customers.
    pub deleted: i64,
    /// Replies sent (a sent DM answering waiting received ones).
    pub replies: i64,
    /// Median reply time in milliseconds (the upper edge of its bucket), if
    /// any reply was sent.
    pub reply_median_ms: Option<i64>,
    /// 90th-percentile reply time in milliseconds, if any reply was sent.
    pub reply_p90_ms: Option<i64>,
    /// Webhook requests refused (bad signature, unreadable, too large, ...).
    pub refused: i64,
    /// Conversations with a DM in the span, estimated (a standard error of
    /// about 3 %):
    /// the service's whole range and previous period only, `None` for a
    /// step of the chart and for one account.
    pub active_conversations: Option<i64>,
}

impl RangeFigures {
    /// Reactions, comments, mentions, story replies and postbacks together:
    /// the "engagement" card.
    pub fn engagement(&self) -> i64 {
        self.reactions + self.comments + self.mentions + self.story_replies + self.postbacks
    }
}

/// One step of a range's chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// When the step begins, in Unix milliseconds.
    pub start_ms: i64,
    /// When it begins, as the range's zone writes it (`2026-11-30T00:00:00+05:30`).
    pub start: String,
    /// Its short label on the chart (`09:00`, `Mon 30 Nov`).
    pub label: String,
    /// Its figures.
    pub figures: RangeFigures,
}

/// A date range's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The page it is shown on: `/admin` for the whole service,
    /// `/admin/accounts/{id}` for one business account.
    pub page: String,
    /// The range's key (`24h`, `today`, `7d`, ..., or `custom`).
    pub range: String,
    /// The query string that asks for this report (zone, step and, for a
    /// custom range, its days included): the CSV's link.
    pub query: String,
    /// What it is called on the page ("Last 7 days", "1 Nov – 30 Nov 2026").
    pub label: String,
    /// The IANA time zone its days and labels follow.
    pub zone: String,
    /// Whether that zone was chosen (named in the address, or the one the
    /// admin chose before) rather than UTC for want of one.
    pub zone_chosen: bool,
    /// The zone's abbreviation and offset now (`IST, UTC+05:30`).
    pub zone_offset: String,
    /// Where the range begins and ends (`[from, to)`), as the zone writes it.
    pub from: String,
    /// See `from`.
    pub to: String,
    /// The chart's step: `hour`, `day` or `week`.
    pub step: String,
    /// The range's figures (up to now, for a range that reaches past now).
    pub figures: RangeFigures,
    /// The previous period's figures: the same length just before (for
    /// "today", the same part of yesterday).
    pub previous: RangeFigures,
    /// Where the previous period begins and ends, as the zone writes it.
    pub previous_from: String,
    /// See `previous_from`.
    pub previous_to: String,
    /// Whether its figures may still change: it reaches into the last 36
    /// hours, within which Meta may still deliver (late or again).
    pub still_changing: bool,
    /// The chart, one point per step.
    pub points: Vec<HistoryPoint>,
    /// Whether the chart overlays the previous period (`overlay=previous`).
    pub overlay: bool,
    /// With the overlay, the previous period's DMs step by step, in the same
    /// steps as `points` (the n-th step of each period side by side); empty
    /// without it.
    pub previous_points: Vec<PreviousPoint>,
    /// What the figures cannot show exactly as asked, in words (one
    /// account's history is kept by the hour, and by the day further back);
    /// `None` when they can.
    pub note: Option<String>,
}

impl HistoryReport {
    /// Where the same report is served as JSON (`/api/admin/history`,
    /// `/api/admin/accounts/{id}/history`), without its query.
    pub fn json_address(&self) -> String {
        format!("/api{}/history", self.page)
    }

    /// Where its series is served as CSV, with its query.
    pub fn csv_address(&self) -> String {
        format!("/api{}/history.csv?{}", self.page, self.query)
    }
}

/// One step of the previous period, as the chart overlays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousPoint {
    /// When the step begins, as the range's zone writes it.
    pub start: String,
    /// Its short label (`09:00`, `Mon 30 Nov`).
    pub label: String,
    /// DMs received in it.
    pub dms_received: i64,
    /// DMs sent in it.
    pub dms_sent: i64,
}

/// The named ranges: their keys in the address and their labels.
pub const RANGES: [(&str, &str); 7] = [
    ("24h", "Last 24 hours"),
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("12m", "Last 12 months"),
];

/// A date range as the address asks for it (`/admin?range=7d&zone=...`,
/// `GET /api/admin/history?...`); the server places it in time and says
/// which parameter it does not understand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// `24h`, `today`, `yesterday`, `7d`, `30d`, `90d`, `12m`, `custom`, or
    /// `live` (the live dashboard, no range).
    pub range: Option<String>,
    /// The first day of a custom range (`2026-11-01`).
    pub from: Option<String>,
    /// The last day of a custom range, included.
    pub to: Option<String>,
    /// The IANA time zone (`Asia/Kolkata`); UTC when absent.
    pub zone: Option<String>,
    /// `hour`, `day` or `week`; fitted to the range when absent.
    pub step: Option<String>,
    /// `previous`: the chart overlays the previous period.
    pub overlay: Option<String>,
}

impl HistoryQuery {
    /// From the query string's values, by name; empty values count as absent.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let given = |name: &str| get(name).filter(|value| !value.is_empty());
        HistoryQuery {
            range: given("range"),
            from: given("from"),
            to: given("to"),
            zone: given("zone"),
            step: given("step"),
            overlay: given("overlay"),
        }
    }

    /// Whether it asks for a range (and not the live dashboard).
    pub fn is_range(&self) -> bool {
        match self.range.as_deref() {
            Some("live") => false,
            Some(_) => true,
            None => self.from.is_some() || self.to.is_some(),
        }
    }

    /// The named range `key` in the same zone, with the same overlay.
    pub fn named(&self, key: &str) -> HistoryQuery {
        HistoryQuery {
            range: Some(key.to_string()),
            zone: self.zone.clone(),
            overlay: self.overlay.clone(),
            ..HistoryQuery::default()
        }
    }

    /// The same query with the previous period overlaid on the chart, or not.
    pub fn overlaid(&self, overlay: bool) -> HistoryQuery {
        HistoryQuery {
            overlay: overlay.then(|| "previous".to_string()),
            ..self.clone()
        }
    }

    /// As a query string (`range=7d&zone=Asia%2FKolkata`), values encoded.
    pub fn to_query_string(&self) -> String {
        [
            ("range", &self.range),
            ("from", &self.from),
            ("to", &self.to),
            ("zone", &self.zone),
            ("step", &self.step),
            ("overlay", &self.overlay),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .map(|value| format!("{name}={}", super::query_value(value)))
        })
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// Why a range's report could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFailure {
    /// The range asked for is not understood (a 400), rather than the
    /// database failing (a 503).
    pub bad_request: bool,
    /// What to tell the admin (names the parameter; never internal detail).
    pub message: String,
}

impl HistoryFailure {
    /// A parameter not understood (a 400): `message` names it.
    pub fn bad_request(message: impl Into<String>) -> Self {
        HistoryFailure {
            bad_request: true,
            message: message.into(),
        }
    }

    /// The server failed (a 503): `message` says what, without detail.
    pub fn unavailable(message: impl Into<String>) -> Self {
        HistoryFailure {
            bad_request: false,
            message: message.into(),
        }
    }
}

/// The change from `previous` to `current` in whole percent, if `previous`
/// is not zero (`Some(12)` for ▲ 12 %, `Some(-3)` for ▼ 3 %).
pub fn change_percent(current: i64, previous: i64) -> Option<i64> {
    if previous == 0 {
        return None;
    }
    let change = (current - previous) as f64 * 100.0 / previous as f64;
    Some(change.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_round_trips_through_its_query_string() {
        let query = HistoryQuery {
            range: Some("custom".into()),
            from: Some("2026-11-01".into()),
            to: Some("2026-11-30".into()),
            zone: Some("Etc/GMT+5".into()),
            step: None,
            overlay: None,
        };
        let text = query.to_query_string();
        assert_eq!(
            text,
            "range=custom&from=2026-11-01&to=2026-11-30&zone=Etc%2FGMT%2B5"
        );
        assert!(query.is_range());
        assert!(!query.named("live").is_range());
        assert_eq!(
            query.named("7d").to_query_string(),
            "range=7d&zone=Etc%2FGMT%2B5"
        );
        let overlaid = query.named("7d").overlaid(true);
        assert_eq!(
            overlaid.to_query_string(),
            "range=7d&zone=Etc%2FGMT%2B5&overlay=previous"
        );
        assert_eq!(
            overlaid.named("30d").to_query_string(),
            "range=30d&zone=Etc%2FGMT%2B5&overlay=previous"
        );
        assert_eq!(overlaid.overlaid(false), query.named("7d"));
    }

    #[test]
    fn change_is_rounded_and_signed() {
        assert_eq!(change_percent(112, 100), Some(12));
        assert_eq!(change_percent(97, 100), Some(-3));
        assert_eq!(change_percent(1, 3), Some(-67));
        assert_eq!(change_percent(5, 0), None);
        assert_eq!(change_percent(0, 4), Some(-100));
    }
}
