//! One account's history behind its page's date ranges: its own events only, exact in every
//! zone over the last days (quarter-hours), by the hour in any whole-hour zone (a 25-hour day
//! included) and from the nearest hour in a +05:30 zone before, by UTC day before the hours
//! kept, replies recounted when a DM arrives late, retention that folds old quarter-hours and
//! hours into their hours and days and removes days past their span without changing a range,
//! and hours an upgrade left never split.

use app::model::{HistoryQuery, HistoryReport};
use pulse::{
    history::{self, Reading, Span},
    store::{
        account_history::{DAYS_KEPT_MS, HOURS_KEPT_MS},
        history::Whose,
    },
};

use super::*;

on_both_backends!(
    an_accounts_recent_days_are_exact_in_every_zone,
    an_accounts_day_counts_its_own_events_by_the_hour_in_its_zone,
    an_accounts_older_days_are_read_by_utc_day,
    an_accounts_replies_follow_a_late_dm,
    retention_keeps_an_accounts_hours_and_days_for_their_spans,
    an_upgraded_databases_events_are_counted_into_the_accounts_history,
    an_upgraded_databases_dms_are_added_to_each_accounts_active_conversations,
);

/// An instant written in UTC.
fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

/// The report of the day `date` in `zone` for `whose`, as of [`NOW`] (2026-11-25T18:30Z).
async fn day_report(store: &Store, whose: Whose<'_>, date: &str, zone: &str) -> HistoryReport {
    let request = HistoryQuery {
        from: Some(date.into()),
        to: Some(date.into()),
        zone: Some(zone.into()),
        ..HistoryQuery::default()
    };
    let span = Span::resolve(&request, jiff::Timestamp::from_millisecond(NOW).unwrap()).unwrap();
    history::report(store, Reading { whose, now_ms: NOW }, &span)
        .await
        .unwrap()
}

/// `n` DMs received by `account` at `instant`, each from its own customer.
fn received(account: &str, instant: &str, n: usize) -> Vec<WebhookEvent> {
    (0..n)
        .map(|i| {
            dm(
                &format!("{account}-{instant}-{i}"),
                RECEIVED,
                account,
                &format!("{account}-c{i}-{instant}"),
                at(instant),
            )
        })
        .collect()
}

/// The figures `reading` gives for the day `date` in `zone`, as of its `now_ms`.
async fn day_report_at(
    store: &Store,
    reading: Reading<'_>,
    date: &str,
    zone: &str,
) -> HistoryReport {
    let request = HistoryQuery {
        from: Some(date.into()),
        to: Some(date.into()),
        zone: Some(zone.into()),
        ..HistoryQuery::default()
    };
    let now = jiff::Timestamp::from_millisecond(reading.now_ms).unwrap();
    let span = Span::resolve(&request, now).unwrap();
    history::report(store, reading, &span).await.unwrap()
}

/// A new database of `backend` holding 1, 2 and 4 DMs to biz around Kathmandu's and Kolkata's
/// midnight of the 24th-25th (18:15Z and 18:30Z), and 8 and 16 around the next.
async fn around_midnights(backend: Backend) -> (TestDatabase, Store) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let events = [
        (1, "2026-11-24T18:10:00Z"),
        (2, "2026-11-24T18:20:00Z"),
        (4, "2026-11-24T18:40:00Z"),
        (8, "2026-11-25T18:10:00Z"),
        (16, "2026-11-25T18:20:00Z"),
    ]
    .into_iter()
    .flat_map(|(n, instant)| received("biz", instant, n))
    .collect();
    store.ingest(events, NOW - 300_000).await.unwrap();
    (database, store)
}

