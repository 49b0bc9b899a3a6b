//! Retention: raw events past their period and per-minute rows past their windows go, in steps,
//! and no figure the dashboard or a date range shows changes; redeliveries within the period are
//! still recognised.

use app::model::HistoryQuery;
use pulse::history::{self, Span};

use super::*;

on_both_backends!(expired_events_and_minutes_go_and_no_figure_changes);

/// The dashboard's snapshot at [`NOW`] and a range covering every event.
async fn everything_shown(store: &Store) -> (app::model::StatsSnapshot, app::model::HistoryReport) {
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    let query = HistoryQuery {
        from: Some("2026-11-01".into()),
        to: Some("2026-11-30".into()),
        zone: Some("Asia/Kathmandu".into()),
        ..HistoryQuery::default()
    };
    let now = jiff::Timestamp::from_millisecond(NOW).unwrap();
    let span = Span::resolve(&query, now).unwrap();
    (snapshot, history::report(store, &span).await.unwrap())
}

async fn expired_events_and_minutes_go_and_no_figure_changes(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // 2,500 events received ten days ago (more than two steps), a conversation with a reply
    // among them, and 30 received an hour ago.
    let old = NOW - 10 * DAY_MS;
    let mut events: Vec<WebhookEvent> = (0..2_500)
        .map(|i| {
            dm(
                &format!("old-{i}"),
                RECEIVED,
                "biz",
                &format!("c{}", i % 50),
                old + i * 1_000,
            )
        })
        .collect();
    events.push(dm(
        "old-reply",
        EventKind::DmSent,
        "biz",
        "c0",
        old + 2_600_000,
    ));
    for chunk in events.chunks(500) {
        store.ingest(chunk.to_vec(), old + 3_000_000).await.unwrap();
    }
    let recent: Vec<WebhookEvent> = (0..30)
        .map(|i| {
            dm(
                &format!("new-{i}"),
                RECEIVED,
                "biz",
                &format!("n{i}"),
                NOW - 3_600_000,
            )
        })
        .collect();
    store.ingest(recent.clone(), NOW - 3_600_000).await.unwrap();
    let before = everything_shown(&store).await;
    assert_eq!(before.1.figures.dms_received, 2_530);
    assert_eq!(before.1.figures.replies, 1);
    assert_eq!(store.event_count().await.unwrap(), 2_531);

    let removed = store
        .remove_expired(NOW, std::time::Duration::from_secs(2 * 86_400))
        .await
        .unwrap();
    assert_eq!(
        removed.events, 2_501,
        "every event received before the period"
    );
    assert!(removed.minute_rows > 0, "the minutes of ten days ago");
    assert_eq!(store.event_count().await.unwrap(), 30);
    assert_eq!(everything_shown(&store).await, before, "no figure changes");

    // Within the period a redelivery is still a duplicate; nothing more goes on a second run.
    let again = store.ingest(recent[..5].to_vec(), NOW).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 5));
    let second = store
        .remove_expired(NOW, std::time::Duration::from_secs(2 * 86_400))
        .await
        .unwrap();
    assert_eq!(second, pulse::store::retention::Removed::default());
}
