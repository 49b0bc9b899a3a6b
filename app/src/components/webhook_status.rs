//! Whether Instagram's deliveries arrive and are accepted, and whether the
//! database has room to keep taking them.

use leptos::prelude::*;

use crate::{
    format::{age, bytes},
    model::StatsSnapshot,
};

/// Last accepted delivery, refusals and flagged events in the last hour, the
/// database's size and its disk's free space, and the server's warnings when
/// something needs attention.
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
    let storage = move || snapshot.with(|s| s.storage.clone());
    let database = move || {
        let storage = storage();
        match storage.growth_bytes_per_hour {
            Some(growth) if growth > 0 => {
                format!("{} (+{} / h)", bytes(storage.database_bytes), bytes(growth))
            }
            _ => bytes(storage.database_bytes),
        }
    };
    let disk_free = move || {
        let storage = storage();
        match (storage.disk_free_bytes, storage.disk_total_bytes) {
            (Some(free), Some(total)) => format!("{} of {}", bytes(free), bytes(total)),
            _ => "on the database server".to_string(),
        }
    };

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
                <div>
                    <dt>"database"</dt>
                    <dd data-testid="database-size">{database}</dd>
                </div>
                <div>
                    <dt>"disk free"</dt>
                    <dd data-testid="disk-free">{disk_free}</dd>
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
            {move || {
                storage()
                    .warning
                    .map(|text| {
                        view! {
                            <p class="webhook-warning" role="alert" data-testid="storage-warning">
                                {text}
                            </p>
                        }
                    })
            }}
        </section>
    }
}
