//! The history behind date ranges: a day in any zone (23- and 25-hour days, +05:30 and +05:45
//! offsets) counts exactly what happened in it, late and repeated deliveries included, and a
//! database upgraded from before the history gets it from the per-minute rows; active
//! conversations over a range are counted once each, and an upgraded database adds its stored
//! DMs to them.

use app::model::{HistoryQuery, HistoryReport};
use pulse::{
    event::Rejection,
    history::{self, Reading, Span},
    store::history::Whose,
};

use super::*;

on_both_backends!(
    a_day_in_any_zone_counts_what_happened_in_it,
    replies_refusals_and_repeated_deliveries_are_in_their_steps,
    an_upgraded_database_gets_its_history_from_the_minutes_it_kept,
    an_upgraded_database_adds_its_stored_dms_to_the_active_conversations,
    folding_the_conversations_quarter_hours_changes_no_count,
    the_live_snapshot_counts_today_in_every_zone_admins_chose,
);

/// An instant written in UTC.
fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// The report of the one day `date` (custom range) in `zone`, by hour.
async fn day_report(store: &Store, date: &str, zone: &str) -> HistoryReport {
    let request = HistoryQuery {
        from: Some(date.into()),
        to: Some(date.into()),
        zone: Some(zone.into()),
        ..HistoryQuery::default()
    };
    let now: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
    let span = Span::resolve(&request, now).unwrap();
    let reading = Reading {
        whose: Whose::Service,
        now_ms: now.as_millisecond(),
    };
    history::report(store, reading, &span).await.unwrap()
}

/// The active conversations of the one day `date` in `zone`, and of the day before.
async fn active_conversations(store: &Store, date: &str, zone: &str) -> (Option<i64>, Option<i64>) {
    let report = day_report(store, date, zone).await;
    (
        report.figures.active_conversations,
        report.previous.active_conversations,
    )
}

/// `n` received DMs at `instant` (each its own conversation).
fn received_at(instant: &str, n: usize) -> Vec<WebhookEvent> {
    (0..n)
        .map(|i| {
            dm(
                &format!("{instant}-{i}"),
                RECEIVED,
                "biz",
                &format!("c{i}"),
                at(instant),
            )
        })
        .collect()
}

/// Received DMs just either side of the day boundaries of UTC, Asia/Kolkata (+05:30),
/// Asia/Kathmandu (+05:45) and America/New_York (−05:00, 23 hours on 2026-03-08): `i` DMs at
/// the `i`-th instant, so every zone's day has its own sum.
const INSTANTS: [&str; 10] = [
    "2026-03-07T18:14:59Z",
    "2026-03-07T18:15:00Z",
    "2026-03-07T18:30:00Z",
    "2026-03-08T04:59:59Z",
    "2026-03-08T05:00:00Z",
    "2026-03-08T18:14:59Z",
    "2026-03-08T18:29:59Z",
    "2026-03-08T18:30:00Z",
    "2026-03-09T03:59:59Z",
    "2026-03-09T04:00:00Z",
];

/// `i` received DMs at the `i`-th of [`INSTANTS`] (from 1).
fn at_the_instants() -> Vec<WebhookEvent> {
    INSTANTS
        .iter()
        .enumerate()
        .flat_map(|(i, instant)| received_at(instant, i + 1))
        .collect()
}

