//! `GET /metrics` and the version header the load harness relies on.

use std::time::Duration;

use reqwest::StatusCode;
use testkit::responses::metric_sample as sample;

use crate::helpers::{dm_batch, spawn_app, spawn_app_with, Node};

async fn scrape(node: &Node) -> String {
    let response = node.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_need_a_session_or_the_scraper_token() {
    let token = "scraper-token-0123456789";
    let app = spawn_app_with(|config| {
        config.metrics_token = Some(secrecy::SecretString::from(token.to_string()))
    })
    .await;
    let stranger = app.anonymous();
    assert_eq!(
        stranger.get("/metrics").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let with = |value: &str| {
        stranger
            .request(reqwest::Method::GET, "/metrics")
            .header("authorization", value.to_string())
            .send()
    };
    assert_eq!(
        with(&format!("Bearer {token}")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        with("Bearer wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with(token).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);

    let without_token = spawn_app().await;
    let refused = without_token
        .anonymous()
        .request(reqwest::Method::GET, "/metrics")
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "no token configured, no way in"
    );
}

#[tokio::test]
async fn metrics_follow_streams_webhooks_and_snapshots() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let mut stream = app.open_live_stream().await;

    let response = app
        .post_signed(dm_batch(&[("metric-1", false), ("metric-2", true)]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let version: i64 = response.headers()["x-pulse-version"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let shown = stream
        .next_event_where(Duration::from_secs(2), |s| s.version >= version)
        .await
        .expect("a snapshot covering the acknowledged version")
        .snapshot();
    assert!(shown.dms_received.total >= 1 && shown.dms_sent.total >= 1);
    let refused = app
        .client
        .post(app.webhook_url())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let after = scrape(&app).await;
    let grew = |name: &str, by: f64| {
        let (was, is) = (sample(&before, name), sample(&after, name));
        assert!(is - was >= by, "{name}: {was} -> {is}\n{after}");
    };
    // Counters are per process and the tests share it: check growth, not values.
    grew("pulse_webhooks_accepted_total", 1.0);
    grew(r#"pulse_webhooks_rejected_total{reason="signature"}"#, 1.0);
    grew(r#"pulse_events_stored_total{kind="dm_received"}"#, 1.0);
    grew(r#"pulse_events_stored_total{kind="dm_sent"}"#, 1.0);
    grew("pulse_snapshots_published_total", 1.0);
    grew("pulse_snapshot_frames_delivered_total", 1.0);
    grew("pulse_update_latency_seconds_count", 1.0);
    grew("pulse_snapshot_compute_seconds_count", 1.0);
    assert!(sample(&after, "pulse_sse_clients") >= 1.0, "{after}");
    assert!(sample(&after, "pulse_database_bytes") > 0.0, "{after}");
    assert!(
        sample(&after, "pulse_database_disk_free_bytes") > 0.0,
        "{after}"
    );
    assert!(
        after.contains(r#"pulse_bus_mode{mode="in_process"}"#),
        "{after}"
    );
}
