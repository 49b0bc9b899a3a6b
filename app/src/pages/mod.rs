//! One module per routed page.

pub mod account;
pub mod accounts;
pub(crate) mod admin;
pub mod alerts;
mod embedded;
pub mod login;
pub mod range;

pub use account::AccountPageView;
pub use accounts::Accounts;
pub use admin::AdminPage;
pub use alerts::AlertsPage;
pub use login::LoginPage;

use leptos::prelude::*;

/// One part of a page's view. On the server its type is erased
/// (`AnyView`), which keeps the page's type within the compiler's depth limit;
/// in the browser it keeps its static type, because an `AnyView` carries the
/// code to hydrate its content asynchronously too (about a fifth of
/// the wasm).
pub(crate) fn part(view: impl IntoView + 'static) -> impl IntoView {
    #[cfg(not(feature = "hydrate"))]
    {
        view.into_any()
    }
    #[cfg(feature = "hydrate")]
    {
        view
    }
}
