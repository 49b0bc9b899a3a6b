//! `/admin/accounts`: every business account at a glance.
//!
//! The server renders the page complete (filter form, sortable headers, one
//! page of 100 rows, paging links), so it works without JavaScript. "Today"
//! is the day in the admin's time zone (`?zone=`, remembered as theirs, or
//! the one they chose before; the UTC day until they choose one). The
//! table is an island: while the page is open it follows the browser's
//! stats stream and asks for its page again (`GET /api/admin/accounts`) each
//! time the store moves on, and once a minute as the windows move. The page is
//! computed only when someone asks for it, never pushed to every dashboard.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    format::{age, duration, thousands},
    model::{
        AccountRow, AccountSort, AccountsPage, AccountsQuery, HistoryFailure, ACCOUNTS_PER_PAGE,
    },
};

/// The element holding the page's rows as JSON, for the island.
const PAGE_JSON_ID: &str = "pulse-accounts-page";
/// The page's own address.
const PAGE_PATH: &str = "/admin/accounts";

/// The routed page.
#[component]
pub fn Accounts() -> impl IntoView {
    let params = use_query_map();
    let query = params.with_untracked(|params| {
        AccountsQuery::parse(
            params.get_str("q"),
            params.get_str("sort"),
            params.get_str("dir"),
            params.get_str("offset"),
            params.get_str("zone"),
        )
    });
    let table_query = query.clone().unwrap_or_default();
    let loaded = Resource::new_blocking(move || query.clone(), load);

    view! {
        <main class="dashboard accounts">
            <header class="dashboard__header">
                <div>
                    <h1>"Accounts"</h1>
                    <p class="subtitle">"Every business account at a glance"</p>
                </div>
                <nav class="dashboard__status">
                    <a class="nav-link" href="/admin">"← Dashboard"</a>
                </nav>
            </header>
            <Suspense fallback=|| view! { <p class="loading">"Loading accounts…"</p> }>
                {move || {
                    let mut query = table_query.clone();
                    Suspend::new(async move {
                    match loaded.await {
                        Ok(page) => {
                            // The zone the page was counted in, for its links.
                            query.zone = page.zone.clone();
                            let form = filter_form(&query);
                            // Before the island renders: it reads what is handed over.
                            provide_context(super::embedded::Rendered(query));
                            let handed = super::embedded::hand_over(PAGE_JSON_ID, page);
                            view! {
                                {form}
                                {handed}
                                <AccountsTable/>
                            }
                                .into_any()
                        }
                        Err(failure) => {
                            super::answer_status(&failure);
                            view! { <p class="error" role="alert">{failure.message}</p> }.into_any()
                        }
                    }
                })
                }}
            </Suspense>
        </main>
    }
}

/// The filter (keeping the order and zone) and the CSV of `query`'s
/// accounts, every page.
fn filter_form(query: &AccountsQuery) -> impl IntoView {
    view! {
        <form class="accounts__filter" method="get" action=PAGE_PATH role="search">
            <input
                type="search"
                name="q"
                value=query.filter.clone()
                placeholder="Filter by account id or name"
                aria-label="Filter by account id or name"
            />
            <input type="hidden" name="sort" value=query.sort.key()/>
            <input type="hidden" name="dir" value=if query.descending { "desc" } else { "asc" }/>
            {query.zone.clone().map(|zone| view! { <input type="hidden" name="zone" value=zone/> })}
            <button type="submit">"Filter"</button>
            <a
                class="accounts__csv"
                href=format!("/api/admin/accounts.csv?{}", query.to_query_string())
                download=""
                data-testid="accounts-csv"
            >
                "Download CSV"
            </a>
        </form>
    }
}

/// Computes the page on the server (this page is never rendered in the
/// browser). The context is taken before the future starts: inside it there
/// is no reactive owner to ask.
#[cfg_attr(not(feature = "ssr"), allow(clippy::manual_async_fn))]
fn load(
    query: Result<AccountsQuery, String>,
) -> impl std::future::Future<Output = Result<AccountsPage, HistoryFailure>> + Send {
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::stats::StatsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        let query = query.map_err(HistoryFailure::bad_request)?;
        #[cfg(feature = "ssr")]
        {
            let service = service
                .ok_or_else(|| HistoryFailure::unavailable("the stats service is not available"))?;
            service.0.accounts(query, viewer).await
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = query;
            Err(HistoryFailure::unavailable(
                "the accounts are read on the server",
            ))
        }
    }
}

/// The query the table shows: from context on the server, from the address
/// in the browser.
fn shown_query() -> AccountsQuery {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|window| window.location().search().ok())
            .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
            .and_then(|params| {
                AccountsQuery::parse(
                    params.get("q").as_deref(),
                    params.get("sort").as_deref(),
                    params.get("dir").as_deref(),
                    params.get("offset").as_deref(),
                    params.get("zone").as_deref(),
                )
                .ok()
            })
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        use_context::<super::embedded::Rendered<AccountsQuery>>()
            .map(|super::embedded::Rendered(query)| query)
            .unwrap_or_default()
    }
}

