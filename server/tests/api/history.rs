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
    }
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
