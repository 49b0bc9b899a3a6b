//! Faults injected under load: a node killed with `kill -9` mid-ingestion,
//! its Postgres stopped and started again, frozen, or cut off by a network
//! partition. In each, a delivery answered
//! 200 is never lost, and once Meta delivers again what was not answered 200,
//! every delivery is counted once.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use secrecy::SecretString;
use testkit::{partition::Partition, postgres::ClusterOn};

use crate::{
    helpers::{dm_batch, Node, APP_SECRET},
    node_process::NodeProcess,
    postgres::fresh_database_url,
};

/// What each delivery (by its body) was answered, and how long that took.
type Answers = Arc<Mutex<BTreeMap<String, Vec<(Option<StatusCode>, Duration)>>>>;

/// Sends `body` as Meta does (signed, 20 s timeout); its status, or `None`
/// when the connection failed or timed out.
async fn deliver(client: &reqwest::Client, node: &str, body: &str) -> Option<StatusCode> {
    let signature = pulse::webhook::signature::sign(
        &SecretString::from(APP_SECRET.to_owned()),
        body.as_bytes(),
    );
    client
        .post(format!("{node}/api/webhooks/instagram"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .timeout(Duration::from_secs(20))
        .body(body.to_owned())
        .send()
        .await
        .ok()
        .map(|response| response.status())
}

/// `senders` tasks sending one new delivery after another to `node` until
/// `stop` is set, each answer recorded.
fn send_until(
    node: &str,
    senders: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    answers: Answers,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..senders)
        .map(|sender| {
            let (node, stop, answers) = (node.to_owned(), stop.clone(), answers.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = dm_batch(&[(&format!("fault-{sender}-{i}"), false)]);
                    let started = Instant::now();
                    let status = deliver(&client, &node, &body).await;
                    answers
                        .lock()
                        .unwrap()
                        .entry(body)
                        .or_default()
                        .push((status, started.elapsed()));
                    if status != Some(StatusCode::OK) {
                        // Meta backs off before its next try.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    i += 1;
                }
            })
        })
        .collect()
}

/// Delivers again, as Meta does, every delivery never answered 200 (and,
/// as Meta sometimes does, every tenth one that was), until each is.
async fn redeliver(node: &Node, answers: &Answers) {
    let client = reqwest::Client::new();
    let bodies: Vec<(String, bool)> = answers
        .lock()
        .unwrap()
        .iter()
        .map(|(body, tries)| {
            (
                body.clone(),
                tries.iter().any(|(s, _)| *s == Some(StatusCode::OK)),
            )
        })
        .collect();
    for (i, (body, acknowledged)) in bodies.iter().enumerate() {
        if *acknowledged && i % 10 != 0 {
            continue;
        }
        let status = deliver(&client, &node.address, body).await;
        assert_eq!(status, Some(StatusCode::OK), "a redelivery");
    }
}

/// Stops the senders of [`send_until`] and waits for them.
async fn stop_senders(
    stop: &std::sync::atomic::AtomicBool,
    senders: Vec<tokio::task::JoinHandle<()>>,
) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
}

/// Delivers again what Meta would and checks that every delivery ever sent
/// is counted once.
async fn every_delivery_counted_once(node: &Node, answers: &Answers) {
    redeliver(node, answers).await;
    let distinct = answers.lock().unwrap().len() as i64;
    let total = node
        .wait_for_stats(|snapshot| snapshot.dms_received.total >= distinct)
        .await
        .dms_received
        .total;
    assert_eq!(total, distinct, "every delivery counted once");
}

/// A durable Postgres cluster of its own, in a directory the `postgres`
/// user may write; inside `partition` when one is given.
fn cluster_in(dir: &tempfile::TempDir, partition: Option<&Partition>) -> ClusterOn {
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    match partition {
        Some(partition) => ClusterOn::start_behind(dir.path(), partition),
        None => ClusterOn::start(dir.path()),
    }
}

