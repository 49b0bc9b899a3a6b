//! Server functions for the stats snapshot.
//!
//! The dashboard needs two things from the server: the current snapshot for the
//! first render, and a way to force a recompute ("Refresh now"). Both reach the
//! server's stats machinery through [`StatsContext`], which the `pulse` server
//! provides to every Leptos request; the `app` crate never sees the database.

use leptos::prelude::*;

use crate::model::StatsSnapshot;

#[cfg(feature = "ssr")]
pub use context::{StatsContext, StatsService, Viewer};

#[cfg(feature = "ssr")]
mod context {
    use std::{future::Future, pin::Pin, sync::Arc};

    use crate::model::{
        AccountPage, AccountsPage, AccountsQuery, HistoryFailure, HistoryQuery, HistoryReport,
        StatsSnapshot,
    };

    /// What the server's stats machinery offers to server functions.
    pub trait StatsService: Send + Sync + 'static {
        /// The newest published snapshot (cheap: no database access).
        fn latest(&self) -> StatsSnapshot;

        /// Recomputes the snapshot from the database, broadcasts it to every
        /// connected dashboard and returns it. The error text is safe to show.
        fn refresh_now(
            &self,
        ) -> Pin<Box<dyn Future<Output = Result<StatsSnapshot, String>> + Send>>;

        /// One page of the accounts table, computed now, today counted in
        /// the zone the query names (remembered as `viewer`'s), else in the
        /// one they chose before. The error text is safe to show.
        fn accounts(
            &self,
            query: AccountsQuery,
            viewer: Option<Viewer>,
        ) -> Pin<Box<dyn Future<Output = Result<AccountsPage, HistoryFailure>> + Send>>;

        /// The page of the account `id`, computed now, today counted as for
        /// [`StatsService::accounts`] with `zone`; `None` when it was never
        /// seen. The error text is safe to show.
        fn account(
            &self,
            id: String,
            zone: Option<String>,
            viewer: Option<Viewer>,
        ) -> Pin<Box<dyn Future<Output = Result<Option<AccountPage>, HistoryFailure>> + Send>>;

        /// The report of the date range `query` asks for, of the whole
        /// service or of the business `account`, computed now, for `viewer`:
        /// in the zone the query names (remembered as theirs), else in the
        /// one they chose before.
        fn history(
            &self,
            account: Option<String>,
            query: HistoryQuery,
            viewer: Option<Viewer>,
        ) -> Pin<Box<dyn Future<Output = Result<HistoryReport, HistoryFailure>> + Send>>;

        /// The time zone the live view counts today in for `viewer`: the one
        /// `named` (checked, then remembered as theirs), else the one they
        /// chose before, if any.
        fn live_zone(
            &self,
            named: Option<String>,
            viewer: Option<Viewer>,
        ) -> Pin<Box<dyn Future<Output = Result<Option<String>, HistoryFailure>> + Send>>;
    }

    /// The admin a page is rendered for: put in the request's extensions by
    /// the server's session guard, read by the pages through Leptos's
    /// request context.
    #[derive(Clone, Debug)]
    pub struct Viewer {
        /// Their email, the login name.
        pub email: String,
    }

    impl Viewer {
        /// The admin the page being rendered is for, from the request's
        /// extensions (`None` outside a request the guard let through).
        pub fn of_request() -> Option<Viewer> {
            leptos::prelude::use_context::<http::request::Parts>()
                .and_then(|request| request.extensions.get::<Viewer>().cloned())
        }
    }

    /// The handle provided as Leptos context by the server.
    #[derive(Clone)]
    pub struct StatsContext(pub Arc<dyn StatsService>);
}

#[cfg(feature = "ssr")]
fn stats_context() -> Result<StatsContext, ServerFnError> {
    use_context::<StatsContext>()
        .ok_or_else(|| ServerFnError::new("the stats service is not available"))
}

/// The newest published snapshot.
#[server(endpoint = "admin/stats/current")]
pub async fn current_stats() -> Result<StatsSnapshot, ServerFnError> {
    Ok(stats_context()?.0.latest())
}

/// Forces a recompute and a broadcast to every dashboard, and returns the result.
#[server(endpoint = "admin/stats/refresh")]
pub async fn refresh_stats() -> Result<StatsSnapshot, ServerFnError> {
    stats_context()?
        .0
        .refresh_now()
        .await
        .map_err(ServerFnError::new)
}

/// The time zone the live view counts today in for the admin asking: `zone`
/// when given (an IANA name, then remembered as theirs), else the one they
/// chose before; `None` when they never chose one.
#[server(endpoint = "admin/stats/zone")]
pub async fn live_zone(zone: Option<String>) -> Result<Option<String>, ServerFnError> {
    stats_context()?
        .0
        .live_zone(zone, Viewer::of_request())
        .await
        .map_err(|failure| ServerFnError::new(failure.message))
}