async fn a_day_in_any_zone_counts_what_happened_in_it(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store.ingest(at_the_instants(), NOW).await.unwrap();

    let utc = day_report(&store, "2026-03-08", "UTC").await;
    assert_eq!(utc.figures.dms_received, 4 + 5 + 6 + 7 + 8);
    assert_eq!(utc.points.len(), 24);
    let kolkata = day_report(&store, "2026-03-08", "Asia/Kolkata").await;
    assert_eq!(kolkata.figures.dms_received, 3 + 4 + 5 + 6 + 7);
    // The `i`-th instant's DMs are conversations c0 to c(i-1): a day has as many active
    // conversations as its busiest instant has DMs, its other DMs being in the same ones.
    assert_eq!(
        (
            kolkata.figures.active_conversations,
            kolkata.previous.active_conversations
        ),
        (Some(7), Some(2))
    );
    assert_eq!(kolkata.from, "2026-03-08T00:00:00+05:30");
    let kathmandu = day_report(&store, "2026-03-08", "Asia/Kathmandu").await;
    assert_eq!(kathmandu.figures.dms_received, 2 + 3 + 4 + 5 + 6);
    assert_eq!(kathmandu.previous.dms_received, 1);
    let new_york = day_report(&store, "2026-03-08", "America/New_York").await;
    assert_eq!(new_york.figures.dms_received, 5 + 6 + 7 + 8 + 9);
    assert_eq!(new_york.previous.dms_received, 1 + 2 + 3 + 4);
    assert_eq!(
        (
            new_york.figures.active_conversations,
            new_york.previous.active_conversations
        ),
        (Some(9), Some(4))
    );
    // Each hour's own: 05:00 UTC (the day's first hour) holds the 5th instant, 18:00 UTC
    // (its 14th) the 6th to 8th, 03:00 UTC the next day (its last) the 9th.
    let by_hour: Vec<Option<i64>> = new_york
        .points
        .iter()
        .map(|point| point.figures.active_conversations)
        .collect();
    let mut expected = vec![Some(0); 23];
    (expected[0], expected[13], expected[22]) = (Some(5), Some(8), Some(9));
    assert_eq!(by_hour, expected, "each hour's active conversations");
    assert_eq!(
        new_york.points.len(),
        23,
        "the spring-forward day has 23 hours"
    );
    // The chart's steps add up to the range, and each DM is in its own hour.
    let by_step: i64 = new_york
        .points
        .iter()
        .map(|point| point.figures.dms_received)
        .sum();
    assert_eq!(by_step, new_york.figures.dms_received);
    let first = &new_york.points[0];
    assert_eq!(
        (first.start.as_str(), first.figures.dms_received),
        ("2026-03-08T00:00:00-05:00", 5)
    );
    let last = new_york.points.last().unwrap();
    assert_eq!(
        (last.start.as_str(), last.figures.dms_received),
        ("2026-03-08T23:00:00-04:00", 9)
    );
}

async fn replies_refusals_and_repeated_deliveries_are_in_their_steps(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // Europe/London's 2026-10-25 has 25 hours: 01:00–02:00 happens twice.
    let received = dm("r", RECEIVED, "biz", "c", at("2026-10-25T01:10:00Z"));
    let reply = dm(
        "s",
        EventKind::DmSent,
        "biz",
        "c",
        at("2026-10-25T01:12:00Z"),
    );
    let late_night = dm("n", RECEIVED, "biz", "d", at("2026-10-25T23:59:00Z"));
    let next_day = dm("x", RECEIVED, "biz", "e", at("2026-10-26T00:00:00Z"));
    // The reply first: its received DM arrives late and the reply is recounted.
    store.ingest(vec![reply.clone()], NOW).await.unwrap();
    store
        .ingest(vec![received.clone(), late_night, next_day], NOW)
        .await
        .unwrap();
    store.ingest(vec![received, reply], NOW).await.unwrap();
    store
        .record_rejections(&[(at("2026-10-25T12:00:00Z"), Rejection::Signature, 3)])
        .await
        .unwrap();

    let london = day_report(&store, "2026-10-25", "Europe/London").await;
    assert_eq!(london.points.len(), 25, "the autumn day has 25 hours");
    assert_eq!(london.figures.dms_received, 2);
    assert_eq!(london.figures.dms_sent, 1);
    assert_eq!(london.figures.replies, 1);
    assert_eq!(
        london.figures.reply_median_ms,
        Some(replies::bucket_time_ms(replies::bucket_of(120_000)))
    );
    assert_eq!(london.figures.refused, 3);
    // 01:10 UTC is the second 01:00 of the day (GMT): the third step.
    let second_one_oclock = &london.points[2];
    assert_eq!(second_one_oclock.start, "2026-10-25T01:00:00+00:00");
    assert_eq!(
        (
            second_one_oclock.figures.dms_received,
            second_one_oclock.figures.replies
        ),
        (1, 1)
    );
}

