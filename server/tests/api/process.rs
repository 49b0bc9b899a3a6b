//! The `pulse` binary as an operator runs it: start, serve, stop on SIGTERM.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{SseClient, APP_SECRET, VERIFY_TOKEN};

#[tokio::test]
async fn sigterm_closes_live_streams_and_exits_cleanly() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("PULSE_DATA_DIR", data_dir.path())
        .env("IG_APP_SECRET", APP_SECRET)
        .env("IG_VERIFY_TOKEN", VERIFY_TOKEN)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pulse");

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "pulse did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = client
        .get(format!("{base}/api/admin/stats/stream"))
        .send()
        .await
        .unwrap();
    let mut stream = SseClient::new(response);
    stream
        .next_event(Duration::from_secs(5))
        .await
        .expect("the initial snapshot");

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        stream.next_frame(Duration::from_secs(5)).await.is_none(),
        "the stream ends so the browser reconnects elsewhere"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "pulse did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
