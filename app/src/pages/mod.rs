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

use crate::model::HistoryFailure;

/// Sets the status of the page being rendered for `failure`: 400 for a
/// parameter not understood, 503 when the server failed (on the server; the
/// browser renders no status).
pub(crate) fn answer_status(failure: &HistoryFailure) {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(if failure.bad_request {
            http::StatusCode::BAD_REQUEST
        } else {
            http::StatusCode::SERVICE_UNAVAILABLE
        });
    }
    #[cfg(not(feature = "ssr"))]
    let _ = failure;
}

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
