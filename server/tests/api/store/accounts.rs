//! The accounts page: each account's figures, the silent flag, and every order as deliveries
//! and time go by.

use super::*;

on_both_backends!(
    the_accounts_page_shows_each_account_and_flags_the_silent_one,
    orders_by_a_figure_follow_what_changed_since_the_last_page,
    figures_kept_up_without_pages_recompute_only_what_changed,
    accounts_sort_by_newest_event_across_writers_with_eventless_ones_last,
    a_reply_taken_back_by_another_node_leaves_the_accounts_median,
    an_accounts_waiting_conversations_are_listed_oldest_first,
    an_accounts_latest_events_are_its_newest_by_event_time,
    an_upgraded_databases_stored_events_fill_the_latest_events,
    today_follows_the_admins_zone_in_the_table_and_on_an_account,
);

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
        zone: None,
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
                zone: None,
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
    assert_eq!(first.keep_account_figures_up(NOW, &[]).await.unwrap(), 3);
    assert_eq!(first.keep_account_figures_up(NOW, &[]).await.unwrap(), 0);
    // An admin's zone is built beside the UTC day's (every account read once),
    // then kept up with it.
    let tokyo = [Today::Zone("Asia/Tokyo".to_string())];
    assert_eq!(first.keep_account_figures_up(NOW, &tokyo).await.unwrap(), 3);
    assert_eq!(first.keep_account_figures_up(NOW, &tokyo).await.unwrap(), 0);
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
    assert_eq!(
        first.keep_account_figures_up(NOW, &tokyo).await.unwrap(),
        2,
        "biz-b, in the UTC day's figures and Tokyo's"
    );
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
    assert_eq!(
        first.keep_account_figures_up(later, &tokyo).await.unwrap(),
        2
    );
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
                zone: None,
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

