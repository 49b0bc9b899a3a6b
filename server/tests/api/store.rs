//! The store's aggregates on a real SQLite file, at fixed instants.

use app::model::{AccountSort, AccountsQuery, Replies, SnapshotSource, Waiting};
use pulse::{
    event::{EventKind, WebhookEvent},
    store::{replies, Backend, Store, DAY_MS, MINUTE_MS},
};

use crate::{
    helpers::{AccountsPageOf, SnapshotOf},
    postgres::fresh_database_url,
};

/// A DM received that is not a story reply.
const RECEIVED: EventKind = EventKind::DmReceived { story_reply: false };

/// 2026-11-25 18:30:05 UTC.
const NOW: i64 = 1_795_631_405_000;

/// The default thresholds (`AUTOMATION_REPLY_ALERT_S`, `ACCOUNT_SILENCE_*`).
const THRESHOLDS: pulse::store::Thresholds = pulse::store::Thresholds {
    reply_alert: std::time::Duration::from_secs(300),
    silence_min_events: 20,
    silence_after: std::time::Duration::from_secs(7200),
};

fn dm(mid: &str, kind: EventKind, account: &str, peer: &str, occurred_at_ms: i64) -> WebhookEvent {
    WebhookEvent {
        dedupe_key: format!("{}:{mid}", kind.as_str()),
        kind,
        account_id: account.to_string(),
        peer_id: Some(peer.to_string()),
        occurred_at_ms,
        raw: format!(r#"{{"mid":"{mid}"}}"#),
        error: None,
    }
}

/// A fresh database of either backend, and what keeps it alive.
struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("pulse.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => TestDatabase {
                url: fresh_database_url().await,
                _dir: None,
            },
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

/// Runs one store test against SQLite and against Postgres.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(pulse::store::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(pulse::store::Backend::Postgres).await
            })*
        }
    };
}

on_both_backends!(
    windows_today_last_hour_and_24h_are_cut_at_the_right_instants,
    duplicates_within_and_across_transactions_count_once_and_do_not_bump_the_version,
    data_survives_reopening_the_database,
    two_nodes_writing_overlapping_batches_at_once_count_each_event_once,
    concurrent_deliveries_are_committed_together_and_each_counted_once,
    a_conversation_is_active_while_its_latest_dm_is_within_24_hours,
    replies_and_waiting_follow_event_time_whatever_the_arrival_order,
    one_conversation_written_by_two_nodes_at_once_gives_the_replies_of_one_writer,
    the_accounts_page_shows_each_account_and_flags_the_silent_one,
    a_database_from_before_replies_upgrades_with_its_conversations_followed,
    every_snapshot_that_reaches_a_deliverys_version_contains_it,
    accounts_sort_by_newest_event_across_writers_with_eventless_ones_last,
    orders_by_a_figure_follow_what_changed_since_the_last_page,
    figures_kept_up_without_pages_recompute_only_what_changed,
    a_reply_taken_back_by_another_node_leaves_the_accounts_median,
    a_conversation_two_nodes_write_in_turn_is_followed_through_both,
    a_delivery_the_database_refuses_mid_transaction_leaves_the_next_ones_committed,
    closing_a_store_keeps_every_acknowledged_delivery_and_refuses_the_next,
);

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

/// What the tests of one conversation written by two nodes compare, as
/// `store` sees it at [`NOW`]: replies, waiting conversations and
/// conversations active in 24 h.
async fn conversation_figures(store: &Store) -> (Replies, Waiting, i64) {
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    (
        snapshot.replies,
        snapshot.waiting,
        snapshot.active_conversations_24h,
    )
}

/// [`conversation_figures`] once one store of a fresh database took
/// `events` in order, one delivery each.
async fn figures_of_one_writer(
    backend: Backend,
    events: &[WebhookEvent],
) -> (Replies, Waiting, i64) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    for event in events {
        store.ingest(vec![event.clone()], NOW).await.unwrap();
    }
    conversation_figures(&store).await
}