/// New deliveries, one after another, until `node` answers one with 200
/// (failing past `within`); how long after `since` that was. Each answer is
/// recorded, as Meta would redeliver the others.
async fn taken_again(node: &NodeProcess, answers: &Answers, within: Duration) -> Duration {
    let since = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let body = dm_batch(&[(&format!("again-{}", since.elapsed().as_nanos()), false)]);
        let status = deliver(&client, &node.address, &body).await;
        answers
            .lock()
            .unwrap()
            .entry(body)
            .or_default()
            .push((status, Duration::ZERO));
        if status == Some(StatusCode::OK) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "no delivery taken within {within:?}:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node killed mid-ingestion and started again on the same database:
/// every delivery answered 200 is there, and after Meta delivers again what
/// was not, each delivery is counted once.
async fn a_node_killed_mid_ingestion_loses_nothing_it_acknowledged(env: &[(&str, &str)]) {
    let node = NodeProcess::start(env).await;
    let answers = Answers::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders = send_until(&node.address, 8, stop.clone(), answers.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let data_dir = node.kill_hard();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_senders(&stop, senders).await;
    let acknowledged = answers
        .lock()
        .unwrap()
        .values()
        .filter(|tries| tries.iter().any(|(s, _)| *s == Some(StatusCode::OK)))
        .count() as i64;
    assert!(
        acknowledged > 50,
        "{acknowledged} acknowledged before the kill"
    );

    let started = Instant::now();
    let node = NodeProcess::start_on(data_dir, env).await;
    let restarted_in = started.elapsed();
    assert!(
        restarted_in < Duration::from_secs(10),
        "serving again after {restarted_in:?}"
    );
    let before_redelivery = node.stats().await.dms_received.total;
    assert!(
        before_redelivery >= acknowledged,
        "{before_redelivery} DMs after the restart, {acknowledged} were acknowledged"
    );
    every_delivery_counted_once(&node, &answers).await;
}

#[tokio::test]
async fn on_sqlite_a_node_killed_mid_ingestion_loses_nothing_it_acknowledged() {
    a_node_killed_mid_ingestion_loses_nothing_it_acknowledged(&[]).await;
}

#[tokio::test]
async fn on_postgres_a_node_killed_mid_ingestion_loses_nothing_it_acknowledged() {
    let url = fresh_database_url().await;
    a_node_killed_mid_ingestion_loses_nothing_it_acknowledged(&[("DATABASE_URL", url.as_str())])
        .await;
}

/// Postgres stops under load and comes back: meanwhile every delivery is
/// answered 503 at once (never 200 without a write, never a hang) and
/// `/readyz` says not ready; once it is back the same node takes deliveries
/// again within seconds, without a restart; nothing acknowledged is lost.
#[tokio::test]
async fn postgres_stopped_and_started_under_load_fails_deliveries_fast_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster_in(&dir, None);
    let url = cluster.url();
    let node = NodeProcess::start(&[("DATABASE_URL", url.as_str())]).await;
    let answers = Answers::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders = send_until(&node.address, 4, stop.clone(), answers.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stopped = Instant::now();
    cluster.stop();
    let readiness = node.anonymous();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if readiness.get("/readyz").await.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed ready with Postgres down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let down_for = stopped.elapsed();
    cluster.start_again();
    // The node takes deliveries again by itself.
    let resumed = taken_again(&node, &answers, Duration::from_secs(15)).await;
    stop_senders(&stop, senders).await;
    let answered = answers.lock().unwrap().clone();
    let refused: Vec<Duration> = answered
        .values()
        .flatten()
        .filter(|(status, _)| *status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .map(|(_, took)| *took)
        .collect();
    assert!(
        !refused.is_empty(),
        "deliveries during the outage were refused"
    );
    let slowest = refused.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(2),
        "a refusal took {slowest:?} (Postgres was down {down_for:?})"
    );
    assert!(
        answered
            .values()
            .flatten()
            .all(|(status, _)| status.is_some()),
        "every delivery was answered"
    );
    assert!(
        resumed < Duration::from_secs(2),
        "resumed {resumed:?} after Postgres came back"
    );
    every_delivery_counted_once(&node, &answers).await;
    println!(
        "Postgres down {down_for:?}: {} refusals, the slowest {slowest:?}; deliveries taken again \
         {resumed:?} after it came back",
        refused.len()
    );
}

/// Postgres out of reach without a word (from `cut` until `lift`, 12 s):
/// deliveries are answered 503 well within Meta's 20 s instead of hanging,
/// `/readyz` says not ready, and once it answers again the same node takes
/// deliveries again; nothing acknowledged is lost. `fault` names it.
async fn postgres_out_of_reach_fails_deliveries_in_time_and_loses_none(
    url: &str,
    cut: impl FnOnce(),
    lift: impl FnOnce(),
    fault: &str,
) {
    let node = NodeProcess::start(&[("DATABASE_URL", url)]).await;
    let answers = Answers::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders = send_until(&node.address, 4, stop.clone(), answers.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    cut();
    let cut_at = Instant::now();
    let readiness = node.anonymous();
    let ready_answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let asked = Instant::now();
            let status = readiness.get("/readyz").await.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return asked.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(cut_at.elapsed())).await;
    lift();
    let resumed = taken_again(&node, &answers, Duration::from_secs(20)).await;
    stop_senders(&stop, senders).await;
    let answered = answers.lock().unwrap().clone();
    let slowest = answered
        .values()
        .flatten()
        .map(|(_, took)| *took)
        .max()
        .unwrap();
    println!(
        "Postgres {fault} 12 s: /readyz 503 after {ready_answer:?}; slowest answer {slowest:?}; \
         deliveries taken again {resumed:?} after it answered; {} deliveries",
        answered.len()
    );
    assert!(
        ready_answer.is_ok(),
        "/readyz stayed ready with Postgres {fault}"
    );
    assert!(
        answered
            .values()
            .flatten()
            .all(|(status, _)| status.is_some()),
        "every delivery was answered within Meta's 20 s"
    );
    assert!(
        slowest < Duration::from_secs(10),
        "an answer took {slowest:?}"
    );
    every_delivery_counted_once(&node, &answers).await;
}

/// Postgres stops answering without closing anything: frozen (SIGSTOP), so
/// the kernel still takes its connections but nothing answers on them.
#[tokio::test]
async fn a_postgres_that_stops_answering_fails_deliveries_in_time_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster_in(&dir, None);
    postgres_out_of_reach_fails_deliveries_in_time_and_loses_none(
        &cluster.url(),
        || cluster.freeze(),
        || cluster.thaw(),
        "frozen",
    )
    .await;
}

/// A network partition between the node and Postgres (Postgres in a network
/// namespace of its own, every packet between them dropped): not even a new
/// connection is answered.
#[tokio::test]
async fn a_partition_from_postgres_fails_deliveries_in_time_and_loses_none() {
    let Some(partition) = partition_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster_in(&dir, Some(&partition));
    postgres_out_of_reach_fails_deliveries_in_time_and_loses_none(
        &cluster.url(),
        || partition.cut(),
        || partition.heal(),
        "partitioned",
    )
    .await;
}

/// A network partition of a test's own, or `None` (the test then says why
/// it skipped).
pub fn partition_or_skip() -> Option<Partition> {
    Partition::create()
        .map_err(|reason| eprintln!("SKIPPED: {reason}"))
        .ok()
}
