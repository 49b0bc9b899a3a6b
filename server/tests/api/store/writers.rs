//! Writers: group commit, several writers and nodes on one database, deliveries the database
//! refuses, closing a store, and what a commit leaves in the files.

use super::*;

on_both_backends!(
    two_nodes_writing_overlapping_batches_at_once_count_each_event_once,
    concurrent_deliveries_are_committed_together_and_each_counted_once,
    every_snapshot_that_reaches_a_deliverys_version_contains_it,
    a_delivery_the_database_refuses_mid_transaction_leaves_the_next_ones_committed,
    closing_a_store_keeps_every_acknowledged_delivery_and_refuses_the_next,
);

async fn two_nodes_writing_overlapping_batches_at_once_count_each_event_once(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (node_a, node_b) = (database.open().await, database.open().await);
    // Each node gets the same 200 DMs in a different order and batching, at the same time.
    let events: Vec<WebhookEvent> = (0..200)
        .map(|i| {
            dm(
                &format!("m{i}"),
                RECEIVED,
                &format!("biz-{}", i % 3),
                &format!("c{}", i % 17),
                NOW - i * 1000,
            )
        })
        .collect();
    let mut reversed = events.clone();
    reversed.reverse();
    let write = |store: Store, events: Vec<WebhookEvent>, batch: usize| async move {
        for chunk in events.chunks(batch) {
            store.ingest(chunk.to_vec(), NOW).await.unwrap();
        }
    };
    tokio::join!(
        write(node_a.clone(), events, 7),
        write(node_b.clone(), reversed, 11)
    );

    let (a, b) = (
        node_a
            .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
            .await
            .unwrap(),
        node_b
            .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
            .await
            .unwrap(),
    );
    assert_eq!(a, b, "both nodes read the same committed state");
    assert_eq!(a.dms_received.total, 200);
    assert_eq!(a.accounts, 3);
    assert_eq!(a.active_conversations_24h, 3 * 17);
    assert_eq!(node_a.event_count().await.unwrap(), 200);
    // 29 + 19 transactions ran; only those that stored something bumped the
    // version, and storing 200 events 11 at most at a time takes at least 19.
    assert!((19..=29 + 19).contains(&a.version), "{}", a.version);
}

async fn concurrent_deliveries_are_committed_together_and_each_counted_once(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    // One writer: with several, two transactions committing at once may be
    // acknowledged with the same version (both read the sum after both
    // commits), so versions would not count transactions one to one.
    let store = Store::open_with_writers(&database.url, std::num::NonZeroUsize::MIN)
        .await
        .unwrap();
    // 200 deliveries at once, every fifth one a redelivery of its predecessor.
    let deliveries: Vec<Vec<WebhookEvent>> = (0..200)
        .map(|i| {
            let mid = if i % 5 == 4 { i - 1 } else { i };
            vec![dm(
                &format!("group-{mid}"),
                RECEIVED,
                "biz",
                &format!("c{mid}"),
                NOW,
            )]
        })
        .collect();
    let outcomes = futures::future::join_all(
        deliveries
            .iter()
            .map(|events| store.ingest(events.clone(), NOW)),
    )
    .await;
    let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    let stored: u64 = outcomes.iter().map(|o| o.stored).sum();
    let duplicates: u64 = outcomes.iter().map(|o| o.duplicates).sum();
    assert_eq!((stored, duplicates), (160, 40));
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, 160);
    assert!(
        outcomes
            .iter()
            .all(|o| o.version <= snapshot.version && o.version >= 1),
        "every acknowledged version is covered by the snapshot"
    );
    let distinct_versions: std::collections::BTreeSet<i64> =
        outcomes.iter().map(|o| o.version).collect();
    assert!(
        (distinct_versions.len() as i64) == snapshot.version,
        "one version per transaction: {} transactions for 200 deliveries",
        snapshot.version
    );
}

