//! Public endpoints under attack: Meta's deliveries beside what a stranger
//! with no secret can send.
//!
//! Each scenario starts a fresh server, runs the legitimate load (signed
//! single-DM webhooks at a fixed rate over a few connections) for a while,
//! alone or beside one attack, and reports what the legitimate deliveries
//! got: how many were sent and failed, their acknowledgement times, the
//! server's peak memory and log growth, and whether the DM total equals the
//! deliveries acknowledged.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Semaphore,
};

use crate::{
    server::{rss_kib_of, Server},
    webhooks,
};

/// Legitimate deliveries per second (Meta's side of the traffic).
pub const LEGITIMATE_PER_SECOND: u64 = 200;
/// Connections they arrive on.
pub const LEGITIMATE_CONNECTIONS: u64 = 8;
/// Connections each flooding attack uses.
pub const ATTACK_CONNECTIONS: usize = 64;

/// How big and long a run is.
#[derive(Clone, Copy)]
pub struct Sizes {
    /// Length of each scenario.
    pub seconds: u64,
    /// Connections that send half a request head and stop.
    pub half_open: usize,
    /// The server's `PULSE_HEADER_READ_TIMEOUT_S`.
    pub header_timeout_s: u64,
}

/// What a stranger does during a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    None,
    /// Unsigned POSTs and bare GETs on the webhook route.
    Refused,
    /// Logins for random emails from random forwarded addresses.
    Logins,
    /// Connections that send half a request head and stop.
    HalfOpen,
    /// Kept-alive connections, one per address, each asking `/healthz`
    /// every 5 s, as many as the node's connection limit.
    Pingers,
    /// Connections, one per address, asking for the wasm uncompressed and
    /// never reading it, as many as the node's connection limit.
    SlowReaders,
    /// The same from one address.
    SlowReadersFromOneAddress,
}

/// `PULSE_MAX_CONNECTIONS` in the scenarios that hold connections, and how
/// many each of them holds.
pub const HELD_CONNECTIONS: usize = 64;

impl Attack {
    pub const ALL: [Attack; 7] = [
        Attack::None,
        Attack::Refused,
        Attack::Logins,
        Attack::HalfOpen,
        Attack::Pingers,
        Attack::SlowReaders,
        Attack::SlowReadersFromOneAddress,
    ];

    /// Whether the attack holds connections (the node then runs with
    /// `PULSE_MAX_CONNECTIONS` = [`HELD_CONNECTIONS`]).
    fn holds(self) -> bool {
        matches!(
            self,
            Attack::Pingers | Attack::SlowReaders | Attack::SlowReadersFromOneAddress
        )
    }

    pub fn describe(self, sizes: Sizes) -> String {
        match self {
            Attack::None => "nothing hostile".into(),
            Attack::Refused => format!(
                "unsigned POSTs and bare GETs on the webhook route, {ATTACK_CONNECTIONS} connections"
            ),
            Attack::Logins => format!(
                "logins for random emails from random forwarded addresses, {ATTACK_CONNECTIONS} connections"
            ),
            Attack::HalfOpen => format!(
                "{} connections that send half a request head and stop",
                sizes.half_open
            ),
            Attack::Pingers => format!(
                "{HELD_CONNECTIONS} kept-alive connections (the node's limit), one address each, asking /healthz every 5 s"
            ),
            Attack::SlowReaders => format!(
                "{HELD_CONNECTIONS} connections (the node's limit), one address each, asking for the wasm uncompressed and never reading"
            ),
            Attack::SlowReadersFromOneAddress => format!(
                "the same {HELD_CONNECTIONS} slow readers from one address"
            ),
        }
    }
}

/// What one scenario measured.
pub struct Scenario {
    pub attack: Attack,
    pub planned: u64,
    pub sent: u64,
    pub failed: u64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    /// Attack requests answered per second, by status code.
    pub hostile_per_second: f64,
    pub hostile_statuses: BTreeMap<u16, u64>,
    pub rss_idle_kib: u64,
    pub rss_peak_kib: u64,
    pub log_growth_bytes: u64,
    pub dms_counted: u64,
    /// Half-open connections: how many were closed, and the longest time
    /// from their last byte to the close.
    pub half_open_closed: Option<(usize, Duration)>,
    /// A fresh request served while the half-open connections were held.
    pub fresh_request_ms: Option<f64>,
    /// Held connections: how many the node admitted, and how many of those
    /// it closed before the run ended.
    pub held: Option<(usize, usize)>,
}

