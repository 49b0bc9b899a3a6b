//! Whether Instagram's deliveries arrive and are accepted.

use leptos::prelude::*;

use crate::{format::age, model::StatsSnapshot};

/// Last accepted delivery, refusals and flagged events in the last hour, and
/// the server's warning when something needs attention.
#[component]
pub fn WebhookStatus(
    /// The snapshot to read from.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
    /// The current time (Unix ms), ticking in the browser.
    #[prop(into)]
    now_ms: Signal<i64>,
) -> impl IntoView {
    let health = move || snapshot.with(|s| s.webhook_health.clone());
    let last_accepted = move || match health().last_accepted_at_ms {
        Some(at) => age(now_ms.get() - at),
        None => "none yet".to_string(),
    };
    let warning = move || health().warning;

    view! {
        <section class="webhook-status" data-stat="webhooks">
            <h2>"Webhooks"</h2>
            <dl>
                <div>
                    <dt>"last accepted"</dt>
                    <dd data-testid="last-accepted">{last_accepted}</dd>
                </div>
                <div>
                    <dt>"refused (1 h)"</dt>
                    <dd data-testid="rejected">{move || health().rejected_1h}</dd>
                </div>
                <div>
                    <dt>"bad signature (1 h)"</dt>
                    <dd data-testid="signature-failures">{move || health().signature_failures_1h}</dd>
                </div>
                <div>
                    <dt>"flagged events (1 h)"</dt>
                    <dd data-testid="flagged">{move || health().flagged_events_1h}</dd>
                </div>
            </dl>
            {move || {
                warning()
                    .map(|text| {
                        view! {
                            <p class="webhook-warning" role="alert">
                                {text}
                            </p>
                        }
                    })
            }}
        </section>
    }
}
