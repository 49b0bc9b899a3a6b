//! `GET /api/admin/history` and `/api/admin/history.csv` over HTTP: a session required, every
//! bad parameter a 400 naming it, the JSON and the CSV agreeing with what was delivered.

use app::model::HistoryReport;

use crate::helpers::{dm_batch, spawn_app};

#[tokio::test]
async fn history_needs_a_session_and_names_every_bad_parameter() {
    let mut app = spawn_app().await;
    let anonymous = app.anonymous();
    for path in [
        "/api/admin/history?range=7d",
        "/api/admin/history.csv?range=7d",
    ] {
        let status = anonymous.get(path).await.status();
        assert_eq!(status, 401, "{path} without a session");
    }
    app.node.log_in().await;
    for (query, named) in [
        ("range=fortnight", "unknown range \"fortnight\""),
        (
            "range=7d&zone=Mars/Olympus",
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            "from=2026-02-30&to=2026-03-01",
            "from \"2026-02-30\" is not a date",
        ),
        (
            "from=2026-03-01&to=yesterday",
            "to \"yesterday\" is not a date",
        ),
        (
            "from=2026-03-02&to=2026-03-01",
            "from 2026-03-02 is after to 2026-03-01",
        ),
        ("from=2024-01-01&to=2026-01-01", "at most 400 days"),
        ("range=custom&from=2026-03-01", "needs both from and to"),
        ("range=7d&step=minute", "unknown step \"minute\""),
        ("range=7d&overlay=lastyear", "unknown overlay \"lastyear\""),
    ] {
        for route in ["/api/admin/history", "/api/admin/history.csv"] {
            let response = app.get(&format!("{route}?{query}")).await;
            assert_eq!(response.status(), 400, "{route}?{query}");
            let message = response.text().await.unwrap();
            assert!(message.contains(named), "{route}?{query}: {message}");
        }
    }
}

#[tokio::test]
async fn todays_report_and_its_csv_count_the_deliveries_of_today() {
    let mut app = spawn_app().await;
    app.node.log_in().await;
    let delivered = app
        .post_signed(dm_batch(&[("h1", false), ("h2", false), ("h3", true)]))
        .await;
    assert_eq!(delivered.status(), 200);

    let response = app
        .get("/api/admin/history?range=24h&zone=Asia/Kathmandu")
        .await;
    assert_eq!(response.status(), 200);
    let report: HistoryReport = response.json().await.unwrap();
    assert_eq!(
        (report.range.as_str(), report.zone.as_str()),
        ("24h", "Asia/Kathmandu")
    );
    assert!(report.from.ends_with("+05:45"), "{}", report.from);
    assert_eq!(report.step, "hour");
    assert_eq!(report.points.len(), 24);
    assert_eq!(
        (report.figures.dms_received, report.figures.dms_sent),
        (2, 1)
    );
    assert_eq!(report.figures.replies, 1);
    assert_eq!(report.previous.dms_received, 0);
    assert!(report.still_changing);
    let last = report.points.last().unwrap();
    assert_eq!(
        last.figures.dms_received, 2,
        "today's DMs are in the last step"
    );
    assert!(report.figures.active_conversations.unwrap_or_default() > 0);
    assert_eq!(
        last.figures.active_conversations, report.figures.active_conversations,
        "today's conversations are active in the last step"
    );

    let response = app
        .get("/api/admin/history.csv?range=24h&zone=Asia/Kathmandu")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"pulse-24h-"),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 1 + 24, "a header and one row per step");
    assert!(lines[0].starts_with("start,end,dms_received,dms_sent,"));
    let columns: Vec<&str> = lines[0].split(',').collect();
    for (line, point) in lines[1..].iter().zip(&report.points) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), columns.len(), "{line}");
        assert_eq!(cells[0], point.start);
        assert_eq!(cells[2], point.figures.dms_received.to_string());
        assert_eq!(cells[3], point.figures.dms_sent.to_string());
        let active = point.figures.active_conversations.unwrap().to_string();
        assert_eq!(cells.last(), Some(&active.as_str()), "{line}");
    }
    assert_eq!(columns.last(), Some(&"active_conversations"));
}

