//! The Instagram webhook endpoint: `GET` handshake and signed `POST` deliveries.

pub mod payload;
pub mod refusals;
pub mod signature;

/// Where Instagram delivers webhooks (and checks the subscription).
pub const PATH: &str = "/api/webhooks/instagram";