/// As of [`NOW`] (2026-11-25T18:30Z: already the 26th in Kathmandu and Kolkata), one account's
/// yesterday in a +05:45 and a +05:30 zone is exact, and so is the day before it is compared
/// with, from its quarter-hours; retention folds them later without changing a whole-hour
/// range. In a database upgraded just now, the hours written before are read whole.
async fn an_accounts_recent_days_are_exact_in_every_zone(backend: Backend) {
    let (_database, store) = around_midnights(backend).await;
    let reading = Reading {
        whose: Whose::Account("biz"),
        now_ms: NOW,
    };
    let service = Reading {
        whose: Whose::Service,
        now_ms: NOW,
    };
    for (zone, day, before) in [
        ("Asia/Kathmandu", 2 + 4 + 8, 1),
        ("Asia/Kolkata", 4 + 8 + 16, 1 + 2),
    ] {
        let account = day_report_at(&store, reading, "2026-11-25", zone).await;
        assert_eq!(account.figures.dms_received, day, "{zone}");
        assert_eq!(account.previous.dms_received, before, "{zone}");
        // Each DM its own conversation: as many active, by the quarter-hour too.
        assert_eq!(account.figures.active_conversations, Some(day), "{zone}");
        assert_eq!(
            account.previous.active_conversations,
            Some(before),
            "{zone}"
        );
        assert_eq!(account.note, None, "{zone}: read exactly, and says nothing");
        let by_step: i64 = account.points.iter().map(|p| p.figures.dms_received).sum();
        assert_eq!(by_step, day, "{zone}: its steps tile the day");
        // The service's history, exact for good, agrees.
        let whole = day_report_at(&store, service, "2026-11-25", zone).await;
        let received = |report: &HistoryReport| -> Vec<i64> {
            let mut counts = vec![report.figures.dms_received, report.previous.dms_received];
            counts.extend(report.points.iter().map(|p| p.figures.dms_received));
            counts
        };
        assert_eq!(received(&whole), received(&account), "{zone}");
    }

    // Four days on, retention has folded the quarter-hours into their hours: a UTC day reads the
    // same.
    let later = Reading {
        whose: Whose::Account("biz"),
        now_ms: NOW + 4 * DAY_MS,
    };
    let utc_before = day_report_at(&store, reading, "2026-11-24", "UTC").await;
    let removed = remove_expired(&store, NOW + 4 * DAY_MS, 90).await;
    assert_eq!(
        removed.account_history_rows, 5,
        "a quarter-hour per instant folded"
    );
    let utc_after = day_report_at(&store, later, "2026-11-24", "UTC").await;
    assert_eq!(utc_before.figures.active_conversations, Some(1 + 2 + 4));
    assert_eq!(utc_after.figures, utc_before.figures);
    assert_eq!(utc_after.points, utc_before.points);
    store.close().await;
    drop(store);

    // The same events in a database upgraded a minute ago: the rebuild counts them into
    // hours, and a day in Kathmandu is read from the nearest whole hours (18:00Z), never from a
    // quarter-hour inside one of those hours.
    let (database, store) = around_midnights(backend).await;
    store.close().await;
    drop(store);
    crate::helpers::as_upgraded_to_the_accounts_history(&database.url, NOW - 60_000).await;
    let store = database.open().await;
    assert!(store.rebuild_account_history(NOW).await.unwrap().done);
    let utc = day_report_at(&store, reading, "2026-11-24", "UTC").await;
    assert_eq!(
        utc.figures.dms_received,
        1 + 2 + 4,
        "the rebuild counted them"
    );
    // [18:00Z on the 23rd, 18:00Z on the 24th): the hour from 18:00Z on the 24th is read whole,
    // in the next day (from 18:15Z, it would be read in this one).
    let upgraded = day_report_at(&store, reading, "2026-11-24", "Asia/Kathmandu").await;
    assert_eq!(upgraded.figures.dms_received, 0);
    let note = upgraded.note.unwrap_or_default();
    assert!(note.contains("nearest whole hour"), "{note}");
}

