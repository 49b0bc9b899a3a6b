//! Two nodes on one Postgres and one Redis (private servers from `testkit`):
//! update latency for clients on the node that took the webhook and on the
//! other one, and Redis commands per published update.

use std::time::Duration;

use anyhow::Result;
use testkit::{postgres::Cluster, redis::RedisServer};
use tokio::sync::watch;

use crate::{
    fan_out::{
        check, collect, connect_clients, latency, send_events, wait_for_version, FanOut, Latency,
    },
    server::Server,
};

/// What the two-node run measured.
pub struct ScaleOutResult {
    pub scenario: FanOut,
    /// Clients on the node that received the webhooks.
    pub local: Latency,
    /// Clients on the other node (through Redis Pub/Sub).
    pub remote: Latency,
    /// Redis commands the nodes sent, per snapshot published through Redis.
    pub commands_per_update: f64,
    pub updates: u64,
}

/// Private Postgres and Redis for the Postgres and two-node runs.
pub struct Backends {
    pub postgres: Cluster,
    pub redis: RedisServer,
}

impl Backends {
    pub fn start() -> Backends {
        Backends {
            postgres: Cluster::start_durable(),
            redis: RedisServer::start(),
        }
    }
}

/// Half the clients on each node; every webhook goes to the first node.
pub async fn run(
    binary: &std::path::Path,
    backends: &Backends,
    scenario: FanOut,
) -> Result<ScaleOutResult> {
    let env = vec![
        ("DATABASE_URL", backends.postgres.fresh_database_url().await),
        ("REDIS_URL", backends.redis.url()),
    ];
    let first = Server::start(binary, &env).await?;
    let second = Server::start(binary, &env).await?;
    let (cookie_first, cookie_second) = (first.log_in().await?, second.log_in().await?);
    let (stop, stopped) = watch::channel(false);
    let half = scenario.clients / 2;
    let on_first = connect_clients(&first, &cookie_first, half, &stopped).await?;
    let on_second = connect_clients(&second, &cookie_second, half, &stopped).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = backends.redis.command_calls();
    let acks = send_events(&first, scenario).await?.acks;
    let final_version = acks.iter().map(|(version, _)| *version).max().unwrap_or(0);
    let snapshot_first = wait_for_version(&first, &cookie_first, final_version).await?;
    let snapshot_second = wait_for_version(&second, &cookie_second, final_version).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = backends.redis.command_calls();
    stop.send(true)?;
    let records_first = collect(on_first).await?;
    let records_second = collect(on_second).await?;
    check(&records_first, final_version, &snapshot_first, acks.len())?;
    check(&records_second, final_version, &snapshot_second, acks.len())?;

    let delta =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    let commands: u64 = after.keys().map(|name| delta(name)).sum();
    let updates = delta("publish");
    Ok(ScaleOutResult {
        scenario,
        local: latency(&acks, &records_first),
        remote: latency(&acks, &records_second),
        commands_per_update: commands as f64 / updates.max(1) as f64,
        updates,
    })
}