/// Runs every scenario, each on a fresh server.
pub async fn run(binary: &std::path::Path, sizes: Sizes) -> Result<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    for attack in Attack::ALL {
        eprintln!(
            "hostile: legitimate load beside {} …",
            attack.describe(sizes)
        );
        let scenario = scenario(binary, sizes, attack).await?;
        if scenario.failed > 0 {
            bail!(
                "{} legitimate deliveries failed beside {}",
                scenario.failed,
                attack.describe(sizes)
            );
        }
        if scenario.dms_counted != scenario.sent {
            bail!(
                "the server counts {} DMs, {} deliveries were acknowledged",
                scenario.dms_counted,
                scenario.sent
            );
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

async fn scenario(binary: &std::path::Path, sizes: Sizes, attack: Attack) -> Result<Scenario> {
    let mut env = vec![(
        "PULSE_HEADER_READ_TIMEOUT_S",
        sizes.header_timeout_s.to_string(),
    )];
    if attack.holds() {
        // Not behind a proxy: the node tells the addresses apart itself,
        // with its default share per address (an eighth, at least 32).
        env.push(("PULSE_MAX_CONNECTIONS", HELD_CONNECTIONS.to_string()));
        env.push(("PULSE_MAX_CONNECTIONS_PER_ADDRESS", "32".to_string()));
    } else {
        env.push(("PULSE_TRUST_FORWARDED_FOR", "1".to_string()));
    }
    let server = Server::start(binary, &env).await?;
    let cookie = server.log_in().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle_kib = server.rss_kib()?;
    let log_before = server.log_bytes();

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_idle_kib));
    let sampler = tokio::spawn(sample_peak_rss(server.pid(), peak.clone(), stop.clone()));
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let started = Instant::now();
    let attackers: Vec<tokio::task::JoinHandle<()>> = match attack {
        Attack::None
        | Attack::HalfOpen
        | Attack::Pingers
        | Attack::SlowReaders
        | Attack::SlowReadersFromOneAddress => Vec::new(),
        Attack::Refused | Attack::Logins => (0..ATTACK_CONNECTIONS)
            .map(|worker| {
                tokio::spawn(flood(
                    server.base_url.clone(),
                    attack,
                    worker,
                    statuses.clone(),
                    stop.clone(),
                ))
            })
            .collect(),
    };
    let half_open = (attack == Attack::HalfOpen)
        .then(|| tokio::spawn(hold_half_open(server.port, sizes.half_open)));
    let held = attack
        .holds()
        .then(|| tokio::spawn(hold(server.port, attack, stop.clone())));
    // Let the attack reach its full size before the legitimate load starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh_request_ms = match attack {
        Attack::HalfOpen => Some(fresh_request(&server.base_url).await?),
        _ => None,
    };
    let legitimate = webhooks::paced(
        &server.base_url,
        LEGITIMATE_PER_SECOND,
        LEGITIMATE_CONNECTIONS,
        sizes.seconds,
    )
    .await;
    let sent = legitimate.acks.len() as u64;
    stop.store(true, Ordering::Relaxed);
    let attack_seconds = started.elapsed().as_secs_f64();
    for attacker in attackers {
        attacker.await?;
    }
    let half_open_closed = match half_open {
        Some(task) => Some(task.await??),
        None => None,
    };
    let held = match held {
        Some(task) => Some(task.await?),
        None => None,
    };
    sampler.await?;
    let counted = server
        .snapshot_when(&cookie, Duration::from_secs(10), |snapshot| {
            snapshot["dms_received"]["total"].as_u64() == Some(sent)
        })
        .await?;
    let hostile_statuses = std::mem::take(&mut *statuses.lock().expect("statuses"));
    let hostile: u64 = hostile_statuses.values().sum();
    Ok(Scenario {
        attack,
        planned: legitimate.planned,
        sent,
        failed: legitimate.failed,
        ack_p50_ms: legitimate.ack_quantile(0.50),
        ack_p99_ms: legitimate.ack_quantile(0.99),
        hostile_per_second: hostile as f64 / attack_seconds,
        hostile_statuses,
        rss_idle_kib,
        rss_peak_kib: peak.load(Ordering::Relaxed),
        log_growth_bytes: server.log_bytes().saturating_sub(log_before),
        dms_counted: counted["dms_received"]["total"].as_u64().unwrap_or(0),
        half_open_closed,
        fresh_request_ms,
        held,
    })
}

