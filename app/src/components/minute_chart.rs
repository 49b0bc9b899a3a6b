//! The 60-minute sent/received chart, drawn as SVG.

use leptos::prelude::*;

use crate::{format::utc_clock, model::StatsSnapshot};

/// Width of one minute's slot in SVG units.
const SLOT_WIDTH: f64 = 10.0;
/// Height of the plotting area in SVG units.
const PLOT_HEIGHT: f64 = 120.0;
/// Width of one bar; two bars (sent, received) share a slot with a small gap.
const BAR_WIDTH: f64 = 4.0;

/// Paired bars per minute: DMs received and DMs sent, scaled to the busiest minute.
#[component]
pub fn MinuteChart(
    /// The snapshot whose `per_minute` series is drawn.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
) -> impl IntoView {
    let width = SLOT_WIDTH * 60.0;
    let view_box = format!("0 0 {width} {PLOT_HEIGHT}");
    let bars = move || {
        let snapshot = snapshot.get();
        let peak = snapshot.per_minute_peak() as f64;
        snapshot
            .per_minute
            .iter()
            .enumerate()
            .map(|(slot, bucket)| {
                let x = slot as f64 * SLOT_WIDTH + 1.0;
                let received_height = bucket.received as f64 / peak * PLOT_HEIGHT;
                let sent_height = bucket.sent as f64 / peak * PLOT_HEIGHT;
                let title = format!(
                    "{} UTC: {} received, {} sent",
                    utc_clock(bucket.minute_ms),
                    bucket.received,
                    bucket.sent
                );
                view! {
                    <g>
                        <title>{title}</title>
                        <rect
                            class="bar bar--received"
                            x=x
                            y=PLOT_HEIGHT - received_height
                            width=BAR_WIDTH
                            height=received_height
                        ></rect>
                        <rect
                            class="bar bar--sent"
                            x=x + BAR_WIDTH
                            y=PLOT_HEIGHT - sent_height
                            width=BAR_WIDTH
                            height=sent_height
                        ></rect>
                    </g>
                }
            })
            .collect_view()
    };
    let first_label = move || {
        snapshot.with(|s| {
            s.per_minute
                .first()
                .map(|b| utc_clock(b.minute_ms))
                .unwrap_or_default()
        })
    };
    let last_label = move || {
        snapshot.with(|s| {
            s.per_minute
                .last()
                .map(|b| utc_clock(b.minute_ms))
                .unwrap_or_default()
        })
    };
    let peak_label = move || format!("peak {} / min", snapshot.with(|s| s.per_minute_peak()));

    view! {
        <figure class="minute-chart">
            <figcaption>
                <span>"Last 60 minutes"</span>
                <span class="legend">
                    <span class="legend__item legend__item--received">"received"</span>
                    <span class="legend__item legend__item--sent">"sent"</span>
                    <span class="legend__peak">{peak_label}</span>
                </span>
            </figcaption>
            <svg
                viewBox=view_box
                preserveAspectRatio="none"
                role="img"
                aria-label="DMs sent and received per minute over the last hour"
            >
                <line class="axis" x1="0" y1=PLOT_HEIGHT x2=width y2=PLOT_HEIGHT></line>
                {bars}
            </svg>
            <div class="ticks">
                <span>{first_label}</span>
                <span>{last_label}</span>
            </div>
        </figure>
    }
}
