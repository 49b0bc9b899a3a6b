//! Building blocks of the dashboard.

mod automation;
mod engagement_table;
mod live_badge;
mod minute_chart;
mod stat_card;
mod webhook_status;

pub use automation::{RepliesCard, WaitingCard};
pub use engagement_table::EngagementTable;
pub use live_badge::LiveBadge;
pub use minute_chart::MinuteChart;
pub use stat_card::StatCard;
pub use webhook_status::WebhookStatus;
