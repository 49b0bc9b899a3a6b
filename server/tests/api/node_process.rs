//! The real `pulse` binary as a test node: its own process, port and data
//! directory, configured through the environment like in production.

use std::{
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

use crate::helpers::{free_port, Node, ADMIN_EMAIL, ADMIN_PASSWORD, APP_SECRET, VERIFY_TOKEN};

pub struct NodeProcess {
    pub node: Node,
    child: Child,
    data_dir: tempfile::TempDir,
}

impl std::ops::Deref for NodeProcess {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl NodeProcess {
    /// Starts a node (see [`NodeProcess::launch`]) and logs in as the test admin.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut process = Self::launch(env).await;
        process.node.log_in().await;
        process
    }

    /// Starts `pulse serve` with `env` on top of a clean environment for the
    /// settings it reads (the test admin is created on first start), and
    /// waits until it accepts connections.
    pub async fn launch(env: &[(&str, &str)]) -> Self {
        Self::launch_on(tempfile::tempdir().expect("temporary directory"), env).await
    }

    /// Starts a node on `data_dir` (which may hold a database already) and
    /// logs in as the test admin.
    pub async fn start_on(data_dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let mut process = Self::launch_on(data_dir, env).await;
        process.node.log_in().await;
        process
    }

    /// [`NodeProcess::launch`] on `data_dir`.
    /// `LEPTOS_SITE_ADDR` in `env` chooses its port (as a restart does).
    pub async fn launch_on(data_dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let port = env
            .iter()
            .find(|(name, _)| *name == "LEPTOS_SITE_ADDR")
            .and_then(|(_, address)| address.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(free_port);
        let log = std::fs::File::create(data_dir.path().join("pulse.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_pulse"));
        command
            .arg("serve")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("PULSE_DATA_DIR", data_dir.path())
            .env("IG_APP_SECRET", APP_SECRET)
            .env("IG_VERIFY_TOKEN", VERIFY_TOKEN)
            .env("RUST_LOG", "info,pulse=debug")
            .env("PULSE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PULSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start pulse");
        let process = NodeProcess {
            node: Node::new(format!("http://127.0.0.1:{port}")),
            child,
            data_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while process
            .client
            .get(format!("{}/healthz", process.address))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pulse did not start listening:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    /// Kills the node at once (SIGKILL, as `kill -9`) and hands back its data
    /// directory, to start a node on it again.
    pub fn kill_hard(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(
            &mut self.data_dir,
            tempfile::tempdir().expect("temporary directory"),
        )
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Everything the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("pulse.log")).unwrap_or_default()
    }

    /// The bus mode `/readyz` reports.
    pub async fn bus_mode(&self) -> String {
        let readiness: serde_json::Value = self
            .get("/readyz")
            .await
            .json()
            .await
            .expect("readiness JSON");
        readiness["bus"].as_str().expect("a bus mode").to_string()
    }

    /// Waits until `/readyz` reports `mode`, failing after `timeout`.
    pub async fn wait_for_mode(&self, mode: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let current = self.bus_mode().await;
            if current == mode {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the node stayed in {current}, not {mode}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits (up to 10 s) for the process to exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for pulse") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pulse did not exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
