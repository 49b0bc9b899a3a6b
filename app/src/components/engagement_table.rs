//! Everything customers do besides DMs, in one compact table.

use leptos::prelude::*;

use crate::{
    format::{percent, thousands},
    model::{Counts, StatsSnapshot},
};

/// One table row: `data-metric` id, label, and where its counts are.
type Row = (&'static str, &'static str, fn(&StatsSnapshot) -> Counts);

/// Comments, reactions, story replies, postbacks, mentions, deletions and the
/// seen rate, each for today and in total.
#[component]
pub fn EngagementTable(
    /// The snapshot to read from.
    #[prop(into)]
    snapshot: Signal<StatsSnapshot>,
) -> impl IntoView {
    let rows: [Row; 6] = [
        ("comments", "Comments", |s| s.engagement.comments),
        ("reactions", "Reactions", |s| s.engagement.reactions),
        ("story-replies", "Story replies", |s| {
            s.engagement.story_replies
        }),
        ("postbacks", "Button taps", |s| s.engagement.postbacks),
        ("mentions", "Mentions", |s| s.engagement.mentions),
        ("deleted", "Deleted by customers", |s| s.engagement.deleted),
    ];
    let seen_rate = move |window: fn(&Counts) -> i64| {
        snapshot.with(|s| percent(window(&s.engagement.reads), window(&s.dms_sent)))
    };

    view! {
        <section class="engagement" data-stat="engagement">
            <h2>"Engagement"</h2>
            <table>
                <thead>
                    <tr>
                        <th scope="col"></th>
                        <th scope="col">"today"</th>
                        <th scope="col">"total"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|(id, label, read)| {
                            view! {
                                <tr data-metric=id>
                                    <th scope="row">{label}</th>
                                    <td data-window="today">
                                        {move || snapshot.with(|s| thousands(read(s).today))}
                                    </td>
                                    <td data-window="total">
                                        {move || snapshot.with(|s| thousands(read(s).total))}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                    <tr data-metric="seen-rate" title="Read receipts per DM sent">
                        <th scope="row">"Seen rate"</th>
                        <td data-window="today">{move || seen_rate(|c| c.today)}</td>
                        <td data-window="total">{move || seen_rate(|c| c.total)}</td>
                    </tr>
                </tbody>
            </table>
        </section>
    }
}
