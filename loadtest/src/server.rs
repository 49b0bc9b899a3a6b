//! The server under test: the release `pulse` binary, started by the harness
//! on a free loopback port with its own data directory and a known admin.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use testkit::responses::{metric_sample, session_cookie};

pub const APP_SECRET: &str = "loadtest-app-secret";
pub const ADMIN_EMAIL: &str = "bench@loadtest.example";
pub const ADMIN_PASSWORD: &str = "loadtest admin password";

/// A running `pulse serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
    pub port: u16,
    /// The server's log (stdout and stderr).
    pub log_path: PathBuf,
    /// Kept here only when this server owns it (removed when dropped).
    _own_data_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `binary serve` with `env` and a fresh data directory, and waits
    /// until it answers `/healthz`.
    pub async fn start(binary: &Path, env: &[(&str, String)]) -> Result<Server> {
        let data_dir = tempfile::tempdir().context("temporary data directory")?;
        let mut server = Server::start_in(binary, env, data_dir.path()).await?;
        server._own_data_dir = Some(data_dir);
        Ok(server)
    }

    /// Starts `binary serve` on the data directory `data_dir`, which the
    /// caller keeps (so a later server can start on the same database).
    pub async fn start_in(
        binary: &Path,
        env: &[(&str, String)],
        data_dir: &Path,
    ) -> Result<Server> {
        if !binary.exists() {
            bail!(
                "{} does not exist: build it first (`cargo leptos build --release`, or `make bench`)",
                binary.display()
            );
        }
        let port = testkit::free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("pulse.log"))?;
        let site_root: PathBuf = binary
            .parent()
            .and_then(Path::parent)
            .map(|target| target.join("site"))
            .unwrap_or_else(|| PathBuf::from("target/site"));
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", site_root)
            .env("PULSE_DATA_DIR", data_dir)
            .env("IG_APP_SECRET", APP_SECRET)
            .env("IG_VERIFY_TOKEN", "loadtest-verify-token")
            .env("PULSE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PULSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            // Every client of the harness shares one session, and one address.
            .env("PULSE_MAX_STREAMS_PER_SESSION", "100000")
            .env("PULSE_MAX_CONNECTIONS_PER_ADDRESS", "0")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().context("start pulse")?;
        let server = Server {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            log_path: data_dir.join("pulse.log"),
            _own_data_dir: None,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client
                .get(format!("{}/healthz", server.base_url))
                .send()
                .await
            {
                if response.status().is_success() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                bail!("pulse did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resident memory of the server process, in KiB (from /proc).
    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib_of(self.child.id())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Bytes written to the server's log so far.
    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log_path).map_or(0, |meta| meta.len())
    }

    /// CPU time (user + system) the server process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        crate::cpu::process_seconds(&self.child.id().to_string())
    }

    /// Logs in and returns the `pulse_session=…` cookie.
    pub async fn log_in(&self) -> Result<String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let response = client
            .post(format!("{}/api/auth/login", self.base_url))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await?;
        session_cookie(
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|value| value.to_str().ok()),
        )
        .with_context(|| format!("login refused: {}", response.status()))
    }

    /// Reads the snapshot every 50 ms until `done` holds of it or `timeout`
    /// has passed; returns the last one read (the caller says what was wrong).
    pub async fn snapshot_when(
        &self,
        cookie: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let snapshot = self.snapshot(cookie).await?;
            if done(&snapshot) || Instant::now() > deadline {
                return Ok(snapshot);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's current snapshot, as JSON.
    pub async fn snapshot(&self, cookie: &str) -> Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .get(format!("{}/api/admin/stats", self.base_url))
            .header("cookie", cookie)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// One figure from `/metrics` (0 when absent).
    pub async fn metric(&self, cookie: &str, name: &str) -> Result<f64> {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base_url))
            .header("cookie", cookie)
            .send()
            .await?
            .text()
            .await?;
        Ok(metric_sample(&text, name))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid`, in KiB (from /proc).
pub fn rss_kib_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS missing from /proc/<pid>/status")
}
