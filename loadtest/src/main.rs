//! `pulse-loadtest`: starts the release `pulse` server, connects many SSE
//! clients, sends signed webhooks, and prints what it measured.
//!
//! `--quick` (run by `make test`) checks that the harness itself works:
//! every client got the final snapshot and the counts match the webhooks
//! sent; it asserts no speed. The full run (`make bench`) also writes its
//! table to `BENCHMARKS.md`. Everything targets loopback and is bounded in
//! time and count.

mod accounts_cost;
mod cpu;
mod database_time;
mod hostile;
mod hydration;
mod ingestion;
mod reference;
mod scale_out;
mod server;
mod snapshot_cost;
mod sse_client;
mod webhooks;

use std::{
    fmt::Write as _,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::sync::{watch, Semaphore};

use ingestion::{Deliveries, Ingestion, BATCH, BATCH_SENDERS, SINGLE_SENDERS};
use server::Server;
use sse_client::ClientRecord;

/// Load harness for the Pulse server.
#[derive(Parser, Clone)]
#[command(version, about)]
struct Args {
    /// The server binary (a release build).
    #[arg(long, default_value = "target/release/pulse")]
    server: PathBuf,
    /// Small, quick run that checks the harness works (asserts no speed).
    #[arg(long)]
    quick: bool,
    /// Write the results table to this file (the full run writes BENCHMARKS.md).
    #[arg(long, conflicts_with = "only")]
    write: Option<PathBuf>,
    /// Run only this part (to rerun one figure while working on it).
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// Writers per Postgres node (the server's PULSE_STORE_WRITERS; its
    /// default when absent), to compare writer counts.
    #[arg(long)]
    postgres_writers: Option<u32>,
}

/// The parts of a run, in the order they run.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Part {
    FanOut,
    Ingestion,
    ScaleOut,
    Snapshot,
    Accounts,
    Browser,
    Hostile,
}

impl Args {
    fn runs(&self, part: Part) -> bool {
        self.only.is_none_or(|only| only == part)
    }
}

/// One fan-out scenario: N clients, events at a fixed rate.
#[derive(Clone, Copy)]
pub(crate) struct FanOut {
    clients: usize,
    events_per_second: u32,
    seconds: u64,
}

/// Latency figures in milliseconds.
pub(crate) struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    samples: usize,
}

/// How the webhooks of a fan-out scenario were acknowledged.
struct Acknowledgements {
    planned: u64,
    acknowledged: u64,
    seconds: u64,
    p50_ms: f64,
    p99_ms: f64,
}

