//! One module per routed page.

pub(crate) mod admin;

pub use admin::AdminPage;
