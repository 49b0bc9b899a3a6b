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
    assert!(one.elapsed() >= pulse::serve::strangers::REFUSAL_PAUSE);
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

/// A login posted as if from `address` (the node trusts one proxy hop).
async fn log_in_from(
    app: &crate::helpers::Node,
    address: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    app.request(Method::POST, "/api/auth/login")
        .header("x-forwarded-for", address)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("request sent")
        .status()
}

#[tokio::test]
async fn the_admin_gets_in_from_a_known_address_during_a_login_flood_from_many_others() {
    let app = spawn_app_with(|config| config.trust_forwarded_for = 1).await;
    let anonymous = app.anonymous();
    assert_eq!(
        log_in_from(&anonymous, "192.0.2.10", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER,
        "the admin's usual address"
    );
    // 32 connections of logins for random emails from ever new addresses,
    // as fast as they are answered: every password check of the node busy.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flood: Vec<_> = (0..32u32)
        .map(|worker| {
            let (stop, busy, node) = (stop.clone(), busy.clone(), app.anonymous());
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let address = format!("10.{}.{}.{}", worker, n / 250 % 250, n % 250);
                    let email = format!("stranger-{worker}-{n}@example.com");
                    let status = log_in_from(&node, &address, &email, "a long enough guess").await;
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tries = Vec::new();
    for _ in 0..3 {
        let status = log_in_from(&anonymous, "192.0.2.10", ADMIN_EMAIL, ADMIN_PASSWORD).await;
        tries.push(status);
        if status == StatusCode::SEE_OTHER {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in flood {
        worker.await.unwrap();
    }
    assert!(
        busy.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the flood kept the password checks busy"
    );
    assert_eq!(
        tries.last(),
        Some(&StatusCode::SEE_OTHER),
        "within three tries: {tries:?}"
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
    // password still gets in.
    let admin = from("203.0.113.5", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(admin.status(), StatusCode::SEE_OTHER);
}

/// A slowed account's passwords are checked one at a time, a second apart, whichever node the
/// attempts reach: guesses from many addresses at once are answered a second apart, those past
/// the longest wait refused as busy (and not counted), and the admin's right password from an
/// address they logged in from before is not held up.
#[tokio::test]
async fn a_slowed_account_is_checked_once_a_second_across_nodes() {
    let url = fresh_database_url().await;
    let one = spawn_app_with(|config| {
        config.trust_forwarded_for = 1;
        config.store.database_url = Some(url.clone().into());
    })
    .await;
    let two = spawn_app_with(|config| {
        config.trust_forwarded_for = 1;
        config.store.database_url = Some(url.clone().into());
    })
    .await;
    let login = |node: &crate::helpers::Node, address: String, password: &'static str| {
        node.anonymous()
            .request(Method::POST, "/api/auth/login")
            .header("x-forwarded-for", address)
            .form(&[("email", ADMIN_EMAIL), ("password", password)])
            .send()
    };
    // Eleven failures from eleven networks: the account is slowed, no address locked.
    for n in 0..11 {
        let wrong = login(&one, format!("198.51.{n}.1"), "guess guess guess")
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    // Twelve guesses within a quarter of a second from twelve more networks, half to each
    // node (20 ms apart, so that no node runs out of places to check passwords in).
    let started = Instant::now();
    let guesses = (0..12u64).map(|n| {
        let node = if n % 2 == 0 { &one } else { &two };
        let sent = login(node, format!("203.0.{n}.7"), "guess guess guess");
        async move {
            tokio::time::sleep(Duration::from_millis(20 * n)).await;
            let response = sent.await.unwrap();
            (response.status(), started.elapsed())
        }
    });
    let answered = futures::future::join_all(guesses).await;
    let checked: Vec<Duration> = answered
        .iter()
        .filter(|(status, _)| *status == StatusCode::UNAUTHORIZED)
        .map(|(_, after)| *after)
        .collect();
    let busy = answered
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // The eleventh failure took the turn of its moment: eight turns within the longest wait
    // (1 to 8 s on), the others refused.
    assert_eq!((checked.len(), busy), (8, 4), "{answered:?}");
    let first = checked.iter().min().unwrap();
    assert!(
        *first >= Duration::from_millis(500),
        "the first check waited {first:?}"
    );
    let last = checked.iter().max().unwrap();
    assert!(
        *last >= Duration::from_millis(7_500) && *last < Duration::from_secs(10),
        "the ninth check waited {last:?}"
    );
    // The test admin's own address (127.0.0.1, which logged in when the node started) is not
    // held to the pace: the right password gets in at once, on either node.
    for node in [&one, &two] {
        let started = Instant::now();
        let admin = node
            .anonymous()
            .post_login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        assert_eq!(admin.status(), StatusCode::SEE_OTHER);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
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

/// Rows of the shared failed-login counts.
async fn login_failure_rows(database: &mut sqlx::AnyConnection) -> i64 {
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_failures")
        .fetch_one(database)
        .await
        .unwrap();
    rows
}

#[tokio::test]
async fn on_postgres_a_locked_address_adds_no_records_and_the_lock_holds() {
    let url = fresh_database_url().await;
    let app = spawn_app_with({
        let url = url.clone();
        move |config| {
            config.store.database_url = Some(url.into());
            config.trust_forwarded_for = 1;
        }
    })
    .await;
    let anonymous = app.anonymous();
    for n in 0..30 {
        let status = log_in_from(
            &anonymous,
            "192.0.2.50",
            &format!("guess{n}@example.com"),
            "a long enough guess",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let locking = log_in_from(
        &anonymous,
        "192.0.2.50",
        "one-more@example.com",
        "a long enough guess",
    )
    .await;
    assert_eq!(locking, StatusCode::TOO_MANY_REQUESTS);
    sqlx::any::install_default_drivers();
    let mut database = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let before = login_failure_rows(&mut database).await;
    for n in 0..20 {
        let status = log_in_from(
            &anonymous,
            "192.0.2.50",
            &format!("flood{n}@example.com"),
            "a long enough guess",
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "flood {n}");
    }
    assert_eq!(
        login_failure_rows(&mut database).await,
        before,
        "no new records while locked"
    );
    assert_eq!(
        log_in_from(
            &anonymous,
            "198.51.100.7",
            "flood3@example.com",
            "a long enough guess"
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "the flooded emails were not counted against their accounts"
    );
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

/// Opens a connection from `source` (a loopback address of the test's
/// choosing), sends `request` and reads the start of the answer; `None`
/// when the server closed the connection instead.
async fn exchange_from(source: &str, host: &str, request: &str) -> Option<(TcpStream, String)> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    // A refused connection may already be reset when this is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut buffer = [0u8; 512];
    match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(read)) => Some((
            stream,
            String::from_utf8_lossy(&buffer[..read]).into_owned(),
        )),
        Err(_) => panic!("neither served nor closed"),
    }
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn at_the_limit_the_longest_idle_connection_makes_room_for_a_newcomer() {
    let app = spawn_app_with(|config| config.max_connections = Some(3)).await;
    let host = app.address.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..3 {
        let (stream, answer) = exchange_from("127.0.0.1", &host, HEALTHZ)
            .await
            .expect("served");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        idle.push(stream);
    }
    // Kept-alive and idle, they hold every place; a newcomer is still served.
    for n in 0..5 {
        let (_, answer) = exchange_from("127.0.0.1", &host, HEALTHZ)
            .await
            .unwrap_or_else(|| panic!("newcomer {n} was refused"));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let took = closed_within(&mut idle[0], Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(2),
        "the longest idle one gave way"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        testkit::responses::metric_sample(
            &metrics,
            "pulse_connections_evicted_total{reason=\"room\",state=\"idle\"}"
        ) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once_while_every_one_is_working() {
    let app = spawn_app_with(|config| config.max_connections = Some(3)).await;
    let host = app.address.trim_start_matches("http://").to_string();
    // Three open dashboards: working connections, never taken away.
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = app.open_stream().await;
        stream
            .next_event(Duration::from_secs(3))
            .await
            .expect("the stream's first snapshot");
        streams.push(stream);
    }
    assert!(
        exchange_from("127.0.0.1", &host, HEALTHZ).await.is_none(),
        "a connection over the limit was served"
    );
    for stream in &mut streams {
        assert!(
            !stream.ends_within(Duration::from_millis(200)).await,
            "a working connection was taken away"
        );
    }
    // Places come back as connections close.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if exchange_from("127.0.0.1", &host, HEALTHZ).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no place came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node whose site has one large file (`/pkg/large.bin`, 32 MiB), for
/// clients that ask for it and never read.
async fn spawn_app_with_a_large_file(
    configure: impl FnOnce(&mut pulse::Config),
) -> (crate::helpers::TestApp, tempfile::TempDir) {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/large.bin"), vec![7u8; 32 << 20]).unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |config| {
        config.site_root = root;
        configure(config);
    })
    .await;
    (app, site)
}

const LARGE: &str = "GET /pkg/large.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n";

#[tokio::test]
async fn a_client_that_does_not_read_gives_its_place_up_to_a_delivery() {
    let (app, _site) = spawn_app_with_a_large_file(|config| config.max_connections = Some(2)).await;
    let host = app.address.trim_start_matches("http://").to_string();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (stream, answer) = exchange_from("127.0.0.2", &host, LARGE)
            .await
            .expect("served");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        readers.push(stream);
    }
    // They stop reading: their responses wait. A second later their places
    // go to whoever needs one.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let delivery = app
        .post_signed(crate::helpers::dm_batch(&[("beside-readers", false)]))
        .await;
    assert_eq!(delivery.status(), StatusCode::OK);
    let mut ended = 0;
    for reader in &mut readers {
        let mut sink = vec![0u8; 1 << 20];
        // Drain what was sent before the end; then the end shows.
        let gone = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match reader.read(&mut sink).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        ended += usize::from(gone.unwrap_or(false));
    }
    assert!(ended >= 1, "a client that did not read lost its place");
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_and_the_others_get_in() {
    let app = spawn_app_with(|config| {
        config.max_connections = Some(8);
        config.max_connections_per_address = Some(3);
    })
    .await;
    let host = app.address.trim_start_matches("http://").to_string();
    // Working connections from one address, never idle nor stalled: open
    // dashboards (their few frames fit the socket's buffers).
    let stream = format!(
        "GET /api/admin/stats/stream HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
        app.session_cookie.as_deref().expect("logged in")
    );
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..8 {
        match exchange_from("127.0.0.2", &host, &stream).await {
            Some((connection, answer)) => {
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                held.push(connection);
            }
            None => refused += 1,
        }
    }
    assert_eq!(
        (held.len(), refused),
        (3, 5),
        "three places for the address"
    );
    for n in 0..5 {
        let (_, answer) = exchange_from("127.0.0.3", &host, HEALTHZ)
            .await
            .unwrap_or_else(|| panic!("another address was refused ({n})"));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
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
