//! One module per routed page.

mod admin;

pub use admin::AdminPage;
