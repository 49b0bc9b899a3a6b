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

/// Runs `promtool ARGS` in `deploy/prometheus`; what it printed.
fn promtool(args: &[&str]) -> String {
    let output = std::process::Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus"))
        .output()
        .unwrap_or_else(|error| {
            panic!("promtool cannot run ({error}): `make test` installs Debian's prometheus")
        });
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{printed}");
    printed
}

/// The alert rules for Prometheus are valid, pass their own unit tests (each rule fires when
/// its warning holds, and not before), and name only metrics a real node exposes, with the
/// database-wide figures they read set from the node's snapshot.
#[tokio::test]
async fn the_prometheus_alert_rules_hold_and_name_only_metrics_a_node_exposes() {
    promtool(&["check", "rules", "pulse-alerts.yml"]);
    promtool(&["test", "rules", "pulse-alerts.test.yml"]);

    let node = crate::node_process::NodeProcess::start(&[]).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let response = node.post_signed(dm_batch(&[("metric-names", false)])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused = node
        .anonymous()
        .request(reqwest::Method::POST, "/api/webhooks/instagram")
        .header("x-hub-signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    node.wait_for_stats(|s| s.dms_received.total == 1).await;

    let exposed = scrape(&node).await;
    let rules = include_str!("../../../deploy/prometheus/pulse-alerts.yml");
    let mut named: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("pulse_"))
        .collect();
    named.sort_unstable();
    named.dedup();
    assert!(named.len() >= 7, "{named:?}");
    for name in named {
        assert!(
            exposed.contains(&format!("# TYPE {name} ")),
            "the rules read {name}, which the node does not expose:\n{exposed}"
        );
    }
    let last_accepted = sample(&exposed, "pulse_webhook_last_accepted_timestamp_seconds");
    assert!(
        (before - 1.0..before + 60.0).contains(&last_accepted),
        "the last webhook accepted at {last_accepted}, posted at {before}"
    );
    assert_eq!(
        sample(&exposed, "pulse_conversations_waiting_over_threshold"),
        0.0
    );
    assert_eq!(sample(&exposed, "pulse_accounts_silent"), 0.0);
}