/// The live table: summary, rows and paging.
#[island]
fn AccountsTable() -> impl IntoView {
    let mut query = shown_query();
    let first: AccountsPage = super::embedded::rendered(PAGE_JSON_ID);
    // The zone the page was counted in (the admin's when the address names none).
    query.zone = first.zone.clone();
    let now_ms = RwSignal::new(first.generated_at_ms);
    let page = RwSignal::new(first);
    #[cfg(feature = "hydrate")]
    {
        let url = format!("/api/admin/accounts?{}", query.to_query_string());
        crate::live::follow_page(page, url, |page| page.version);
        crate::live::tick_clock(now_ms);
    }

    let summary = move || {
        page.with(|page| {
            let shown = if page.rows.is_empty() {
                "none shown".to_string()
            } else {
                format!(
                    "{}–{} shown",
                    thousands(page.offset + 1),
                    thousands(page.offset + page.rows.len() as i64)
                )
            };
            let noun = if page.total == 1 {
                "account"
            } else {
                "accounts"
            };
            format!(
                "{} {noun} · {} silent · {shown} · {}",
                thousands(page.total),
                thousands(page.silent),
                page.today
            )
        })
    };
    let headers = AccountSort::ALL
        .into_iter()
        .map(|sort| header(&query, sort))
        .collect_view();
    let rows = move || {
        let now = now_ms.get();
        page.with(|page| {
            page.rows
                .iter()
                .map(|row| account_row(row, now))
                .collect_view()
        })
    };
    let previous = {
        let query = query.clone();
        move || {
            (query.offset > 0).then(|| {
                let mut target = query.clone();
                target.offset = (query.offset - ACCOUNTS_PER_PAGE as i64).max(0);
                view! { <a href=format!("{PAGE_PATH}?{}", target.to_query_string())>"← Previous 100"</a> }
            })
        }
    };
    let next = move || {
        let total = page.with(|page| page.total);
        (query.offset + (ACCOUNTS_PER_PAGE as i64) < total).then(|| {
            let mut target = query.clone();
            target.offset = query.offset + ACCOUNTS_PER_PAGE as i64;
            view! { <a href=format!("{PAGE_PATH}?{}", target.to_query_string())>"Next 100 →"</a> }
        })
    };

    view! {
        <p class="accounts__summary" data-testid="accounts-summary">{summary}</p>
        <div class="accounts__scroll">
            <table class="accounts__table">
                <thead>
                    <tr>{headers}</tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <nav class="accounts__pages">{previous} {next}</nav>
    }
}

/// A column header that sorts by its column (the other way round when it
/// already does).
fn header(query: &AccountsQuery, sort: AccountSort) -> impl IntoView {
    let current = query.sort == sort;
    let mut target = query.clone();
    target.sort = sort;
    target.offset = 0;
    target.descending = if current {
        !query.descending
    } else {
        sort.natural_descending()
    };
    let label = match sort {
        AccountSort::Account => "Account",
        AccountSort::Received => "Received today",
        AccountSort::Sent => "Sent today",
        AccountSort::Waiting => "Waiting",
        AccountSort::Reply => "Median reply (1 h)",
        AccountSort::LastEvent => "Last event",
    };
    let aria_sort = match (current, query.descending) {
        (false, _) => "none",
        (true, true) => "descending",
        (true, false) => "ascending",
    };
    view! {
        <th scope="col" aria-sort=aria_sort data-sort=sort.key()>
            <a href=format!("{PAGE_PATH}?{}", target.to_query_string())>{label}</a>
        </th>
    }
}

/// One account's row.
fn account_row(row: &AccountRow, now_ms: i64) -> impl IntoView {
    let last_event = match row.last_event_at_ms {
        Some(at) => age(now_ms - at),
        None => "never".to_string(),
    };
    view! {
        <tr data-account=row.account_id.clone() class:accounts__row--silent=row.silent>
            <th scope="row">
                <a href=super::account::address(&row.account_id)>
                    {row.name.clone().unwrap_or_else(|| row.account_id.clone())}
                </a>
                {row.name.is_some().then(|| view! { <span class="account-id">{row.account_id.clone()}</span> })}
                {row.silent.then(|| view! { <span class="badge-silent">"silent"</span> })}
            </th>
            <td data-col="received">{thousands(row.received_today)}</td>
            <td data-col="sent">{thousands(row.sent_today)}</td>
            <td data-col="waiting">{thousands(row.waiting)}</td>
            <td data-col="reply">{duration(row.median_reply_ms)}</td>
            <td data-col="last-event">{last_event}</td>
        </tr>
    }
}
