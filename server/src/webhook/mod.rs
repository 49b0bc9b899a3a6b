//! The Instagram webhook endpoint: `GET` handshake and signed `POST` deliveries.

mod handler;
pub mod payload;
pub mod refusals;
pub mod signature;

pub use handler::{receive, verify_subscription, WebhookError, BODY_LIMIT_BYTES};

/// Where Instagram delivers webhooks (and checks the subscription).
pub const PATH: &str = "/api/webhooks/instagram";