async fn an_accounts_day_counts_its_own_events_by_the_hour_in_its_zone(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // America/New_York's 2026-11-01 has 25 hours: 04:00Z to 05:00Z the next day. biz-a gets
    // i DMs at the i-th instant; biz-b 10 inside the day.
    let mut events = Vec::new();
    for (i, instant) in [
        "2026-10-31T18:10:00Z",
        "2026-11-01T03:59:59Z",
        "2026-11-01T04:00:00Z",
        "2026-11-02T04:59:59Z",
        "2026-11-02T05:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        events.extend(received("biz-a", instant, i + 1));
    }
    events.extend(received("biz-b", "2026-11-01T12:00:00Z", 10));
    store.ingest(events, NOW).await.unwrap();

    let new_york = day_report(
        &store,
        Whose::Account("biz-a"),
        "2026-11-01",
        "America/New_York",
    )
    .await;
    assert_eq!(new_york.figures.dms_received, 3 + 4);
    assert_eq!(new_york.previous.dms_received, 1 + 2);
    assert_eq!(new_york.points.len(), 25, "the fall-back day has 25 hours");
    assert_eq!(new_york.points[0].figures.dms_received, 3);
    assert_eq!(new_york.points[24].figures.dms_received, 4);
    assert_eq!(new_york.note, None, "read to the hour: exact");
    assert_eq!(new_york.page, "/admin/accounts/biz-a");
    let other = day_report(
        &store,
        Whose::Account("biz-b"),
        "2026-11-01",
        "America/New_York",
    )
    .await;
    assert_eq!(other.figures.dms_received, 10);
    let service = day_report(&store, Whose::Service, "2026-11-01", "America/New_York").await;
    assert_eq!(service.figures.dms_received, 3 + 4 + 10);

    // Asia/Kolkata's day begins at 18:30Z: one account's is read from 19:00Z, the nearest
    // hour, and it says so.
    let kolkata = day_report(
        &store,
        Whose::Account("biz-a"),
        "2026-11-01",
        "Asia/Kolkata",
    )
    .await;
    // [19:00Z on the 31st, 19:00Z on the 1st): the DMs at 03:59:59Z and 04:00Z.
    assert_eq!(kolkata.figures.dms_received, 2 + 3);
    let note = kolkata.note.unwrap();
    assert!(note.contains("nearest whole hour"), "{note}");
    let exact = day_report(&store, Whose::Service, "2026-11-01", "Asia/Kolkata").await;
    assert_eq!(
        exact.figures.dms_received,
        2 + 3 + 10,
        "the service's is exact"
    );
}

async fn an_accounts_older_days_are_read_by_utc_day(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // March 2026 is past the hours kept (35 days before NOW): one account's days there are
    // UTC days. New York's 2026-03-08 is 05:00Z to 04:00Z; it is read as the UTC day.
    let mut events = received("biz", "2026-03-08T02:00:00Z", 3);
    events.extend(received("biz", "2026-03-08T22:00:00Z", 4));
    events.extend(received("biz", "2026-03-09T02:00:00Z", 5));
    store.ingest(events, NOW).await.unwrap();
    let report = day_report(
        &store,
        Whose::Account("biz"),
        "2026-03-08",
        "America/New_York",
    )
    .await;
    assert_eq!(report.figures.dms_received, 3 + 4);
    let by_step: i64 = report.points.iter().map(|p| p.figures.dms_received).sum();
    assert_eq!(
        by_step, report.figures.dms_received,
        "the steps still tile the range"
    );
    let note = report.note.unwrap();
    assert!(note.starts_with("Before 2026-10-2"), "{note}");
    assert!(note.contains("nearest UTC midnight"), "{note}");
    // The same day in UTC by day is exact, and says nothing.
    let request = HistoryQuery {
        from: Some("2026-03-08".into()),
        to: Some("2026-03-08".into()),
        zone: Some("UTC".into()),
        step: Some("day".into()),
        ..HistoryQuery::default()
    };
    let span = Span::resolve(&request, jiff::Timestamp::from_millisecond(NOW).unwrap()).unwrap();
    let reading = Reading {
        whose: Whose::Account("biz"),
        now_ms: NOW,
    };
    let utc = history::report(&store, reading, &span).await.unwrap();
    assert_eq!((utc.figures.dms_received, utc.note), (3 + 4, None));
}

