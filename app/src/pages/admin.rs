//! `/admin`: the live dashboard.
//!
//! The server renders it complete with the current snapshot, so it reads well
//! with JavaScript off; once hydrated, the browser subscribes to the SSE stream
//! and every pushed snapshot flows into one signal that the cards, the chart and
//! the badge read.

use leptos::prelude::*;

use crate::{
    components::{
        ConnectionState, EngagementTable, LiveBadge, MinuteChart, StatCard, WebhookStatus,
    },
    format::{age, utc_timestamp},
    live::{announce_logout, LiveStats},
    model::StatsSnapshot,
    server_fns::{current_stats, RefreshStats},
};

/// The routed page: loads the snapshot before the HTML is sent, then shows the dashboard.
#[component]
pub fn AdminPage() -> impl IntoView {
    // Blocking: the snapshot is part of the first HTML response, not streamed
    // in afterwards, so the numbers are there even without JavaScript.
    let initial = Resource::new_blocking(|| (), |_| current_stats());

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading stats…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(snapshot) => view! { <Dashboard initial=snapshot/> }.into_any(),
                    Err(error) => {
                        view! {
                            <p class="error" role="alert">
                                "The stats could not be loaded: " {error.to_string()}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(initial: StatsSnapshot) -> impl IntoView {
    let live = LiveStats {
        received_at_ms: RwSignal::new(initial.generated_at_ms),
        snapshot: RwSignal::new(initial),
        connection: RwSignal::new(ConnectionState::Connecting),
        latency_ms: RwSignal::new(None),
    };
    // Ticks once a second in the browser so "updated N s ago" stays true; on
    // the server it stays at the snapshot's own time.
    let now_ms = RwSignal::new(live.received_at_ms.get_untracked());

    #[cfg(feature = "hydrate")]
    {
        crate::live::subscribe(live);
        crate::live::tick_clock(now_ms);
        // Effects run once the view is hydrated: this mark tells the browser
        // tests and the benchmark when the dashboard became live.
        Effect::new(|_| mark_hydrated());
    }

    let snapshot = live.snapshot;
    let field = move |read: fn(&StatsSnapshot) -> i64| Signal::derive(move || snapshot.with(read));
    let delivery = Signal::derive(move || snapshot.with(|s| s.delivery));

    let refresh = ServerAction::<RefreshStats>::new();
    Effect::new(move |_| {
        if let Some(Ok(next)) = refresh.value().get() {
            live.accept(next, js_now_ms());
        }
    });

    let updated = move || age(now_ms.get() - live.received_at_ms.get());
    let latency = move || match live.latency_ms.get() {
        Some(ms) => format!("{ms} ms"),
        None => "–".to_string(),
    };
    let last_event = move || match snapshot.with(|s| s.last_event_at_ms) {
        Some(ms) => utc_timestamp(ms),
        None => "no events yet".to_string(),
    };

    // Erased to `AnyView` in parts: one static type for the whole page would
    // exceed the compiler's type-depth limit.
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
            <StatCard id="accounts" title="Accounts" value=field(|s| s.accounts)/>
        </section>
    }
    .into_any();
    let panels = view! {
        <MinuteChart snapshot=snapshot/>
        <section class="panels">
            <EngagementTable snapshot=snapshot/>
            <WebhookStatus snapshot=snapshot now_ms=now_ms/>
        </section>
    }
    .into_any();

    view! {
        <main class="dashboard">
            <header class="dashboard__header">
                <div>
                    <h1>"Pulse"</h1>
                    <p class="subtitle">"Instagram DM automation · admin"</p>
                </div>
                <div class="dashboard__status">
                    <LiveBadge state=live.connection delivery/>
                    <span class="meta" data-testid="updated">"updated " {updated}</span>
                    <span class="meta" data-testid="latency">"latency " {latency}</span>
                    <ActionForm action=refresh attr:class="refresh-form">
                        <button type="submit" class="refresh" disabled=move || refresh.pending().get()>
                            "Refresh now"
                        </button>
                    </ActionForm>
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

/// Sets the `performance.mark` that says the dashboard has hydrated (read by
/// the browser tests and `end2end/bench/hydration.mjs`).
#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    if let Some(performance) = web_sys::window().and_then(|window| window.performance()) {
        let _ = performance.mark("pulse:dashboard-hydrated");
    }
}

/// The current time in Unix milliseconds: the browser clock when hydrated,
/// the system clock on the server.
pub(crate) fn js_now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or_default()
    }
}
