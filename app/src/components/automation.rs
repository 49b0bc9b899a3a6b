//! Whether the automation answers: the Replies and Waiting cards.

use leptos::prelude::*;

use crate::{
    format::{duration, thousands},
    model::StatsSnapshot,
};

/// Median and p90 reply time over the last hour, and the replies sent in it.
#[component]
pub fn RepliesCard(
    /// The snapshot to read from.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
) -> impl IntoView {
    let times = move || snapshot.with(|s| s.replies.last_hour);
    view! {
        <section class="stat-card" data-stat="replies">
            <h2>"Median reply (1 h)"</h2>
            <p class="stat-value">{move || duration(times().median_ms)}</p>
            <dl class="stat-details">
                <div>
                    <dt>"p90"</dt>
                    <dd data-detail="p90">{move || duration(times().p90_ms)}</dd>
                </div>
                <div>
                    <dt>"replies"</dt>
                    <dd data-detail="replies">{move || thousands(times().count)}</dd>
                </div>
            </dl>
        </section>
    }
}

/// Conversations waiting for a reply, those waiting past the alert
/// threshold, and the longest wait; a warning while anyone waits too long.
#[component]
pub fn WaitingCard(
    /// The snapshot to read from.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
) -> impl IntoView {
    let waiting = move || snapshot.with(|s| s.waiting);
    let over_label = move || format!("over {}", duration(Some(waiting().threshold_s * 1000)));
    let class = move || {
        if waiting().over_threshold > 0 {
            "stat-card stat-card--warning"
        } else {
            "stat-card"
        }
    };
    let warning = move || {
        let waiting = waiting();
        (waiting.over_threshold > 0).then(|| {
            let text = format!(
                "{} {} waited more than {} for a reply: check the automation's flows and the \
                 accounts' access tokens.",
                thousands(waiting.over_threshold),
                if waiting.over_threshold == 1 {
                    "customer has"
                } else {
                    "customers have"
                },
                duration(Some(waiting.threshold_s * 1000)),
            );
            view! {
                <p class="webhook-warning" role="alert" data-testid="waiting-warning">
                    {text}
                </p>
            }
        })
    };
    view! {
        <section class=class data-stat="waiting">
            <h2>"Waiting for a reply"</h2>
            <p class="stat-value">{move || thousands(waiting().total)}</p>
            <dl class="stat-details">
                <div>
                    <dt>{over_label}</dt>
                    <dd data-detail="over-threshold">{move || thousands(waiting().over_threshold)}</dd>
                </div>
                <div>
                    <dt>"oldest"</dt>
                    <dd data-detail="oldest">{move || duration(waiting().oldest_ms)}</dd>
                </div>
            </dl>
            {warning}
        </section>
    }
}
