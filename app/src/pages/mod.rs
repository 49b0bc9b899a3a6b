//! One module per routed page.

pub(crate) mod admin;
pub mod login;

pub use admin::AdminPage;
pub use login::LoginPage;
