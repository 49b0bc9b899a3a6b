//! Conversations: replies and waits by event time whatever the arrival order, conversations
//! written by two nodes, and a database upgraded from before replies were kept.

use super::*;

on_both_backends!(
    replies_and_waiting_follow_event_time_whatever_the_arrival_order,
    one_conversation_written_by_two_nodes_at_once_gives_the_replies_of_one_writer,
    a_conversation_two_nodes_write_in_turn_is_followed_through_both,
    a_database_from_before_replies_upgrades_with_its_conversations_followed,
);

async fn replies_and_waiting_follow_event_time_whatever_the_arrival_order(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let figures = |store: Store| async move {
        let snapshot = store
            .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
            .await
            .unwrap();
        (snapshot.replies.last_hour, snapshot.waiting)
    };
    let ingest = |events: Vec<WebhookEvent>| {
        let store = store.clone();
        async move { store.ingest(events, NOW).await.unwrap() }
    };
    // a: a reply after 30 s. b: two received, then one reply 5 min after the
    // first. c: a sent DM that predates the received one answers nothing.
    let a = vec![
        dm("a1", RECEIVED, "biz", "a", NOW - 10 * MINUTE),
        dm(
            "a2",
            EventKind::DmSent,
            "biz",
            "a",
            NOW - 10 * MINUTE + 30_000,
        ),
    ];
    ingest(a.clone()).await;
    ingest(vec![
        dm("b1", RECEIVED, "biz", "b", NOW - 20 * MINUTE),
        dm("b2", RECEIVED, "biz", "b", NOW - 19 * MINUTE),
    ])
    .await;
    ingest(vec![dm(
        "b3",
        EventKind::DmSent,
        "biz",
        "b",
        NOW - 15 * MINUTE,
    )])
    .await;
    ingest(vec![dm("c2", RECEIVED, "biz", "c", NOW - 25 * MINUTE)]).await;
    ingest(vec![dm(
        "c1",
        EventKind::DmSent,
        "biz",
        "c",
        NOW - 30 * MINUTE,
    )])
    .await;
    // Duplicates change nothing.
    ingest(a).await;

    let (replies, waiting) = figures(store.clone()).await;
    assert_eq!(replies.count, 2);
    assert_eq!(replies.median_ms, Some(30_000));
    assert_eq!(replies.p90_ms, Some(300_000));
    assert_eq!(waiting.total, 1, "c waits");
    assert_eq!(waiting.over_threshold, 1);
    assert_eq!(waiting.threshold_s, 300);
    // Waiting since NOW - 25 min, counted from the end of that minute.
    let oldest = waiting.oldest_ms.unwrap();
    assert!((24 * MINUTE..=25 * MINUTE).contains(&oldest), "{oldest}");

    // Late deliveries: a reply to c sent a minute after its DM, and a
    // received DM in a before the one that opened its wait (its reply now
    // took 90 s; the 30 s one is taken back).
    ingest(vec![
        dm("c3", EventKind::DmSent, "biz", "c", NOW - 24 * MINUTE),
        dm("a0", RECEIVED, "biz", "a", NOW - 11 * MINUTE),
    ])
    .await;
    let (replies, waiting) = figures(store.clone()).await;
    assert_eq!(
        replies.count, 3,
        "c's late reply counts, a's reply is still one"
    );
    assert_eq!(replies.median_ms, Some(90_000));
    assert_eq!(waiting.total, 0);
    assert_eq!(waiting.oldest_ms, None);

    // A late sent DM inside a wait splits it: a received DM, a reply that
    // arrives late, then another received DM still waiting.
    ingest(vec![
        dm("d1", RECEIVED, "biz", "d", NOW - 4 * MINUTE),
        dm("d3", RECEIVED, "biz", "d", NOW - 2 * MINUTE),
    ])
    .await;
    ingest(vec![dm(
        "d2",
        EventKind::DmSent,
        "biz",
        "d",
        NOW - 3 * MINUTE,
    )])
    .await;
    let (replies, waiting) = figures(store.clone()).await;
    assert_eq!(replies.count, 4);
    assert_eq!(
        (waiting.total, waiting.over_threshold),
        (1, 0),
        "d waits 2 min"
    );

    // A conversation leaves the count 24 h after its latest DM.
    let later = store
        .snapshot(NOW + DAY_MS, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(later.waiting.total, 0);
    assert_eq!(later.replies.last_hour.count, 0);
}

async fn one_conversation_written_by_two_nodes_at_once_gives_the_replies_of_one_writer(
    backend: Backend,
) {
    // Two received DMs and a reply, every 10 s, in two conversations in turn.
    let events: Vec<WebhookEvent> = (0..120)
        .map(|i| {
            let kind = if i % 3 == 2 {
                EventKind::DmSent
            } else {
                RECEIVED
            };
            dm(
                &format!("m{i}"),
                kind,
                "biz",
                &format!("c{}", (i / 3) % 2),
                NOW - 30 * MINUTE + i * 10_000,
            )
        })
        .collect();
    let expected = figures_of_one_writer(backend, &events).await;
    assert!(expected.0.last_hour.count > 0);

    // Two nodes share the work: the odd events to one, the even to the
    // other, both in reverse time order, at the same time.
    let database = TestDatabase::new(backend).await;
    let (node_a, node_b) = (database.open().await, database.open().await);
    let write = |store: Store, parity: i64| {
        let mine: Vec<WebhookEvent> = events
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as i64 % 2 == parity)
            .map(|(_, event)| event.clone())
            .rev()
            .collect();
        async move {
            for chunk in mine.chunks(3) {
                store.ingest(chunk.to_vec(), NOW).await.unwrap();
            }
        }
    };
    tokio::join!(write(node_a.clone(), 0), write(node_b.clone(), 1));
    assert_eq!(conversation_figures(&node_b).await, expected);
}

