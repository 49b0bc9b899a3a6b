//! Retention: raw events past their period, per-minute rows past their windows and what the
//! conversations' chains no longer need go, in steps, and no figure the dashboard or a date range
//! shows changes; redeliveries within the period are still recognised, and late DMs recounted
//! exactly.

use app::model::HistoryQuery;
use pulse::{
    history::{self, Span},
    store::retention::Walks,
};

use super::*;

on_both_backends!(
    expired_events_and_minutes_go_and_no_figure_changes,
    chains_keep_what_a_late_dm_needs_and_no_more,
    storage_stays_flat_over_a_simulated_270_days
);

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
    let reading = history::Reading {
        whose: pulse::store::history::Whose::Service,
        now_ms: NOW,
    };
    (
        snapshot,
        history::report(store, reading, &span).await.unwrap(),
    )
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

    let removed = remove_expired(&store, NOW, 2).await;
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
    let second = remove_expired(&store, NOW, 2).await;
    assert_eq!(second, pulse::store::retention::Removed::default());
}

/// A connection of the test's own to `database`.
async fn connect(database: &TestDatabase) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap()
}

/// The rows of every conversation's chain.
async fn chain_rows(database: &TestDatabase) -> i64 {
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM conversation_dms")
        .fetch_one(&mut connect(database).await)
        .await
        .unwrap();
    rows
}

/// Every row of the history, every figure of it (reply times by bucket included), in order.
async fn history_rows(database: &TestDatabase) -> Vec<Vec<i64>> {
    use sqlx::Row;
    sqlx::query("SELECT * FROM history ORDER BY unit_ms, start_ms, slot")
        .fetch_all(&mut connect(database).await)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|column| row.try_get::<i64, _>(column).unwrap())
                .collect()
        })
        .collect()
}

