//! Several nodes, one Postgres, one Redis: updates cross nodes through
//! Pub/Sub, and the fallbacks take over and heal when Redis fails.

use std::time::{Duration, Instant};

use app::model::{BusMode, Counts, Engagement, StatsSnapshot};
use pulse::store::Store;
use testkit::redis::RedisServer;

use crate::{
    helpers::{dm_batch, spawn_app_with, Node, SseClient},
    node_process::NodeProcess,
    postgres::fresh_database_url,
};

/// Redis, a fresh Postgres database, and two `pulse` processes on both.
struct Cluster {
    redis: RedisServer,
    database_url: String,
    a: NodeProcess,
    b: NodeProcess,
}

async fn cluster(extra_env: &[(&str, &str)]) -> Cluster {
    cluster_on(RedisServer::start(), extra_env).await
}

/// Two `pulse` processes on `redis` and a fresh Postgres database.
async fn cluster_on(redis: RedisServer, extra_env: &[(&str, &str)]) -> Cluster {
    let database_url = fresh_database_url().await;
    let redis_url = redis.url();
    let mut env = vec![
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
    ];
    env.extend_from_slice(extra_env);
    // One after the other, so the migrations run once.
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;
    Cluster {
        redis,
        database_url,
        a,
        b,
    }
}

impl Cluster {
    /// Waits until both nodes receive updates through Pub/Sub (at most 10 s).
    async fn both_on_pubsub(&self) {
        for node in [&self.a, &self.b] {
            node.wait_for_mode("pubsub", Duration::from_secs(10)).await;
        }
    }

    async fn stored_events(&self) -> i64 {
        let store = Store::open(&self.database_url)
            .await
            .expect("open the store");
        store.event_count().await.expect("count events")
    }
}

/// What two nodes must agree on once they have seen the same version.
fn counted(s: &StatsSnapshot) -> (i64, Counts, Counts, i64, i64, Engagement) {
    (
        s.version,
        s.dms_received,
        s.dms_sent,
        s.accounts,
        s.active_conversations_24h,
        s.engagement,
    )
}

async fn post_dm(node: &Node, mid: &str) {
    let response = node.post_signed(dm_batch(&[(mid, false)])).await;
    assert_eq!(response.status(), 200, "webhook {mid} acknowledged");
}

/// Reads `stream` until a snapshot satisfies `done`, checking that versions
/// never go backwards on the way; fails after `timeout`.
async fn read_until(
    stream: &mut SseClient,
    timeout: Duration,
    mut last_version: i64,
    done: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = stream
            .next_event(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
            .unwrap_or_else(|| panic!("no snapshot reached the expected state within {timeout:?}"));
        let snapshot = event.snapshot();
        assert!(
            snapshot.version >= last_version,
            "version went back from {last_version} to {}",
            snapshot.version
        );
        last_version = snapshot.version;
        if done(&snapshot) {
            return snapshot;
        }
    }
}

#[tokio::test]
async fn a_webhook_on_one_node_reaches_clients_on_the_other_within_a_second() {
    let cluster = cluster(&[]).await;
    let (a, b) = (&cluster.a, &cluster.b);
    a.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    b.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    let mut on_a = a.open_live_stream().await;
    let mut on_b = b.open_live_stream().await;

    let mut version_on_b = 0;
    for i in 1..=5 {
        post_dm(a, &format!("cross-{i}")).await;
        let acknowledged = Instant::now();
        let seen = read_until(&mut on_b, Duration::from_secs(1), version_on_b, |s| {
            s.dms_received.total == i
        })
        .await;
        assert!(acknowledged.elapsed() < Duration::from_secs(1));
        assert_eq!(seen.delivery.mode, BusMode::Pubsub);
        version_on_b = seen.version;
    }
    let on_a_final = read_until(&mut on_a, Duration::from_secs(1), 0, |s| {
        s.dms_received.total == 5
    })
    .await;
    let on_b_final = b.stats().await;
    assert_eq!(counted(&on_a_final), counted(&on_b_final));
    assert_eq!(counted(&a.stats().await), counted(&on_b_final));
}

