//! `/admin`: the live dashboard, or with `?range=` (or `from` and `to`) the
//! dashboard of a date range (`super::range`).
//!
//! The server renders it complete with the current snapshot, so it reads well
//! with JavaScript off. The dashboard itself is an island: the browser
//! hydrates it with the snapshot it was rendered with, subscribes to the SSE
//! stream, and every pushed snapshot flows into one signal that the cards, the
//! chart and the badge read.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{
        EngagementTable, LiveBadge, MinuteChart, RepliesCard, StatCard, WaitingCard, WebhookStatus,
    },
    format::{age, Clock},
    live::{announce_logout, ConnectionState, LiveStats},
    model::{HistoryFailure, HistoryQuery, StatsSnapshot},
};

/// The "Refresh now" form's target: the `refresh_stats` server function,
/// which a form without JavaScript reaches too.
const REFRESH_URL: &str = "/api/admin/stats/refresh";

/// The `live_zone` server function, which remembers an admin's time zone.
#[cfg(feature = "hydrate")]
const ZONE_URL: &str = "/api/admin/stats/zone";

/// The routed page: the range links, then the live dashboard or a range's.
#[component]
pub fn AdminPage() -> impl IntoView {
    let query =
        use_query_map().with_untracked(|params| HistoryQuery::from_params(|name| params.get(name)));
    let picker = view! { <super::range::RangePicker query=query.clone() page="/admin"/> };
    if query.is_range() {
        return view! {
            {picker}
            <main class="dashboard">
                <PageHeader/>
                <super::range::RangeView query/>
            </main>
        }
        .into_any();
    }
    view! {
        {picker}
        <LivePage zone=query.zone/>
    }
    .into_any()
}

/// The title bar of a range's page (the live dashboard has its own, inside
/// its island).
#[component]
fn PageHeader() -> impl IntoView {
    view! {
        <header class="dashboard__header">
            <div>
                <h1>"Pulse"</h1>
                <p class="subtitle">"Instagram DM automation · admin"</p>
            </div>
            <div class="dashboard__status">
                <a class="nav-link" href="/admin/accounts">"Accounts"</a>
                <a class="nav-link" href="/admin/alerts">"Alerts"</a>
                <form class="logout-form" method="post" action="/api/auth/logout">
                    <button type="submit" class="logout">"Log out"</button>
                </form>
            </div>
        </header>
    }
}