async fn an_accounts_replies_follow_a_late_dm(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let received_at = at("2026-11-20T10:00:00Z");
    store
        .ingest(
            vec![
                dm("r1", RECEIVED, "biz", "c", received_at),
                dm("s1", EventKind::DmSent, "biz", "c", received_at + 30_000),
                dm("o1", RECEIVED, "other", "c", received_at),
            ],
            NOW,
        )
        .await
        .unwrap();
    let report = day_report(&store, Whose::Account("biz"), "2026-11-20", "UTC").await;
    assert_eq!(report.figures.replies, 1);
    assert_eq!(report.figures.reply_median_ms, Some(30_000));
    // A DM sent before the reply, delivered late, answers the customer first: the reply of
    // 30 s is taken back and one of 10 s counted, for this account only.
    store
        .ingest(
            vec![dm(
                "s0",
                EventKind::DmSent,
                "biz",
                "c",
                received_at + 10_000,
            )],
            NOW,
        )
        .await
        .unwrap();
    let report = day_report(&store, Whose::Account("biz"), "2026-11-20", "UTC").await;
    assert_eq!(report.figures.replies, 1);
    assert_eq!(report.figures.reply_median_ms, Some(10_000));
    let other = day_report(&store, Whose::Account("other"), "2026-11-20", "UTC").await;
    assert_eq!((other.figures.dms_received, other.figures.replies), (1, 0));
}

async fn retention_keeps_an_accounts_hours_and_days_for_their_spans(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    // DMs 40 days ago (hours past their span, the day kept) and 900 days ago (both past).
    store
        .ingest(
            vec![
                dm("forty", RECEIVED, "biz", "a", NOW - 40 * DAY_MS),
                dm("nine-hundred", RECEIVED, "biz", "b", NOW - 900 * DAY_MS),
                dm("today", RECEIVED, "biz", "c", NOW - 60_000),
            ],
            NOW,
        )
        .await
        .unwrap();
    let rows_of = |table: &'static str, unit: i64, before: i64| {
        let url = database.url.clone();
        async move {
            sqlx::any::install_default_drivers();
            let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let (count,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM {table} WHERE unit_ms = $1 AND start_ms < $2"
            ))
            .bind(unit)
            .bind(before)
            .fetch_one(&mut connection)
            .await
            .unwrap();
            count
        }
    };
    let rows = |unit: i64, before: i64| rows_of("account_history", unit, before);
    const QUARTER: i64 = 900_000;
    const HOUR: i64 = 3_600_000;
    // Ingestion writes quarter-hours only.
    assert_eq!(rows(QUARTER, NOW - HOURS_KEPT_MS).await, 2);
    assert_eq!(rows(QUARTER, NOW).await, 3);
    assert_eq!(rows(HOUR, NOW).await + rows(DAY_MS, NOW).await, 0);
    let ninety_days = HistoryQuery {
        range: Some("90d".into()),
        zone: Some("UTC".into()),
        ..HistoryQuery::default()
    };
    let span = Span::resolve(
        &ninety_days,
        jiff::Timestamp::from_millisecond(NOW).unwrap(),
    )
    .unwrap();
    let reading = Reading {
        whose: Whose::Account("biz"),
        now_ms: NOW,
    };
    let before = history::report(&store, reading, &span).await.unwrap();
    assert_eq!(before.figures.dms_received, 2);
    assert_eq!(before.figures.active_conversations, Some(2));

    let removed = remove_expired(&store, NOW, 90).await;
    assert_eq!(
        removed.account_history_rows, 5,
        "two quarter-hours folded into their hours, those into their days, and the day past \
         the days kept removed"
    );
    assert_eq!(
        removed.account_sketch_rows, 5,
        "the conversations' sketches follow the same units"
    );
    assert_eq!(
        rows_of("account_conversation_sketches", DAY_MS, NOW).await,
        1,
        "the sketch of the day of 40 days ago stays, folded"
    );
    assert_eq!(
        rows_of("account_conversation_sketches", QUARTER, NOW).await,
        1
    );
    assert_eq!(rows(QUARTER, NOW).await, 1, "today's quarter-hour stays");
    assert_eq!(rows(HOUR, NOW).await, 0);
    assert_eq!(rows(DAY_MS, NOW - DAYS_KEPT_MS).await, 0);
    assert_eq!(
        rows(DAY_MS, NOW).await,
        1,
        "the day of 40 days ago stays, folded"
    );
    let after = history::report(&store, reading, &span).await.unwrap();
    assert_eq!(after, before, "no figure of a range changes");
}