/// Two nodes writing one conversation in turn (on SQLite two stores on one
/// file) give the figures of one node writing it all, and each
/// acknowledgement names the version its commit left.
async fn a_conversation_two_nodes_write_in_turn_is_followed_through_both(backend: Backend) {
    let events = [
        dm("r1", RECEIVED, "biz", "p", NOW - 10 * MINUTE),
        dm("s1", EventKind::DmSent, "biz", "p", NOW - 8 * MINUTE),
        dm("r2", RECEIVED, "biz", "p", NOW - 5 * MINUTE),
        dm("s2", EventKind::DmSent, "biz", "p", NOW - 4 * MINUTE),
        dm("r3", RECEIVED, "biz", "p", NOW - 2 * MINUTE),
    ];
    let expected = figures_of_one_writer(backend, &events).await;
    assert_eq!(expected.0.last_hour.count, 2, "two replies");
    assert_eq!(
        (expected.1.total, expected.1.over_threshold),
        (1, 0),
        "the customer waits since r3, two minutes"
    );

    let database = TestDatabase::new(backend).await;
    let nodes = [database.open().await, database.open().await];
    for (turn, event) in events.iter().enumerate() {
        let outcome = nodes[turn % 2]
            .ingest(vec![event.clone()], NOW)
            .await
            .unwrap();
        assert_eq!(outcome.version, turn as i64 + 1, "version after {turn}");
    }
    for node in &nodes {
        assert_eq!(conversation_figures(node).await, expected);
    }
}

async fn a_database_from_before_replies_upgrades_with_its_conversations_followed(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    // The schema as it was before replies and accounts (migrations 1 to 4).
    // `Migrator`'s fields are what `migrate!` fills in; sqlx is pinned.
    sqlx::any::install_default_drivers();
    let url = match backend {
        Backend::Sqlite => format!("{}?mode=rwc", database.url),
        Backend::Postgres => database.url.clone(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let all = match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
    };
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.migrations
                .iter()
                .filter(|migration| migration.version <= 4)
                .cloned()
                .collect(),
        ),
        ..all
    };
    before.run(&pool).await.unwrap();
    // Real time: the upgrade fills the daily and hourly rows of its own day.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events = [
        (
            "dm_received",
            "dm_received:1",
            Some("answered"),
            now - 10 * MINUTE,
        ),
        ("dm_sent", "dm_sent:2", Some("answered"), now - 9 * MINUTE),
        (
            "dm_received",
            "dm_received:3",
            Some("waits"),
            now - 5 * MINUTE,
        ),
        ("comment", "comment:4", None, now - 2 * MINUTE),
    ];
    for (kind, key, peer, at) in events {
        sqlx::query(
            "INSERT INTO events (kind, dedupe_key, account_id, peer_id, occurred_at_ms, received_at_ms, raw)
             VALUES ($1, $2, 'biz', $3, $4, $4, '{}')",
        )
        .bind(kind)
        .bind(key)
        .bind(peer)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (peer, last) in [("answered", now - 9 * MINUTE), ("waits", now - 5 * MINUTE)] {
        sqlx::query(
            "INSERT INTO conversations (account_id, peer_id, last_dm_at_ms) VALUES ('biz', $1, $2)",
        )
        .bind(peer)
        .bind(last)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO accounts (account_id, first_seen_at_ms) VALUES ('biz', $1)")
        .bind(now - 10 * MINUTE)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let store = database.open().await;
    let snapshot = store
        .snapshot(now, SnapshotSource::Initial, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(
        snapshot.waiting.total, 1,
        "the waiting conversation is found"
    );
    assert_eq!(
        snapshot.replies.last_hour.count, 0,
        "past replies are not counted"
    );
    let page = store
        .accounts_page(now, &AccountsQuery::default(), &THRESHOLDS)
        .await
        .unwrap();
    let biz = &page.rows[0];
    // Counted by UTC day (a run just after midnight has fewer of them today).
    let today = |kind: &str| {
        events
            .iter()
            .filter(|(k, _, _, at)| *k == kind && *at >= now - now % DAY_MS)
            .count() as i64
    };
    assert_eq!(
        (biz.received_today, biz.sent_today, biz.waiting),
        (today("dm_received"), today("dm_sent"), 1)
    );
    assert_eq!(biz.last_event_at_ms, Some(now - 2 * MINUTE));

    // The upgraded state carries on: the waiting customer gets a reply.
    store
        .ingest(
            vec![dm("5", EventKind::DmSent, "biz", "waits", now - MINUTE)],
            now,
        )
        .await
        .unwrap();
    let snapshot = store
        .snapshot(now, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.waiting.total, 0);
    assert_eq!(snapshot.replies.last_hour.count, 1);
    assert_eq!(snapshot.replies.last_hour.median_ms, Some(240_000));

    // A late DM is recounted through the DMs stored before the upgrade
    // (their chain, built by the migration): the customer's wait began a
    // minute earlier, so the one reply took 5 minutes instead of 4.
    store
        .ingest(
            vec![dm("6", RECEIVED, "biz", "waits", now - 6 * MINUTE)],
            now,
        )
        .await
        .unwrap();
    let snapshot = store
        .snapshot(now, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(
        (snapshot.replies.last_hour.count, snapshot.waiting.total),
        (1, 0)
    );
    assert_eq!(snapshot.replies.last_hour.median_ms, Some(300_000));
}
