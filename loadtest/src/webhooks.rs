//! Signed Instagram deliveries, as Meta sends them.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::server::APP_SECRET;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A batch of `count` received DMs with fresh message ids.
pub fn dm_batch(count: usize) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let run = std::process::id();
    let messages: Vec<String> = (0..count)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            format!(
                r#"{{"sender":{{"id":"customer-{c}"}},"recipient":{{"id":"biz-{b}"}},"timestamp":{now},"message":{{"mid":"bench-{run}-{id}","text":"hello"}}}}"#,
                c = id % 5000,
                b = id % 7,
            )
        })
        .collect();
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","time":{now},"messaging":[{}]}}]}}"#,
        messages.join(",")
    )
}

/// Posts `body` signed with the app secret; returns the acknowledged store
/// version (`X-Pulse-Version`) and when the 200 arrived.
pub async fn post(
    client: &reqwest::Client,
    base_url: &str,
    body: String,
) -> Result<(i64, Instant)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let response = client
        .post(format!("{base_url}/api/webhooks/instagram"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .context("send webhook")?;
    let acknowledged = Instant::now();
    if !response.status().is_success() {
        bail!("webhook refused: {}", response.status());
    }
    let version = response
        .headers()
        .get("x-pulse-version")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .context("no X-Pulse-Version header")?;
    Ok((version, acknowledged))
}

/// What paced senders got acknowledged.
#[derive(Default)]
pub struct Paced {
    /// Deliveries planned: the rate times the seconds.
    pub planned: u64,
    pub failed: u64,
    /// Each acknowledged delivery's store version and when its 200 arrived.
    pub acks: Vec<(i64, Instant)>,
    /// Each acknowledged delivery's time from send to 200, in ms.
    pub ack_ms: Vec<f64>,
}

impl Paced {
    /// The `q` quantile of the acknowledgement times, in ms.
    pub fn ack_quantile(&self, q: f64) -> f64 {
        let mut sorted = self.ack_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }
}

/// `per_second` signed single-DM deliveries for `seconds`, from `senders`
/// sequential senders (each waits for its 200 before the next; one that falls
/// behind skips its missed sends instead of bunching them, so a slow server
/// shows as fewer acknowledged).
pub async fn paced(base_url: &str, per_second: u64, senders: u64, seconds: u64) -> Paced {
    let senders = senders.clamp(1, per_second.max(1));
    let planned = per_second * seconds;
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..senders)
        .map(|index| {
            let base = base_url.to_string();
            // The planned deliveries shared out exactly.
            let share = planned / senders + u64::from(index < planned % senders);
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("HTTP client");
                let mut result = Paced::default();
                if share == 0 {
                    return result;
                }
                let mut ticks =
                    tokio::time::interval(Duration::from_secs_f64(seconds as f64 / share as f64));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                for _ in 0..share {
                    ticks.tick().await;
                    if Instant::now() >= until {
                        break;
                    }
                    let sent_at = Instant::now();
                    match post(&http, &base, dm_batch(1)).await {
                        Ok((version, acknowledged)) => {
                            result.acks.push((version, acknowledged));
                            result
                                .ack_ms
                                .push(acknowledged.duration_since(sent_at).as_secs_f64() * 1e3);
                        }
                        Err(error) => {
                            eprintln!("delivery failed: {error:#}");
                            result.failed += 1;
                        }
                    }
                }
                result
            })
        })
        .collect();
    let mut total = Paced {
        planned,
        ..Paced::default()
    };
    for task in tasks {
        match task.await {
            Ok(result) => {
                total.failed += result.failed;
                total.acks.extend(result.acks);
                total.ack_ms.extend(result.ack_ms);
            }
            Err(_) => total.failed += 1,
        }
    }
    total
}