/// One event of `kind` for `account` at `occurred_at_ms`, with `raw` as stored.
fn event(
    key: &str,
    kind: EventKind,
    account: &str,
    occurred_at_ms: i64,
    raw: &str,
) -> WebhookEvent {
    WebhookEvent {
        dedupe_key: format!("{}:{key}", kind.as_str()),
        kind,
        account_id: account.to_string(),
        peer_id: Some(format!("{key}-customer")),
        occurred_at_ms,
        raw: raw.to_string(),
        error: None,
    }
}

async fn an_upgraded_databases_events_are_counted_into_the_accounts_history(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    const MINUTE: i64 = 60_000;
    // 1,200 DMs received every 50 minutes back from now (41 days: hours and folded days), a
    // reply to every fourth, one of every kind that counts, some that count for nothing, one
    // 120 days ago (the previous period's) and one 900 days ago (past the days kept).
    let mut events = Vec::new();
    for i in 0..1_200 {
        let received_at = NOW - 10 * MINUTE - i * 50 * MINUTE;
        let customer = format!("c{}", i % 7);
        events.push(dm(
            &format!("r{i}"),
            RECEIVED,
            "biz",
            &customer,
            received_at,
        ));
        if i % 4 == 0 {
            events.push(dm(
                &format!("s{i}"),
                EventKind::DmSent,
                "biz",
                &customer,
                received_at + 3 * MINUTE,
            ));
        }
    }
    let story = r#"{"message":{"mid":"m","reply_to":{"story":{"id":"1"}}}}"#;
    for (key, kind, days_ago, raw) in [
        (
            "story-1",
            EventKind::DmReceived { story_reply: true },
            1,
            story,
        ),
        (
            "story-2",
            EventKind::DmReceived { story_reply: true },
            38,
            story,
        ),
        ("reaction", EventKind::Reaction, 2, "{}"),
        ("unreaction", EventKind::Unreaction, 2, "{}"),
        ("comment", EventKind::Comment, 3, "{}"),
        ("own-comment", EventKind::OwnComment, 3, "{}"),
        ("mention", EventKind::Mention, 50, "{}"),
        ("postback", EventKind::Postback, 4, "{}"),
        ("read", EventKind::Read, 4, "{}"),
        ("deleted", EventKind::MessageDeleted, 5, "{}"),
        ("invalid", EventKind::Invalid, 5, "{}"),
        (
            "unknown",
            EventKind::Unknown("messaging:message_edit".into()),
            6,
            "{}",
        ),
        ("previous", RECEIVED, 120, "{}"),
        ("long-ago", RECEIVED, 900, "{}"),
    ] {
        events.push(event(
            key,
            kind,
            "biz",
            NOW - days_ago * DAY_MS - 7 * MINUTE,
            raw,
        ));
    }
    events.extend(received("biz-b", "2026-11-20T10:00:00Z", 10));
    store.ingest(events, NOW).await.unwrap();

    let ninety_days = HistoryQuery {
        range: Some("90d".into()),
        zone: Some("Europe/London".into()),
        ..HistoryQuery::default()
    };
    let span = Span::resolve(
        &ninety_days,
        jiff::Timestamp::from_millisecond(NOW).unwrap(),
    )
    .unwrap();
    let reading = |account| Reading {
        whose: Whose::Account(account),
        now_ms: NOW,
    };
    let before = history::report(&store, reading("biz"), &span)
        .await
        .unwrap();
    let before_b = history::report(&store, reading("biz-b"), &span)
        .await
        .unwrap();
    assert_eq!(before.figures.dms_received, 1_202);
    assert_eq!(before.figures.replies, 300);
    assert_eq!(before.previous.dms_received, 1);
    let note = before.note.clone().unwrap_or_default();
    assert!(!note.contains("stored events"), "{note}");
    store.close().await;
    drop(store);

    // As a database upgraded an hour after it stored them: the accounts' history began empty.
    const UPGRADED_AT: i64 = NOW + 3_600_000;
    let stored =
        crate::helpers::as_upgraded_to_the_accounts_history(&database.url, UPGRADED_AT).await;

    let store = database.open().await;
    // After the upgrade, ingestion counts what it stores: three customers active that day
    // write in again (their conversations' sketches, kept through the upgrade, stay the same).
    let after_upgrade: Vec<WebhookEvent> = (1..4)
        .map(|i| {
            dm(
                &format!("new{i}"),
                RECEIVED,
                "biz",
                &format!("c{i}"),
                NOW - 10 * MINUTE,
            )
        })
        .collect();
    store
        .ingest(after_upgrade, UPGRADED_AT + 60_000)
        .await
        .unwrap();
    let empty = history::report(&store, reading("biz"), &span)
        .await
        .unwrap();
    assert_eq!(empty.figures.dms_received, 3);
    let note = empty.note.unwrap_or_default();
    assert!(
        note.contains("still being counted from the stored events"),
        "{note}"
    );

    let rebuilt = store.rebuild_account_history(NOW).await.unwrap();
    assert!(rebuilt.done);
    assert_eq!(
        rebuilt.events, stored as u64,
        "every stored event read once, in steps"
    );
    let after = history::report(&store, reading("biz"), &span)
        .await
        .unwrap();
    let mut expected = before.clone();
    let without_replies = |figures: &mut app::model::RangeFigures| {
        (
            figures.replies,
            figures.reply_median_ms,
            figures.reply_p90_ms,
        ) = (0, None, None);
    };
    without_replies(&mut expected.figures);
    without_replies(&mut expected.previous);
    for point in &mut expected.points {
        without_replies(&mut point.figures);
    }
    expected.figures.dms_received += 3;
    let last = expected.points.len() - 1;
    expected.points[last].figures.dms_received += 3;
    assert_eq!(
        after.figures, expected.figures,
        "every metric, none of the replies"
    );
    assert_eq!(after.previous, expected.previous);
    assert_eq!(
        after.points, expected.points,
        "each day's DMs, in hours and in days"
    );
    let note = after.note.clone().unwrap_or_default();
    assert!(note.contains("reply times begin 2026-11-25"), "{note}");
    let after_b = history::report(&store, reading("biz-b"), &span)
        .await
        .unwrap();
    assert_eq!(after_b.figures, before_b.figures);

    // Done once: a second run counts nothing again.
    let again = store.rebuild_account_history(NOW + DAY_MS).await.unwrap();
    assert_eq!((again.events, again.done), (0, true));
    assert_eq!(
        history::report(&store, reading("biz"), &span)
            .await
            .unwrap(),
        after
    );
}

