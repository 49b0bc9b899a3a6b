//! The `pulse` binary as an operator runs it: start, serve, stop on SIGTERM.

use std::time::Duration;

use crate::node_process::NodeProcess;

#[tokio::test]
async fn sigterm_closes_live_streams_and_exits_cleanly() {
    let server = NodeProcess::start(&[]).await;
    let mut stream = server.open_stream().await;
    stream
        .next_event(Duration::from_secs(5))
        .await
        .expect("the initial snapshot");

    let exited = tokio::spawn(server.terminate());
    assert!(
        stream.next_frame(Duration::from_secs(5)).await.is_none(),
        "the stream ends so the browser reconnects elsewhere"
    );
    let status = exited.await.unwrap();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn an_invalid_redis_url_stops_the_start_with_a_clear_message_that_hides_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("PULSE_DATA_DIR", data_dir.path())
        .env("REDIS_URL", "http://pulse:hunter2@127.0.0.1:6379")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pulse");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("REDIS_URL is not a valid Redis URL"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}