/// The promise of `X-Pulse-Version`, with several writers: 300 single-DM
/// deliveries go to two stores on one database at once (on Postgres four
/// writer slots), in ten waves of 30, while a reader takes snapshots one
/// after the other (each wave waits for one more snapshot, so the reader
/// sees the writes in progress however fast they go). Every snapshot must
/// count at least the deliveries whose acknowledged version it reaches, and
/// the reader's versions never go back.
async fn every_snapshot_that_reaches_a_deliverys_version_contains_it(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let stores = [database.open().await, database.open().await];
    let reader = database.open().await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let snapshots = {
        let (done, taken) = (done.clone(), taken.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let snapshot = reader
                    .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
                    .await
                    .unwrap();
                seen.push((snapshot.version, snapshot.dms_received.total));
                taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            seen
        })
    };
    let mut acknowledged: Vec<i64> = Vec::new();
    for wave in 0..10 {
        let deliveries = (wave * 30..(wave + 1) * 30).map(|i| {
            let store = stores[i % 2].clone();
            let event = dm(
                &format!("m{i}"),
                RECEIVED,
                &format!("biz-{}", i % 5),
                &format!("c{i}"),
                NOW - 1000,
            );
            async move { store.ingest(vec![event], NOW).await.unwrap().version }
        });
        let before = taken.load(std::sync::atomic::Ordering::Relaxed);
        acknowledged.extend(futures::future::join_all(deliveries).await);
        while taken.load(std::sync::atomic::Ordering::Relaxed) <= before {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = snapshots.await.unwrap();
    acknowledged.sort_unstable();
    assert!(seen.len() >= 10, "the reader took {} snapshots", seen.len());
    for window in seen.windows(2) {
        assert!(window[0].0 <= window[1].0, "versions went back: {window:?}");
    }
    for (version, counted) in &seen {
        let promised = acknowledged.partition_point(|acked| acked <= version) as i64;
        assert!(
            *counted >= promised,
            "a snapshot of version {version} counts {counted} DMs, but {promised} deliveries were acknowledged with a version it reaches"
        );
    }
    let last = stores[0]
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(last.dms_received.total, 300);
    assert!(last.version >= *acknowledged.last().unwrap());
}

/// The database fails a delivery inside its transaction (a trigger, as a
/// full disk would): that delivery is refused, and every delivery
/// acknowledged after it is committed for real: seen by a reader of its own
/// and kept across a reopening.
async fn a_delivery_the_database_refuses_mid_transaction_leaves_the_next_ones_committed(
    backend: Backend,
) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    let trigger = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_some BEFORE INSERT ON events \
               WHEN NEW.dedupe_key LIKE '%refuse%' \
               BEGIN SELECT RAISE(ROLLBACK, 'refused by the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_some() RETURNS trigger LANGUAGE plpgsql AS $$ \
               BEGIN IF NEW.dedupe_key LIKE '%refuse%' THEN \
                 RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_some BEFORE INSERT ON events \
               FOR EACH ROW EXECUTE FUNCTION refuse_some();"
        }
    };
    sqlx::raw_sql(trigger).execute(&mut admin).await.unwrap();
    for round in 0..4 {
        let refused = store
            .ingest(
                vec![dm(&format!("refuse-{round}"), RECEIVED, "biz", "p", NOW)],
                NOW,
            )
            .await;
        assert!(refused.is_err(), "round {round}: refused");
        let stored = store
            .ingest(
                vec![dm(&format!("kept-{round}"), RECEIVED, "biz", "p", NOW)],
                NOW,
            )
            .await
            .expect("the next delivery is stored");
        assert_eq!(stored.stored, 1);
        let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            seen,
            round + 1,
            "another connection sees every acknowledged delivery (round {round})"
        );
    }
    drop(store);
    let reopened = database.open().await;
    assert_eq!(reopened.event_count().await.unwrap(), 4);
}

