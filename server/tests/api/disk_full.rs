//! A full disk under a running `pulse` process, on both engines: the
//! database's files on a small tmpfs of their own, filled to the last byte
//! while eight connections send deliveries. Nothing answered 200 may be
//! lost; the rest is answered 503; readiness and the dashboard say why; and
//! once space is freed the node takes writes again by itself, with every
//! delivery stored exactly once. Mounting needs root (CI runs as root);
//! elsewhere each test says it skipped and why.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sqlx::{Connection, Row};
use testkit::{postgres::ClusterOn, responses::metric_sample, tmpfs::Tmpfs};

use pulse::webhook::signature;
use secrecy::SecretString;

use crate::{
    helpers::{dm_batch, session_cookie, Node, ADMIN_EMAIL, ADMIN_PASSWORD, APP_SECRET},
    node_process::NodeProcess,
};

/// The deliveries sent during an episode, by how they were answered.
#[derive(Default)]
struct Answers {
    acknowledged: BTreeSet<String>,
    refused: BTreeSet<String>,
    /// Anything but 200 and 503: (mid, status, body).
    unexpected: Vec<(String, u16, String)>,
}

/// Sends one single-DM delivery for `mid`, signed as Meta signs; its status
/// and body (status 0 when the connection failed: a node that stops).
async fn deliver(node: &Node, mid: &str) -> (StatusCode, String) {
    let body = dm_batch(&[(mid, false)]);
    let signature = signature::sign(&SecretString::from(APP_SECRET.to_string()), body.as_bytes());
    let sent = node
        .client
        .post(node.webhook_url())
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            (status, response.text().await.unwrap_or_default())
        }
        Err(_) => (StatusCode::from_u16(599).unwrap(), String::new()),
    }
}

/// Eight connections sending new deliveries back to back until `stop`.
fn send_until(
    address: &str,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Answers>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|sender| {
            let node = Node::new(address.to_string());
            let stop = stop.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mid = format!("full-{sender}-{n}");
                    n += 1;
                    let (status, body) = deliver(&node, &mid).await;
                    let mut answers = answers.lock().unwrap();
                    match status {
                        StatusCode::OK => answers.acknowledged.insert(mid),
                        StatusCode::SERVICE_UNAVAILABLE => answers.refused.insert(mid),
                        other => {
                            answers.unexpected.push((mid, other.as_u16(), body));
                            true
                        }
                    };
                }
            })
        })
        .collect()
}

/// The `mid`s of the DMs the database holds, read on a connection of the
/// test's own (what any reader sees).
async fn stored_mids(database_url: &str) -> BTreeSet<String> {
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(database_url)
        .await
        .expect("connect");
    sqlx::query("SELECT dedupe_key FROM events WHERE kind = 'dm_received'")
        .fetch_all(&mut connection)
        .await
        .expect("read the events")
        .iter()
        .map(|row| {
            let key: String = row.get(0);
            key.trim_start_matches("dm_received:").to_string()
        })
        .collect()
}