#[tokio::test]
async fn the_same_webhook_delivered_to_both_nodes_at_once_is_counted_once() {
    let cluster = cluster(&[]).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let body = dm_batch(&[("twice-1", false), ("twice-2", true), ("twice-3", false)]);
    let (on_a, on_b) = tokio::join!(a.post_signed(body.clone()), b.post_signed(body));
    assert_eq!(on_a.status(), 200);
    assert_eq!(on_b.status(), 200);

    assert_eq!(cluster.stored_events().await, 3);
    for node in [a, b] {
        let snapshot = node
            .wait_for_stats(|s| s.dms_received.total + s.dms_sent.total >= 3)
            .await;
        assert_eq!(
            (snapshot.dms_received.total, snapshot.dms_sent.total),
            (2, 1)
        );
    }
}

#[tokio::test]
async fn when_redis_dies_nodes_poll_the_database_and_return_to_pubsub_when_it_is_back() {
    let mut cluster = cluster(&[("STATS_DB_POLL_S", "1")]).await;
    cluster.both_on_pubsub().await;
    let mut on_a = cluster.a.open_live_stream().await;

    cluster.redis.kill();
    let degraded = read_until(&mut on_a, Duration::from_secs(10), 0, |s| {
        s.delivery.mode == BusMode::DbPoll
    })
    .await;
    assert_eq!(degraded.delivery.poll_every_s, 1);

    // Acknowledged on B while Redis is down; A's dashboards get them by polling.
    for i in 1..=4 {
        post_dm(&cluster.b, &format!("outage-{i}")).await;
    }
    let polled = read_until(&mut on_a, Duration::from_secs(10), degraded.version, |s| {
        s.dms_received.total == 4
    })
    .await;
    assert_eq!(polled.delivery.mode, BusMode::DbPoll);

    cluster.redis.restart();
    let healed = read_until(&mut on_a, Duration::from_secs(10), polled.version, |s| {
        s.delivery.mode == BusMode::Pubsub
    })
    .await;
    cluster
        .b
        .wait_for_mode("pubsub", Duration::from_secs(10))
        .await;

    // Push across nodes works again.
    post_dm(&cluster.b, "after-outage").await;
    let pushed = read_until(&mut on_a, Duration::from_secs(1), healed.version, |s| {
        s.dms_received.total == 5
    })
    .await;
    assert_eq!(pushed.delivery.mode, BusMode::Pubsub);
    assert_eq!(
        cluster.stored_events().await,
        5,
        "each acknowledged event once"
    );
    assert_eq!(cluster.b.stats().await.dms_received.total, 5);

    let log = cluster.a.log();
    assert_eq!(
        log.matches("Redis unavailable, polling the database every 1 s")
            .count(),
        1,
        "one line per transition:\n{log}"
    );
    assert_eq!(
        log.matches("SSE using Redis Pub/Sub for real-time updates")
            .count(),
        2,
        "{log}"
    );
}

/// A network partition between the nodes and Redis (Redis in a network
/// namespace of its own, every packet between them dropped, so nothing fails
/// fast): deliveries are still answered at once, the dashboards switch to
/// polling the database and keep updating, and go back to Pub/Sub once the
/// partition heals.
#[tokio::test]
async fn behind_a_partition_from_redis_nodes_poll_the_database_and_return_to_pubsub() {
    let Some(partition) = crate::faults::partition_or_skip() else {
        return;
    };
    let redis = RedisServer::start_behind(&partition);
    let cluster = cluster_on(redis, &[("STATS_DB_POLL_S", "1")]).await;
    cluster.both_on_pubsub().await;
    let mut on_a = cluster.a.open_live_stream().await;

    partition.cut();
    let cut = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 1..=4 {
        let sent = Instant::now();
        post_dm(&cluster.b, &format!("partitioned-{i}")).await;
        slowest = slowest.max(sent.elapsed());
    }
    let polled = read_until(&mut on_a, Duration::from_secs(20), 0, |s| {
        s.delivery.mode == BusMode::DbPoll && s.dms_received.total == 4
    })
    .await;
    let updated_after = cut.elapsed();
    assert!(
        slowest < Duration::from_secs(1),
        "a delivery took {slowest:?} with Redis cut off"
    );
    // At most a heartbeat (3 s), its PING's and a command's timeouts (2 s
    // each) and the first database poll.
    assert!(
        updated_after < Duration::from_secs(12),
        "the other node's dashboard showed the deliveries {updated_after:?} after the cut"
    );

    partition.heal();
    let healed_at = Instant::now();
    let healed = read_until(&mut on_a, Duration::from_secs(30), polled.version, |s| {
        s.delivery.mode == BusMode::Pubsub
    })
    .await;
    let back_after = healed_at.elapsed();
    cluster
        .b
        .wait_for_mode("pubsub", Duration::from_secs(30))
        .await;
    post_dm(&cluster.b, "after-partition").await;
    let pushed = read_until(&mut on_a, Duration::from_secs(1), healed.version, |s| {
        s.dms_received.total == 5
    })
    .await;
    assert_eq!(pushed.delivery.mode, BusMode::Pubsub);
    assert_eq!(
        cluster.stored_events().await,
        5,
        "each acknowledged event once"
    );
    println!(
        "Redis cut off: deliveries answered within {slowest:?}; the other node's dashboard \
         polling and showing them {updated_after:?} after the cut; Pub/Sub again {back_after:?} \
         after the partition healed"
    );
}