/// Holds [`HELD_CONNECTIONS`] connections as `attack` says until `stop`,
/// from 127.0.1.x (one address each) or 127.0.0.2 (one address); returns
/// how many the node admitted (answered) and how many of those it closed.
async fn hold(port: u16, attack: Attack, stop: Arc<AtomicBool>) -> (usize, usize) {
    let holders: Vec<_> = (0..HELD_CONNECTIONS)
        .map(|n| {
            let source = match attack {
                Attack::SlowReadersFromOneAddress => "127.0.0.2".to_string(),
                _ => format!("127.0.1.{}", n + 1),
            };
            let stop = stop.clone();
            tokio::spawn(async move { hold_one(port, &source, attack, stop).await })
        })
        .collect();
    let (mut admitted, mut closed) = (0, 0);
    for holder in holders {
        if let Ok(Some(was_closed)) = holder.await {
            admitted += 1;
            closed += usize::from(was_closed);
        }
    }
    (admitted, closed)
}

/// Sends `request` and waits (up to 5 s) for the start of an answer;
/// whether one came.
async fn ask(stream: &mut TcpStream, request: &[u8]) -> bool {
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut buffer = [0u8; 512];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await,
        Ok(Ok(read)) if read > 0
    )
}

/// One held connection: `None` when the node refused it at once, else
/// whether the node closed it before `stop`.
async fn hold_one(port: u16, source: &str, attack: Attack, stop: Arc<AtomicBool>) -> Option<bool> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{source}:0").parse().ok()?).ok()?;
    let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.ok()?;
    let request: &[u8] = match attack {
        Attack::Pingers => b"GET /healthz HTTP/1.1\r\nHost: pulse\r\n\r\n",
        _ => b"GET /pkg/pulse.wasm HTTP/1.1\r\nHost: pulse\r\nAccept-Encoding: identity\r\n\r\n",
    };
    if !ask(&mut stream, request).await {
        return None;
    }
    while !stop.load(Ordering::Relaxed) {
        if attack == Attack::Pingers {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // A ping after the run would meet a node already stopped.
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if !ask(&mut stream, request).await {
                return Some(true);
            }
        } else {
            // Never reads while the run lasts.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if attack == Attack::Pingers {
        return Some(false);
    }
    // Once the run is over: a connection the node ended gives up what it
    // buffered and then its end; one still open keeps the rest coming, then
    // waits for a next request.
    let mut sink = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    Some(ended.is_ok())
}

/// One attacking connection: requests as fast as they are answered until
/// `stop`, counting the answers by status.
async fn flood(
    base_url: String,
    attack: Attack,
    worker: usize,
    statuses: Arc<Mutex<BTreeMap<u16, u64>>>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    let webhook = format!("{base_url}/api/webhooks/instagram");
    let login = format!("{base_url}/api/auth/login");
    let mut sequence: u64 = worker as u64 * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        sequence += 1;
        let request = match attack {
            Attack::Refused if sequence.is_multiple_of(2) => http
                .post(&webhook)
                .header("x-hub-signature-256", "sha256=0000")
                .body(r#"{"object":"instagram","entry":[]}"#),
            Attack::Refused => http.get(&webhook),
            Attack::Logins => {
                let mixed = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let address = format!(
                    "10.{}.{}.{}",
                    (mixed >> 16) & 0xff,
                    (mixed >> 24) & 0xff,
                    (mixed >> 32) & 0xff
                );
                http.post(&login).header("x-forwarded-for", address).form(&[
                    ("email", format!("stranger-{mixed:x}@example.com")),
                    ("password", "a guess that is long enough".to_string()),
                ])
            }
            _ => return,
        };
        let status = match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        *statuses
            .lock()
            .expect("statuses")
            .entry(status)
            .or_insert(0) += 1;
    }
}

