//! What the store counts and over which windows: today, the last hour, 24 h, totals; duplicates
//! counted once; data kept across a reopening.

use super::*;

on_both_backends!(
    windows_today_last_hour_and_24h_are_cut_at_the_right_instants,
    duplicates_within_and_across_transactions_count_once_and_do_not_bump_the_version,
    data_survives_reopening_the_database,
    a_conversation_is_active_while_its_latest_dm_is_within_24_hours,
);

async fn windows_today_last_hour_and_24h_are_cut_at_the_right_instants(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let start_of_today = NOW - NOW % DAY_MS;
    let events = [
        dm("now", RECEIVED, "biz-a", "c1", NOW - 1_000),
        dm("59min", RECEIVED, "biz-a", "c2", NOW - 59 * MINUTE_MS),
        dm(
            "61min",
            EventKind::DmSent,
            "biz-a",
            "c2",
            NOW - 61 * MINUTE_MS,
        ),
        dm(
            "yesterday-late",
            RECEIVED,
            "biz-b",
            "c3",
            start_of_today - 1_000,
        ),
        dm(
            "two-days",
            EventKind::DmSent,
            "biz-c",
            "c4",
            NOW - 2 * DAY_MS,
        ),
    ];
    let outcome = store.ingest(events.to_vec(), NOW).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (5, 0));

    let snapshot = store
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.version, 1);
    assert_eq!(
        (snapshot.dms_received.total, snapshot.dms_sent.total),
        (3, 2)
    );
    assert_eq!(
        (snapshot.dms_received.today, snapshot.dms_sent.today),
        (2, 1)
    );
    assert_eq!(
        (snapshot.dms_received.last_hour, snapshot.dms_sent.last_hour),
        (2, 0)
    );
    // c1, c2 (biz-a) and c3 (biz-b, 18.5 h ago) are active; c4 is two days old.
    assert_eq!(snapshot.active_conversations_24h, 3);
    assert_eq!(snapshot.accounts, 3);
    assert_eq!(snapshot.last_event_at_ms, Some(NOW - 1_000));

    assert_eq!(snapshot.per_minute.len(), 60);
    let current_minute = NOW - NOW % MINUTE_MS;
    assert_eq!(
        snapshot.per_minute.last().unwrap().minute_ms,
        current_minute
    );
    assert_eq!(
        snapshot.per_minute[0].minute_ms,
        current_minute - 59 * MINUTE_MS
    );
    assert_eq!(snapshot.per_minute.last().unwrap().received, 1);
    assert_eq!(
        snapshot.per_minute[0].received, 1,
        "59 minutes ago is the oldest bucket"
    );
}

async fn duplicates_within_and_across_transactions_count_once_and_do_not_bump_the_version(
    backend: Backend,
) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let first = dm("m1", RECEIVED, "biz", "c", NOW);
    let outcome = store
        .ingest(vec![first.clone(), first.clone()], NOW)
        .await
        .unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (1, 1));
    let again = store.ingest(vec![first.clone()], NOW).await.unwrap();
    assert!(!again.changed());

    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.version, 1);
    assert_eq!(snapshot.dms_received.total, 1);
    // The same mid as an echo is a different event (a DM sent), counted separately.
    store
        .ingest(vec![dm("m1", EventKind::DmSent, "biz", "c", NOW)], NOW)
        .await
        .unwrap();
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(
        (snapshot.version, snapshot.dms_sent.total, snapshot.accounts),
        (2, 1, 1)
    );
    assert_eq!(store.event_count().await.unwrap(), 2);
}

async fn data_survives_reopening_the_database(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store
        .ingest(vec![dm("kept", RECEIVED, "biz", "c", NOW)], NOW)
        .await
        .unwrap();
    drop(store);
    let reopened = database.open().await;
    let snapshot = reopened
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!((snapshot.version, snapshot.dms_received.total), (1, 1));
}

async fn a_conversation_is_active_while_its_latest_dm_is_within_24_hours(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let active = |store: Store, at: i64| async move {
        store
            .snapshot(at, SnapshotSource::Push, &THRESHOLDS)
            .await
            .unwrap()
            .active_conversations_24h
    };
    store
        .ingest(
            vec![dm("old", RECEIVED, "biz", "c1", NOW - 2 * DAY_MS)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(active(store.clone(), NOW).await, 0, "two days old");

    // A new DM moves the conversation into the window; a late, older one
    // does not move it back.
    store
        .ingest(
            vec![dm("recent", RECEIVED, "biz", "c1", NOW - 3_600_000)],
            NOW,
        )
        .await
        .unwrap();
    store
        .ingest(
            vec![dm("late", RECEIVED, "biz", "c1", NOW - 3 * DAY_MS)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(active(store.clone(), NOW).await, 1);

    // Two more DMs in one transaction: one conversation moves minute, one is new.
    store
        .ingest(
            vec![
                dm("c1-again", RECEIVED, "biz", "c1", NOW - 1_000),
                dm("c2-first", EventKind::DmSent, "biz", "c2", NOW - 1_000),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(active(store.clone(), NOW).await, 2);
    // Both drop out once their latest DM is more than a day (and a minute) old.
    assert_eq!(active(store.clone(), NOW + DAY_MS - 120_000).await, 2);
    assert_eq!(active(store.clone(), NOW + DAY_MS + 120_000).await, 0);
}
