//! A private Postgres cluster: started on a free port in a temporary
//! directory, one fresh database per caller, and stopped (directory removed)
//! when the [`Cluster`] is dropped or the process exits, because the process
//! that supervises it reads our standard-input pipe and stops the server as
//! soon as that pipe closes.

use std::{
    io::Read,
    net::TcpStream,
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor, PgConnection};

use crate::{free_port, partition::Partition};

/// A running Postgres server of our own.
pub struct Cluster {
    /// `postgres://user@host:port`, without a database.
    server_url: String,
    next_database: AtomicU32,
    /// Held until the process exits; closing it stops the server.
    _lifeline: Mutex<(Child, ChildStdin)>,
}

impl Cluster {
    /// Starts a cluster for tests (initdb, then the server under a
    /// supervisor), with `fsync = off`: fast, and nothing to lose.
    pub fn start() -> Cluster {
        start_cluster(false)
    }

    /// Starts a cluster that syncs commits to disk like a production one
    /// (for benchmarks of durable ingestion), with `pg_stat_statements`
    /// loaded so that a benchmark can read each statement's execution time.
    pub fn start_durable() -> Cluster {
        start_cluster(true)
    }

    /// The URL of a new, empty database on this cluster.
    pub async fn fresh_database_url(&self) -> String {
        fresh_database_url(self).await
    }
}

async fn fresh_database_url(cluster: &Cluster) -> String {
    let name = format!(
        "pulse_test_{}_{}",
        std::process::id(),
        cluster.next_database.fetch_add(1, Ordering::SeqCst)
    );
    // The port opens a moment before the server accepts sessions.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut admin = loop {
        match PgConnection::connect(&format!("{}/postgres", cluster.server_url)).await {
            Ok(connection) => break connection,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot connect to the test Postgres: {error}"),
        }
    };
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create a test database");
    format!("{}/{name}", cluster.server_url)
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql); `make test` installs it")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
}

/// Runs the supervisor `script` (it starts the server and stops it when its
/// standard input closes) as the `postgres` user; the child and its lifeline.
fn supervise(script: &str) -> (Child, ChildStdin) {
    supervise_in(None, script)
}

/// [`supervise`], inside a partition's namespace when one is given (the
/// words that enter it).
fn supervise_in(namespace: Option<&[String; 4]>, script: &str) -> (Child, ChildStdin) {
    let mut command = as_postgres_user("sh", &["-c", script]);
    if let Some(enter) = namespace {
        let inner = std::iter::once(command.get_program().to_owned())
            .chain(command.get_args().map(ToOwned::to_owned))
            .collect::<Vec<_>>();
        command = Command::new(&enter[0]);
        command.args(&enter[1..]).args(inner);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the Postgres supervisor");
    let stdin = child.stdin.take().expect("supervisor stdin");
    (child, stdin)
}

/// Creates a cluster in `data` (trusting local users, superuser `postgres`)
/// with one more initdb option, `option`.
fn initdb(bin: &std::path::Path, data: &std::path::Path, option: &str) {
    crate::run_ok(
        as_postgres_user(
            bin.join("initdb").to_str().unwrap(),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                option,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped()),
        "initdb",
    );
}

/// Runs `program args` as the `postgres` user when we are root (Postgres
/// refuses to run as root), as ourselves otherwise.
fn as_postgres_user(program: &str, args: &[&str]) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    if is_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]).args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn start_cluster(durable: bool) -> Cluster {
    let bin = postgres_bin();
    let dir = tempfile::Builder::new()
        .prefix("pulse-test-pg-")
        .tempdir()
        .expect("temporary directory")
        .keep();
    let data = dir.join("data");
    let dir_text = dir.display().to_string();
    let status = Command::new("chown")
        .args(["postgres:", &dir_text])
        .status()
        .expect("run chown");
    assert!(
        status.success() || !cfg!(unix),
        "chown of {dir_text} failed"
    );

    initdb(&bin, &data, "--no-sync");

    let port = free_port();
    let settings = if durable {
        "-c fsync=on -c shared_preload_libraries=pg_stat_statements"
    } else {
        "-c fsync=off"
    };
    // The supervisor: start the server, wait for our pipe to close, stop it, clean up.
    let script = format!(
        r#""{postgres}" -D "{data}" -p {port} -k "{dir}" -c listen_addresses=127.0.0.1 {settings} \
             >"{dir}/server.log" 2>&1 & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; rm -rf "{dir}""#,
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir_text,
    );
    let (child, stdin) = supervise(&script);

    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let mut log = String::new();
            let _ = std::fs::File::open(dir.join("server.log"))
                .and_then(|mut f| f.read_to_string(&mut log));
            panic!("the test Postgres did not start within 30 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Cluster {
        server_url: format!("postgres://postgres@127.0.0.1:{port}"),
        next_database: AtomicU32::new(0),
        _lifeline: Mutex::new((child, stdin)),
    }
}

