//! Signed Instagram deliveries, as Meta sends them.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
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