struct FanOutResult {
    scenario: FanOut,
    latency: Latency,
    acknowledged: usize,
    acknowledgements: Acknowledgements,
    rss_idle_kib: u64,
    rss_connected_kib: u64,
    /// Server CPU seconds from the first webhook to the last client's final snapshot.
    server_cpu_seconds: f64,
    /// Snapshot frames the clients received in that time.
    frames: usize,
    bytes_per_update: f64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(error) = run(args).await {
        eprintln!("pulse-loadtest: {error:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<()> {
    let fd_limit = testkit::raise_open_file_limit();
    let started = Instant::now();
    let (fan_outs, ingest_seconds) = if args.quick {
        (
            vec![FanOut {
                clients: 500,
                events_per_second: 20,
                seconds: 5,
            }],
            2,
        )
    } else {
        (
            vec![
                FanOut {
                    clients: 100,
                    events_per_second: 10,
                    seconds: 10,
                },
                FanOut {
                    clients: 1_000,
                    events_per_second: 100,
                    seconds: 10,
                },
                FanOut {
                    clients: 10_000,
                    events_per_second: 1_000,
                    seconds: 10,
                },
            ],
            10,
        )
    };
    // Each process (harness, server) holds one socket per client.
    let needed = fan_outs.iter().map(|f| f.clients).max().unwrap_or(0) as u64 + 1_000;
    if fd_limit < needed {
        bail!("the open-file limit is {fd_limit}; this run needs about {needed} (raise the hard limit)");
    }

    let mut results = Vec::new();
    for scenario in fan_outs.iter().filter(|_| args.runs(Part::FanOut)) {
        eprintln!(
            "fan-out: {} clients, {} events/s for {} s …",
            scenario.clients, scenario.events_per_second, scenario.seconds
        );
        results.push(fan_out(&args, *scenario).await?);
    }
    let mut ingestion = Vec::new();
    if args.runs(Part::Ingestion) {
        eprintln!(
            "ingestion (SQLite): single-event POSTs, then 100-event batches, {ingest_seconds} s each …"
        );
        let scratch = tempfile::tempdir()?;
        ingestion.push(EngineIngestion {
            engine: "SQLite, synchronous=FULL",
            single: ingestion::on_new_server(&args.server, &[], Deliveries::Single, ingest_seconds)
                .await?,
            batches: ingestion::on_new_server(&args.server, &[], Deliveries::Batches, ingest_seconds)
                .await?,
            reference: (!args.quick)
                .then_some(reference::sqlite(scratch.path()).await?),
            reference_method: "one transaction of prepared 100-row INSERTs into an empty file with Pulse's schema, WAL, synchronous=FULL",
            two_nodes: None,
        });
    }

    let mut scaled = None;
    let needs_backends = args.runs(Part::Ingestion) || args.runs(Part::ScaleOut);
    if !args.quick && needs_backends {
        eprintln!("starting a private Postgres and Redis …");
        let backends = scale_out::Backends::start();
        if args.runs(Part::Ingestion) {
            let fresh = || async {
                let mut env = vec![("DATABASE_URL", backends.postgres.fresh_database_url().await)];
                if let Some(writers) = args.postgres_writers {
                    env.push(("PULSE_STORE_WRITERS", writers.to_string()));
                }
                env
            };
            // Two nodes share one node's writers (one each, unless told), as
            // README advises for nodes sharing a database host: the row
            // compares the same database work split across two nodes.
            let two_node_writers = args.postgres_writers.unwrap_or(1);
            let two_node_env = || async {
                vec![
                    ("DATABASE_URL", backends.postgres.fresh_database_url().await),
                    ("PULSE_STORE_WRITERS", two_node_writers.to_string()),
                ]
            };
            eprintln!("ingestion (Postgres): single-event POSTs, then 100-event batches, {ingest_seconds} s each …");
            let single = ingestion::on_new_server(
                &args.server,
                &fresh().await,
                Deliveries::Single,
                ingest_seconds,
            )
            .await?;
            let batches = ingestion::on_new_server(
                &args.server,
                &fresh().await,
                Deliveries::Batches,
                ingest_seconds,
            )
            .await?;
            let reference =
                reference::postgres(&backends.postgres.fresh_database_url().await).await?;
            ingestion.push(EngineIngestion {
                engine: "Postgres, default commit",
                single,
                batches,
                reference: Some(reference),
                reference_method:
                    "COPY of 5,000 rows per statement into an empty database with Pulse's schema",
                two_nodes: Some(TwoNodes {
                    writers_per_node: two_node_writers,
                    ingestion: ingestion::on_two_nodes(
                        &args.server,
                        &two_node_env().await,
                        Deliveries::Single,
                        ingest_seconds,
                    )
                    .await?,
                }),
            });
        }
        if args.runs(Part::ScaleOut) {
            let scenario = FanOut {
                clients: 1_000,
                events_per_second: 100,
                seconds: 10,
            };
            eprintln!(
                "two nodes via Redis: {} clients, {} events/s to one node …",
                scenario.clients, scenario.events_per_second
            );
            scaled = Some(scale_out::run(&args.server, &backends, scenario).await?);
        }
    }
    let snapshot_sizes: &[u64] = if args.quick {
        &[10_000]
    } else {
        &[10_000, 1_000_000, 10_000_000]
    };
    let mut snapshot_costs = Vec::new();
    if args.runs(Part::Snapshot) {
        eprintln!("snapshot cost at {snapshot_sizes:?} stored events …");
        snapshot_costs = snapshot_cost::run(&args.server, snapshot_sizes).await?;
    }
    let mut accounts_costs = Vec::new();
    if args.runs(Part::Accounts) {
        let accounts = if args.quick { 1_000 } else { 100_000 };
        eprintln!("accounts page cost with {accounts} business accounts (SQLite) …");
        accounts_costs.push(
            accounts_cost::run(&args.server, accounts, &accounts_cost::Database::Sqlite).await?,
        );
        if !args.quick {
            eprintln!("accounts page cost with {accounts} business accounts (Postgres) …");
            let backends = scale_out::Backends::start();
            let database =
                accounts_cost::Database::Postgres(backends.postgres.fresh_database_url().await);
            accounts_costs.push(accounts_cost::run(&args.server, accounts, &database).await?);
        }
    }
    let mut browser = None;
    if args.runs(Part::Browser) {
        let loads = if args.quick { 2 } else { 10 };
        eprintln!("dashboard hydration in headless Chromium, {loads} loads …");
        browser = Some((
            bundle_sizes(&args.server),
            hydration::run(&args.server, loads).await?,
        ));
    }

    let hostile_sizes = if args.quick {
        hostile::Sizes {
            seconds: 2,
            half_open: 500,
            header_timeout_s: 2,
        }
    } else {
        hostile::Sizes {
            seconds: 10,
            half_open: 5_000,
            header_timeout_s: 10,
        }
    };
    let mut hostile_scenarios = Vec::new();
    if args.runs(Part::Hostile) {
        hostile_scenarios = hostile::run(&args.server, hostile_sizes).await?;
    }

    let mut table = report(
        &results,
        &ingestion,
        scaled.as_ref(),
        &snapshot_costs,
        &accounts_costs,
        browser.as_ref(),
    );
    if !hostile_scenarios.is_empty() {
        hostile::report(&mut table, hostile_sizes, &hostile_scenarios);
    }
    println!("{table}");
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.write {
        write_benchmarks(path, &table)?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

/// Connects the clients, sends the events, and measures.
async fn fan_out(args: &Args, scenario: FanOut) -> Result<FanOutResult> {
    let server = Server::start(&args.server, &[]).await?;
    let cookie = server.log_in().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle_kib = server.rss_kib()?;

    let (stop, stopped) = watch::channel(false);
    let clients = connect_clients(&server, &cookie, scenario.clients, &stopped).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected_kib = server.rss_kib()?;

    let cpu_before = server.cpu_seconds()?;
    let sent = send_events(&server, scenario).await?;
    let acks = &sent.acks;
    let final_version = acks.iter().map(|(version, _)| *version).max().unwrap_or(0);
    let final_snapshot = wait_for_version(&server, &cookie, final_version).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server_cpu_seconds = server.cpu_seconds()? - cpu_before;
    stop.send(true)?;
    let records = collect(clients).await?;
    check(&records, final_version, &final_snapshot, acks.len())?;
    let acknowledgements = Acknowledgements {
        planned: sent.planned,
        acknowledged: acks.len() as u64,
        seconds: scenario.seconds,
        p50_ms: sent.ack_quantile(0.50),
        p99_ms: sent.ack_quantile(0.99),
    };
    let snapshot_frames: usize = records.iter().map(|r| r.receipts.len()).sum();
    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    Ok(FanOutResult {
        scenario,
        latency: latency(acks, &records),
        acknowledged: acks.len(),
        acknowledgements,
        rss_idle_kib,
        rss_connected_kib,
        bytes_per_update: bytes as f64 / snapshot_frames.max(1) as f64,
        server_cpu_seconds,
        // Each client's first frame arrived before the events were sent.
        frames: snapshot_frames.saturating_sub(records.len()),
    })
}

/// Opens `count` SSE clients on `server` and waits until the server counts
/// them all as connected.
pub(crate) async fn connect_clients(
    server: &Server,
    cookie: &str,
    count: usize,
    stopped: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<ClientRecord>>> {
    let before = server.metric(cookie, "pulse_sse_clients").await? as usize;
    let connecting = Arc::new(Semaphore::new(256));
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = connecting.clone().acquire_owned().await?;
        let (port, cookie, stopped) = (server.port, cookie.to_string(), stopped.clone());
        clients.push(tokio::spawn(async move {
            drop(permit);
            sse_client::run(port, cookie, stopped).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (server.metric(cookie, "pulse_sse_clients").await? as usize) < before + count {
        if Instant::now() > deadline {
            bail!("not every client connected within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(clients)
}

/// Sequential senders of webhook deliveries in the fan-out scenarios.
pub(crate) const SENDERS: u64 = 32;

/// Single-DM deliveries to `server` at the scenario's rate from [`SENDERS`]
/// sequential senders (a slow acknowledgement shows as fewer sent); fails
/// when a delivery is refused.
pub(crate) async fn send_events(server: &Server, scenario: FanOut) -> Result<webhooks::Paced> {
    let paced = webhooks::paced(
        &server.base_url,
        u64::from(scenario.events_per_second),
        SENDERS,
        scenario.seconds,
    )
    .await;
    if paced.failed > 0 {
        bail!("{} deliveries failed", paced.failed);
    }
    Ok(paced)
}

/// Waits (up to 30 s) until `server` serves a snapshot of at least `version`.
pub(crate) async fn wait_for_version(
    server: &Server,
    cookie: &str,
    version: i64,
) -> Result<serde_json::Value> {
    let covers =
        |snapshot: &serde_json::Value| snapshot["version"].as_i64().unwrap_or(0) >= version;
    let snapshot = server
        .snapshot_when(cookie, Duration::from_secs(30), covers)
        .await?;
    if !covers(&snapshot) {
        bail!("{} never published version {version}", server.base_url);
    }
    Ok(snapshot)
}

pub(crate) async fn collect(
    clients: Vec<tokio::task::JoinHandle<ClientRecord>>,
) -> Result<Vec<ClientRecord>> {
    let mut records = Vec::with_capacity(clients.len());
    for client in clients {
        records.push(client.await?);
    }
    Ok(records)
}

/// The harness's own checks: no client failed, each saw the final version,
/// and the server counted exactly the DMs acknowledged.
pub(crate) fn check(
    records: &[ClientRecord],
    final_version: i64,
    final_snapshot: &serde_json::Value,
    acknowledged: usize,
) -> Result<()> {
    if let Some(error) = records.iter().find_map(|r| r.error.as_ref()) {
        bail!("a client failed: {error}");
    }
    let behind = records
        .iter()
        .filter(|r| r.receipts.last().is_none_or(|(v, _)| *v < final_version))
        .count();
    if behind > 0 {
        bail!("{behind} clients never received version {final_version}");
    }
    let counted = final_snapshot["dms_received"]["total"]
        .as_u64()
        .unwrap_or(0);
    if counted != acknowledged as u64 {
        bail!("the server counts {counted} DMs received, {acknowledged} were acknowledged");
    }
    Ok(())
}

/// For each acknowledged event and each client: from the 200 to the arrival
/// of the first snapshot whose version covers it. At most about two million
/// pairs are measured (events are sampled evenly beyond that).
pub(crate) fn latency(acks: &[(i64, Instant)], records: &[ClientRecord]) -> Latency {
    let budget = 2_000_000 / records.len().max(1);
    let step = (acks.len() / budget.max(1)).max(1);
    let mut samples: Vec<f64> = Vec::new();
    for (version, acknowledged) in acks.iter().step_by(step) {
        for record in records {
            let first = record.receipts.partition_point(|(v, _)| v < version);
            if let Some((_, arrived)) = record.receipts.get(first) {
                let ms = arrived
                    .saturating_duration_since(*acknowledged)
                    .as_secs_f64()
                    * 1e3;
                samples.push(ms);
            }
        }
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if samples.is_empty() {
            return f64::NAN;
        }
        samples[((samples.len() - 1) as f64 * q).round() as usize]
    };
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
        samples: samples.len(),
    }
}

/// Sizes of the browser bundle (`pkg/pulse.wasm` + `pkg/pulse.js`) next to
/// the server binary, if built: raw, `gzip -9`, and the brotli copies the
/// release build wrote (`scripts/compress-site.sh`; 0 when absent).
fn bundle_sizes(server: &std::path::Path) -> Option<Bundle> {
    let pkg = server.parent()?.parent()?.join("site/pkg");
    let mut raw = 0;
    let mut gzipped = 0;
    let mut brotli = 0;
    for file in ["pulse.wasm", "pulse.js"] {
        let path = pkg.join(file);
        raw += std::fs::metadata(&path).ok()?.len();
        brotli += std::fs::metadata(pkg.join(format!("{file}.br"))).map_or(0, |meta| meta.len());
        let output = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&path)
            .output()
            .ok()?;
        gzipped += output.stdout.len() as u64;
    }
    Some(Bundle {
        raw,
        gzipped,
        brotli,
    })
}

/// One engine's ingestion figures and its physical reference.
struct EngineIngestion {
    engine: &'static str,
    single: Ingestion,
    batches: Ingestion,
    /// Events per second the database takes the same rows alone (not in
    /// the quick run).
    reference: Option<reference::Reference>,
    reference_method: &'static str,
    /// Single-event deliveries to two nodes on one database (Postgres).
    two_nodes: Option<TwoNodes>,
}

/// Single-event deliveries to two nodes on one database.
struct TwoNodes {
    writers_per_node: u32,
    ingestion: Ingestion,
}

/// Bytes of the browser bundle.
struct Bundle {
    raw: u64,
    gzipped: u64,
    brotli: u64,
}

fn report(
    results: &[FanOutResult],
    ingestion: &[EngineIngestion],
    scaled: Option<&scale_out::ScaleOutResult>,
    snapshot_costs: &[snapshot_cost::SnapshotCost],
    accounts_costs: &[accounts_cost::AccountsCost],
    browser: Option<&(Option<Bundle>, hydration::Hydration)>,
) -> String {
    let mut table = String::from("| measure | result |\n| --- | --- |\n");
    for result in results {
        let s = result.scenario;
        let l = &result.latency;
        let _ = writeln!(
            table,
            "| update latency, {} clients, {} events/s for {} s ({} events × clients = {} samples) | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
            s.clients, s.events_per_second, s.seconds, result.acknowledged, l.samples, l.p50, l.p90, l.p99, l.max
        );
        let a = &result.acknowledgements;
        let _ = writeln!(
            table,
            "| webhooks acknowledged while {} clients stream ({} sequential senders, {} asked per second) | {} of {} ({:.0}/s); ack p50 {:.1} ms, p99 {:.1} ms |",
            s.clients,
            SENDERS.min(u64::from(s.events_per_second)),
            s.events_per_second,
            a.acknowledged,
            a.planned,
            a.acknowledged as f64 / a.seconds as f64,
            a.p50_ms,
            a.p99_ms
        );
        let per_client = (result.rss_connected_kib.saturating_sub(result.rss_idle_kib)) as f64
            * 1024.0
            / s.clients as f64;
        let _ = writeln!(
            table,
            "| server memory with {} idle SSE clients | RSS {} MiB idle → {} MiB connected: {:.1} KB per client |",
            s.clients,
            result.rss_idle_kib / 1024,
            result.rss_connected_kib / 1024,
            per_client / 1000.0
        );
        let _ = writeln!(
            table,
            "| bytes sent per update per client ({} clients) | {:.0} B |",
            s.clients, result.bytes_per_update
        );
        let _ = writeln!(
            table,
            "| server CPU while {} clients got {} snapshot frames (webhooks, snapshots, fan-out) | {:.1} s: {:.1} µs per frame delivered |",
            s.clients,
            result.frames,
            result.server_cpu_seconds,
            result.server_cpu_seconds * 1e6 / result.frames.max(1) as f64
        );
    }
    let waits = |ingestion: &Ingestion| {
        let groups = format!(
            "; {:.1} deliveries per commit",
            ingestion.deliveries_per_commit
        );
        let groups = match &ingestion.lock_waits {
            Some(waits) => format!("{groups}; lock waits: {waits}"),
            None => groups,
        };
        let groups = format!("{groups}; CPU: {}", ingestion.cpu);
        match &ingestion.database_time {
            Some(time) => format!("{groups}; the database's execution time: {time}"),
            None => groups,
        }
    };
    for EngineIngestion {
        engine,
        single,
        batches,
        reference,
        reference_method,
        two_nodes,
    } in ingestion
    {
        let _ = writeln!(
            table,
            "| durable ingestion, single-event POSTs ({engine}, {SINGLE_SENDERS} senders) | {:.0} requests/s{} |",
            single.requests_per_second,
            waits(single)
        );
        let _ = writeln!(
            table,
            "| durable ingestion, {BATCH}-event batches ({engine}, {BATCH_SENDERS} senders) | {:.0} events/s ({:.0} requests/s){} |",
            batches.events_per_second, batches.requests_per_second, waits(batches)
        );
        if let Some(TwoNodes {
            writers_per_node,
            ingestion: two,
        }) = two_nodes
        {
            let _ = writeln!(
                table,
                "| durable ingestion, single-event POSTs to two nodes on one database ({engine}, {SINGLE_SENDERS} senders split between them, {writers_per_node} writer(s) per node) | {:.0} requests/s together ({:.0} % of one node){} |",
                two.requests_per_second,
                100.0 * two.requests_per_second / single.requests_per_second,
                waits(two)
            );
        }
        if let Some(reference) = reference {
            let _ = writeln!(
                table,
                "| the database alone, same rows ({engine}: {reference_method}) | {:.0} events/s; batches through the webhook reach {:.0} % of it; CPU: {}{} |",
                reference.events_per_second,
                100.0 * batches.events_per_second / reference.events_per_second,
                reference.cpu,
                match &reference.database_time {
                    Some(time) => format!("; the database's execution time: {time}"),
                    None => String::new(),
                }
            );
        }
    }
    if let Some(scaled) = scaled {
        let s = scaled.scenario;
        for (side, l) in [
            ("on the node that took the webhooks", &scaled.local),
            ("on the other node, via Redis", &scaled.remote),
        ] {
            let _ = writeln!(
                table,
                "| two nodes (Postgres + Redis), {} clients on each, {} events/s: latency {side} | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
                s.clients / 2, s.events_per_second, l.p50, l.p90, l.p99, l.max
            );
        }
        let _ = writeln!(
            table,
            "| Redis commands per update published through Redis ({} clients) | {:.2} ({} updates) |",
            s.clients, scaled.commands_per_update, scaled.updates
        );
    }
    for cost in snapshot_costs {
        let _ = writeln!(
            table,
            "| snapshot compute time with {} stored events, {} conversations active in 24 h (SQLite, mean of {} refreshes) | {:.2} ms |",
            cost.stored_events,
            cost.active_conversations,
            snapshot_cost::REFRESHES,
            cost.mean_ms
        );
        if let Some((single, batches)) = &cost.ingestion {
            let _ = writeln!(
                table,
                "| durable ingestion into that database of {} events (SQLite, synchronous=FULL): single-event POSTs ({SINGLE_SENDERS} senders), {BATCH}-event batches ({BATCH_SENDERS} senders), {} s each | {:.0} requests/s; {:.0} events/s |",
                cost.stored_events,
                snapshot_cost::INGEST_SECONDS,
                single.requests_per_second,
                batches.events_per_second
            );
        }
    }
    for cost in accounts_costs {
        let pages: Vec<String> = cost
            .page_ms
            .iter()
            .map(|(view, ms)| format!("`{view}` {ms:.1} ms"))
            .collect();
        let _ = writeln!(
            table,
            "| accounts page (100 rows) with {} business accounts ({}, mean of {} requests per view) | {}; the first page {:.1} ms, once the server built every account's figures in the background after its start ({:.0} ms, memory +{:.1} MiB); after DMs to {} accounts {:.1} ms ({} accounts recomputed); main snapshot beside them {:.2} ms |",
            cost.accounts,
            cost.engine,
            accounts_cost::REQUESTS,
            pages.join(", "),
            cost.first_page_ms,
            cost.build_ms,
            cost.figures_kib as f64 / 1024.0,
            accounts_cost::CHANGED_ACCOUNTS,
            cost.after_changes_ms,
            cost.recomputed,
            cost.snapshot_ms
        );
    }
    if let Some((bundle, hydrated)) = browser {
        match bundle {
            Some(Bundle {
                raw,
                gzipped,
                brotli,
            }) => {
                let _ = writeln!(
                    table,
                    "| dashboard bundle (pulse.wasm + pulse.js) | {:.0} KB raw, {:.0} KB gzip -9, {:.0} KB brotli as served |",
                    *raw as f64 / 1000.0,
                    *gzipped as f64 / 1000.0,
                    *brotli as f64 / 1000.0
                );
            }
            None => table.push_str("| dashboard bundle | not built next to the server binary |\n"),
        }
        let (cold, cold_max) = hydration::median_and_max(&hydrated.cold);
        let (warm, warm_max) = hydration::median_and_max(&hydrated.warm);
        let _ = writeln!(
            table,
            "| dashboard hydrated after navigation (headless Chromium, loopback, {} loads) | empty cache: median {cold:.0} ms, max {cold_max:.0} ms; cached: median {warm:.0} ms, max {warm_max:.0} ms |",
            hydrated.cold.len()
        );
    }
    table
}

/// The longest line BENCHMARKS.md has, as every Markdown file of the project.
const MARKDOWN_WIDTH: usize = 100;

/// `text` with each table turned into a list (one item per row, each cell
/// named by its column) and every line wrapped at [`MARKDOWN_WIDTH`].
fn as_lines_of_100(text: &str) -> String {
    let mut out = String::new();
    let mut columns: Option<Vec<String>> = None;
    for line in text.lines() {
        let Some(row) = line.strip_prefix('|') else {
            columns = None;
            wrap_into(&mut out, line, "");
            continue;
        };
        let cells: Vec<String> = row
            .trim_end_matches('|')
            .split(" | ")
            .map(|cell| cell.trim().to_owned())
            .collect();
        match &columns {
            None => columns = Some(cells),
            Some(_) if cells.iter().all(|cell| cell.chars().all(|ch| ch == '-')) => {}
            Some(names) => {
                let item = match cells.as_slice() {
                    [measure, result] if names.len() == 2 => format!("- {measure}: {result}"),
                    [first, rest @ ..] => {
                        let named: Vec<String> = names[1..]
                            .iter()
                            .zip(rest)
                            .map(|(name, cell)| format!("{name}: {cell}"))
                            .collect();
                        format!("- {first}: {}", named.join("; "))
                    }
                    [] => continue,
                };
                wrap_into(&mut out, &item, "  ");
            }
        }
    }
    out
}

/// Appends `line`, broken at spaces so that no line is longer than
/// [`MARKDOWN_WIDTH`], continuation lines starting with `indent`.
fn wrap_into(out: &mut String, line: &str, indent: &str) {
    let mut current = String::new();
    // Whether `current` holds no word yet (only its indent).
    let mut fresh = true;
    for word in line.split(' ') {
        if !fresh && current.chars().count() + 1 + word.chars().count() > MARKDOWN_WIDTH {
            out.push_str(&current);
            out.push('\n');
            current = indent.to_owned();
            fresh = true;
        }
        if !fresh {
            current.push(' ');
        }
        current.push_str(word);
        fresh = false;
    }
    out.push_str(&current);
    out.push('\n');
}

/// Writes the table with the machine, the command and the date.
fn write_benchmarks(path: &std::path::Path, table: &str) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .map(|value| value.trim().to_string())
        })
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|value| value.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let marker = "<!-- results -->";
    let header = existing
        .split(marker)
        .next()
        .filter(|head| !head.trim().is_empty())
        .unwrap_or("# Benchmarks\n\n")
        .to_string();
    let run = format!(
        "- date: {date}\n- machine: {cores} cores ({cpu}), {memory} memory; harness and server on the same machine\n- command: `make bench` (`pulse-loadtest --write BENCHMARKS.md` against `target/release/pulse`)\n\n{table}"
    );
    let body = format!(
        "{header}{marker}\n## Latest run\n\n{}",
        as_lines_of_100(&run)
    );
    std::fs::write(path, body).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_lists_and_no_line_passes_the_width() {
        let long = "word ".repeat(40);
        let text = format!(
            "- date: today\n\n| measure | result |\n| --- | --- |\n| a | {long}|\n\n\
             | scenario | sent | failed |\n| --- | --- | --- |\n| calm | 10 of 10 | 0 |\n"
        );
        let lines = as_lines_of_100(&text);
        assert!(
            lines
                .lines()
                .all(|line| line.chars().count() <= MARKDOWN_WIDTH),
            "{lines}"
        );
        assert!(lines.contains("- a: word word"), "{lines}");
        assert!(
            lines.contains("\n  word"),
            "continued under the item: {lines}"
        );
        assert!(
            lines.contains("- calm: sent: 10 of 10; failed: 0"),
            "{lines}"
        );
        assert!(!lines.contains('|'), "{lines}");
        assert_eq!(lines.matches("word").count(), 40);
    }
}
