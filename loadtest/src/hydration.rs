//! Time from navigation to a hydrated dashboard in headless Chromium, measured
//! by `end2end/bench/hydration.mjs` (Playwright) against a server started here.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::server::Server;

/// Milliseconds from navigation start to the dashboard's hydration mark.
pub struct Hydration {
    /// Each load in a fresh browser context (empty HTTP cache).
    pub cold: Vec<f64>,
    /// The same page loaded again in that context.
    pub warm: Vec<f64>,
}

/// Loads the dashboard `loads` times (cold, then warm) and returns the times.
pub async fn run(binary: &Path, loads: usize) -> Result<Hydration> {
    let end2end = repository_root(binary).join("end2end");
    if !end2end.join("node_modules/@playwright/test").exists() {
        bail!(
            "Playwright is not installed in {}: run `scripts/setup.sh test` (or `make test`) first",
            end2end.display()
        );
    }
    let server = Server::start(binary, &[]).await?;
    let cookie = server.log_in().await?;
    let output = Command::new("node")
        .arg("bench/hydration.mjs")
        .current_dir(&end2end)
        .env("PULSE_URL", &server.base_url)
        .env("PULSE_COOKIE", cookie)
        .env("LOADS", loads.to_string())
        .output()
        .context("run node (is Node.js installed?)")?;
    if !output.status.success() {
        bail!(
            "hydration.mjs failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let times: serde_json::Value = serde_json::from_slice(&output.stdout)
        .context("hydration.mjs printed something other than its JSON line")?;
    let series = |name: &str| -> Result<Vec<f64>> {
        let values = times[name]
            .as_array()
            .with_context(|| format!("no `{name}` in hydration.mjs's output"))?;
        values
            .iter()
            .map(|value| value.as_f64().context("a time that is not a number"))
            .collect()
    };
    let hydration = Hydration {
        cold: series("cold")?,
        warm: series("warm")?,
    };
    if hydration.cold.len() != loads || hydration.warm.len() != loads {
        bail!("hydration.mjs measured fewer loads than the {loads} asked for");
    }
    Ok(hydration)
}

/// `target/release/pulse` → the repository root.
fn repository_root(binary: &Path) -> PathBuf {
    binary
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .filter(|root| !root.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// (median, max) of `times`.
pub fn median_and_max(times: &[f64]) -> (f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    (median, max)
}
