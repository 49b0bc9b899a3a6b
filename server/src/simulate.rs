//! `pulse simulate`: correctly signed demo traffic, so anyone can watch the
//! dashboard move without an Instagram account.
//!
//! Sends batches of received and sent DMs for a few business accounts and
//! their customers at a steady rate, signed with the same app secret the
//! server uses (from `IG_APP_SECRET` or the data directory).

use std::{path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;
use serde_json::json;

use crate::{clock::now_ms, secrets::WebhookSecrets, webhook::signature};

/// Path of the webhook endpoint, appended when `--url` names only a server.
const WEBHOOK_PATH: &str = "/api/webhooks/instagram";
/// Shortest pause between two requests; faster rates send bigger batches.
const MIN_REQUEST_INTERVAL: Duration = Duration::from_millis(50);

/// Options of `pulse simulate`.
#[derive(Clone, Debug, Args)]
pub struct SimulateArgs {
    /// Server or webhook URL, e.g. http://127.0.0.1:3000 (http only).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Events per second.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Number of business accounts to spread the DMs over.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub accounts: u32,
    /// Directory of the server's generated secrets (used when IG_APP_SECRET is unset).
    #[arg(long, env = "PULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Why the simulation stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The URL is not usable.
    #[error("invalid --url {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No app secret to sign with.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// The server could not be reached or refused a delivery.
    #[error("delivery {request} to {url} failed: {reason}")]
    Delivery {
        /// 1-based number of the failed request.
        request: u64,
        /// Where it was sent.
        url: String,
        /// Status and body, or the connection error.
        reason: String,
    },
}

/// What a finished simulation sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimulationReport {
    /// Requests acknowledged with 200.
    pub requests: u64,
    /// DMs received contained in them.
    pub received: u64,
    /// DMs sent contained in them.
    pub sent: u64,
    /// Comments, reactions and read receipts contained in them.
    pub other: u64,
}

/// Sends traffic as configured and reports what was acknowledged.
pub async fn run(args: &SimulateArgs) -> Result<SimulationReport, SimulateError> {
    let url = webhook_url(&args.url)?;
    let app_secret = WebhookSecrets::load_app_secret(&args.data_dir)?;
    let interval = MIN_REQUEST_INTERVAL.max(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    let per_request = ((f64::from(args.rate) * interval.as_secs_f64()).round() as u64).max(1);
    let requests = (args.duration as f64 / interval.as_secs_f64()).ceil() as u64;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|error| SimulateError::Delivery {
            request: 0,
            url: url.clone(),
            reason: error.to_string(),
        })?;
    let mut traffic = Traffic::new(args.accounts);
    let mut report = SimulationReport {
        requests: 0,
        received: 0,
        sent: 0,
        other: 0,
    };
    // First an account that was busy three hours ago and has been quiet
    // since, so the accounts page has a silent one to flag.
    let quiet = traffic.gone_quiet();
    deliver(&client, &url, &app_secret, quiet.body)
        .await
        .map_err(|reason| SimulateError::Delivery {
            request: 0,
            url: url.clone(),
            reason,
        })?;
    report.requests += 1;
    report.received += quiet.received;
    let mut ticker = tokio::time::interval(interval);
    for request in 1..=requests {
        ticker.tick().await;
        let batch = traffic.batch(per_request);
        deliver(&client, &url, &app_secret, batch.body)
            .await
            .map_err(|reason| SimulateError::Delivery {
                request,
                url: url.clone(),
                reason,
            })?;
        report.requests += 1;
        report.received += batch.received;
        report.sent += batch.sent;
        report.other += batch.other;
    }
    Ok(report)
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    app_secret: &SecretString,
    body: Vec<u8>,
) -> Result<(), String> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, signature::sign(app_secret, &body))
        .body(body)
        .send()
        .await
        .map_err(|error| format!("cannot reach the server ({error}); is `pulse serve` running?"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("HTTP {status}: {text}"))
}