async fn an_accounts_waiting_conversations_are_listed_oldest_first(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // Three customers of biz-a write; the reply to the oldest arrives, then a late DM of the
    // one answered shows they wrote again after it (waiting again, since the late DM).
    store
        .ingest(
            vec![
                dm("w1", RECEIVED, "biz-a", "old", NOW - 50 * MINUTE),
                dm("w2", RECEIVED, "biz-a", "mid", NOW - 30 * MINUTE),
                dm("w3", RECEIVED, "biz-a", "new", NOW - 10 * MINUTE),
                dm("w4", RECEIVED, "biz-b", "elsewhere", NOW - 90 * MINUTE),
            ],
            NOW,
        )
        .await
        .unwrap();
    store
        .ingest(
            vec![dm(
                "w5",
                EventKind::DmSent,
                "biz-a",
                "old",
                NOW - 40 * MINUTE,
            )],
            NOW,
        )
        .await
        .unwrap();
    let listed = |store: pulse::store::Store| async move {
        let detail = store
            .account_detail(NOW, &Today::Utc, "biz-a", &THRESHOLDS)
            .await
            .unwrap()
            .unwrap();
        detail.waiting
    };
    assert_eq!(
        listed(store.clone()).await,
        vec![
            ("mid".to_string(), NOW - 30 * MINUTE),
            ("new".to_string(), NOW - 10 * MINUTE),
        ]
    );
    // Delivered late: "old" wrote again 20 minutes ago, after the reply.
    store
        .ingest(
            vec![dm("w6", RECEIVED, "biz-a", "old", NOW - 20 * MINUTE)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        listed(store.clone()).await,
        vec![
            ("mid".to_string(), NOW - 30 * MINUTE),
            ("old".to_string(), NOW - 20 * MINUTE),
            ("new".to_string(), NOW - 10 * MINUTE),
        ]
    );
    // A DM delivered late from before the reply changes nothing.
    store
        .ingest(
            vec![dm("w7", RECEIVED, "biz-a", "old", NOW - 45 * MINUTE)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(listed(store.clone()).await.len(), 3);
    assert_eq!(listed(store.clone()).await[1].0, "old");
}

async fn an_accounts_latest_events_are_its_newest_by_event_time(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // biz-a gets 30 DMs a minute apart, delivered out of order in three transactions, one of
    // them redelivered; biz-b gets one comment.
    let a_dm = |i: i64| {
        let kind = if i % 3 == 0 {
            EventKind::DmSent
        } else {
            RECEIVED
        };
        dm(
            &format!("l{i}"),
            kind,
            "biz-a",
            &format!("c{}", i % 4),
            NOW - (30 - i) * MINUTE,
        )
    };
    for part in [[7, 1, 2], [0, 5, 9], [6, 3, 8], [4, 7, 0]] {
        let events: Vec<_> = (0..30)
            .filter(|i| part.contains(&(i % 10)))
            .map(a_dm)
            .collect();
        store.ingest(events, NOW).await.unwrap();
    }
    let mut comment = dm(
        "comment",
        EventKind::Comment,
        "biz-b",
        "fan",
        NOW - 5 * MINUTE,
    );
    comment.peer_id = None;
    store.ingest(vec![comment], NOW).await.unwrap();
    let listed = latest(&store, "biz-a").await;
    let times: Vec<i64> = listed.iter().map(|event| event.at_ms).collect();
    let expected: Vec<i64> = (10..30).rev().map(|i| NOW - (30 - i) * MINUTE).collect();
    assert_eq!(times, expected, "the newest 20 by event time, newest first");
    assert_eq!(
        (listed[0].kind.as_str(), listed[0].customer.as_deref()),
        ("dm_received", Some("c1"))
    );
    assert_eq!(listed[2].kind, "dm_sent");
    let quiet = latest(&store, "biz-b").await;
    assert_eq!(quiet.len(), 1);
    assert_eq!(
        (quiet[0].kind.as_str(), quiet[0].customer.as_deref()),
        ("comment", None)
    );

    // Retention keeps each account's newest 20 and nothing the page would list changes.
    let removed = remove_expired(&store, NOW, 7).await;
    assert_eq!(removed.latest_event_rows, 10);
    assert_eq!(latest(&store, "biz-a").await, listed);
    // A late event older than the 20 is stored but not listed; a late newer one is.
    store
        .ingest(
            vec![a_dm(-5), dm("late", RECEIVED, "biz-a", "c9", NOW - 30_000)],
            NOW,
        )
        .await
        .unwrap();
    let now_listed = latest(&store, "biz-a").await;
    assert_eq!(now_listed.len(), 20);
    assert_eq!(now_listed[0].customer.as_deref(), Some("c9"));
    assert_eq!(now_listed[1..], listed[..19]);
}

async fn an_upgraded_databases_stored_events_fill_the_latest_events(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // 1,500 DMs to biz-a a minute apart (more than a step), one comment to biz-b, and biz-c
    // quiet for three days.
    let a_dm = |i: i64| {
        dm(
            &format!("f{i}"),
            RECEIVED,
            "biz-a",
            &format!("c{}", i % 9),
            NOW - (1_500 - i) * MINUTE,
        )
    };
    store
        .ingest((0..1_500).map(a_dm).collect(), NOW)
        .await
        .unwrap();
    store
        .ingest(
            vec![
                dm("b", EventKind::Comment, "biz-b", "fan", NOW - 5 * MINUTE),
                dm("c", RECEIVED, "biz-c", "old-friend", NOW - 3 * DAY_MS),
            ],
            NOW,
        )
        .await
        .unwrap();
    let before = [
        latest(&store, "biz-a").await,
        latest(&store, "biz-b").await,
        latest(&store, "biz-c").await,
    ];
    assert_eq!(before.iter().map(Vec::len).collect::<Vec<_>>(), [20, 1, 1]);

    // As a database upgraded with these events stored: the list starts empty.
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    sqlx::query("DELETE FROM latest_events")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("UPDATE latest_events_fill SET below_id = (SELECT max(id) + 1 FROM events)")
        .execute(&mut admin)
        .await
        .unwrap();
    drop(admin);
    assert!(latest(&store, "biz-c").await.is_empty());
    // A DM after the upgrade, listed at once.
    store
        .ingest(vec![dm("new", RECEIVED, "biz-a", "newcomer", NOW)], NOW)
        .await
        .unwrap();

    let run = store.fill_latest_events().await.unwrap();
    assert_eq!(
        (run.events, run.done),
        (1_502, true),
        "every stored event read once, in steps"
    );
    let mut expected_a = vec![latest(&store, "biz-a").await[0].clone()];
    assert_eq!(expected_a[0].customer.as_deref(), Some("newcomer"));
    expected_a.extend(before[0][..19].iter().cloned());
    assert_eq!(latest(&store, "biz-a").await, expected_a);
    assert_eq!(latest(&store, "biz-b").await, before[1]);
    assert_eq!(
        latest(&store, "biz-c").await,
        before[2],
        "the quiet account too"
    );

    // Retention trims what the steps added beyond each account's newest 20.
    let removed = remove_expired(&store, NOW, 7).await;
    assert!(removed.latest_event_rows > 0);
    assert_eq!(latest(&store, "biz-a").await, expected_a);
    let again = store.fill_latest_events().await.unwrap();
    assert_eq!((again.events, again.done), (0, true));
}

/// `account`'s latest events as its page lists them at [`NOW`].
async fn latest(
    store: &pulse::store::Store,
    account: &str,
) -> Vec<pulse::store::latest_events::LatestEvent> {
    store
        .account_detail(NOW, &Today::Utc, account, &THRESHOLDS)
        .await
        .unwrap()
        .unwrap()
        .latest
}

/// Unix ms of a UTC time.
fn utc(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// "Today" in the table and on an account's page is the day in the zone asked
/// for: New York's (05:00Z to 05:00Z in November), Tokyo's, and a +05:30 and
/// +05:45 zone's from their midnight (the quarter-hours); the table's order
/// follows each zone's day, and moves when that day ends while pages are
/// read (the accounts whose hours left the day are read again).
async fn today_follows_the_admins_zone_in_the_table_and_on_an_account(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let received = |account: &str, n: usize, at: &str| -> Vec<WebhookEvent> {
        (0..n)
            .map(|i| {
                dm(
                    &format!("{account}-{at}-{i}"),
                    RECEIVED,
                    account,
                    &format!("customer-{i}"),
                    utc(at) + i as i64 * 1000,
                )
            })
            .collect()
    };
    let later = utc("2026-11-25T21:30:00Z");
    let mut events = Vec::new();
    // biz-a through the UTC day; biz-b busy before New York's day began.
    for (n, at) in [
        (1, "2026-11-25T02:00:00Z"),
        (2, "2026-11-25T06:00:00Z"),
        (3, "2026-11-25T16:00:00Z"),
        (4, "2026-11-25T18:10:00Z"),
        (5, "2026-11-25T19:30:00Z"),
    ] {
        events.extend(received("biz-a", n, at));
    }
    events.extend(received("biz-b", 20, "2026-11-25T03:00:00Z"));
    store.ingest(events, later).await.unwrap();

    let page = |zone: Option<&str>, now: i64| {
        let store = store.clone();
        let query = AccountsQuery {
            sort: AccountSort::Received,
            descending: true,
            zone: zone.map(str::to_string),
            ..AccountsQuery::default()
        };
        async move { store.accounts_page(now, &query, &THRESHOLDS).await.unwrap() }
    };
    let received_by_account = |page: &app::model::AccountsPage| -> Vec<(String, i64)> {
        page.rows
            .iter()
            .map(|row| (row.account_id.clone(), row.received_today))
            .collect()
    };
    let in_order = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
        pairs.iter().map(|(id, n)| (id.to_string(), *n)).collect()
    };
    let utc_day = page(None, later).await;
    assert_eq!(
        received_by_account(&utc_day),
        in_order(&[("biz-b", 20), ("biz-a", 15)])
    );
    assert_eq!(utc_day.today, "today: the UTC day");
    let new_york = page(Some("America/New_York"), later).await;
    assert_eq!(
        received_by_account(&new_york),
        in_order(&[("biz-a", 14), ("biz-b", 0)]),
        "New York's day began at 05:00Z"
    );
    assert_eq!(new_york.today, "today: since midnight in America/New_York");
    assert_eq!(new_york.zone.as_deref(), Some("America/New_York"));
    // Tokyo's day (the 26th) began at 15:00Z on the 25th.
    let tokyo = page(Some("Asia/Tokyo"), later).await;
    assert_eq!(received_by_account(&tokyo)[0], ("biz-a".to_string(), 12));
    // Seoul's day began with Tokyo's, and London's in November with the UTC day: their pages
    // are served from those days' figures, and say their own zone.
    let seoul = page(Some("Asia/Seoul"), later).await;
    assert_eq!(received_by_account(&seoul), received_by_account(&tokyo));
    assert_eq!(seoul.today, "today: since midnight in Asia/Seoul");
    let london = page(Some("Europe/London"), later).await;
    assert_eq!(received_by_account(&london), received_by_account(&utc_day));
    assert_eq!(london.today, "today: since midnight in Europe/London");
    // Kathmandu's midnight is 18:15Z (the 4 DMs at 18:10Z are the day before's, though in the
    // hour it began), Kolkata's 18:30Z.
    let kathmandu = page(Some("Asia/Kathmandu"), later).await;
    assert_eq!(received_by_account(&kathmandu)[0], ("biz-a".to_string(), 5));
    assert_eq!(kathmandu.today, "today: since midnight in Asia/Kathmandu");
    let kolkata = page(Some("Asia/Kolkata"), later).await;
    assert_eq!(received_by_account(&kolkata)[0], ("biz-a".to_string(), 5));
    assert_eq!(kolkata.today, "today: since midnight in Asia/Kolkata");
    // The UTC day's order is unchanged by the zones beside it.
    assert_eq!(
        received_by_account(&page(None, later).await),
        received_by_account(&utc_day)
    );

    // One account's page counts its today in the zone asked for.
    let detail = |today: Today| {
        let store = store.clone();
        async move {
            store
                .account_detail(later, &today, "biz-a", &THRESHOLDS)
                .await
                .unwrap()
                .unwrap()
                .record
        }
    };
    assert_eq!(detail(Today::Utc).await.received_today, 15);
    assert_eq!(
        detail(Today::Zone("America/New_York".into()))
            .await
            .received_today,
        14
    );
    for zone in ["Asia/Kolkata", "Asia/Kathmandu"] {
        assert_eq!(
            detail(Today::Zone(zone.into())).await.received_today,
            5,
            "{zone}"
        );
    }

    // Near New York's midnight, biz-b is busy: still the 25th there.
    let at = utc("2026-11-26T04:56:00Z");
    store
        .ingest(received("biz-b", 3, "2026-11-26T04:55:00Z"), at)
        .await
        .unwrap();
    assert_eq!(
        received_by_account(&page(Some("America/New_York"), at).await),
        in_order(&[("biz-a", 14), ("biz-b", 3)])
    );
    // Twenty minutes on the 26th has begun in New York: biz-a's hours left
    // the day (nothing of biz-a was written since), biz-b has one new DM.
    store
        .ingest(
            received("biz-b", 1, "2026-11-26T05:05:00Z"),
            utc("2026-11-26T05:06:00Z"),
        )
        .await
        .unwrap();
    let after_midnight = utc("2026-11-26T05:16:00Z");
    assert_eq!(
        received_by_account(&page(Some("America/New_York"), after_midnight).await),
        in_order(&[("biz-b", 1), ("biz-a", 0)])
    );
}
