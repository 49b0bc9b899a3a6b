//! One module per routed page.

pub mod accounts;
pub(crate) mod admin;
mod embedded;
pub mod login;

pub use accounts::Accounts;
pub use admin::AdminPage;
pub use login::LoginPage;