#[tokio::test]
async fn the_page_keeps_the_zone_an_admin_chose() {
    let mut app = spawn_app().await;
    app.node.log_in().await;
    let page = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };
    let before = page("/admin?range=7d").await;
    assert!(
        before.contains("Times in UTC (UTC, UTC+00:00)"),
        "no zone chosen yet: UTC"
    );
    assert!(
        before.contains(r#""zone_chosen":false"#),
        "the browser may still set one"
    );

    let chosen = page("/admin?range=yesterday&zone=Asia/Kolkata").await;
    assert!(chosen.contains("Times in Asia/Kolkata (IST, UTC+05:30)"));
    let later = page("/admin?range=7d").await;
    assert!(
        later.contains("Times in Asia/Kolkata (IST, UTC+05:30)"),
        "the zone is remembered"
    );
    assert!(later.contains(r#""zone_chosen":true"#));

    // A zone the address names wins, and becomes the one remembered.
    let other = page("/admin?range=7d&zone=America/New_York").await;
    assert!(other.contains("Times in America/New_York"));
    assert!(page("/admin?range=30d")
        .await
        .contains("Times in America/New_York"));
    // The JSON route takes only what it is asked: UTC without a zone.
    let report: HistoryReport = app
        .get("/api/admin/history?range=7d")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((report.zone.as_str(), report.zone_chosen), ("UTC", false));
}

/// One delivery of `count` DMs received by biz-1 from distinct customers, `ago_ms` before now.
fn received_ago(count: usize, ago_ms: i64) -> String {
    let at = pulse::clock::now_ms() - ago_ms;
    let messages: Vec<String> = (0..count)
        .map(|n| {
            format!(
                r#"{{"sender":{{"id":"fan-{ago_ms}-{n}"}},"recipient":{{"id":"biz-1"}},"timestamp":{at},"message":{{"mid":"m-{ago_ms}-{n}","text":"hi"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","time":{at},"messaging":[{}]}}]}}"#,
        messages.join(",")
    )
}

#[tokio::test]
async fn the_chart_overlays_the_previous_period_step_by_step_when_asked() {
    let mut app = spawn_app().await;
    app.node.log_in().await;
    // 4 DMs 30 hours ago and 2 DMs 47 hours ago: both in the 24 hours before the last 24.
    for (count, ago_hours) in [(4, 30), (2, 47)] {
        let response = app
            .post_signed(received_ago(count, ago_hours * 3_600_000))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.post_signed(received_ago(1, 0)).await.status(), 200);

    let plain: HistoryReport = app
        .get("/api/admin/history?range=24h")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !plain.overlay && plain.previous_points.is_empty(),
        "only when asked"
    );

    let report: HistoryReport = app
        .get("/api/admin/history?range=24h&overlay=previous")
        .await
        .json()
        .await
        .unwrap();
    assert!(report.overlay);
    assert!(
        report.query.ends_with("&overlay=previous"),
        "{}",
        report.query
    );
    assert_eq!(report.previous_points.len(), report.points.len());
    assert_eq!(report.previous_points[0].start, report.previous_from);
    let received: Vec<i64> = report
        .previous_points
        .iter()
        .map(|p| p.dms_received)
        .collect();
    assert_eq!(received.iter().sum::<i64>(), 6, "{received:?}");
    assert_eq!(received.iter().sum::<i64>(), report.previous.dms_received);
    // The n-th step of each period side by side: the DMs 30 and 47 hours ago are 17 steps apart.
    let at = |count: i64| received.iter().position(|&n| n == count).unwrap();
    assert_eq!(at(4) - at(2), 17, "{received:?}");
    assert_eq!(
        received.iter().filter(|&&n| n > 0).count(),
        2,
        "{received:?}"
    );

    let page = app.get("/admin?range=24h&overlay=previous").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"data-testid="overlay-received""#),
        "the lines are drawn"
    );
    assert!(html.contains("Hide the previous period"));
    assert!(
        html.contains("range=7d&amp;overlay=previous")
            || html.contains("range=7d&overlay=previous"),
        "the range links keep the overlay"
    );
    let without = app.get("/admin?range=24h").await.text().await.unwrap();
    assert!(!without.contains(r#"data-testid="overlay-received""#));
    assert!(without.contains("Overlay the previous period"));
}
