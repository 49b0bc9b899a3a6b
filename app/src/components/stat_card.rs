//! One headline number with its smaller companions.

use leptos::prelude::*;

use crate::format::thousands;

/// A card showing one headline figure and up to two labelled secondary figures.
///
/// `id` names the card for styling and end-to-end tests (`data-stat`).
#[component]
pub fn StatCard(
    /// Stable identifier, rendered as `data-stat`.
    id: &'static str,
    /// Title above the number.
    title: &'static str,
    /// The headline figure.
    #[prop(into)]
    value: Signal<i64>,
    /// Optional secondary figures: (label, value).
    #[prop(optional)]
    details: Vec<(&'static str, Signal<i64>)>,
) -> impl IntoView {
    view! {
        <section class="stat-card" data-stat=id>
            <h2>{title}</h2>
            <p class="stat-value">{move || thousands(value.get())}</p>
            <dl class="stat-details">
                {details
                    .into_iter()
                    .map(|(label, detail)| {
                        view! {
                            <div>
                                <dt>{label}</dt>
                                <dd data-detail=label>{move || thousands(detail.get())}</dd>
                            </div>
                        }
                    })
                    .collect_view()}
            </dl>
        </section>
    }
}
