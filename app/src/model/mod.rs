//! Wire types shared by the server and the browser.

mod accounts;
mod automation;
mod delivery;
mod history;
pub mod reading;
mod stats_snapshot;

pub use accounts::{AccountRow, AccountSort, AccountsPage, AccountsQuery, ACCOUNTS_PER_PAGE};
pub use automation::{Replies, ReplyTimes, Waiting};
pub use delivery::{BusMode, Delivery};
pub use history::{change_percent, HistoryPoint, HistoryReport, RangeFigures};

pub use stats_snapshot::{
    Counts, Engagement, MinuteBucket, SnapshotSource, StatsSnapshot, Storage, WebhookHealth,
};