/// The active conversations `account`'s report gives for the last 90 days and the 90 before,
/// and step by step, as of [`NOW`].
async fn active_by_day(store: &Store, account: &str) -> Vec<Option<i64>> {
    let (counts, _) = active_by_day_with_note(store, account).await;
    counts
}

/// [`active_by_day`] and the report's note.
async fn active_by_day_with_note(store: &Store, account: &str) -> (Vec<Option<i64>>, String) {
    let request = HistoryQuery {
        range: Some("90d".into()),
        zone: Some("Asia/Kolkata".into()),
        ..HistoryQuery::default()
    };
    let span = Span::resolve(&request, jiff::Timestamp::from_millisecond(NOW).unwrap()).unwrap();
    let reading = Reading {
        whose: Whose::Account(account),
        now_ms: NOW,
    };
    let report = history::report(store, reading, &span).await.unwrap();
    let mut counts = vec![
        report.figures.active_conversations,
        report.previous.active_conversations,
    ];
    counts.extend(report.points.iter().map(|p| p.figures.active_conversations));
    (counts, report.note.unwrap_or_default())
}

/// In a database upgraded with stored DMs (no account had its conversations sketched), the
/// catch-up adds them, each in the unit its time is kept in (quarter-hours, hours, days), to the
/// counts ingestion gives, once.
async fn an_upgraded_databases_dms_are_added_to_each_accounts_active_conversations(
    backend: Backend,
) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let mut events = Vec::new();
    for (days_ago, customers) in [(0, 3), (1, 2), (10, 4), (60, 5), (120, 1)] {
        for i in 0..customers {
            let at = NOW - days_ago * DAY_MS - 20 * 60_000;
            events.push(dm(
                &format!("{days_ago}-{i}"),
                RECEIVED,
                "biz",
                &format!("c{i}"),
                at,
            ));
        }
    }
    events.push(dm("other", RECEIVED, "biz-b", "c0", NOW - 60_000));
    store.ingest(events, NOW).await.unwrap();
    let before = active_by_day(&store, "biz").await;
    assert_eq!(&before[..2], [Some(5), Some(1)], "c0 to c4, and c0 before");
    let per_day: i64 = before[2..].iter().map(|count| count.unwrap()).sum();
    assert_eq!(per_day, 3 + 2 + 4 + 5, "each day's conversations");
    let before_b = active_by_day(&store, "biz-b").await;
    assert_eq!(before_b[0], Some(1));

    // As the upgrade leaves a database with stored events: no account sketches, and every
    // event below the fill's cursor.
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    for statement in [
        "DELETE FROM account_conversation_sketches",
        "UPDATE account_conversation_sketches_fill SET below_id = (SELECT max(id) + 1 FROM events)",
    ] {
        sqlx::query(statement).execute(&mut admin).await.unwrap();
    }
    assert_eq!(active_by_day(&store, "biz").await[0], Some(0));
    // A DM after the upgrade, in a conversation the stored events also have.
    store
        .ingest(vec![dm("new", RECEIVED, "biz", "c1", NOW - 60_000)], NOW)
        .await
        .unwrap();
    let (counts, note) = active_by_day_with_note(&store, "biz").await;
    assert_eq!(counts[0], Some(1));
    assert!(
        note.contains("active conversations are still being counted"),
        "{note}"
    );

    let run = store.fill_account_conversation_sketches(NOW).await.unwrap();
    assert_eq!((run.events, run.done), (16, true));
    let (units,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT unit_ms) FROM account_conversation_sketches WHERE slot = -1",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        units, 3,
        "quarter-hours, hours and days, as the DMs' ages keep them"
    );
    assert_eq!(
        active_by_day(&store, "biz").await,
        before,
        "the stored DMs are counted once, with the new one in a conversation they had"
    );
    assert_eq!(active_by_day(&store, "biz-b").await, before_b);
    let (_, note) = active_by_day_with_note(&store, "biz").await;
    assert!(!note.contains("active conversations"), "{note}");
    let again = store.fill_account_conversation_sketches(NOW).await.unwrap();
    assert_eq!((again.events, again.done), (0, true));
}