/// Two stores take the same twelve days of conversations; one removes what its chains no
/// longer need. Then late DMs arrive (within Meta's 36 hours, among DMs already stored, one a
/// reply to a customer waiting since before the chains' horizon) with new ones: both stores show the same figures,
/// and the pruned chains hold a fraction of the rows.
async fn chains_keep_what_a_late_dm_needs_and_no_more(backend: Backend) {
    const HOUR: i64 = 3_600_000;
    let (pruned, whole) = (
        TestDatabase::new(backend).await,
        TestDatabase::new(backend).await,
    );
    let stores = [pruned.open().await, whole.open().await];
    const SENT: EventKind = EventKind::DmSent;
    let mut events = Vec::new();
    // "busy": a customer DM each hour for twelve days, answered half an hour later.
    for hour in 0..12 * 24 {
        let at = NOW - 12 * DAY_MS + hour * HOUR;
        events.push(dm(&format!("busy-in-{hour}"), RECEIVED, "biz", "busy", at));
        events.push(dm(
            &format!("busy-out-{hour}"),
            SENT,
            "biz",
            "busy",
            at + HOUR / 2,
        ));
    }
    // "quiet": answered ten days ago, then a DM nine days ago that is still unanswered.
    events.push(dm("quiet-in", RECEIVED, "biz", "quiet", NOW - 10 * DAY_MS));
    events.push(dm(
        "quiet-out",
        SENT,
        "biz",
        "quiet",
        NOW - 10 * DAY_MS + HOUR,
    ));
    events.push(dm(
        "quiet-again",
        RECEIVED,
        "biz",
        "quiet",
        NOW - 9 * DAY_MS,
    ));
    // "waiting": a customer writing every six hours since 50 hours ago (before the chains'
    // two days), never answered.
    for i in 0..8 {
        let at = NOW - 50 * HOUR + i * 6 * HOUR;
        events.push(dm(&format!("waiting-{i}"), RECEIVED, "biz", "waiting", at));
    }
    for store in &stores {
        for chunk in events.chunks(100) {
            let latest = chunk
                .iter()
                .map(|event| event.occurred_at_ms)
                .max()
                .unwrap();
            store.ingest(chunk.to_vec(), latest).await.unwrap();
        }
    }
    let before = chain_rows(&pruned).await;
    let mut cursor = Walks::default();
    let removed = stores[0]
        .remove_expired(
            NOW,
            std::time::Duration::from_secs(90 * 86_400),
            &mut cursor,
        )
        .await
        .unwrap();
    let after = chain_rows(&pruned).await;
    assert_eq!(removed.events, 0, "events stay for 90 days");
    assert_eq!(removed.chain_rows as i64, before - after);
    // "busy" keeps about its last two days (96 DMs and the reply before them); "quiet" its
    // reply and the wait after it; "waiting" its whole wait.
    assert!(
        (96 + 2 + 8..=96 + 4 + 8).contains(&after),
        "{after} of {before} chain rows left"
    );
    assert_eq!(
        stores[0]
            .remove_expired(
                NOW,
                std::time::Duration::from_secs(90 * 86_400),
                &mut cursor
            )
            .await
            .unwrap()
            .chain_rows,
        0,
        "nothing more goes until time passes"
    );

    // Late: a customer DM of 30 hours ago between a reply and the next DM (it starts a wait
    // earlier, so the next reply's time changes), a reply of 30 hours ago to the customer
    // waiting since 50 hours ago (20 hours, which a chain cut at two days would make 14), one
    // to "quiet", and new DMs.
    let late = vec![
        dm(
            "busy-late",
            RECEIVED,
            "biz",
            "busy",
            NOW - 30 * HOUR + 3 * HOUR / 4,
        ),
        dm("waiting-answered", SENT, "biz", "waiting", NOW - 30 * HOUR),
        dm("quiet-answered", SENT, "biz", "quiet", NOW - 20 * HOUR),
        dm("busy-now", RECEIVED, "biz", "busy", NOW - HOUR / 2),
        dm("busy-now-out", SENT, "biz", "busy", NOW - HOUR / 4),
    ];
    for store in &stores {
        store.ingest(late.clone(), NOW).await.unwrap();
    }
    let shown = [
        everything_shown(&stores[0]).await,
        everything_shown(&stores[1]).await,
    ];
    assert_eq!(
        shown[0], shown[1],
        "the pruned store shows what the whole one does"
    );
    assert!(
        history_rows(&pruned).await == history_rows(&whole).await,
        "the pruned store's history, reply times by bucket included, is the whole one's"
    );
    assert_eq!(
        shown[0].1.figures.replies,
        288 + 1 + 2,
        "busy's replies, waiting's and quiet's"
    );
}

/// What a day of the simulation saw: rows of the tables that grow with events (events, chain
/// rows, per-minute rows, the accounts page's per-minute rows), the database's bytes (on SQLite
/// its file, leaving out the write-ahead log, bounded apart) and the history's bytes (its
/// rollups and conversations' sketches, the service's and the accounts').
#[derive(Debug, Clone, Copy)]
struct Measured {
    rows: [i64; 4],
    bytes: i64,
    history_bytes: i64,
}

async fn measure(database: &TestDatabase, backend: Backend) -> Measured {
    let mut connection = connect(database).await;
    let mut rows = [0; 4];
    for (count, table) in rows.iter_mut().zip([
        "events",
        "conversation_dms",
        "metric_minutes",
        "account_reply_minutes",
    ]) {
        (*count,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut connection)
            .await
            .unwrap();
    }
    let (bytes, history_bytes): (i64, i64) = match backend {
        Backend::Sqlite => sqlx::query_as(
            "SELECT (SELECT page_count * page_size FROM pragma_page_count, pragma_page_size),
                    (SELECT CAST(sum(pgsize) AS INTEGER) FROM dbstat
                     WHERE name IN ('history', 'conversation_sketches',
                                    'sqlite_autoindex_conversation_sketches_1',
                                    'account_history', 'account_history_by_start',
                                    'account_conversation_sketches',
                                    'account_conversation_sketches_by_start'))",
        ),
        Backend::Postgres => sqlx::query_as(
            "SELECT CAST(pg_database_size(current_database()) AS BIGINT),
                    CAST(pg_total_relation_size('history')
                         + pg_total_relation_size('conversation_sketches')
                         + pg_total_relation_size('account_history')
                         + pg_total_relation_size('account_conversation_sketches') AS BIGINT)",
        ),
    }
    .fetch_one(&mut connection)
    .await
    .unwrap();
    Measured {
        rows,
        bytes,
        history_bytes,
    }
}