/// The live dashboard: loads the snapshot and the admin's time zone before
/// the HTML is sent, then shows them. `zone`, from the address, becomes the
/// admin's.
#[component]
fn LivePage(zone: Option<String>) -> impl IntoView {
    // Blocking: the snapshot is part of the first HTML response, not streamed
    // in afterwards, so the numbers are there even without JavaScript.
    let initial = Resource::new_blocking(move || zone.clone(), load);

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading stats…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok((snapshot, zone)) => {
                        // Before the island renders: it reads what is handed over.
                        let handed = super::embedded::hand_over(INITIAL_SNAPSHOT_ID, snapshot);
                        let zone = super::embedded::hand_over(ZONE_ID, zone);
                        view! {
                            {handed}
                            {zone}
                            <Dashboard/>
                        }
                            .into_any()
                    }
                    Err(failure) => {
                        super::answer_status(&failure);
                        view! {
                            <p class="error" role="alert">
                                "The stats could not be loaded: " {failure.message}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The newest snapshot and the zone the admin's today is in, on the server
/// (this view is never rendered in the browser). The context is taken
/// before the future starts.
#[cfg_attr(not(feature = "ssr"), allow(clippy::manual_async_fn))]
fn load(
    named: Option<String>,
) -> impl std::future::Future<Output = Result<(StatsSnapshot, Option<String>), HistoryFailure>> + Send
{
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::stats::StatsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        #[cfg(feature = "ssr")]
        {
            let service = service
                .ok_or_else(|| HistoryFailure::unavailable("the stats service is not available"))?;
            let zone = service.0.live_zone(named, viewer).await?;
            let mut snapshot = service.0.latest();
            // A zone no admin had chosen: the next snapshot counts its day.
            if zone
                .as_deref()
                .is_some_and(|zone| !snapshot.counts_today_in(zone))
            {
                if let Ok(fresh) = service.0.refresh_now().await {
                    snapshot = fresh;
                }
            }
            Ok((snapshot, zone))
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = named;
            Err(HistoryFailure::unavailable(
                "the stats are read on the server",
            ))
        }
    }
}

/// The element holding the snapshot the page was rendered with, as JSON.
const INITIAL_SNAPSHOT_ID: &str = "pulse-initial-snapshot";

/// The element holding the admin's time zone (`null` if never chosen).
const ZONE_ID: &str = "pulse-live-zone";

/// The live dashboard: the one island of the page, hydrated in the browser
/// from the snapshot it was rendered with.
#[island]
fn Dashboard() -> impl IntoView {
    let initial: StatsSnapshot = super::embedded::rendered(INITIAL_SNAPSHOT_ID);
    let live = LiveStats {
        received_at_ms: RwSignal::new(initial.generated_at_ms),
        snapshot: RwSignal::new(initial),
        connection: RwSignal::new(ConnectionState::Connecting),
        latency_ms: RwSignal::new(None),
    };
    // Ticks once a second in the browser so "updated N s ago" stays true; on
    // the server it stays at the snapshot's own time.
    let now_ms = RwSignal::new(live.received_at_ms.get_untracked());
    // The admin's zone, or until they choose one the browser's.
    let zone = RwSignal::new(super::embedded::rendered::<Option<String>>(ZONE_ID));
    let refreshing = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    {
        crate::live::subscribe(live);
        crate::live::tick_clock(now_ms);
        // Effects run once the view is hydrated: this mark tells the browser
        // tests and the benchmark when the dashboard became live.
        Effect::new(|_| mark_hydrated());
        if zone.get_untracked().is_none() {
            if let Some(browser) =
                crate::live::browser_time_zone().filter(|z| !crate::model::is_utc(z))
            {
                zone.set(Some(browser.clone()));
                remember_zone(browser, live, refreshing);
            }
        }
    }

    // What the page shows: today in the admin's zone once the snapshot
    // counts it, the UTC day until then (and for UTC).
    let snapshot: Signal<StatsSnapshot> = Memo::new(move |_| {
        let shown = live.snapshot.get();
        match zone.get() {
            Some(zone) => shown.in_zone(&zone),
            None => shown,
        }
    })
    .into();
    // The zone times are shown in: the same as today's.
    let clock = Signal::derive(move || {
        zone.with(|zone| {
            let zone = zone.as_deref()?;
            let offset_s = live.snapshot.with(|s| s.offset_s_of(zone))?;
            Some(Clock {
                zone: zone.to_string(),
                offset_s,
            })
        })
        .unwrap_or_default()
    });
    let today = move || match zone.get() {
        Some(zone) if live.snapshot.with(|s| s.counts_today_in(&zone)) => {
            format!("today: since midnight in {zone}")
        }
        _ => "today: the UTC day".to_string(),
    };
    let field = move |read: fn(&StatsSnapshot) -> i64| Signal::derive(move || snapshot.with(read));
    let delivery = Signal::derive(move || snapshot.with(|s| s.delivery));

    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let refresh = move |event: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            event.prevent_default();
            crate::live::refresh(REFRESH_URL, live, refreshing);
        }
    };

    let updated = move || age(now_ms.get() - live.received_at_ms.get());
    let latency = move || match live.latency_ms.get() {
        Some(ms) => format!("{ms} ms"),
        None => "–".to_string(),
    };
    let last_event = move || match snapshot.with(|s| s.last_event_at_ms) {
        Some(ms) => clock.with(|clock| clock.timestamp(ms)),
        None => "no events yet".to_string(),
    };

    // Rendered in parts: one static type for the whole page exceeds the
    // compiler's type-depth limit on the server (see `super::part`).
    let cards = view! {
        <section class="cards">
            <StatCard
                id="dms-received"
                title="DMs received"
                value=field(|s| s.dms_received.total)
                details=vec![
                    ("today", field(|s| s.dms_received.today)),
                    ("last hour", field(|s| s.dms_received.last_hour)),
                ]
            />
            <StatCard
                id="dms-sent"
                title="DMs sent"
                value=field(|s| s.dms_sent.total)
                details=vec![
                    ("today", field(|s| s.dms_sent.today)),
                    ("last hour", field(|s| s.dms_sent.last_hour)),
                ]
            />
            <StatCard
                id="active-conversations"
                title="Active conversations (24 h)"
                value=field(|s| s.active_conversations_24h)
            />
            <StatCard
                id="accounts"
                title="Accounts"
                value=field(|s| s.accounts)
                details=vec![("silent", field(|s| s.silent_accounts))]
            />
            <RepliesCard snapshot=snapshot/>
            <WaitingCard snapshot=snapshot/>
        </section>
    };
    let cards = super::part(cards);
    let panels = view! {
        <MinuteChart snapshot=snapshot clock=clock/>
        <section class="panels">
            <EngagementTable snapshot=snapshot/>
            <WebhookStatus snapshot=snapshot now_ms=now_ms/>
        </section>
    };
    let panels = super::part(panels);

    view! {
        <main class="dashboard">
            <header class="dashboard__header">
                <div>
                    <h1>"Pulse"</h1>
                    <p class="subtitle">
                        "Instagram DM automation · admin · "
                        <span data-testid="today-zone">{today}</span>
                    </p>
                </div>
                <div class="dashboard__status">
                    <a class="nav-link" href="/admin/accounts">"Accounts"</a>
                    <a class="nav-link" href="/admin/alerts">"Alerts"</a>
                    <LiveBadge state=live.connection delivery/>
                    <span class="meta" data-testid="updated">"updated " {updated}</span>
                    <span class="meta" data-testid="latency">"latency " {latency}</span>
                    <form class="refresh-form" method="post" action=REFRESH_URL on:submit=refresh>
                        <button type="submit" class="refresh" disabled=move || refreshing.get()>
                            "Refresh now"
                        </button>
                    </form>
                    <form
                        class="logout-form"
                        method="post"
                        action="/api/auth/logout"
                        on:submit=move |_| announce_logout()
                    >
                        <button type="submit" class="logout">"Log out"</button>
                    </form>
                </div>
            </header>
            <noscript>
                <p class="notice">"JavaScript is off: these numbers are as of page load. Reload to update."</p>
            </noscript>
            {cards}
            {panels}
            <footer class="dashboard__footer">
                <span>"Last event: " <span data-testid="last-event">{last_event}</span></span>
                <span>"Snapshot version " <span data-testid="version">{move || snapshot.with(|s| s.version)}</span></span>
            </footer>
        </main>
    }
}

/// Remembers `zone` as the admin's (the server function `live_zone`), then
/// asks for a snapshot now: the next one counts today in it.
#[cfg(feature = "hydrate")]
fn remember_zone(zone: String, live: LiveStats, refreshing: RwSignal<bool>) {
    leptos::task::spawn_local(async move {
        let body = format!("zone={}", crate::model::query_value(&zone));
        let request = gloo_net::http::Request::post(ZONE_URL)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Ok(request) = request {
            if request.send().await.is_ok_and(|response| response.ok()) {
                crate::live::refresh(REFRESH_URL, live, refreshing);
            }
        }
    });
}

/// Sets the `performance.mark` that says the dashboard has hydrated (read by
/// the browser tests and `end2end/bench/hydration.mjs`).
#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    if let Some(performance) = web_sys::window().and_then(|window| window.performance()) {
        let _ = performance.mark("pulse:dashboard-hydrated");
    }
}
