//! Durable ingestion: signed DM deliveries acknowledged per second (each 200
//! comes after the commit that holds its events).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Result;
use sqlx::Connection;

use crate::{
    cpu,
    database_time::{self, DatabaseTime},
    server::Server,
    webhooks,
};

/// Concurrent senders of single-event deliveries.
pub const SINGLE_SENDERS: usize = 64;
/// Concurrent senders of 100-event batches.
pub const BATCH_SENDERS: usize = 8;
/// Events per batch.
pub const BATCH: usize = 100;

/// The two shapes of load measured.
#[derive(Clone, Copy, Debug)]
pub enum Deliveries {
    /// One DM per delivery, from [`SINGLE_SENDERS`] senders.
    Single,
    /// [`BATCH`] DMs per delivery, from [`BATCH_SENDERS`] senders.
    Batches,
}

impl Deliveries {
    fn events(self) -> usize {
        match self {
            Deliveries::Single => 1,
            Deliveries::Batches => BATCH,
        }
    }

    fn senders(self) -> usize {
        match self {
            Deliveries::Single => SINGLE_SENDERS,
            Deliveries::Batches => BATCH_SENDERS,
        }
    }
}

/// What a run of senders got acknowledged.
pub struct Ingestion {
    pub requests_per_second: f64,
    pub events_per_second: f64,
    /// Deliveries per transaction (group commit), from the servers' metrics.
    pub deliveries_per_commit: f64,
    /// On Postgres: how often a writer was seen waiting for a lock.
    pub lock_waits: Option<LockWaits>,
    /// On Postgres: the database's execution time per event stored.
    pub database_time: Option<DatabaseTime>,
    /// Where the machine's CPU went, per event stored.
    pub cpu: cpu::PerEvent,
}

/// [`measure`] on a server started with `env` and a fresh data directory.
pub async fn on_new_server(
    binary: &std::path::Path,
    env: &[(&str, String)],
    deliveries: Deliveries,
    seconds: u64,
) -> Result<Ingestion> {
    let server = Server::start(binary, env).await?;
    measure(&[&server], database_of(env), deliveries, seconds).await
}

/// [`measure`] on two servers started with `env` (one Postgres database),
/// the senders split between them.
pub async fn on_two_nodes(
    binary: &std::path::Path,
    env: &[(&str, String)],
    deliveries: Deliveries,
    seconds: u64,
) -> Result<Ingestion> {
    let first = Server::start(binary, env).await?;
    let second = Server::start(binary, env).await?;
    measure(&[&first, &second], database_of(env), deliveries, seconds).await
}

/// The Postgres database `env` names, if any.
fn database_of<'a>(env: &'a [(&str, String)]) -> Option<&'a str> {
    env.iter()
        .find(|(name, value)| *name == "DATABASE_URL" && value.starts_with("postgres"))
        .map(|(_, url)| url.as_str())
}

/// `deliveries` as fast as their concurrent senders get them acknowledged by
/// `servers` (senders spread over them in turn), for `seconds`; on Postgres
/// (`database`) the lock waits are sampled meanwhile.
pub async fn measure(
    servers: &[&Server],
    database: Option<&str>,
    deliveries: Deliveries,
    seconds: u64,
) -> Result<Ingestion> {
    let batch = deliveries.events();
    let http = reqwest::Client::new();
    if let Some(url) = database {
        database_time::reset(url).await?;
    }
    let pids: Vec<u32> = servers.iter().map(|server| server.pid()).collect();
    let cpu_before = cpu::Sample::take(&pids)?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let sampler = database.map(|url| tokio::spawn(sample_lock_waits(url.to_string(), until)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..deliveries.senders() {
        let (http, base) = (
            http.clone(),
            servers[sender % servers.len()].base_url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut requests = 0u64;
            while Instant::now() < until {
                webhooks::post(&http, &base, webhooks::dm_batch(batch)).await?;
                requests += 1;
            }
            anyhow::Ok(requests)
        }));
    }
    let mut requests = 0;
    for task in tasks {
        requests += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu::Sample::take(&pids)?;
    let lock_waits = match sampler {
        Some(sampler) => Some(sampler.await??),
        None => None,
    };
    let stored = requests * batch as u64;
    let database_time = match database {
        Some(url) => Some(database_time::read(url, stored).await?),
        None => None,
    };
    let (mut accepted, mut commits) = (0.0, 0.0);
    for server in servers {
        let cookie = server.log_in().await?;
        accepted += server
            .metric(&cookie, "pulse_webhooks_accepted_total")
            .await?;
        commits += server.metric(&cookie, "pulse_store_commits_total").await?;
    }
    Ok(Ingestion {
        requests_per_second: requests as f64 / elapsed,
        events_per_second: stored as f64 / elapsed,
        deliveries_per_commit: accepted / commits.max(1.0),
        lock_waits,
        database_time,
        cpu: cpu_before.per_event(&cpu_after, stored),
    })
}

/// How often, sampled every few milliseconds, a backend of the database
/// waited for a row, transaction or advisory lock, and in which statement
/// (waits to extend a table's file are listed but not counted as waits).
#[derive(Default)]
pub struct LockWaits {
    pub samples: u64,
    /// Samples in which at least one backend waited.
    pub waited: u64,
    /// Waiting backends seen, per statement ("INSERT INTO account_days", …).
    pub by_statement: BTreeMap<String, u64>,
}

impl std::fmt::Display for LockWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} samples waited", self.waited, self.samples)?;
        if !self.by_statement.is_empty() {
            let list: Vec<String> = self
                .by_statement
                .iter()
                .map(|(statement, count)| format!("{statement} {count}"))
                .collect();
            write!(f, " ({})", list.join(", "))?;
        }
        Ok(())
    }
}

/// Samples `pg_stat_activity` for backends of the database at `url` waiting
/// for a lock (`wait_event_type = 'Lock'`: row, transaction and advisory
/// locks alike) until `until`.
async fn sample_lock_waits(url: String, until: Instant) -> Result<LockWaits> {
    let mut connection = sqlx::PgConnection::connect(&url).await?;
    let mut waits = LockWaits::default();
    while Instant::now() < until {
        let waiting: Vec<(String, String)> = sqlx::query_as(
            "SELECT wait_event, query FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_all(&mut connection)
        .await?;
        waits.samples += 1;
        // Waiting to extend a table's file is not a wait for a row.
        if waiting.iter().any(|(event, _)| event != "extend") {
            waits.waited += 1;
        }
        for (event, query) in waiting {
            let label = match event.as_str() {
                "extend" => "extending a table's file".to_string(),
                _ => statement_of(&query),
            };
            *waits.by_statement.entry(label).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(waits)
}

/// The first words of `query` that name what it writes or locks.
fn statement_of(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().take(3).collect();
    match words.as_slice() {
        ["INSERT", "INTO", table] | ["UPDATE", table, ..] | ["DELETE", "FROM", table] => {
            format!("{} {table}", words[0])
        }
        ["SELECT", what, ..] if what.starts_with("pg_advisory") => "advisory lock".to_string(),
        _ => words.join(" "),
    }
}
