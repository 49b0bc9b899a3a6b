//! `/admin?range=7d&zone=Asia/Kolkata` (or `from` and `to`): the dashboard
//! for a date range, in the admin's time zone, against the period before.
//!
//! The server renders it complete (the range links, the forms, the cards and
//! the chart), so every range works without JavaScript. The report is an
//! island: in the browser it takes the browser's zone when neither the
//! address nor the admin's earlier choice names one, and while the range may still change (it reaches into the 36 hours
//! Meta may still deliver into) it asks for its report again each time the
//! store moves on.

use leptos::prelude::*;

use crate::{
    format::{duration, thousands},
    model::{change_percent, HistoryFailure, HistoryQuery, HistoryReport, RangeFigures, RANGES},
};

/// The element holding the report as JSON, for the island.
const REPORT_JSON_ID: &str = "pulse-range-report";

/// The range links and forms above the dashboard, live or not: plain links
/// and `GET` forms, which need no JavaScript.
#[component]
pub fn RangePicker(
    /// What the address asks for.
    query: HistoryQuery,
) -> impl IntoView {
    let current = if query.is_range() {
        query.range.clone().unwrap_or_else(|| "custom".to_string())
    } else {
        "live".to_string()
    };
    let link = |key: &'static str, label: &'static str, href: String| {
        let here = current == key;
        view! {
            <a href=href class="range-link" class:range-link--current=here
                aria-current=here.then_some("page") data-range=key>
                {label}
            </a>
        }
    };
    let named = RANGES
        .into_iter()
        .map(|(key, label)| {
            link(
                key,
                label,
                format!("/admin?{}", query.named(key).to_query_string()),
            )
        })
        .collect_view();
    let zone = query.zone.clone().unwrap_or_default();
    view! {
        <nav class="ranges" aria-label="Date range">
            {link("live", "Live", "/admin".to_string())}
            {named}
            <form class="ranges__custom" method="get" action="/admin">
                <input type="hidden" name="range" value="custom"/>
                <label>"From " <input type="date" name="from" value=query.from.clone().unwrap_or_default()/></label>
                <label>"to " <input type="date" name="to" value=query.to.clone().unwrap_or_default()/></label>
                <input type="hidden" name="zone" value=zone.clone()/>
                <button type="submit">"Show"</button>
            </form>
            <form class="ranges__zone" method="get" action="/admin">
                <input type="hidden" name="range" value=query.range.clone().unwrap_or_default()/>
                <input type="hidden" name="from" value=query.from.clone().unwrap_or_default()/>
                <input type="hidden" name="to" value=query.to.clone().unwrap_or_default()/>
                <label>"Time zone "
                    <input type="text" name="zone" value=zone placeholder="UTC"
                        aria-label="Time zone (IANA name, such as Europe/London)"/>
                </label>
                <button type="submit">"Set zone"</button>
            </form>
        </nav>
    }
}