#[tokio::test]
async fn redis_commands_per_update_do_not_grow_with_connected_clients() {
    let redis = RedisServer::start();
    let app = spawn_app_with(|config| {
        config.redis_url = Some(redis.url().into());
        config.stats_safety_poll_s = 3_600;
        // 200 dashboards of one session, past the default cap.
        config.max_streams_per_session = 1_000;
    })
    .await;
    assert_eq!(app.state.publisher.bus().delivery().mode, BusMode::Pubsub);
    // The refresh that follows subscribing has been shared before we count.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !redis.command_calls().contains_key("publish") {
        assert!(
            Instant::now() < deadline,
            "the first refresh was never published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut streams = vec![app.open_live_stream().await];
    let mut sent = 0;
    let mut calls_for_three_updates = Vec::new();
    for clients in [1, 200] {
        while streams.len() < clients {
            streams.push(app.open_live_stream().await);
        }
        let before = redis.command_calls();
        for _ in 0..3 {
            sent += 1;
            post_dm(&app, &format!("counted-{sent}")).await;
            for stream in &mut streams {
                read_until(stream, Duration::from_secs(5), 0, |s| {
                    s.dms_received.total == sent
                })
                .await;
            }
        }
        let after = redis.command_calls();
        let delta: Vec<(String, u64)> = after
            .iter()
            .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
            .filter(|(_, calls)| *calls > 0)
            .collect();
        calls_for_three_updates.push(delta);
    }
    let expected = vec![("publish".to_string(), 3), ("set".to_string(), 3)];
    assert_eq!(calls_for_three_updates, vec![expected.clone(), expected]);
}

#[tokio::test]
async fn with_pubsub_switched_off_other_nodes_updates_arrive_by_polling_the_cache() {
    let redis = RedisServer::start();
    let database_url = fresh_database_url().await;
    let writer = spawn_app_with(|config| {
        config.store.database_url = Some(database_url.clone().into());
        config.redis_url = Some(redis.url().into());
    })
    .await;
    let poller = spawn_app_with(|config| {
        config.store.database_url = Some(database_url.clone().into());
        config.redis_url = Some(redis.url().into());
        config.stats_pubsub = pulse::config::Switch::Off;
        config.stats_safety_poll_s = 1;
    })
    .await;
    let mut on_poller = poller.open_live_stream().await;
    assert_eq!(
        poller.state.publisher.bus().delivery().mode,
        BusMode::CachePoll
    );

    post_dm(&writer, "via-cache").await;
    let seen = read_until(&mut on_poller, Duration::from_secs(5), 0, |s| {
        s.dms_received.total == 1
    })
    .await;
    assert_eq!(seen.delivery.mode, BusMode::CachePoll);
    assert_eq!(seen.delivery.poll_every_s, 1);
    assert_eq!(
        redis.command_calls().get("subscribe"),
        Some(&1),
        "only the writer subscribes"
    );

    // The poller's own webhooks still reach its own dashboards at once.
    post_dm(&poller, "local").await;
    read_until(
        &mut on_poller,
        Duration::from_millis(500),
        seen.version,
        |s| s.dms_received.total == 2,
    )
    .await;
}

#[tokio::test]
async fn a_refused_subscription_polls_the_cache_until_subscribing_is_allowed() {
    let redis = RedisServer::start();
    let password = "s3cret-redis-password";
    redis.run(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("pulse")
            .arg("on")
            .arg(format!(">{password}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .arg("-subscribe"),
    );
    let url = format!(
        "redis://pulse:{password}@127.0.0.1:{}",
        redis.url().rsplit(':').next().unwrap()
    );
    let node =
        NodeProcess::start(&[("REDIS_URL", url.as_str()), ("STATS_SAFETY_POLL_S", "1")]).await;
    node.wait_for_mode("cache_poll", Duration::from_secs(5))
        .await;

    redis.run(
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg("pulse")
            .arg("+subscribe"),
    );
    node.wait_for_mode("pubsub", Duration::from_secs(10)).await;

    let log = node.log();
    assert!(
        log.contains("Redis Pub/Sub unavailable, polling the Redis cache every 1 s"),
        "{log}"
    );
    assert!(
        log.contains("no permissions to run the 'subscribe' command"),
        "the reason is logged:\n{log}"
    );
    assert!(
        !log.contains(password),
        "the Redis password leaked into the log:\n{log}"
    );
}

/// The Redis user the README recommends: its one key and its one channel,
/// and only the commands Pulse sends.
fn restricted_redis_user(redis: &RedisServer, password: &str) -> String {
    let mut command = redis::cmd("ACL");
    command
        .arg("SETUSER")
        .arg("pulse")
        .arg("reset")
        .arg("on")
        .arg(format!(">{password}"))
        .arg("~admin:stats")
        .arg("&admin:stats:updated");
    for allowed in REDIS_USER_COMMANDS.split_whitespace() {
        command.arg(allowed);
    }
    redis.run(&command);
    format!(
        "redis://pulse:{password}@127.0.0.1:{}",
        redis.url().rsplit(':').next().unwrap()
    )
}

/// The command rules of the README's `ACL SETUSER` command, word for word.
const REDIS_USER_COMMANDS: &str = "-@all +get +set +publish +subscribe +unsubscribe +ping +hello";

#[tokio::test]
async fn a_node_works_with_a_redis_user_restricted_to_its_key_and_channel() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    assert!(
        readme.contains(&format!(
            "'~admin:stats' '&admin:stats:updated' \\\n  {REDIS_USER_COMMANDS}\n"
        )),
        "the README's ACL line and this test's differ"
    );
    let redis = RedisServer::start();
    let url = restricted_redis_user(&redis, "restricted-password");
    let node = NodeProcess::start(&[("REDIS_URL", url.as_str())]).await;
    node.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    post_dm(&node, "restricted-1").await;
    let shared = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let cached: Option<String> =
            redis::from_redis_value(redis.run(redis::cmd("GET").arg("admin:stats"))).ok();
        if cached.is_some_and(|json| json.contains("\"total\":1")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < shared,
            "the snapshot never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.bus_mode().await, "pubsub", "{}", node.log());
    assert!(!node.log().contains("NOPERM"), "{}", node.log());
}

#[tokio::test]
async fn snapshots_no_node_sealed_cannot_freeze_the_dashboards() {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let node = NodeProcess::start(&[("REDIS_URL", redis_url.as_str())]).await;
    node.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    let mut stream = node.open_live_stream().await;

    // Snapshots ratcheting ahead 9,999 versions at a time, bare and with a
    // made-up seal, on the channel and in the cache.
    let mut stray = node.stats().await;
    for step in 1..=5 {
        stray.version += 9_999;
        stray.generated_at_ms += 1;
        stray.dms_received.total = 999_999;
        let json = serde_json::to_string(&stray).unwrap();
        let forged = format!("v1:{}:{json}", "ab".repeat(32));
        for payload in [&json, &forged] {
            redis.run(
                redis::cmd("PUBLISH")
                    .arg("admin:stats:updated")
                    .arg(payload),
            );
        }
        redis.run(redis::cmd("SET").arg("admin:stats").arg(&forged));
        tokio::time::sleep(Duration::from_millis(20 * step)).await;
    }
    for n in 1..=5 {
        post_dm(&node, &format!("after-the-stray-{n}")).await;
    }
    let seen = read_until(&mut stream, Duration::from_secs(3), 0, |s| {
        s.dms_received.total == 5
    })
    .await;
    assert!(seen.version < 9_999, "the real versions: {}", seen.version);
    let shown = node.stats().await;
    assert_eq!(
        shown.dms_received.total, 5,
        "the node shows the real figures"
    );
    let log = node.log();
    assert!(
        log.contains("that no Pulse node on this database sealed"),
        "{log}"
    );
}