/// A durable cluster whose data directory lives where the test says (a small
/// [`crate::tmpfs::Tmpfs`]), which the test can start again once it stopped:
/// Postgres stops by itself when it cannot write its WAL (a full disk).
pub struct ClusterOn {
    bin: PathBuf,
    data: PathBuf,
    /// Where it listens: loopback, or a [`Partition`]'s address.
    host: String,
    /// The partition's namespace it runs in, if any.
    namespace: Option<[String; 4]>,
    port: u16,
    /// The supervisor of the running server and its lifeline, as for [`Cluster`].
    server: Mutex<Option<(Child, ChildStdin)>>,
}

impl ClusterOn {
    /// Creates a cluster in `dir/data` (1 MB WAL segments, so that it fits a
    /// small filesystem) and starts it.
    pub fn start(dir: &std::path::Path) -> ClusterOn {
        let bin = postgres_bin();
        let data = dir.join("data");
        initdb(&bin, &data, "--wal-segsize=1");
        let cluster = ClusterOn {
            bin,
            data,
            host: "127.0.0.1".to_owned(),
            namespace: None,
            port: free_port(),
            server: Mutex::new(None),
        };
        cluster.start_again();
        cluster
    }

    /// As [`ClusterOn::start`], the server inside `partition`'s namespace,
    /// listening on its address and trusting the test's side of it.
    pub fn start_behind(dir: &std::path::Path, partition: &Partition) -> ClusterOn {
        let bin = postgres_bin();
        let data = dir.join("data");
        initdb(&bin, &data, "--wal-segsize=1");
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        rules.push_str(&format!(
            "host all all {}/32 trust\n",
            partition.outside_address()
        ));
        std::fs::write(&hba, rules).expect("write pg_hba.conf");
        let cluster = ClusterOn {
            bin,
            data,
            host: partition.address().to_owned(),
            namespace: Some(partition.enter().map(str::to_owned)),
            port: free_port(),
            server: Mutex::new(None),
        };
        cluster.start_again();
        cluster
    }

    /// `postgres://postgres@HOST:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@{}:{}/postgres", self.host, self.port)
    }

    /// Whether the server accepts connections (within a second).
    pub fn is_up(&self) -> bool {
        let address = format!("{}:{}", self.host, self.port)
            .parse()
            .expect("a socket address");
        TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        std::env::temp_dir().join(format!("pulse-test-pg-{}-{}.log", self.host, self.port))
    }

    /// Stops the server (a fast shutdown: open connections are closed) and
    /// waits until it has.
    pub fn stop(&self) {
        stop(
            self.server
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .take(),
        );
    }

    /// Freezes the server and every backend (SIGSTOP) without closing a
    /// connection: to its clients it is a database behind a network
    /// partition, whose connections hang instead of failing.
    pub fn freeze(&self) {
        self.signal_all("STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal_all("CONT");
    }

    /// Sends `SIG<signal>` to the postmaster and its children.
    fn signal_all(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .expect("the server's postmaster.pid");
        let postmaster = pid_file.lines().next().expect("a pid").trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &postmaster])
            .output()
            .expect("pgrep runs");
        let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        pids.push(postmaster);
        crate::run_ok(
            Command::new("kill").arg(format!("-{signal}")).args(&pids),
            "kill signals Postgres",
        );
    }

    /// Starts the server (after it stopped) and waits until it answers.
    pub fn start_again(&self) {
        let mut server = self
            .server
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        stop(server.take());
        let script = format!(
            r#""{postgres}" -D "{data}" -p {port} -k /tmp -c listen_addresses={host} \
                -c max_wal_size=8MB -c min_wal_size=2MB >>"{log}" 2>&1 & pid=$!; \
               cat >/dev/null; kill -INT $pid; wait $pid"#,
            postgres = self.bin.join("postgres").display(),
            data = self.data.display(),
            host = self.host,
            port = self.port,
            log = self.log_path().display(),
        );
        *server = Some(supervise_in(self.namespace.as_ref(), &script));
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.is_up() {
            assert!(
                Instant::now() < deadline,
                "Postgres did not start within 30 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Closes a supervisor's lifeline (the server is asked to stop) and waits.
fn stop(server: Option<(Child, ChildStdin)>) {
    if let Some((mut child, lifeline)) = server {
        drop(lifeline);
        let _ = child.wait();
    }
}

impl Drop for ClusterOn {
    fn drop(&mut self) {
        stop(
            self.server
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .take(),
        );
    }
}