/// A node's stop closes its store while deliveries may still be queued:
/// every delivery acknowledged is counted (also after reopening), the writers
/// end, and a delivery sent after the close is refused, never acknowledged.
async fn closing_a_store_keeps_every_acknowledged_delivery_and_refuses_the_next(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let sends = futures::future::join_all((0..100).map(|i| {
        let events = vec![dm(&format!("closing-{i}"), RECEIVED, "biz", "c", NOW)];
        store.ingest(events, NOW)
    }));
    let (outcomes, ()) = tokio::join!(sends, store.close());
    let acknowledged = outcomes.iter().filter(|outcome| outcome.is_ok()).count() as i64;
    assert!(
        acknowledged > 0,
        "the queue was taken before the writers stopped"
    );
    let late = store
        .ingest(vec![dm("after-close", RECEIVED, "biz", "c", NOW)], NOW)
        .await;
    assert!(late.is_err(), "a delivery after the close is refused");
    drop(store);
    let reopened = database.open().await;
    let snapshot = reopened
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, acknowledged);
}

#[tokio::test]
async fn a_delivery_postgres_refuses_does_not_fail_the_others_committed_with_it() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let store = database.open().await;
    // Postgres text cannot hold NUL: this delivery's transaction must fail.
    let poison = vec![dm("poison", RECEIVED, "biz\0nul", "c", NOW)];
    let good: Vec<Vec<WebhookEvent>> = (0..30)
        .map(|i| vec![dm(&format!("good-{i}"), RECEIVED, "biz", "c", NOW)])
        .collect();
    let mut pending: Vec<_> = good
        .iter()
        .map(|events| store.ingest(events.clone(), NOW))
        .collect();
    pending.insert(15, store.ingest(poison, NOW));
    let results = futures::future::join_all(pending).await;
    assert!(results[15].is_err(), "the poisoned delivery fails");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 30);
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, 30);
}

/// On SQLite the writer only appends its commits to the WAL: a connection of
/// its own copies them back into the database file soon after, long before
/// the writer's own threshold (about 40 MB of WAL) would.
#[tokio::test]
async fn sqlite_commits_reach_the_database_file_without_the_writer_copying_them() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let store = database.open().await;
    let file = database.url.trim_start_matches("sqlite://").to_string();
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    for delivery in 0..20 {
        let events = (0..50)
            .map(|i| {
                dm(
                    &format!("m{delivery}-{i}"),
                    RECEIVED,
                    "biz-a",
                    &format!("c{i}"),
                    NOW - 1000,
                )
            })
            .collect();
        store.ingest(events, NOW).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        size() > before,
        "the database file is still {before} bytes: the 1,000 events are only in the WAL"
    );
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, 1000);
}

/// A Postgres writer whose connection the database closes (a restart, an
/// administrator's `pg_terminate_backend`) gives its slot up with it; the next
/// groups are committed on new connections, and every delivery that was
/// acknowledged counts once (one that failed is retried, as Meta does).
#[tokio::test]
async fn postgres_writers_reconnect_after_the_database_closes_their_connections() {
    let url = fresh_database_url().await;
    let store = Store::open(&url).await.unwrap();
    let deliver = |i: usize| {
        let store = store.clone();
        async move {
            for _ in 0..5 {
                let event = dm(
                    &format!("m{i}"),
                    RECEIVED,
                    "biz-a",
                    &format!("c{i}"),
                    NOW - 1000,
                );
                if store.ingest(vec![event], NOW).await.is_ok() {
                    return;
                }
            }
            panic!("delivery {i} failed five times");
        }
    };
    for i in 0..4 {
        deliver(i).await;
    }
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let (closed,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(closed >= 1, "the writer's connection was open");
    futures::future::join_all((4..40).map(deliver)).await;
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, 40);
    assert_eq!(snapshot.active_conversations_24h, 40);
    let (slots,): (i64,) = sqlx::query_as("SELECT count(*) FROM store_slots")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(
        slots <= 2,
        "{slots} slot rows for two writers: a freed slot is claimed again"
    );
}
