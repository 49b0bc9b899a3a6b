//! The report: every part's figures as the table printed and, with
//! `--write`, the results written at the bottom of BENCHMARKS.md (as lists
//! wrapped at 100 columns, with the machine, the command and the date).

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::{
    accounts_cost,
    fan_out::{FanOutResult, SENDERS},
    hydration,
    ingestion::{Ingestion, BATCH, BATCH_SENDERS, SINGLE_SENDERS},
    reference, scale_out, snapshot_cost, soak,
};

/// One engine's ingestion figures and its physical reference.
pub(crate) struct EngineIngestion {
    pub(crate) engine: &'static str,
    pub(crate) single: Ingestion,
    pub(crate) batches: Ingestion,
    /// Events per second the database takes the same rows alone (not in
    /// the quick run).
    pub(crate) reference: Option<reference::Reference>,
    pub(crate) reference_method: &'static str,
    /// Single-event deliveries to two nodes on one database (Postgres).
    pub(crate) two_nodes: Option<TwoNodes>,
}

/// Single-event deliveries to two nodes on one database.
pub(crate) struct TwoNodes {
    pub(crate) writers_per_node: u32,
    pub(crate) ingestion: Ingestion,
}

/// Bytes of the browser bundle.
pub(crate) struct Bundle {
    pub(crate) raw: u64,
    pub(crate) gzipped: u64,
    pub(crate) brotli: u64,
}

pub(crate) fn report(
    results: &[FanOutResult],
    ingestion: &[EngineIngestion],
    scaled: Option<&scale_out::ScaleOutResult>,
    snapshot_costs: &[snapshot_cost::SnapshotCost],
    accounts_costs: &[accounts_cost::AccountsCost],
    browser: Option<&(Option<Bundle>, hydration::Hydration)>,
    soaked: Option<&soak::Soak>,
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
        if let Some(restart) = cost.restart_after_kill {
            let _ = writeln!(
                table,
                "| a node killed (SIGKILL) during deliveries, started again on that database of {} events (SQLite): from its start to its first delivery answered 200 | {:.2} s |",
                cost.stored_events,
                restart.as_secs_f64()
            );
        }
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
        let mut pages: Vec<String> = cost
            .page_ms
            .iter()
            .map(|(view, ms)| format!("`{view}` {ms:.1} ms"))
            .collect();
        pages.push(format!(
            "`{}` (the admin's zone) {:.1} ms, its first page {:.1} ms; the first page in a zone no admin chose whose day begins with the admin's (`{}`) {:.1} ms; the first page in a zone no admin chose (`{}`) {:.0} ms, building its figures (memory +{:.1} MiB)",
            accounts_cost::ZONE_VIEW,
            cost.zone_page_ms,
            cost.zone_first_page_ms,
            accounts_cost::SHARING_ZONE_VIEW,
            cost.sharing_first_page_ms,
            accounts_cost::UNCHOSEN_ZONE_VIEW,
            cost.unchosen_first_page_ms,
            cost.zone_kib as f64 / 1024.0
        ));
        let _ = writeln!(
            table,
            "| accounts page (100 rows) with {} business accounts ({}, mean of {} requests per view) | {}; the first page {:.1} ms, once the server built every account's figures in the background after its start ({:.0} ms, memory +{:.1} MiB); after DMs to {} accounts {:.1} ms ({} accounts recomputed); one account's page {:.1} ms (answered, HTTP included, median); main snapshot beside them {:.2} ms; every account as CSV {:.0} rows/s, server memory {:+.1} MiB over three downloads, {:+.1} MiB over ten |",
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
            cost.account_page_ms,
            cost.snapshot_ms,
            cost.csv_rows_per_second,
            cost.csv_rss_growth_kib as f64 / 1024.0,
            cost.csv_rss_growth_after_ten_kib as f64 / 1024.0,
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
    if let Some(soak) = soaked {
        let (first, last) = (soak.samples[0], soak.samples[soak.samples.len() - 1]);
        let _ = writeln!(
            table,
            "| soak: {} dashboards streaming, {} deliveries/s for {} min (slopes after the first minute) | {} of {} acknowledged ({} failed), DM total equal; RSS {:.1} → {:.1} MiB ({:+.2} MiB/h); open files {} → {} ({:+.1}/h); threads {} → {} ({:+.1}/h) |",
            soak::STREAMS,
            soak::RATE,
            soak.minutes,
            soak.acknowledged,
            soak.planned,
            soak.failed,
            first.rss_kib as f64 / 1024.0,
            last.rss_kib as f64 / 1024.0,
            soak.slope_per_hour(|sample| sample.rss_kib as f64 / 1024.0),
            first.open_files,
            last.open_files,
            soak.slope_per_hour(|sample| sample.open_files as f64),
            first.threads,
            last.threads,
            soak.slope_per_hour(|sample| sample.threads as f64),
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
pub(crate) fn write_benchmarks(path: &std::path::Path, table: &str) -> Result<()> {
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