fn webhook_url(url: &str) -> Result<String, SimulateError> {
    let invalid = |reason| SimulateError::Url {
        url: url.to_string(),
        reason,
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        invalid("only http:// URLs are supported (the simulator targets local servers)")
    })?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    let path = if path.trim_end_matches('/').is_empty() {
        WEBHOOK_PATH.trim_start_matches('/')
    } else {
        path
    };
    Ok(format!("http://{host}/{path}"))
}

/// Customers of each account; the automation answers the first [`ANSWERED_CUSTOMERS`].
const CUSTOMERS: u64 = 25;
/// Customers of each account that get replies.
const ANSWERED_CUSTOMERS: u64 = 20;
/// The account that fell silent three hours ago.
const QUIET_ACCOUNT: &str = "17841400099999";
/// Its DMs before it fell silent (more than the default silence rule asks).
const QUIET_DMS: u64 = 25;

/// Generates plausible DM traffic: several accounts, each with its own customers.
struct Traffic {
    accounts: u32,
    random: u64,
    counter: u64,
    run_id: String,
}

impl Traffic {
    fn new(accounts: u32) -> Self {
        let mut seed = [0u8; 8];
        // A fixed seed would only make mids collide across runs; fall back to the clock.
        let seed = match getrandom::fill(&mut seed) {
            Ok(()) => u64::from_le_bytes(seed),
            Err(_) => now_ms() as u64,
        } | 1;
        Traffic {
            accounts,
            random: seed,
            counter: 0,
            run_id: format!("{seed:016x}"),
        }
    }

    /// xorshift64: plenty for picking accounts and customers.
    fn next(&mut self, below: u64) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random % below
    }

    /// One delivery from an account that was busy three hours ago (event
    /// time) and sends nothing afterwards: [`QUIET_DMS`] received DMs.
    fn gone_quiet(&mut self) -> Batch {
        let start = now_ms() - 3 * 3_600_000;
        let messaging: Vec<_> = (0..QUIET_DMS)
            .map(|index| {
                self.counter += 1;
                json!({
                    "sender": { "id": format!("sim-customer-{}", index % CUSTOMERS) },
                    "recipient": { "id": QUIET_ACCOUNT },
                    "timestamp": start + index as i64 * 60_000,
                    "message": { "mid": format!("sim-{}-{}", self.run_id, self.counter), "text": "Hello?" },
                })
            })
            .collect();
        let body = json!({ "object": "instagram", "entry": [
            { "id": QUIET_ACCOUNT, "time": start, "messaging": messaging }
        ]});
        Batch {
            body: serde_json::to_vec(&body).expect("a JSON value always serialises"),
            received: QUIET_DMS,
            ..Batch::default()
        }
    }

    /// One delivery of `events` events, grouped per account as Meta does:
    /// mostly DMs (about three received for two sent, like an auto-replying
    /// inbox), plus reactions, read receipts and comments. The automation
    /// answers customers 0–19 of each account after a while (whenever a sent
    /// DM picks them) and never answers 20–24, who wait for a reply.
    fn batch(&mut self, events: u64) -> Batch {
        let now = now_ms();
        let mut entries: Vec<(String, Vec<serde_json::Value>, Vec<serde_json::Value>)> = Vec::new();
        let mut batch = Batch::default();
        for _ in 0..events {
            let account = format!("17841400000{:05}", self.next(u64::from(self.accounts)));
            let customer = format!("sim-customer-{}", self.next(CUSTOMERS));
            self.counter += 1;
            let id = format!("sim-{}-{}", self.run_id, self.counter);
            let index = match entries.iter().position(|(known, _, _)| *known == account) {
                Some(index) => index,
                None => {
                    entries.push((account.clone(), Vec::new(), Vec::new()));
                    entries.len() - 1
                }
            };
            let (_, messaging, changes) = &mut entries[index];
            let from_customer = json!({ "sender": { "id": customer }, "recipient": { "id": account }, "timestamp": now });
            match self.next(10) {
                0 => {
                    changes.push(json!({ "field": "comments", "value": {
                        "id": id, "from": { "id": customer, "username": customer },
                        "media": { "id": "sim-media", "media_product_type": "FEED" },
                        "text": "Love it! \u{1f60d}",
                    }}));
                    batch.other += 1;
                }
                1 => {
                    let mut item = from_customer;
                    item["reaction"] = json!({ "mid": id, "action": "react", "reaction": "love", "emoji": "\u{2764}" });
                    messaging.push(item);
                    batch.other += 1;
                }
                2 => {
                    let mut item = from_customer;
                    item["read"] = json!({ "mid": id });
                    messaging.push(item);
                    batch.other += 1;
                }
                3..=5 => {
                    let customer = format!("sim-customer-{}", self.next(ANSWERED_CUSTOMERS));
                    messaging.push(json!({
                        "sender": { "id": account }, "recipient": { "id": customer }, "timestamp": now,
                        "message": { "mid": id, "text": "Thanks! Here is the link.", "is_echo": true },
                    }));
                    batch.sent += 1;
                }
                _ => {
                    let mut item = from_customer;
                    item["message"] =
                        json!({ "mid": id, "text": "Hi from pulse simulate \u{2728}" });
                    messaging.push(item);
                    batch.received += 1;
                }
            }
        }
        let entry: Vec<_> = entries
            .into_iter()
            .map(|(id, messaging, changes)| json!({ "id": id, "time": now, "messaging": messaging, "changes": changes }))
            .collect();
        batch.body = serde_json::to_vec(&json!({ "object": "instagram", "entry": entry }))
            .expect("a JSON value always serialises");
        batch
    }
}

