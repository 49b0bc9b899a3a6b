//! `/admin`, `/` and the stats server functions, as a browser without JavaScript sees them.

use app::model::{SnapshotSource, StatsSnapshot};
use reqwest::StatusCode;

use crate::{
    helpers::{dm_batch, spawn_app, spawn_app_on},
    postgres::fresh_database_url,
};

#[tokio::test]
async fn the_root_redirects_to_the_dashboard() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert!(response.status().is_redirection());
    assert_eq!(response.headers()["location"], "/admin");
}

#[tokio::test]
async fn the_dashboard_is_server_rendered_with_the_current_numbers() {
    let app = spawn_app().await;
    let batch: Vec<(String, bool)> = (0..1234).map(|i| (format!("ssr-{i}"), false)).collect();
    let refs: Vec<(&str, bool)> = batch
        .iter()
        .map(|(mid, echo)| (mid.as_str(), *echo))
        .collect();
    assert_eq!(
        app.post_signed(dm_batch(&refs)).await.status(),
        StatusCode::OK
    );
    app.wait_for_stats(|s| s.dms_received.total == 1234).await;

    let response = app
        .request(reqwest::Method::GET, "/admin")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"data-stat="dms-received""#), "{html}");
    assert!(
        html.contains("1,234"),
        "the total is in the HTML itself: {html}"
    );
    assert!(html.contains("Refresh now"));
    // Complete as sent: no streamed fallback waiting for JavaScript to swap it.
    assert!(!html.contains("Loading stats"), "{html}");
    assert!(!html.contains("<template"), "{html}");
}

#[tokio::test]
async fn refresh_now_recomputes_and_broadcasts() {
    let app = spawn_app().await;
    let mut stream = app.open_live_stream().await;

    let response = app
        .request(reqwest::Method::POST, "/api/admin/stats/refresh")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: StatsSnapshot = response.json().await.unwrap();
    assert_eq!(refreshed.source, SnapshotSource::Manual);

    let pushed = stream
        .next_event_where(std::time::Duration::from_secs(1), |s| {
            s.source == SnapshotSource::Manual
        })
        .await;
    assert!(pushed.is_some(), "the refresh is broadcast");
}

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["database"]["backend"], "sqlite");
    assert_eq!(body["bus"], "in_process");
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_gone() {
    let url = fresh_database_url().await;
    let app = spawn_app_on(Some(url.clone())).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["database"]["backend"],
        "postgres"
    );

    // Drop the database under the running server (terminating its connections).
    let (server, name) = url.rsplit_once('/').unwrap();
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
    sqlx::Executor::execute(
        &mut admin,
        format!("DROP DATABASE {name} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();

    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["database"]["status"], "unreachable");
    let health = app.get("/healthz").await;
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "the process itself is alive"
    );
}

/// The Webhooks panel's room figures: SQLite's files and their disk, and a
/// Postgres database's size (its disk is the database server's).
#[tokio::test]
async fn the_snapshot_says_how_much_room_the_database_takes_and_has_left() {
    let sqlite = spawn_app().await;
    let storage = sqlite.stats().await.storage;
    assert!(storage.database_bytes > 0, "{storage:?}");
    let free = storage
        .disk_free_bytes
        .expect("SQLite's disk is this machine's");
    assert!(
        free > 0 && Some(free) <= storage.disk_total_bytes,
        "{storage:?}"
    );
    let html = sqlite
        .request(reqwest::Method::GET, "/admin")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-testid="database-size""#), "{html}");
    assert!(
        html.contains(&app::format::bytes(storage.database_bytes)),
        "{html}"
    );

    let postgres = spawn_app_on(Some(fresh_database_url().await)).await;
    let storage = postgres.stats().await.storage;
    assert!(storage.database_bytes > 0, "{storage:?}");
    assert_eq!(storage.disk_free_bytes, None);
}