async fn an_upgraded_database_gets_its_history_from_the_minutes_it_kept(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store.ingest(at_the_instants(), NOW).await.unwrap();
    store
        .ingest(
            vec![dm(
                "s",
                EventKind::DmSent,
                "biz",
                "c0",
                at("2026-03-08T05:03:00Z"),
            )],
            NOW,
        )
        .await
        .unwrap();
    store
        .record_rejections(&[(at("2026-03-08T06:00:00Z"), Rejection::Payload, 2)])
        .await
        .unwrap();
    let before = day_report(&store, "2026-03-08", "Asia/Kathmandu").await;
    assert_eq!((before.figures.replies, before.figures.refused), (1, 2));
    store.close().await;
    drop(store);

    // As a database from before the history: no table and no migration recorded.
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    sqlx::query("DROP TABLE history")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE description = 'history'")
        .execute(&mut admin)
        .await
        .unwrap();
    drop(admin);

    let store = database.open().await;
    assert_eq!(
        day_report(&store, "2026-03-08", "Asia/Kathmandu").await,
        before
    );
    assert_eq!(
        day_report(&store, "2026-03-08", "America/New_York")
            .await
            .figures
            .dms_received,
        5 + 6 + 7 + 8 + 9
    );
}

async fn an_upgraded_database_adds_its_stored_dms_to_the_active_conversations(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store.ingest(at_the_instants(), NOW).await.unwrap();
    let before = active_conversations(&store, "2026-03-08", "Asia/Kathmandu").await;
    assert_eq!(before, (Some(6), Some(1)));

    // As the upgrade leaves a database with stored events: no sketches, and every event below
    // the fill's cursor.
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    sqlx::query("DELETE FROM conversation_sketches")
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE conversation_sketches_fill SET below_id = (SELECT max(id) + 1 FROM events)",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        active_conversations(&store, "2026-03-08", "Asia/Kathmandu").await,
        (Some(0), Some(0))
    );
    // A DM after the upgrade, in a conversation the stored events also have.
    store
        .ingest(
            vec![dm(
                "late",
                RECEIVED,
                "biz",
                "c3",
                at("2026-03-08T12:00:00Z"),
            )],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        active_conversations(&store, "2026-03-08", "Asia/Kathmandu").await,
        (Some(1), Some(0))
    );

    let run = store.fill_conversation_sketches().await.unwrap();
    assert_eq!((run.events, run.done), (55, true));
    assert_eq!(
        active_conversations(&store, "2026-03-08", "Asia/Kathmandu").await,
        before,
        "the stored DMs are counted once, with the new one in a conversation they had"
    );
    let again = store.fill_conversation_sketches().await.unwrap();
    assert_eq!((again.events, again.done), (0, true));
}

