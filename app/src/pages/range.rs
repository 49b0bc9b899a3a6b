//! `/admin?range=7d&zone=Asia/Kolkata` (or `from` and `to`): the dashboard
//! for a date range, in the admin's time zone, against the period before;
//! the same on one account's page (`/admin/accounts/{id}?range=7d`) for that
//! account.
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
    model::{
        change_percent, HistoryFailure, HistoryQuery, HistoryReport, PreviousPoint, RangeFigures,
        RANGES,
    },
};

/// The element holding the report as JSON, for the island.
const REPORT_JSON_ID: &str = "pulse-range-report";

/// The range links and forms above the dashboard, live or not: plain links
/// and `GET` forms, which need no JavaScript.
#[component]
pub fn RangePicker(
    /// What the address asks for.
    query: HistoryQuery,
    /// The page the links lead to (`/admin`, `/admin/accounts/{id}`).
    #[prop(into)]
    page: String,
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
                format!("{page}?{}", query.named(key).to_query_string()),
            )
        })
        .collect_view();
    let zone = query.zone.clone().unwrap_or_default();
    // The overlay goes with the admin from one range to the next.
    let overlaid = query.overlay.clone();
    let overlay = move || {
        overlaid.clone().map(|overlay| {
            view! { <input type="hidden" name="overlay" value=overlay/> }
        })
    };
    view! {
        <nav class="ranges" aria-label="Date range">
            {link("live", "Live", page.clone())}
            {named}
            <form class="ranges__custom" method="get" action=page.clone()>
                <input type="hidden" name="range" value="custom"/>
                <label>"From " <input type="date" name="from" value=query.from.clone().unwrap_or_default()/></label>
                <label>"to " <input type="date" name="to" value=query.to.clone().unwrap_or_default()/></label>
                <input type="hidden" name="zone" value=zone.clone()/>
                {overlay.clone()}
                <button type="submit">"Show"</button>
            </form>
            <form class="ranges__zone" method="get" action=page.clone()>
                <input type="hidden" name="range" value=query.range.clone().unwrap_or_default()/>
                <input type="hidden" name="from" value=query.from.clone().unwrap_or_default()/>
                <input type="hidden" name="to" value=query.to.clone().unwrap_or_default()/>
                <label>"Time zone "
                    <input type="text" name="zone" value=zone placeholder="UTC"
                        aria-label="Time zone (IANA name, such as Europe/London)"/>
                </label>
                {overlay}
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
    /// Whose history: the service's (`None`) or this account's.
    #[prop(optional)]
    account: Option<String>,
) -> impl IntoView {
    let loaded = Resource::new_blocking(move || (account.clone(), query.clone()), load);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the range…"</p> }>
            {move || Suspend::new(async move {
                match loaded.await {
                    Ok(report) => {
                        let header = range_header(&report);
                        let handed = super::embedded::hand_over(REPORT_JSON_ID, report);
                        view! {
                            <section class="range" data-testid="range-report">
                                {header}
                                {handed}
                                <RangeReport/>
                            </section>
                        }
                            .into_any()
                    }
                    Err(failure) => {
                        super::answer_status(&failure);
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
    (account, query): (Option<String>, HistoryQuery),
) -> impl std::future::Future<Output = Result<HistoryReport, HistoryFailure>> + Send {
    #[cfg(feature = "ssr")]
    let service = use_context::<crate::server_fns::stats::StatsContext>();
    #[cfg(feature = "ssr")]
    let viewer = crate::server_fns::stats::Viewer::of_request();
    async move {
        #[cfg(feature = "ssr")]
        {
            let service = service
                .ok_or_else(|| HistoryFailure::unavailable("the stats service is not available"))?;
            service.0.history(account, query, viewer).await
        }
        #[cfg(not(feature = "ssr"))]
        {
            let _ = (account, query);
            Err(HistoryFailure::unavailable(
                "the history is read on the server",
            ))
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

/// The range's cards and chart, which a range that may still change asks
/// for again.
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
                let page = report.with_untracked(|r| r.page.clone());
                if let Some(window) = web_sys::window() {
                    let _ = window
                        .location()
                        .replace(&format!("{page}?{}", target.to_query_string()));
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
    // Refusals belong to no account: that card is the service's alone.
    let service = report.with_untracked(|r| r.page == "/admin");
    let refused = service.then(|| {
        view! {
            <RangeCard id="refused" title="Webhooks refused" figure=figure(|f| f.refused)/>
        }
    });
    let count = |f: &RangeFigures| f.active_conversations.unwrap_or_default();
    let active = view! {
        <RangeCard id="active-conversations" title="Active conversations" figure=figure(count)>
            <p class="stat-details">"with a DM in the range · estimated: typically within 3 %"</p>
        </RangeCard>
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
            {active}
            <RangeCard id="replies" title="Replies" figure=figure(|f| f.replies)>
                <p class="stat-details" data-detail="reply-times">{replies}</p>
            </RangeCard>
            <RangeCard id="engagement" title="Engagement" figure=figure(RangeFigures::engagement)/>
            {refused}
        </div>
    });
    let chart = super::part(view! { <RangeChart report=report/> });
    view! {
        {cards}
        {chart}
    }
}

/// The range's title, zone, comparison, note and links: what a report
/// asked again for the same range never changes, rendered on the server
/// only (it costs the island nothing).
fn range_header(report: &HistoryReport) -> impl IntoView {
    let minute = |written: &str| written.get(..16).unwrap_or_default().replace('T', " ");
    let compared = format!(
        "Compared with {} – {}",
        minute(&report.previous_from),
        minute(&report.previous_to)
    );
    let changing = report.still_changing.then(|| {
        view! {
            <span class="badge-changing" data-testid="still-changing">
                "Updating: Meta may still deliver into the last 36 hours"
            </span>
        }
    });
    let note = report.note.clone().map(|note| {
        view! { <p class="meta range__note" data-testid="range-note">{note}</p> }
    });
    // The overlay is the query's last parameter when on (see
    // `HistoryQuery::to_query_string`).
    let (overlay_href, overlay_label) = if report.overlay {
        let without = report.query.trim_end_matches("&overlay=previous");
        (
            format!("{}?{without}", report.page),
            "Hide the previous period",
        )
    } else {
        (
            format!("{}?{}&overlay=previous", report.page, report.query),
            "Overlay the previous period",
        )
    };
    view! {
        <header class="range__header">
            <h2 data-testid="range-label">{report.label.clone()}</h2>
            <p class="meta" data-testid="range-zone">
                {format!("Times in {} ({})", report.zone, report.zone_offset)}
            </p>
            {note}
            <p class="meta">{compared}</p>
            {changing}
            <a class="range__overlay" href=overlay_href data-testid="range-overlay">{overlay_label}</a>
            <a class="range__csv" href=report.csv_address() download="" data-testid="range-csv">
                "Download CSV"
            </a>
        </header>
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

/// The range's chart: DMs received and sent per step, and with the overlay
/// the previous period's as two lines over the bars (its n-th step over the
/// range's n-th).
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
                .chain(
                    r.previous_points
                        .iter()
                        .map(|p| p.dms_received.max(p.dms_sent)),
                )
                .max()
                .unwrap_or(0);
            r.points
                .iter()
                .enumerate()
                .map(|(slot, point)| {
                    let x = slot as i64 * SLOT + 10;
                    let (received, sent) = (point.figures.dms_received, point.figures.dms_sent);
                    let mut title = format!("{}: {received} received, {sent} sent", point.label);
                    if let Some(active) = point.figures.active_conversations {
                        title.push_str(&format!(", {active} conversations active"));
                    }
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
    let overlay = move || {
        report.with(|r| {
            if r.previous_points.is_empty() {
                return None;
            }
            let peak = r
                .points
                .iter()
                .map(|p| p.figures.dms_received.max(p.figures.dms_sent))
                .chain(r.previous_points.iter().map(|p| p.dms_received.max(p.dms_sent)))
                .max()
                .unwrap_or(0);
            let line = |count: fn(&PreviousPoint) -> i64, offset: i64| {
                r.previous_points
                    .iter()
                    .take(r.points.len().max(1))
                    .enumerate()
                    .map(|(slot, point)| {
                        let x = slot as i64 * SLOT + 10 + offset + BAR / 2;
                        format!("{x},{}", HEIGHT - height(count(point), peak))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let totals = r.previous_points.iter().fold((0, 0), |(received, sent), p| {
                (received + p.dms_received, sent + p.dms_sent)
            });
            let title = format!(
                "Previous period: {} received, {} sent",
                totals.0, totals.1
            );
            Some(view! {
                <g class="overlay" data-testid="overlay">
                    <title>{title}</title>
                    <polyline class="overlay__line overlay__line--received"
                        points=line(|p| p.dms_received, 0) data-testid="overlay-received"></polyline>
                    <polyline class="overlay__line overlay__line--sent"
                        points=line(|p| p.dms_sent, BAR) data-testid="overlay-sent"></polyline>
                </g>
            })
        })
    };
    let previous_legend = move || {
        report.with(|r| r.overlay).then(|| {
            view! { <span class="legend__item legend__item--previous">"previous period (lines)"</span> }
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
                    {previous_legend}
                </span>
            </figcaption>
            <svg viewBox=view_box preserveAspectRatio="none" role="img"
                aria-label="DMs sent and received per step of the range">
                {bars}
                {overlay}
            </svg>
            <div class="ticks">
                <span>{first}</span>
                <span>{last}</span>
            </div>
        </figure>
    }
}