/// The routed view of a range: loads the report before the HTML is sent.
#[component]
pub fn RangeView(
    /// What the address asks for.
    query: HistoryQuery,
) -> impl IntoView {
    let loaded = Resource::new_blocking(move || query.clone(), load);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the range…"</p> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Ok(report) => {
                        let handed = super::embedded::hand_over(REPORT_JSON_ID, report);
                        view! {
                            {handed}
                            <RangeReport/>
                        }
                            .into_any()
                    }
                    Err(failure) => {
                        #[cfg(feature = "ssr")]
                        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                            response.set_status(if failure.bad_request {
                                http::StatusCode::BAD_REQUEST
                            } else {
                                http::StatusCode::SERVICE_UNAVAILABLE
                            });
                        }
                        view! { <p class="error" role="alert">{failure.message}</p> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Computes the report on the server (this view is never rendered in the
/// browser). The context is taken before the future starts.
#[cfg_attr(not(feature = "ssr"), allow(clippy::manual_async_fn))]
fn load(
    query: HistoryQuery,
) -> impl std::future::Future<Output = Result<HistoryReport, HistoryFailure>> + Send {
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::stats::StatsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        #[cfg(feature = "ssr")]
        {
            let service = service.ok_or_else(|| HistoryFailure {
                bad_request: false,
                message: "the stats service is not available".to_string(),
            })?;
            service.0.history(query, viewer).await
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = query;
            Err(HistoryFailure {
                bad_request: false,
                message: "the history is read on the server".to_string(),
            })
        }
    }
}

/// The query the report was made for: from the address in the browser,
/// from the report on the server.
#[cfg(feature = "hydrate")]
fn address_query() -> HistoryQuery {
    let params = web_sys::window()
        .and_then(|window| window.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok());
    HistoryQuery::from_params(|name| params.as_ref().and_then(|params| params.get(name)))
}

/// The range's cards, chart and CSV link.
#[island]
fn RangeReport() -> impl IntoView {
    let report = RwSignal::new(super::embedded::rendered::<HistoryReport>(REPORT_JSON_ID));
    #[cfg(feature = "hydrate")]
    {
        let query = address_query();
        let chosen = report.with_untracked(|r| r.zone_chosen);
        match (chosen, crate::live::browser_time_zone()) {
            // Until the admin chooses a zone: the same range in the browser's.
            (false, Some(zone)) if zone != report.with_untracked(|r| r.zone.clone()) => {
                let target = HistoryQuery {
                    zone: Some(zone),
                    ..query
                };
                if let Some(window) = web_sys::window() {
                    let _ = window
                        .location()
                        .replace(&format!("/admin?{}", target.to_query_string()));
                }
            }
            _ if report.with_untracked(|r| r.still_changing) => {
                crate::live::follow_history(report, &query);
            }
            _ => {}
        }
    }

    let figure = move |read: fn(&RangeFigures) -> i64| {
        Signal::derive(move || report.with(|r| (read(&r.figures), read(&r.previous))))
    };
    let csv_href = move || report.with(|r| format!("/api/admin/history.csv?{}", r.query));
    let heading = move || report.with(|r| r.label.clone());
    let zone = move || report.with(|r| format!("Times in {} ({})", r.zone, r.zone_offset));
    let compared = move || {
        report.with(|r| {
            format!(
                "Compared with {} – {}",
                r.previous_from
                    .get(..16)
                    .unwrap_or_default()
                    .replace('T', " "),
                r.previous_to
                    .get(..16)
                    .unwrap_or_default()
                    .replace('T', " ")
            )
        })
    };
    let changing = move || {
        report.with(|r| r.still_changing).then(|| {
            view! {
                <span class="badge-changing" data-testid="still-changing">
                    "Updating: Meta may still deliver into the last 36 hours"
                </span>
            }
        })
    };
    let replies = move || {
        report.with(|r| {
            format!(
                "median {} · p90 {}",
                duration(r.figures.reply_median_ms),
                duration(r.figures.reply_p90_ms)
            )
        })
    };

    let cards = super::part(view! {
        <div class="cards">
            <RangeCard id="dms-received" title="DMs received" figure=figure(|f| f.dms_received)/>
            <RangeCard id="dms-sent" title="DMs sent" figure=figure(|f| f.dms_sent)/>
            <RangeCard id="replies" title="Replies" figure=figure(|f| f.replies)>
                <p class="stat-details" data-detail="reply-times">{replies}</p>
            </RangeCard>
            <RangeCard id="engagement" title="Engagement" figure=figure(RangeFigures::engagement)/>
            <RangeCard id="refused" title="Webhooks refused" figure=figure(|f| f.refused)/>
        </div>
    });
    let chart = super::part(view! { <RangeChart report=report/> });
    view! {
        <section class="range" data-testid="range-report">
            <header class="range__header">
                <h2 data-testid="range-label">{heading}</h2>
                <p class="meta" data-testid="range-zone">{zone}</p>
                <p class="meta">{compared}</p>
                {changing}
                <a class="range__csv" href=csv_href download="" data-testid="range-csv">"Download CSV"</a>
            </header>
            {cards}
            {chart}
        </section>
    }
}

/// One figure of the range with its change against the previous period.
#[component]
fn RangeCard(
    id: &'static str,
    title: &'static str,
    /// (this range, the previous period).
    figure: Signal<(i64, i64)>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let change = move || {
        let (current, previous) = figure.get();
        match change_percent(current, previous) {
            Some(change) if change > 0 => format!("▲ {change} %"),
            Some(change) if change < 0 => format!("▼ {} %", -change),
            Some(_) => "= 0 %".to_string(),
            None => "no figure before".to_string(),
        }
    };
    let direction = move || {
        let (current, previous) = figure.get();
        if current > previous {
            "change change--up"
        } else if current < previous {
            "change change--down"
        } else {
            "change"
        }
    };
    view! {
        <section class="stat-card" data-stat=id>
            <h2>{title}</h2>
            <p class="stat-value">{move || thousands(figure.get().0)}</p>
            <p class=direction data-testid="change">
                {change} <span class="change__before">" vs " {move || thousands(figure.get().1)}</span>
            </p>
            {children.map(|children| children())}
        </section>
    }
}

/// The range's chart: DMs received and sent per step.
#[component]
fn RangeChart(report: RwSignal<HistoryReport>) -> impl IntoView {
    const SLOT: i64 = 100;
    const HEIGHT: i64 = 1200;
    const BAR: i64 = 40;
    let height = |count: i64, peak: i64| {
        if count <= 0 || peak <= 0 {
            0
        } else {
            (count * HEIGHT / peak).max(1)
        }
    };
    let slots = move || report.with(|r| r.points.len().max(1) as i64);
    let view_box = move || format!("0 0 {} {HEIGHT}", slots() * SLOT);
    let bars = move || {
        report.with(|r| {
            let peak = r
                .points
                .iter()
                .map(|p| p.figures.dms_received.max(p.figures.dms_sent))
                .max()
                .unwrap_or(0);
            r.points
                .iter()
                .enumerate()
                .map(|(slot, point)| {
                    let x = slot as i64 * SLOT + 10;
                    let (received, sent) = (point.figures.dms_received, point.figures.dms_sent);
                    let title = format!("{}: {received} received, {sent} sent", point.label);
                    view! {
                        <g data-start=point.start.clone()>
                            <title>{title}</title>
                            <rect class="bar bar--received" x=x y=HEIGHT - height(received, peak)
                                width=BAR height=height(received, peak)></rect>
                            <rect class="bar bar--sent" x=x + BAR y=HEIGHT - height(sent, peak)
                                width=BAR height=height(sent, peak)></rect>
                        </g>
                    }
                })
                .collect_view()
        })
    };
    let first = move || {
        report.with(|r| {
            r.points
                .first()
                .map(|p| p.label.clone())
                .unwrap_or_default()
        })
    };
    let last =
        move || report.with(|r| r.points.last().map(|p| p.label.clone()).unwrap_or_default());
    let caption = move || report.with(|r| format!("DMs per {}", r.step));
    view! {
        <figure class="minute-chart range-chart">
            <figcaption>
                <span>{caption}</span>
                <span class="legend">
                    <span class="legend__item legend__item--received">"received"</span>
                    <span class="legend__item legend__item--sent">"sent"</span>
                </span>
            </figcaption>
            <svg viewBox=view_box preserveAspectRatio="none" role="img"
                aria-label="DMs sent and received per step of the range">
                {bars}
            </svg>
            <div class="ticks">
                <span>{first}</span>
                <span>{last}</span>
            </div>
        </figure>
    }
}