/// Polls `check` every 100 ms until it holds, failing with `what` after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, node: &NodeProcess, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Readiness: its status and `database.status`.
async fn readiness(node: &Node) -> (StatusCode, String) {
    let response = node.get("/readyz").await;
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("readiness JSON");
    (
        status,
        body["database"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// What a node may say the cause is: `/readyz`'s key and the words of the
/// answers. A full disk is a full disk on SQLite; Postgres may also stop
/// itself when it cannot write its WAL, and is then unreachable.
const DISK_FULL: (&str, &str) = ("disk_full", "disk is full");
const UNREACHABLE: (&str, &str) = ("unreachable", "cannot be reached");

/// The episode both engines go through: fill the disk under load, check what
/// the node says (one of `causes`), free it, check it recovers, redeliver
/// what was refused. Returns every mid sent (each stored by then).
/// `restart_database` is called once space is back (Postgres may have
/// stopped itself).
async fn full_disk_episode(
    node: &NodeProcess,
    disk: &Tmpfs,
    database_url: &str,
    causes: &[(&str, &str)],
    restart_database: impl Fn(),
) -> BTreeSet<String> {
    for n in 0..20 {
        assert_eq!(
            deliver(node, &format!("before-{n}")).await.0,
            StatusCode::OK
        );
    }
    let taken = disk.fill();
    assert!(
        disk.available() < 64 * 1024,
        "the disk is full ({taken} bytes taken)"
    );

    let answers = Arc::new(Mutex::new(Answers::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders = send_until(&node.address, stop.clone(), answers.clone());
    eventually(
        Duration::from_secs(20),
        "deliveries are refused once the disk is full",
        node,
        || {
            let refused = answers.lock().unwrap().refused.len();
            async move { refused >= 50 }
        },
    )
    .await;

    // What the node says while the disk is full.
    let deadline = Instant::now() + Duration::from_secs(3);
    let cause = loop {
        let (status, key) = readiness(node).await;
        let known = causes.iter().find(|(known, _)| *known == key).copied();
        match known {
            Some(cause) if status == StatusCode::SERVICE_UNAVAILABLE => break cause,
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "/readyz says {status} {key}:\n{}",
                    node.log()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let (key, words) = cause;
    let refusing = format!("pulse_store_refusing_writes{{cause=\"{key}\"}}");
    let metrics = node.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric_sample(&metrics, &refusing),
        1.0,
        "{refusing} while full"
    );
    let (status, body) = deliver(node, "while-full").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        causes.iter().any(|(_, words)| body.contains(words)),
        "Meta is told why: {body}"
    );
    let snapshot = node
        .wait_for_stats(|snapshot| {
            snapshot
                .webhook_health
                .warning
                .as_deref()
                .is_some_and(|warning| warning.starts_with("The store is refusing writes"))
        })
        .await;
    let warning = snapshot.webhook_health.warning.unwrap_or_default();
    assert!(
        causes.iter().any(|(_, words)| warning.contains(words)),
        "{warning}"
    );
    // A new login (a script's, with no session to replace).
    let login = node
        .anonymous()
        .post_login(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    match login.status() {
        StatusCode::SERVICE_UNAVAILABLE => {
            let body = login.text().await.unwrap();
            assert!(
                body.contains(words) || causes.iter().any(|(_, words)| body.contains(words)),
                "the login says why: {body}"
            );
        }
        StatusCode::SEE_OTHER => {
            // It found room: then the session must exist.
            let mut admin = node.anonymous();
            admin.session_cookie = session_cookie(&login);
            assert_eq!(admin.get("/api/admin/stats").await.status(), StatusCode::OK);
        }
        other => panic!("a login on a full disk answered {other}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }

    // Space returns: the node takes writes again by itself.
    disk.release();
    restart_database();
    eventually(
        Duration::from_secs(15),
        "a delivery is stored again",
        node,
        || async {
            deliver(node, &format!("after-{}", pulse::clock::now_ms()))
                .await
                .0
                == StatusCode::OK
        },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "/readyz is ready again",
        node,
        || async { readiness(node).await.0 == StatusCode::OK },
    )
    .await;
    node.wait_for_stats(|snapshot| {
        !snapshot
            .webhook_health
            .warning
            .as_deref()
            .is_some_and(|warning| warning.starts_with("The store is refusing writes"))
    })
    .await;
    let metrics = node.get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric_sample(&metrics, &refusing),
        0.0,
        "{refusing} once mended"
    );
    let mut admin = node.anonymous();
    admin.log_in().await;
    assert_eq!(
        admin.get("/api/admin/stats").await.status(),
        StatusCode::OK,
        "the new session works"
    );

    let answers = std::mem::take(&mut *answers.lock().unwrap());
    eprintln!(
        "while the disk was full: {} deliveries acknowledged, {} refused",
        answers.acknowledged.len(),
        answers.refused.len()
    );
    assert!(
        answers.unexpected.is_empty(),
        "only 200 and 503: {:?}",
        &answers.unexpected[..answers.unexpected.len().min(5)]
    );
    let stored = stored_mids(database_url).await;
    let lost: Vec<&String> = answers.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries are not in the database (readers see every acknowledged commit): {:?}",
        lost.len(),
        answers.acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    // Meta delivers again what was refused.
    for mid in &answers.refused {
        assert_eq!(
            deliver(node, mid).await.0,
            StatusCode::OK,
            "{mid} redelivered"
        );
    }
    let mut sent: BTreeSet<String> = answers.acknowledged;
    sent.extend(answers.refused);
    sent
}

/// A tmpfs of `megabytes`, or `None` (the test then says why it skipped).
fn mount_or_skip(megabytes: u64) -> Option<Tmpfs> {
    Tmpfs::mount(megabytes)
        .map_err(|reason| eprintln!("SKIPPED: {reason}"))
        .ok()
}

#[tokio::test]
async fn a_full_disk_under_sqlite_loses_no_acknowledged_delivery_and_recovers_by_itself() {
    let Some(disk) = mount_or_skip(24) else {
        return;
    };
    let data_dir = disk.path().display().to_string();
    let database_url = format!("sqlite://{data_dir}/pulse.db?mode=ro");
    let node = NodeProcess::start(&[("PULSE_DATA_DIR", &data_dir)]).await;
    let started = Instant::now();
    let sent = full_disk_episode(&node, &disk, &database_url, &[DISK_FULL], || {}).await;
    let stored = stored_mids(&database_url).await;
    let log = node.log();
    let episode = started.elapsed();
    let status = node.terminate().await;
    assert!(status.success(), "exit status {status}");

    // Every delivery once, the file sound, and a restarted node shows them.
    let mut connection = sqlx::AnyConnection::connect(&database_url).await.unwrap();
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let after_restart = stored_mids(&database_url).await;
    for mid in &sent {
        assert!(
            stored.contains(mid) && after_restart.contains(mid),
            "{mid} is stored"
        );
    }
    let restarted = NodeProcess::start(&[("PULSE_DATA_DIR", &data_dir)]).await;
    let dms = restarted.stats().await.dms_received.total;
    assert_eq!(
        dms as usize,
        sent.len() + 21,
        "each delivery counted once (20 before, 1 after)"
    );

    // One warning per 10 s, not one per failed write.
    let warnings = log.matches("storing webhook deliveries failed").count();
    let allowed = episode.as_secs() as usize / 10 + 2;
    assert!(
        (1..=allowed).contains(&warnings),
        "{warnings} warnings in {episode:?}:\n{log}"
    );
}

#[tokio::test]
async fn a_full_disk_under_postgres_loses_no_acknowledged_delivery_and_the_node_recovers_without_a_restart(
) {
    let Some(disk) = mount_or_skip(96) else {
        return;
    };
    let cluster = ClusterOn::start(disk.path());
    let database_url = cluster.url();
    let node = NodeProcess::start(&[("DATABASE_URL", &database_url)]).await;
    let sent = full_disk_episode(
        &node,
        &disk,
        &database_url,
        &[DISK_FULL, UNREACHABLE],
        || {
            if !cluster.is_up() {
                cluster.start_again();
            }
        },
    )
    .await;
    let stored = stored_mids(&database_url).await;
    for mid in &sent {
        assert!(stored.contains(mid), "{mid} is stored:\n{}", cluster.log());
    }
    // Each delivery counted once (the snapshot follows within a push).
    node.wait_for_stats(|snapshot| snapshot.dms_received.total as usize == stored.len())
        .await;
    assert!(node.terminate().await.success());
}

#[tokio::test]
async fn a_node_on_a_full_disk_stops_within_its_drain_time_when_told() {
    let Some(disk) = mount_or_skip(24) else {
        return;
    };
    let data_dir = disk.path().display().to_string();
    let node = NodeProcess::start(&[("PULSE_DATA_DIR", &data_dir)]).await;
    disk.fill();
    let answers = Arc::new(Mutex::new(Answers::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders = send_until(&node.address, stop.clone(), answers.clone());
    eventually(
        Duration::from_secs(20),
        "deliveries are refused",
        &node,
        || {
            let refused = answers.lock().unwrap().refused.len();
            async move { refused >= 20 }
        },
    )
    .await;
    // Refused webhook requests wait to be counted: their last write cannot land.
    let anonymous = node.anonymous();
    for _ in 0..5 {
        let refused = anonymous
            .client
            .post(anonymous.webhook_url())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let told = Instant::now();
    let terminated = tokio::spawn(node.terminate());
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    let status = terminated.await.unwrap();
    let took = told.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
}
