//! Wire types shared by the server and the browser.

mod accounts;
mod alerts;
mod automation;
mod delivery;
mod history;
pub mod reading;
mod stats_snapshot;

pub use accounts::{
    AccountEvent, AccountPage, AccountRow, AccountSort, AccountsPage, AccountsQuery,
    WaitingConversation, ACCOUNTS_PER_PAGE,
};
pub use alerts::{
    AlertIncident, AlertMessage, AlertRule, AlertTarget, AlertThreshold, AlertsFormAnswer,
    AlertsOverview,
};
pub use automation::{Replies, ReplyTimes, Waiting};
pub use delivery::{BusMode, Delivery};
pub use history::{
    change_percent, HistoryFailure, HistoryPoint, HistoryQuery, HistoryReport, PreviousPoint,
    RangeFigures, RANGES,
};

pub use stats_snapshot::{
    is_utc, Counts, Engagement, MinuteBucket, SnapshotSource, StatsSnapshot, Storage,
    WebhookHealth, ZoneToday,
};

/// `value` encoded for a query string: every byte but letters, digits and
/// `-_.~` as `%XX`.
pub fn query_value(value: &str) -> String {
    let mut text = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            text.push(byte as char);
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}