/// 270 days of a steady load (400 DMs a day in 200 conversations, four of five answered a
/// minute later) with the default retention of 90 days, removal run every three simulated days
/// (the node runs it once a minute; it only removes more at a time here): from day 90 on, the rows that grow with events stay where they are, and
/// the database grows by the history's growth alone (the service's and the accounts' rollups
/// and conversations' sketches: a fixed amount a day and account, whatever the load) and at
/// most 10 % more. On Postgres a plain `VACUUM` every six simulated days stands in for
/// autovacuum, which a compressed year outruns.
async fn storage_stays_flat_over_a_simulated_270_days(backend: Backend) {
    const PER_DAY: i64 = 400;
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let kept = std::time::Duration::from_secs(90 * 86_400);
    let start = NOW - 270 * DAY_MS;
    let mut cursor = Walks::default();
    let mut seen = Vec::new();
    for day in 0..270 {
        let day_start = start + day * DAY_MS;
        let mut events = Vec::new();
        for i in 0..PER_DAY / 2 {
            let at = day_start + i * (DAY_MS / (PER_DAY / 2));
            let (account, peer) = (format!("biz{}", i % 2), format!("c{}", (i * 7 + day) % 100));
            events.push(dm(&format!("in-{day}-{i}"), RECEIVED, &account, &peer, at));
            if i % 5 != 0 {
                let mid = format!("out-{day}-{i}");
                events.push(dm(&mid, EventKind::DmSent, &account, &peer, at + MINUTE_MS));
            }
        }
        store
            .ingest(events, day_start + DAY_MS - MINUTE_MS)
            .await
            .unwrap();
        if day % 3 != 2 {
            continue;
        }
        let now = day_start + DAY_MS;
        while store
            .remove_expired(now, kept, &mut cursor)
            .await
            .unwrap()
            .events
            > 0
        {}
        store.purge_expired_account_rows(now).await.unwrap();
        if backend == Backend::Postgres && day % 6 == 5 {
            sqlx::query("VACUUM")
                .execute(&mut connect(&database).await)
                .await
                .unwrap();
        }
        if [89, 179, 269].contains(&day) {
            seen.push((day, measure(&database, backend).await));
        }
    }
    println!(
        "{backend:?}, simulated day: rows [events, chain, metric minutes, account reply \
         minutes], database bytes, history bytes"
    );
    for (day, measured) in &seen {
        println!(
            "  {day}: {:?}, {}, {}",
            measured.rows, measured.bytes, measured.history_bytes
        );
    }
    let (_, at_90) = seen[0];
    for (day, later) in &seen[1..] {
        for (rows, rows_90) in later.rows.iter().zip(at_90.rows) {
            assert!(
                *rows as f64 <= rows_90 as f64 * 1.02,
                "rows grew by day {day}: {:?} against {:?}",
                later.rows,
                at_90.rows
            );
        }
        let growth = later.bytes - at_90.bytes;
        let history_growth = later.history_bytes - at_90.history_bytes;
        assert!(
            (growth - history_growth) as f64 <= at_90.bytes as f64 * 0.10,
            "the database grew by {growth} bytes from day 90 to day {day}, the history by \
             {history_growth}"
        );
    }
}
