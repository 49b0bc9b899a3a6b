//! `/api/admin/stats/stream`: the SSE contract and its clean-up.

use std::time::Duration;

use app::model::SnapshotSource;
use reqwest::StatusCode;

use crate::helpers::{clear_of_minute_boundary, dm_batch, spawn_app};

#[tokio::test]
async fn the_stream_starts_with_the_current_snapshot_then_pushes_each_change() {
    let app = spawn_app().await;
    let mut stream = app.open_stream().await;
    assert_eq!(
        stream.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(stream.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(stream.header("x-accel-buffering").as_deref(), Some("no"));

    let retry = stream
        .next_frame(Duration::from_secs(2))
        .await
        .expect("a first frame");
    assert_eq!(retry, "retry: 3000");
    let first = stream
        .next_event(Duration::from_secs(2))
        .await
        .expect("the current snapshot");
    assert_eq!(first.event.as_deref(), Some("sync"));
    let initial = first.snapshot();
    assert_eq!(first.id, Some(initial.version.to_string()));
    assert_eq!(initial.dms_received.total, 0);

    assert_eq!(
        app.post_signed(dm_batch(&[("live-1", false)]))
            .await
            .status(),
        StatusCode::OK
    );
    let pushed = stream
        .next_event_where(Duration::from_secs(1), |s| s.dms_received.total == 1)
        .await
        .expect("a pushed snapshot within 1 s");
    let snapshot = pushed.snapshot();
    // `Poll` only if a minute boundary's recompute happened to land in between.
    assert!(
        matches!(snapshot.source, SnapshotSource::Push | SnapshotSource::Poll),
        "{:?}",
        snapshot.source
    );
    assert!(snapshot.version > initial.version);
    assert_eq!(pushed.id, Some(snapshot.version.to_string()));
}

#[tokio::test]
async fn every_open_stream_receives_the_same_update() {
    clear_of_minute_boundary(Duration::from_secs(5)).await;
    let app = spawn_app().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(app.open_live_stream().await);
    }
    assert_eq!(app.state.publisher.bus().subscriber_count(), 3);
    app.post_signed(dm_batch(&[("fan-1", true)])).await;
    let mut payloads = Vec::new();
    for stream in &mut streams {
        let event = stream
            .next_event_where(Duration::from_secs(1), |s| s.dms_sent.total == 1)
            .await
            .expect("pushed snapshot");
        payloads.push(event.data);
    }
    assert!(
        payloads.windows(2).all(|pair| pair[0] == pair[1]),
        "the same bytes reach every client"
    );
}

#[tokio::test]
async fn a_disconnected_client_leaves_no_subscriber_behind() {
    let app = spawn_app().await;
    let stream = app.open_live_stream().await;
    assert_eq!(app.state.publisher.bus().subscriber_count(), 1);

    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.state.publisher.bus().subscriber_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream's subscription outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server still serves new clients and pushes to them.
    let mut again = app.open_live_stream().await;
    app.post_signed(dm_batch(&[("after-1", false)])).await;
    let pushed = again
        .next_event_where(Duration::from_secs(1), |s| s.dms_received.total == 1)
        .await;
    assert!(pushed.is_some(), "pushed snapshot");
}

#[tokio::test]
async fn shutting_down_ends_open_streams() {
    let app = spawn_app().await;
    let mut stream = app.open_live_stream().await;
    assert!(
        !stream.ends_within(Duration::from_millis(300)).await,
        "open until shutdown"
    );
    app.state.shutdown.cancel();
    assert!(
        stream.ends_within(Duration::from_secs(2)).await,
        "the stream ends on shutdown"
    );
}
