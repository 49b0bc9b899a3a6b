//! `pulse-loadtest`: starts the release `pulse` server, connects many SSE
//! clients, sends signed webhooks, and prints what it measured.
//!
//! `--quick` (run by `make test`) checks that the harness itself works:
//! every client got the final snapshot and the counts match the webhooks
//! sent; it asserts no speed. The full run (`make bench`) also writes its
//! table to `BENCHMARKS.md`. Everything targets loopback and is bounded in
//! time and count.

mod accounts_cost;
mod alerts_cost;
mod cpu;
mod database_time;
mod fan_out;
mod history_cost;
mod hostile;
mod hydration;
mod ingestion;
mod reference;
mod report;
mod retention_cost;
mod scale_out;
mod server;
mod snapshot_cost;
mod soak;
mod sse_client;
mod webhooks;

use std::{path::PathBuf, time::Instant};

use anyhow::{bail, Result};
use clap::Parser;

use fan_out::{fan_out, FanOut};
use ingestion::Deliveries;
use report::{report, write_benchmarks, Bundle, EngineIngestion, TwoNodes};

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
    /// How long the soak runs (`--only soak`), in minutes.
    #[arg(long, default_value_t = 30)]
    soak_minutes: u64,
}

/// The parts of a run, in the order they run.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Part {
    FanOut,
    Ingestion,
    ScaleOut,
    Snapshot,
    Accounts,
    History,
    Browser,
    Hostile,
    Retention,
    Alerts,
    /// Not in a full run: only when asked for.
    Soak,
}

impl Args {
    fn runs(&self, part: Part) -> bool {
        match self.only {
            None => part != Part::Soak,
            Some(only) => only == part,
        }
    }
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
    let mut history_costs = Vec::new();
    if args.runs(Part::History) {
        let days = if args.quick { 31 } else { history_cost::DAYS };
        let accounts = if args.quick {
            5
        } else {
            history_cost::ACCOUNTS
        };
        eprintln!("date-range reports over {days} days of history (SQLite) …");
        history_costs.push(
            history_cost::run(
                &args.server,
                &history_cost::Database::Sqlite,
                days,
                accounts,
            )
            .await?,
        );
        if !args.quick {
            eprintln!("date-range reports over {days} days of history (Postgres) …");
            let backends = scale_out::Backends::start();
            let database =
                history_cost::Database::Postgres(backends.postgres.fresh_database_url().await);
            history_costs.push(history_cost::run(&args.server, &database, days, accounts).await?);
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

    let mut retention = None;
    if args.runs(Part::Retention) {
        let expired = if args.quick { 20_000 } else { 100_000 };
        eprintln!("ingestion while a retention pass removes {expired} expired events …");
        retention = Some(retention_cost::run(&args.server, expired).await?);
    }

    let alerts_seconds = if args.quick { 2 } else { 10 };
    let mut alerts = None;
    if args.runs(Part::Alerts) {
        let pairs = if args.quick { 1 } else { 3 };
        eprintln!("ingestion while every alert target times out, {pairs} alternated pairs …");
        alerts = Some(alerts_cost::run(&args.server, pairs, alerts_seconds).await?);
    }

    let soaked = if args.runs(Part::Soak) {
        Some(soak::run(&args.server, args.soak_minutes).await?)
    } else {
        None
    };

    let mut table = report(
        &results,
        &ingestion,
        scaled.as_ref(),
        &snapshot_costs,
        &accounts_costs,
        browser.as_ref(),
        soaked.as_ref(),
    );
    history_cost::report(&mut table, &history_costs);
    if !hostile_scenarios.is_empty() {
        hostile::report(&mut table, hostile_sizes, &hostile_scenarios);
    }
    if let Some(retention) = &retention {
        retention_cost::report(&mut table, retention);
    }
    if let Some(alerts) = &alerts {
        alerts_cost::report(&mut table, alerts, alerts_seconds);
    }
    println!("{table}");
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.write {
        write_benchmarks(path, &table)?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
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
