//! Building blocks of the dashboard.

mod live_badge;
mod minute_chart;
mod stat_card;

pub use live_badge::{ConnectionState, LiveBadge};
pub use minute_chart::MinuteChart;
pub use stat_card::StatCard;
