//! The 60-minute sent/received chart, drawn as SVG.

use leptos::prelude::*;

use crate::{format::Clock, model::StatsSnapshot};

// Coordinates are whole SVG units (the browser formats no float): a fine grid
// that the `viewBox` scales to the chart's size.

/// Width of one minute's slot in SVG units.
const SLOT_WIDTH: i64 = 100;
/// Height of the plotting area in SVG units.
const PLOT_HEIGHT: i64 = 1200;
/// Width of one bar; two bars (sent, received) share a slot with a small gap.
const BAR_WIDTH: i64 = 40;

/// Height of a bar for `count` when the busiest minute had `peak`: in
/// proportion, and at least one unit for any count above zero.
fn bar_height(count: i64, peak: i64) -> i64 {
    if count <= 0 || peak <= 0 {
        return 0;
    }
    (count.min(peak) * PLOT_HEIGHT / peak).max(1)
}

/// Paired bars per minute: DMs received and DMs sent, scaled to the busiest minute.
#[component]
pub fn MinuteChart(
    /// The snapshot whose `per_minute` series is drawn.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
    /// The zone its minutes are labelled in.
    #[prop(into)]
    clock: Signal<Clock>,
) -> impl IntoView {
    let width = SLOT_WIDTH * 60;
    let view_box = format!("0 0 {width} {PLOT_HEIGHT}");
    let bars = move || {
        let snapshot = snapshot.get();
        let clock = clock.get();
        let peak = snapshot.per_minute_peak();
        snapshot
            .per_minute
            .iter()
            .enumerate()
            .map(|(slot, bucket)| {
                let x = slot as i64 * SLOT_WIDTH + 10;
                let received_height = bar_height(bucket.received, peak);
                let sent_height = bar_height(bucket.sent, peak);
                let title = format!(
                    "{} {}: {} received, {} sent",
                    clock.time(bucket.minute_ms),
                    clock.zone,
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
                .map(|b| clock.with(|clock| clock.time(b.minute_ms)))
                .unwrap_or_default()
        })
    };
    let last_label = move || {
        snapshot.with(|s| {
            s.per_minute
                .last()
                .map(|b| clock.with(|clock| clock.time(b.minute_ms)))
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
                <line class="axis" vector-effect="non-scaling-stroke" x1="0" y1=PLOT_HEIGHT x2=width y2=PLOT_HEIGHT></line>
                {bars}
            </svg>
            <div class="ticks">
                <span>{first_label}</span>
                <span>{last_label}</span>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_in_proportion_and_never_hide_a_count() {
        assert_eq!(bar_height(0, 10), 0);
        assert_eq!(bar_height(10, 10), PLOT_HEIGHT);
        assert_eq!(bar_height(5, 10), PLOT_HEIGHT / 2);
        assert_eq!(bar_height(1, 1_000_000), 1);
        assert_eq!(bar_height(3, 0), 0);
    }
}
