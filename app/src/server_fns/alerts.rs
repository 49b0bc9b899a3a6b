//! The alerts page's way to the server's alerts: [`AlertsService`], which the
//! `pulse` server provides to every Leptos request as [`AlertsContext`]. The
//! page's forms post to the server's own route; only reading goes through here.

#[cfg(feature = "ssr")]
pub use context::{AlertsContext, AlertsService};

#[cfg(feature = "ssr")]
mod context {
    use std::{future::Future, pin::Pin, sync::Arc};

    use crate::model::AlertsOverview;

    /// What the server's alerts offer to the alerts page.
    pub trait AlertsService: Send + Sync + 'static {
        /// The targets, rules, thresholds and latest incidents, read now,
        /// for `viewer` (their time zone). The error text is safe to show.
        fn overview(
            &self,
            viewer: Option<crate::server_fns::stats::Viewer>,
        ) -> Pin<Box<dyn Future<Output = Result<AlertsOverview, String>> + Send>>;
    }

    /// The handle provided as Leptos context by the server.
    #[derive(Clone)]
    pub struct AlertsContext(pub Arc<dyn AlertsService>);
}