/// One generated delivery and what it contains.
#[derive(Default)]
struct Batch {
    body: Vec<u8>,
    received: u64,
    sent: u64,
    other: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::payload;

    #[test]
    fn urls_default_to_the_webhook_path_and_reject_https() {
        assert_eq!(
            webhook_url("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000/api/webhooks/instagram"
        );
        assert_eq!(
            webhook_url("http://h:1/").unwrap(),
            "http://h:1/api/webhooks/instagram"
        );
        assert_eq!(
            webhook_url("http://h:1/custom/hook").unwrap(),
            "http://h:1/custom/hook"
        );
        assert!(webhook_url("https://example.com").is_err());
        assert!(webhook_url("http:///x").is_err());
    }

    #[test]
    fn the_quiet_account_was_busy_three_hours_ago() {
        let mut traffic = Traffic::new(3);
        let batch = traffic.gone_quiet();
        let now = now_ms();
        let events = payload::parse(&batch.body, now).unwrap();
        assert_eq!(events.len() as u64, QUIET_DMS);
        assert!(events.iter().all(|event| event.account_id == QUIET_ACCOUNT
            && event.kind.as_str() == "dm_received"
            && event.occurred_at_ms < now - 2 * 3_600_000));
    }

    #[test]
    fn batches_parse_back_into_the_announced_events() {
        let mut traffic = Traffic::new(3);
        let batch = traffic.batch(200);
        assert_eq!(batch.received + batch.sent + batch.other, 200);
        assert!(batch.received > 0 && batch.sent > 0 && batch.other > 0);
        let events = payload::parse(&batch.body, now_ms()).unwrap();
        assert_eq!(events.len(), 200);
        let count = |kind: &str| events.iter().filter(|e| e.kind.as_str() == kind).count() as u64;
        assert_eq!(count("dm_received"), batch.received);
        assert_eq!(count("dm_sent"), batch.sent);
        assert_eq!(
            count("comment") + count("reaction") + count("read"),
            batch.other
        );
        assert_eq!(count("invalid"), 0);
        // Replies go to the answered customers only; the others only write.
        let unanswered = |peer: &str| {
            peer.strip_prefix("sim-customer-")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= ANSWERED_CUSTOMERS)
        };
        assert!(events
            .iter()
            .filter(|e| e.kind.as_str() == "dm_sent")
            .all(|e| !unanswered(e.peer_id.as_deref().unwrap_or_default())));
        assert!(events.iter().any(|e| e.kind.as_str() == "dm_received"
            && unanswered(e.peer_id.as_deref().unwrap_or_default())));
    }
}
