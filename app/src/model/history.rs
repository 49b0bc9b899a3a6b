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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The range's key (`24h`, `today`, `7d`, ..., or `custom`).
    pub range: String,
    /// What it is called on the page ("Last 7 days", "1 Nov – 30 Nov 2026").
    pub label: String,
    /// The IANA time zone its days and labels follow.
    pub zone: String,
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
    fn change_is_rounded_and_signed() {
        assert_eq!(change_percent(112, 100), Some(12));
        assert_eq!(change_percent(97, 100), Some(-3));
        assert_eq!(change_percent(1, 3), Some(-67));
        assert_eq!(change_percent(5, 0), None);
        assert_eq!(change_percent(0, 4), Some(-100));
    }
}