/// Opens `count` connections that each send half a request head and stop,
/// and waits (up to 60 s) for the server to close them; returns how many it
/// closed and the longest time from a connection's last byte to its close.
async fn hold_half_open(port: u16, count: usize) -> Result<(usize, Duration)> {
    let connecting = Arc::new(Semaphore::new(256));
    let mut holders = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = connecting.clone().acquire_owned().await?;
        holders.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            stream
                .write_all(b"POST /api/webhooks/instagram HTTP/1.1\r\nHost: pulse\r\nContent-")
                .await
                .ok()?;
            let last_byte = Instant::now();
            drop(permit);
            let mut buffer = [0u8; 256];
            let closed = tokio::time::timeout(Duration::from_secs(60), async {
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            closed.ok().map(|()| last_byte.elapsed())
        }));
    }
    let mut closed = 0;
    let mut longest = Duration::ZERO;
    for holder in holders {
        if let Some(after) = holder.await? {
            closed += 1;
            longest = longest.max(after);
        }
    }
    Ok((closed, longest))
}

/// Time for a new connection to get `/healthz` answered.
async fn fresh_request(base_url: &str) -> Result<f64> {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{base_url}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("/healthz answered {}", response.status());
    }
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

/// Samples the server's RSS every 50 ms into `peak` until `stop`.
async fn sample_peak_rss(pid: u32, peak: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(rss) = rss_kib_of(pid) {
            peak.fetch_max(rss, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scenarios as table rows.
pub fn report(table: &mut String, sizes: Sizes, scenarios: &[Scenario]) {
    use std::fmt::Write as _;
    let baseline_p99 = scenarios
        .iter()
        .find(|s| s.attack == Attack::None)
        .map_or(f64::NAN, |s| s.ack_p99_ms);
    let _ = writeln!(
        table,
        "\n**Public endpoints under attack** ({LEGITIMATE_PER_SECOND} signed single-DM webhooks/s over {LEGITIMATE_CONNECTIONS} connections, {} s per scenario, a fresh server each, harness on the same cores):\n",
        sizes.seconds
    );
    table.push_str("| scenario | hostile load | legitimate sent (of planned) | failed | ack p50 / p99 (p99 vs baseline) | server RSS idle → peak | log growth | DM total = acknowledged |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for s in scenarios {
        let statuses: Vec<String> = s
            .hostile_statuses
            .iter()
            .map(|(status, count)| {
                format!(
                    "{count}× {}",
                    if *status == 0 {
                        "no answer".to_string()
                    } else {
                        status.to_string()
                    }
                )
            })
            .collect();
        let hostile = match s.attack {
            Attack::None => "none".to_string(),
            Attack::Pingers | Attack::SlowReaders | Attack::SlowReadersFromOneAddress => {
                let (admitted, closed) = s.held.unwrap_or_default();
                format!(
                    "{admitted} of {HELD_CONNECTIONS} admitted, {closed} of them closed by the node to make room or on a timeout during the run"
                )
            }
            Attack::HalfOpen => {
                let (closed, longest) = s.half_open_closed.unwrap_or_default();
                format!(
                    "{closed} of {} closed by the server, at most {:.1} s after their last byte (header timeout {} s); a fresh request meanwhile took {:.1} ms",
                    sizes.half_open,
                    longest.as_secs_f64(),
                    sizes.header_timeout_s,
                    s.fresh_request_ms.unwrap_or(f64::NAN)
                )
            }
            _ => format!(
                "{:.0} requests/s answered ({})",
                s.hostile_per_second,
                statuses.join(", ")
            ),
        };
        let _ = writeln!(
            table,
            "| {} | {hostile} | {} of {} | {} | {:.1} / {:.1} ms ({:.1}×) | {} → {} MB | {:.1} KB | {} |",
            s.attack.describe(sizes),
            s.sent,
            s.planned,
            s.failed,
            s.ack_p50_ms,
            s.ack_p99_ms,
            s.ack_p99_ms / baseline_p99,
            s.rss_idle_kib / 1024,
            s.rss_peak_kib / 1024,
            s.log_growth_bytes as f64 / 1000.0,
            if s.dms_counted == s.sent { "yes" } else { "**no**" },
        );
    }
}
