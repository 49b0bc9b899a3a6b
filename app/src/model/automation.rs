//! Whether the automation answers: reply times and conversations waiting.

use serde::{Deserialize, Serialize};

/// Replies by the business accounts (a sent DM answering received ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replies {
    /// Replies sent in the 60 one-minute buckets of `per_minute`.
    pub last_hour: ReplyTimes,
}

/// How long customers waited for the replies of a window.
///
/// A reply's time runs from the first received DM after the business's
/// previous sent DM (or the first ever) to the business's next sent DM, in
/// event time. Times are kept in a histogram of fixed buckets, so a quantile
/// is the upper bound of the bucket it falls in: "at most this long".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTimes {
    /// Replies in the window.
    pub count: i64,
    /// Median reply time in milliseconds (`None` without replies).
    pub median_ms: Option<i64>,
    /// 90th percentile reply time in milliseconds (`None` without replies).
    pub p90_ms: Option<i64>,
}

/// Conversations whose latest DM is a received one from the last 24 hours
/// (Instagram's messaging window: after it the business can no longer reply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// Conversations waiting for a reply.
    pub total: i64,
    /// Of those, the ones waiting for at least `threshold_s` (to the minute:
    /// a wait is counted from the end of the minute it began in).
    pub over_threshold: i64,
    /// How long the longest-waiting customer has waited, in milliseconds (to
    /// the minute, as above); `None` when nobody waits.
    pub oldest_ms: Option<i64>,
    /// The alert threshold (`AUTOMATION_REPLY_ALERT_S`).
    pub threshold_s: i64,
}
