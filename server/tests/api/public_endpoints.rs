//! What a stranger with no secret can make the server do: refused webhooks,
//! login floods, held connections, odd paths, too many streams.

use std::{
    os::unix::fs::PermissionsExt,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    helpers::{spawn_app, spawn_app_on, spawn_app_with, ADMIN_EMAIL, ADMIN_PASSWORD},
    postgres::fresh_database_url,
};

/// Sends `request` as raw bytes and returns everything the server answers
/// before it closes the connection (or 5 s pass).
async fn raw_exchange(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until the server closes `stream` (a read returns 0 or fails) and
/// returns how long that took; panics after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn refused_webhooks_are_counted_together_shown_within_seconds_and_answered_after_a_pause() {
    let app = spawn_app().await;
    let stranger = app.anonymous();
    let started = Instant::now();
    // Sent together, as a flood would be (each refusal is answered after a short pause).
    let bad_signatures = (0..40).map(|_| {
        stranger
            .client
            .post(app.webhook_url())
            .header("x-hub-signature-256", "sha256=00")
            .body(r#"{"object":"instagram","entry":[]}"#)
            .send()
    });
    for refused in futures::future::join_all(bad_signatures).await {
        assert_eq!(refused.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let handshakes = (0..10).map(|_| {
        stranger.get(
            "/api/webhooks/instagram?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1",
        )
    });
    for handshake in futures::future::join_all(handshakes).await {
        assert_eq!(handshake.status(), StatusCode::FORBIDDEN);
    }
    let stats = app
        .wait_for_stats(|s| s.webhook_health.rejected_1h == 50)
        .await;
    assert_eq!(stats.webhook_health.signature_failures_1h, 40);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shown {:?} after the first refusal",
        started.elapsed()
    );
    assert_eq!(stats.version, 0, "no event table was touched");

    // A closed loop of refusals gets at most one answer per pause per connection.
    let one = Instant::now();
    stranger.get("/api/webhooks/instagram").await;
    assert!(one.elapsed() >= pulse::serve::REFUSAL_PAUSE);
}

#[tokio::test]
async fn logins_beyond_the_password_checks_the_cores_can_run_are_refused_at_once() {
    let app = spawn_app().await;
    let cores = std::thread::available_parallelism().unwrap().get();
    let attempts = (0..cores * 8).map(|index| {
        let stranger = app.anonymous();
        async move {
            stranger
                .post_login(&format!("guess-{index}@example.com"), "some guess or other")
                .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for answer in answers {
        match answer.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                busy += 1;
                assert_eq!(answer.headers()["retry-after"], "1");
                assert!(answer
                    .text()
                    .await
                    .unwrap()
                    .contains("too many logins at once"));
            }
            other => panic!("unexpected answer {other}"),
        }
    }
    assert!(busy > 0, "{} attempts at once on {cores} cores", cores * 8);
    // The node is not left busy: the right password gets in afterwards.
    assert_eq!(
        app.anonymous()
            .post_login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_lock_holds_for_the_guessing_address_only_and_the_right_password_gets_in_elsewhere() {
    let app = spawn_app_with(|config| config.trust_forwarded_for = 1).await;
    let login = |email: &'static str, address: &'static str, password: &'static str| {
        app.anonymous()
            .request(Method::POST, "/api/auth/login")
            .header("x-forwarded-for", address)
            .form(&[("email", email), ("password", password)])
            .send()
    };
    let from = |address, password| login(ADMIN_EMAIL, address, password);
    for _ in 0..10 {
        let wrong = from("198.51.100.1", "guess guess guess").await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = from("198.51.100.1", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    // The same /64 is the same guesser (another account, so that the
    // admin's account is not slowed further).
    let ipv6 = |address| login("other@example.com", address, "guess guess guess");
    for _ in 0..10 {
        ipv6("2001:db8:0:7::1").await.unwrap();
    }
    assert_eq!(
        ipv6("2001:db8:0:7:ffff::2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // The account has failed 11 times; from another address the right
    // password still gets in, only slowed.
    let started = Instant::now();
    let admin = from("203.0.113.5", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(admin.status(), StatusCode::SEE_OTHER);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn failed_logins_are_counted_across_nodes_sharing_the_database() {
    let url = fresh_database_url().await;
    let one = spawn_app_on(Some(url.clone())).await;
    let two = spawn_app_on(Some(url)).await;
    for attempt in 0..10 {
        let node = if attempt % 2 == 0 { &one } else { &two };
        let wrong = node
            .anonymous()
            .post_login(ADMIN_EMAIL, "guess guess guess")
            .await;
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    for node in [&one, &two] {
        let locked = node
            .anonymous()
            .post_login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn half_sent_request_heads_and_idle_connections_are_closed_and_others_still_served() {
    let app = spawn_app_with(|config| config.header_read_timeout_s = 1).await;
    let host = app.address.trim_start_matches("http://").to_string();
    let mut half = TcpStream::connect(&host).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(&host).await.unwrap();
    let mut idle = TcpStream::connect(&host).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let read = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));

    // A fresh request is served while they wait.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    for stream in [&mut half, &mut silent, &mut idle] {
        let took = closed_within(stream, Duration::from_secs(4)).await;
        assert!(took <= Duration::from_millis(2_500), "{took:?}");
    }
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once() {
    let app = spawn_app_with(|config| config.max_connections = Some(3)).await;
    let host = app.address.trim_start_matches("http://").to_string();
    // The test client's own pooled connection may hold one place; fill the rest.
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&host).await.unwrap();
        // A refused connection may already be reset when this is written.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                refused = Some(stream);
                break;
            }
            Ok(Ok(_)) => held.push(stream),
            Err(_) => panic!("neither served nor closed"),
        }
    }
    assert!(refused.is_some(), "a connection over the limit was served");
    assert!(held.len() <= 3);
    drop(held);
    // Places come back as connections close.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let answer = raw_exchange(
            &app.address,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "no place came back: {answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_session_holds_at_most_its_share_of_streams() {
    let app = spawn_app_with(|config| config.max_streams_per_session = 2).await;
    let first = app.open_live_stream().await;
    let _second = app.open_live_stream().await;
    let third = app.get("/api/admin/stats/stream").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    assert!(third
        .text()
        .await
        .unwrap()
        .contains("PULSE_MAX_STREAMS_PER_SESSION"));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let again = app.get("/api/admin/stats/stream").await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed stream never freed its place"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn paths_that_are_not_in_normal_form_are_refused_before_the_guard() {
    let app = spawn_app().await;
    for path in [
        "/pkg/../admin",
        "/pkg/%2e%2e/admin",
        "/pkg/.%2E/api/admin/stats",
        "//admin",
        "/pkg/./pulse.js",
        "/api/admin/stats/..",
    ] {
        let answer = raw_exchange(
            &app.address,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("must not contain"), "{path}: {answer}");
    }
    // Under /pkg only files are served: no page, no handler.
    let missing = app.anonymous().get("/pkg/admin").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_data_directory_and_database_are_private_to_their_owner() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("fresh").join("data");
    let dir = data_dir.clone();
    let _app = spawn_app_with(move |config| config.store.data_dir = dir).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("pulse.db")), 0o600);
    assert_eq!(mode(&data_dir.join("pulse.db-wal")), 0o600);
}