async fn folding_the_conversations_quarter_hours_changes_no_count(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store.ingest(at_the_instants(), NOW).await.unwrap();
    let zones = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"];
    let mut before = Vec::new();
    for zone in zones {
        before.push(active_conversations(&store, "2026-03-08", zone).await);
    }
    assert_eq!(before[0], (Some(8), Some(3)));

    // Retention on 2026-03-13: every quarter-hour up to two days before is folded.
    let now = at("2026-03-13T00:00:00Z");
    let kept = std::time::Duration::from_secs(3_650 * 86_400);
    let mut walks = pulse::store::retention::Walks::default();
    let removed = store.remove_expired(now, kept, &mut walks).await.unwrap();
    assert!(removed.sketch_hours_folded >= 4 * 24, "{removed:?}");
    let mut after = Vec::new();
    for zone in zones {
        after.push(active_conversations(&store, "2026-03-08", zone).await);
    }
    assert_eq!(after, before);

    // The folded hours and days are what whole-hour zones read now: without the quarter-hours
    // below the fold (each now one row, its writers' slots merged), their counts stay.
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    let (writers_rows,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM conversation_sketches WHERE unit_ms = 900000 AND slot >= 0
             AND start_ms < (SELECT below_ms FROM conversation_sketches_fold)",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        writers_rows, 0,
        "a folded quarter-hour is one row, no writer's"
    );
    let deleted = sqlx::query(
        "DELETE FROM conversation_sketches WHERE unit_ms = 900000
             AND start_ms < (SELECT below_ms FROM conversation_sketches_fold)",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    assert!(deleted.rows_affected() > 0);
    for (zone, counts) in zones.iter().zip(&before).take(2) {
        assert_eq!(
            active_conversations(&store, "2026-03-08", zone).await,
            *counts,
            "{zone}"
        );
    }
    // A DM within Meta's window is above the fold and counted at once.
    store
        .ingest(
            vec![dm("window", RECEIVED, "biz", "new", now - 30 * 3_600_000)],
            now,
        )
        .await
        .unwrap();
    let report = day_report(&store, "2026-03-11", "UTC").await;
    assert_eq!(report.figures.active_conversations, Some(1));
}

async fn the_live_snapshot_counts_today_in_every_zone_admins_chose(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store.ingest(at_the_instants(), NOW).await.unwrap();
    let now = at("2026-03-09T04:30:00Z");
    let admins = store.accounts();
    let chosen = [
        ("a@example.com", Some("Asia/Kolkata")),
        ("b@example.com", Some("Asia/Kolkata")),
        ("c@example.com", Some("Asia/Colombo")),
        ("d@example.com", Some("Asia/Kathmandu")),
        ("e@example.com", Some("America/New_York")),
        ("f@example.com", Some("UTC")),
        ("g@example.com", None),
    ];
    for (email, zone) in chosen {
        admins.create_admin(email, "hash", NOW).await.unwrap();
        if let Some(zone) = zone {
            admins.set_time_zone(email, zone).await.unwrap();
        }
    }

    let rows = store.snapshot_rows(now).await.unwrap();
    assert_eq!(
        rows.chosen_zones,
        [
            "America/New_York",
            "Asia/Colombo",
            "Asia/Kathmandu",
            "Asia/Kolkata",
            "UTC"
        ]
    );
    let days: Vec<(Vec<String>, i64, i64)> = pulse::stats::document::zones_today(&rows)
        .into_iter()
        .map(|day| (day.zones, day.since_ms, day.dms_received))
        .collect();
    let offsets: Vec<i64> = pulse::stats::document::zones_today(&rows)
        .iter()
        .map(|day| day.offset_s)
        .collect();
    // New York is on daylight-saving time (−04:00) since the day before.
    assert_eq!(offsets, [20_700, 19_800, 0, -14_400]);
    let zones = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
    assert_eq!(
        days,
        [
            // Kathmandu's day began at 18:15 UTC: the DMs of 18:14:59 are yesterday's.
            (
                zones(&["Asia/Kathmandu"]),
                at("2026-03-08T18:15:00Z"),
                7 + 8 + 9 + 10
            ),
            // Two zones of one offset share their counts.
            (
                zones(&["Asia/Colombo", "Asia/Kolkata"]),
                at("2026-03-08T18:30:00Z"),
                8 + 9 + 10
            ),
            (zones(&["UTC"]), at("2026-03-09T00:00:00Z"), 9 + 10),
            // 00:30 in New York, in daylight-saving time since the day before.
            (zones(&["America/New_York"]), at("2026-03-09T04:00:00Z"), 10),
        ]
    );
    // The UTC day read from the history is the day's own count.
    let utc_today: i64 = rows
        .metric_today
        .iter()
        .filter(|(metric, _)| metric == "dm_received")
        .map(|(_, count)| count)
        .sum();
    assert_eq!(utc_today, 9 + 10);
}
