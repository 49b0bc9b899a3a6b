//! `/admin/accounts/{id}`: one business account: its figures today, its
//! events hour by hour over the last 24 hours, why it is flagged silent, and
//! its conversations waiting for a reply, oldest first; with `?range=` (or
//! `from` and `to`) the account's figures over a date range, as the
//! dashboard shows the service's (`super::range`).
//!
//! Rendered on the server complete (it reads well without JavaScript), with
//! a 404 page for an account never seen. The figures are an island that
//! follows the browser's stats stream, as the accounts table does, and asks
//! for the account again (`GET /api/admin/accounts/{id}`) each time the
//! store moves on.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    format::{age, duration, thousands, Clock},
    model::{query_value, AccountPage, HistoryFailure, HistoryQuery},
};

/// The element holding the page's figures as JSON, for the island.
const PAGE_JSON_ID: &str = "pulse-account-page";

/// The address of the page of the account `id`.
pub fn address(id: &str) -> String {
    format!("/admin/accounts/{}", query_value(id))
}

/// The routed page.
#[component]
pub fn AccountPageView() -> impl IntoView {
    let id = use_params_map().with_untracked(|params| params.get("id").unwrap_or_default());
    let invalid_name =
        use_query_map().with_untracked(|query| query.get_str("invalid") == Some("name"));
    let range =
        use_query_map().with_untracked(|params| HistoryQuery::from_params(|name| params.get(name)));
    let zone = range.zone.clone();
    let loaded = Resource::new_blocking(move || (id.clone(), zone.clone()), load);
    view! {
        <main class="dashboard account">
            <Suspense fallback=|| view! { <p class="loading">"Loading the account…"</p> }>
                {move || {
                    let range = range.clone();
                    Suspend::new(async move {
                    match loaded.await {
                        Ok(Some(page)) => {
                            // Each part's type erased: together they are too deep a
                            // type for the compiler's default limit.
                            let header = page_header(&page).into_any();
                            let naming = name_form(&page, invalid_name).into_any();
                            let id = page.row.account_id.clone();
                            let picker = view! {
                                <super::range::RangePicker query=range.clone() page=address(&id)/>
                            }
                            .into_any();
                            if range.is_range() {
                                let query = range.clone();
                                return view! {
                                    {header}
                                    {picker}
                                    <super::range::RangeView query account=id/>
                                    {naming}
                                }
                                    .into_any();
                            }
                            let handed = super::embedded::hand_over(PAGE_JSON_ID, page);
                            view! {
                                {header}
                                {picker}
                                {handed}
                                <AccountFigures/>
                                {naming}
                            }
                                .into_any()
                        }
                        Ok(None) => {
                            #[cfg(feature = "ssr")]
                            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                                response.set_status(http::StatusCode::NOT_FOUND);
                            }
                            view! {
                                <header class="dashboard__header">
                                    <h1>"No such account"</h1>
                                </header>
                                <p class="error" role="alert">
                                    "No business account with this id has sent or received anything here."
                                </p>
                                <p><a class="nav-link" href="/admin/accounts">"← Accounts"</a></p>
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

/// Reads the account on the server, today in `zone` (from the address) or
/// the admin's (this page is never rendered in the browser). The context is
/// taken before the future starts.
#[cfg_attr(not(feature = "ssr"), allow(clippy::manual_async_fn))]
fn load(
    (id, zone): (String, Option<String>),
) -> impl std::future::Future<Output = Result<Option<AccountPage>, HistoryFailure>> + Send {
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::stats::StatsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        #[cfg(feature = "ssr")]
        {
            let service = service
                .ok_or_else(|| HistoryFailure::unavailable("the stats service is not available"))?;
            service.0.account(id, zone, viewer).await
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = (id, zone);
            Err(HistoryFailure::unavailable(
                "the account is read on the server",
            ))
        }
    }
}

/// The live figures: header, silence, cards and the hourly chart.
#[island]
fn AccountFigures() -> impl IntoView {
    let first: AccountPage = super::embedded::rendered(PAGE_JSON_ID);
    let now_ms = RwSignal::new(first.generated_at_ms);
    #[cfg(feature = "hydrate")]
    let url = match &first.zone {
        Some(zone) => format!(
            "/api/admin/accounts/{}?zone={}",
            query_value(&first.row.account_id),
            query_value(zone)
        ),
        None => format!("/api/admin/accounts/{}", query_value(&first.row.account_id)),
    };
    let page = RwSignal::new(first);
    #[cfg(feature = "hydrate")]
    {
        crate::live::follow_page(page, url, |page| page.version);
        crate::live::tick_clock(now_ms);
    }
    let figure = move |read: fn(&AccountPage) -> String| move || page.with(read);
    let silence = move || {
        page.with(|page| page.silence.clone()).map(|text| {
            view! {
                <p class="notice notice--error account__silence" role="status" data-testid="silence">
                    <span class="badge-silent">"silent"</span>" "{text}
                </p>
            }
        })
    };
    let last_event = move || {
        let now = now_ms.get();
        page.with(|page| match page.row.last_event_at_ms {
            Some(at) => age(now - at),
            None => "never".to_string(),
        })
    };
    view! {
        {silence}
        <p class="subtitle account__today" data-testid="account-today">
            {move || page.with(|page| page.today.clone())}
        </p>
        <section class="cards">
            <section class="stat-card" data-stat="received">
                <h2>"DMs received today"</h2>
                <p class="stat-value">{figure(|page| thousands(page.row.received_today))}</p>
            </section>
            <section class="stat-card" data-stat="sent">
                <h2>"DMs sent today"</h2>
                <p class="stat-value">{figure(|page| thousands(page.row.sent_today))}</p>
            </section>
            <section class="stat-card" data-stat="waiting">
                <h2>"Waiting for a reply"</h2>
                <p class="stat-value">{figure(|page| thousands(page.row.waiting))}</p>
            </section>
            <section class="stat-card" data-stat="reply">
                <h2>"Median reply (last hour)"</h2>
                <p class="stat-value">{figure(|page| duration(page.row.median_reply_ms))}</p>
            </section>
            <section class="stat-card" data-stat="last-event">
                <h2>"Last event"</h2>
                <p class="stat-value">{last_event}</p>
            </section>
        </section>
        <HourChart page/>
        <WaitingList page now_ms/>
        <LatestEvents page now_ms/>
    }
}

/// The account's latest events by event time, newest first: what, how long
/// ago, and the customer.
#[component]
fn LatestEvents(page: RwSignal<AccountPage>, now_ms: RwSignal<i64>) -> impl IntoView {
    let rows = move || {
        let now = now_ms.get();
        page.with(|page| {
            page.latest
                .iter()
                .map(|event| {
                    view! {
                        <tr data-kind=event.kind.clone()>
                            <td>{event.what()}</td>
                            <td class="num">{age(now - event.at_ms)}</td>
                            <td class="account-id">{event.customer.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="panel account__latest" data-testid="latest-events">
            <h2>"Latest events"</h2>
            <p class="subtitle" hidden=move || page.with(|page| !page.latest.is_empty())>
                "No event stored since this version of Pulse began listing them."
            </p>
            <table class="accounts-table" hidden=move || page.with(|page| page.latest.is_empty())>
                <thead>
                    <tr>
                        <th scope="col">"Event"</th>
                        <th scope="col" class="num">"When"</th>
                        <th scope="col">"Customer"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// The account's conversations waiting for a reply now, oldest first, each
/// with how long its customer has waited.
#[component]
fn WaitingList(page: RwSignal<AccountPage>, now_ms: RwSignal<i64>) -> impl IntoView {
    let rows = move || {
        let now = now_ms.get();
        page.with(|page| {
            page.waiting
                .iter()
                .map(|waiting| {
                    view! {
                        <tr data-customer=waiting.customer.clone()>
                            <td class="account-id">{waiting.customer.clone()}</td>
                            <td class="num">{duration(Some(now - waiting.since_ms))}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    let summary = move || {
        page.with(|page| match (page.row.waiting, page.waiting.len() as i64) {
            (0, _) => "No conversation is waiting for a reply.".to_string(),
            (all, listed) if all > listed => {
                format!(
                    "The oldest {listed} of {} waiting, oldest first.",
                    thousands(all)
                )
            }
            (all, _) => format!("{} waiting, oldest first.", thousands(all)),
        })
    };
    view! {
        <section class="panel account__waiting" data-testid="waiting-list">
            <h2>"Waiting for a reply now"</h2>
            <p class="subtitle" data-testid="waiting-summary">{summary}</p>
            <table class="accounts-table" hidden=move || page.with(|page| page.waiting.is_empty())>
                    <thead>
                        <tr>
                            <th scope="col">"Customer"</th>
                            <th scope="col" class="num">"Waiting for"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

/// The page's title: the display name with the id beside it, or the id
/// alone (a new name is shown by the page the form leads back to, so it is
/// not part of the live figures).
fn page_header(page: &AccountPage) -> impl IntoView {
    let id = page.row.account_id.clone();
    let title = match page.row.name.clone() {
        Some(name) => view! {
            {name}
            " "
            <span class="account-id" data-testid="account-id">{id}</span>
        }
        .into_any(),
        None => view! { <span data-testid="account-id">{id}</span> }.into_any(),
    };
    view! {
        <header class="dashboard__header">
            <div>
                <h1>{title}</h1>
                <p class="subtitle">"One business account: live or over a date range"</p>
            </div>
            <nav class="dashboard__status">
                <a class="nav-link" href="/admin/accounts">"← Accounts"</a>
                <a class="nav-link" href="/admin">"Dashboard"</a>
            </nav>
        </header>
    }
}

/// The form giving the account a display name (blank: none), posted to the
/// page's own address; `invalid` when the name last sent could not be one.
fn name_form(page: &AccountPage, invalid: bool) -> impl IntoView {
    let error = invalid.then(|| {
        view! {
            <p class="field-error" role="alert">
                "Not saved: a display name is 1 to 100 characters, without control characters, and does not begin with =, +, - or @."
            </p>
        }
    });
    view! {
        <section class="panel account__naming">
            <h2>"Display name"</h2>
            <form method="post" action=address(&page.row.account_id) class="account__name-form">
                <label>
                    "Shown beside the id, and found by the accounts filter (blank for none)"
                    <input
                        type="text"
                        name="name"
                        maxlength="100"
                        value=page.row.name.clone().unwrap_or_default()
                        aria-invalid=invalid.then_some("true")
                    />
                </label>
                <button type="submit">"Save name"</button>
            </form>
            {error}
        </section>
    }
}

/// The clock the chart's times are shown on: the page's zone at its offset
/// now, or UTC.
fn chart_clock(page: &AccountPage) -> Clock {
    Clock {
        zone: page.zone.clone().unwrap_or_else(|| "UTC".to_string()),
        offset_s: page.zone_offset_s,
    }
}

/// The account's counted events per hour over the last 24 hours, as bars.
#[component]
fn HourChart(page: RwSignal<AccountPage>) -> impl IntoView {
    const WIDTH: i64 = 24 * 20;
    const HEIGHT: i64 = 120;
    let bars = move || {
        page.with(|page| {
            let clock = chart_clock(page);
            let last_hour = page.generated_at_ms - page.generated_at_ms.rem_euclid(3_600_000);
            let first_hour = last_hour - 23 * 3_600_000;
            let highest = page.hours.iter().map(|(_, events)| *events).max().unwrap_or(0).max(1);
            page.hours
                .iter()
                .filter(|(hour, _)| *hour >= first_hour)
                .map(|(hour, events)| {
                    let index = (hour - first_hour) / 3_600_000;
                    let height = (events * HEIGHT / highest).max(1);
                    view! {
                        <rect
                            class="bar--received"
                            x=index * 20 + 2
                            y=HEIGHT - height
                            width="16"
                            height=height
                            data-hour=*hour
                            data-events=*events
                        >
                            <title>{format!("{}: {} events", clock.time(*hour), thousands(*events))}</title>
                        </rect>
                    }
                })
                .collect_view()
        })
    };
    let total = move || page.with(|page| page.hours.iter().map(|(_, events)| events).sum::<i64>());
    let zone = move || page.with(|page| chart_clock(page).zone);
    view! {
        <section class="panel account__chart">
            <h2>"Events per hour, last 24 hours"</h2>
            <p class="subtitle" data-testid="chart-zone">{move || format!("Times in {}", zone())}</p>
            <p class="subtitle" data-testid="events-24h">{move || format!("{} events", thousands(total()))}</p>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="Events per hour">
                {bars}
            </svg>
        </section>
    }
}
