//! Server functions, grouped by domain.

pub mod alerts;
pub mod stats;

pub use stats::{current_stats, RefreshStats};