/// A reply one node counted and another took back (a late DM moved the
/// wait's start: on Postgres the take-back is a negative row in the second
/// writer's slot) is not in the account's median, in the page's figures or
/// its order.
async fn a_reply_taken_back_by_another_node_leaves_the_accounts_median(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (first, second) = (database.open().await, database.open().await);
    first
        .ingest(
            vec![
                dm("r1", RECEIVED, "biz-a", "p", NOW - 10 * MINUTE),
                dm("s1", EventKind::DmSent, "biz-a", "p", NOW - 9 * MINUTE),
                // biz-b: one reply of 2 minutes, for the order.
                dm("r2", RECEIVED, "biz-b", "q", NOW - 10 * MINUTE),
                dm("s2", EventKind::DmSent, "biz-b", "q", NOW - 8 * MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    let query = AccountsQuery {
        sort: AccountSort::Reply,
        ..AccountsQuery::default()
    };
    let medians = |store: Store| {
        let query = query.clone();
        async move {
            let page = store.accounts_page(NOW, &query, &THRESHOLDS).await.unwrap();
            page.rows
                .into_iter()
                .map(|row| (row.account_id, row.median_reply_ms))
                .collect::<Vec<_>>()
        }
    };
    let at = |id: &str, waited_ms: i64| {
        (
            id.to_string(),
            Some(replies::bucket_time_ms(replies::bucket_of(waited_ms))),
        )
    };
    assert_eq!(
        medians(first.clone()).await,
        [at("biz-b", 2 * MINUTE), at("biz-a", MINUTE)]
    );
    // The customer had written four minutes earlier: the one reply waited 5 minutes.
    second
        .ingest(
            vec![dm("r0", RECEIVED, "biz-a", "p", NOW - 14 * MINUTE)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        medians(first.clone()).await,
        [at("biz-a", 5 * MINUTE), at("biz-b", 2 * MINUTE)]
    );
    let snapshot = first
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.replies.last_hour.count, 2);
}

/// A node's ordered figures (caught up when a page asks) follow new
/// accounts, an account whose events count nothing, another node's writes,
/// and a reply leaving the hour's window, and read the other way for the
/// opposite order.
async fn orders_by_a_figure_follow_what_changed_since_the_last_page(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (first, second) = (database.open().await, database.open().await);
    let ids = |sort: AccountSort, descending: bool, now: i64| {
        let store = first.clone();
        async move {
            let query = AccountsQuery {
                filter: String::new(),
                sort,
                descending,
                offset: 0,
            };
            let page = store.accounts_page(now, &query, &THRESHOLDS).await.unwrap();
            assert_eq!(page.total, page.rows.len() as i64);
            page.rows
                .into_iter()
                .map(|row| row.account_id)
                .collect::<Vec<_>>()
        }
    };
    // biz-a: a customer answered 30 s later, 58 minutes ago; one waiting.
    first
        .ingest(
            vec![
                dm("a1", RECEIVED, "biz-a", "p", NOW - 58 * MINUTE),
                dm(
                    "a2",
                    EventKind::DmSent,
                    "biz-a",
                    "p",
                    NOW - 58 * MINUTE + 30_000,
                ),
                dm("a3", RECEIVED, "biz-a", "q", NOW - MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(ids(AccountSort::Waiting, true, NOW).await, ["biz-a"]);
    assert_eq!(ids(AccountSort::Reply, true, NOW).await, ["biz-a"]);
    // An account seen only in an event that counts nothing.
    first
        .ingest(
            vec![dm("r", EventKind::Referral, "biz-r", "z", NOW - MINUTE)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(AccountSort::Waiting, true, NOW).await,
        ["biz-a", "biz-r"]
    );
    // The other node: biz-b answers one customer in 10 s and keeps two waiting.
    second
        .ingest(
            vec![
                dm("b1", RECEIVED, "biz-b", "s", NOW - MINUTE),
                dm("b2", EventKind::DmSent, "biz-b", "s", NOW - MINUTE + 10_000),
                dm("b3", RECEIVED, "biz-b", "t", NOW - MINUTE),
                dm("b4", RECEIVED, "biz-b", "u", NOW - MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(AccountSort::Waiting, true, NOW).await,
        ["biz-b", "biz-a", "biz-r"]
    );
    assert_eq!(
        ids(AccountSort::Waiting, false, NOW).await,
        ["biz-r", "biz-a", "biz-b"],
        "the opposite order is the same walked backwards"
    );
    assert_eq!(
        ids(AccountSort::Sent, true, NOW).await,
        ["biz-a", "biz-b", "biz-r"],
        "ties by id A to Z, largest first"
    );
    assert_eq!(
        ids(AccountSort::Reply, true, NOW).await,
        ["biz-a", "biz-b", "biz-r"],
        "slowest first, accounts without replies last"
    );
    // Three minutes on, biz-a's reply has left the last hour.
    let later = NOW + 3 * MINUTE;
    assert_eq!(
        ids(AccountSort::Reply, true, later).await,
        ["biz-b", "biz-a", "biz-r"]
    );
    assert_eq!(
        ids(AccountSort::Reply, false, later).await,
        ["biz-b", "biz-r", "biz-a"],
        "without a median: last either way, by id the other way round"
    );
    let page = first
        .accounts_page(
            later,
            &AccountsQuery {
                sort: AccountSort::Reply,
                ..AccountsQuery::default()
            },
            &THRESHOLDS,
        )
        .await
        .unwrap();
    let medians: Vec<Option<i64>> = page.rows.iter().map(|row| row.median_reply_ms).collect();
    assert_eq!(medians, [Some(10_000), None, None]);
}

/// The figures a node keeps up between pages (built first, then caught up
/// each minute): the first catch-up reads every account, the next ones only
/// those written since (by any node) or whose rows left a window, and pages
/// after them show the same as pages that caught up themselves.
async fn figures_kept_up_without_pages_recompute_only_what_changed(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (first, second) = (database.open().await, database.open().await);
    first
        .ingest(
            vec![
                // biz-a: a reply of 30 s, 58 minutes ago.
                dm("a1", RECEIVED, "biz-a", "p", NOW - 58 * MINUTE),
                dm(
                    "a2",
                    EventKind::DmSent,
                    "biz-a",
                    "p",
                    NOW - 58 * MINUTE + 30_000,
                ),
                dm("b1", RECEIVED, "biz-b", "s", NOW - MINUTE),
                dm("c1", RECEIVED, "biz-c", "t", NOW - MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(first.keep_account_figures_up(NOW).await.unwrap(), 3);
    assert_eq!(first.keep_account_figures_up(NOW).await.unwrap(), 0);
    // The other node keeps two more of biz-b's customers waiting.
    second
        .ingest(
            vec![
                dm("b2", RECEIVED, "biz-b", "u", NOW - MINUTE),
                dm("b3", RECEIVED, "biz-b", "v", NOW - MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(first.keep_account_figures_up(NOW).await.unwrap(), 1);
    let page = |now: i64, sort: AccountSort| {
        let store = first.clone();
        async move {
            let query = AccountsQuery {
                sort,
                ..AccountsQuery::default()
            };
            store
                .accounts_page(now, &query, &THRESHOLDS)
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|row| (row.account_id, row.waiting, row.median_reply_ms))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(NOW, AccountSort::Waiting).await,
        [
            ("biz-b".to_string(), 3, None),
            ("biz-c".to_string(), 1, None),
            ("biz-a".to_string(), 0, Some(30_000)),
        ]
    );
    // Three minutes on, biz-a's reply has left the last hour: only biz-a moved.
    let later = NOW + 3 * MINUTE;
    assert_eq!(first.keep_account_figures_up(later).await.unwrap(), 1);
    assert_eq!(
        page(later, AccountSort::Reply).await,
        [
            ("biz-a".to_string(), 0, None),
            ("biz-b".to_string(), 3, None),
            ("biz-c".to_string(), 1, None),
        ],
        "nobody with a median: by id"
    );
}

/// The newest-event order reads each account's newest row over the writer
/// slots (two stores: two slots on Postgres) and puts an account whose only
/// event counts nothing (a referral) last in both directions, across pages.
async fn accounts_sort_by_newest_event_across_writers_with_eventless_ones_last(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let (first, second) = (database.open().await, database.open().await);
    first
        .ingest(
            vec![
                dm("a", RECEIVED, "biz-a", "x", NOW - MINUTE),
                dm("b-old", RECEIVED, "biz-b", "y", NOW - 3 * MINUTE),
                dm("c", EventKind::Referral, "biz-c", "z", NOW - 2 * MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    second
        .ingest(
            vec![dm("b-new", RECEIVED, "biz-b", "y", NOW - MINUTE / 2)],
            NOW,
        )
        .await
        .unwrap();
    let ids = |descending: bool, offset: i64| {
        let store = first.clone();
        async move {
            let query = AccountsQuery {
                filter: String::new(),
                sort: AccountSort::LastEvent,
                descending,
                offset,
            };
            let page = store.accounts_page(NOW, &query, &THRESHOLDS).await.unwrap();
            page.rows
                .into_iter()
                .map(|row| (row.account_id, row.last_event_at_ms))
                .collect::<Vec<_>>()
        }
    };
    let at = |id: &str, ms: Option<i64>| (id.to_string(), ms);
    assert_eq!(
        ids(true, 0).await,
        [
            at("biz-b", Some(NOW - MINUTE / 2)),
            at("biz-a", Some(NOW - MINUTE)),
            at("biz-c", None)
        ]
    );
    assert_eq!(
        ids(false, 0).await,
        [
            at("biz-a", Some(NOW - MINUTE)),
            at("biz-b", Some(NOW - MINUTE / 2)),
            at("biz-c", None)
        ]
    );
    assert_eq!(
        ids(true, 1).await,
        [at("biz-a", Some(NOW - MINUTE)), at("biz-c", None)]
    );
    assert_eq!(ids(true, 2).await, [at("biz-c", None)]);
    assert_eq!(ids(true, 3).await, []);
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

async fn the_accounts_page_shows_each_account_and_flags_the_silent_one(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let mut events = vec![
        // biz-a answers one customer in 30 s and keeps another waiting.
        dm("a1", RECEIVED, "biz-a", "quick", NOW - 10 * MINUTE),
        dm(
            "a2",
            EventKind::DmSent,
            "biz-a",
            "quick",
            NOW - 10 * MINUTE + 30_000,
        ),
        dm("a3", RECEIVED, "biz-a", "waits", NOW - 5 * MINUTE),
    ];
    // biz-b was busy three hours ago (20 events) and has been quiet since:
    // silent. biz-c had only 5 events then: not busy enough to be.
    for i in 0..20 {
        events.push(dm(
            &format!("b{i}"),
            RECEIVED,
            "biz-b",
            "x",
            NOW - 3 * 3_600_000 + i * 1000,
        ));
    }
    for i in 0..5 {
        events.push(dm(
            &format!("c{i}"),
            RECEIVED,
            "biz-c",
            "y",
            NOW - 3 * 3_600_000 + i * 1000,
        ));
    }
    store.ingest(events, NOW).await.unwrap();

    let page = |query: AccountsQuery| {
        let store = store.clone();
        async move { store.accounts_page(NOW, &query, &THRESHOLDS).await.unwrap() }
    };
    let default = page(AccountsQuery::default()).await;
    assert_eq!(default.total, 3);
    let ids: Vec<&str> = default
        .rows
        .iter()
        .map(|row| row.account_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["biz-a", "biz-b", "biz-c"],
        "waiting, most first, then by id"
    );
    let a = &default.rows[0];
    assert_eq!((a.received_today, a.sent_today, a.waiting), (2, 1, 1));
    assert_eq!(a.median_reply_ms, Some(30_000));
    assert_eq!(a.last_event_at_ms, Some(NOW - 5 * MINUTE));
    assert!(!a.silent);
    let b = &default.rows[1];
    assert_eq!(
        (b.received_today, b.waiting, b.median_reply_ms),
        (20, 1, None)
    );
    assert!(b.silent);
    assert!(
        !default.rows[2].silent,
        "5 events are too few to call it silent"
    );

    assert_eq!(store.silent_accounts(NOW, &THRESHOLDS).await.unwrap(), 1);

    let query = |filter: &str, sort: AccountSort, descending: bool, offset: i64| AccountsQuery {
        filter: filter.to_string(),
        sort,
        descending,
        offset,
    };
    let filtered = page(query("z-b", AccountSort::Account, false, 0)).await;
    assert_eq!(filtered.total, 1);
    assert_eq!(filtered.rows[0].account_id, "biz-b");
    let by_reply = page(query("", AccountSort::Reply, false, 0)).await;
    assert_eq!(
        by_reply.rows[0].account_id, "biz-a",
        "accounts without replies last"
    );
    let by_received = page(query("", AccountSort::Received, true, 0)).await;
    assert_eq!(by_received.rows[0].account_id, "biz-b");
    let by_sent = page(query("", AccountSort::Sent, true, 0)).await;
    assert_eq!(by_sent.rows[0].account_id, "biz-a");
    let by_last_event = page(query("", AccountSort::LastEvent, true, 0)).await;
    assert_eq!(by_last_event.rows[0].account_id, "biz-a");
    let by_name = page(query("", AccountSort::Account, true, 0)).await;
    assert_eq!(by_name.rows[0].account_id, "biz-c");
    let past_the_end = page(query("", AccountSort::Account, false, 100)).await;
    assert_eq!((past_the_end.total, past_the_end.rows.len()), (3, 0));
    // A `%` in the filter matches itself only.
    assert_eq!(
        page(query("%", AccountSort::Account, false, 0)).await.total,
        0
    );

    // Rows no window reaches any more go; the figures stay.
    store
        .ingest(
            vec![
                dm("old1", RECEIVED, "biz-a", "old", NOW - 3 * DAY_MS),
                dm(
                    "old2",
                    EventKind::DmSent,
                    "biz-a",
                    "old",
                    NOW - 3 * DAY_MS + 5_000,
                ),
            ],
            NOW,
        )
        .await
        .unwrap();
    let before = page(AccountsQuery::default()).await;
    assert!(store.purge_expired_account_rows(NOW).await.unwrap() >= 3);
    assert_eq!(page(AccountsQuery::default()).await, before);
    assert_eq!(store.purge_expired_account_rows(NOW).await.unwrap(), 0);

    // A later event ends the silence.
    store
        .ingest(
            vec![dm("b-again", RECEIVED, "biz-b", "x", NOW - MINUTE)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(page(AccountsQuery::default()).await.silent, 0);
}

const MINUTE: i64 = MINUTE_MS;

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
