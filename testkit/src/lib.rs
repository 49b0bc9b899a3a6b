//! Real servers for tests and benchmarks, started on free loopback ports and
//! stopped however the process that started them ends: a private Postgres
//! cluster ([`postgres::Cluster`]) and a private `redis-server`
//! ([`redis::RedisServer`]) that a test can kill and restart; Debian's nginx
//! running the project's recipe ([`nginx::Nginx`]); a small filesystem to
//! fill ([`tmpfs::Tmpfs`]); a network namespace to cut off
//! ([`partition::Partition`]); and [`responses`], how a client reads Pulse's
//! cookie and metrics.

pub mod nginx;
pub mod partition;
pub mod postgres;
pub mod redis;
pub mod responses;
pub mod tmpfs;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `command` to the end and panics, with its standard error, unless it
/// succeeds; `what` says what it was for (and how to get it, if missing).
pub fn run_ok(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot run it: {error}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Raises this process's soft open-file limit to its hard limit (children,
/// such as the server a harness starts, inherit it) and returns the limit
/// in force.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// A server process under a small shell supervisor, which stops it when the
/// owner's end of the supervisor's stdin closes: on [`Supervised::stop`], on
/// drop, or when the owner process ends however it ends.
pub(crate) struct Supervised {
    /// The server's process id.
    pub pid: u32,
    supervisor: std::process::Child,
    _lifeline: std::process::ChildStdin,
}

impl Supervised {
    /// Runs the shell command line `server` in the background under a
    /// supervisor that sends it `SIG<stop_signal>` once the lifeline closes.
    pub(crate) fn start(server: &str, stop_signal: &str, what: &str) -> Self {
        use std::io::BufRead;
        let script = format!(
            "{server} >/dev/null 2>&1 & pid=$!; echo $pid; cat >/dev/null; kill -{stop_signal} $pid 2>/dev/null"
        );
        let mut supervisor = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start the {what} supervisor: {error}"));
        let lifeline = supervisor.stdin.take().expect("supervisor stdin");
        let mut pid = String::new();
        std::io::BufReader::new(supervisor.stdout.take().expect("supervisor stdout"))
            .read_line(&mut pid)
            .unwrap_or_else(|error| panic!("the supervisor prints {what}'s pid: {error}"));
        Supervised {
            pid: pid.trim().parse().expect("a pid"),
            supervisor,
            _lifeline: lifeline,
        }
    }

    /// Kills the server at once (SIGKILL) and waits for the supervisor.
    pub(crate) fn stop(self) {
        let Supervised {
            pid,
            mut supervisor,
            _lifeline,
        } = self;
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        drop(_lifeline);
        let _ = supervisor.wait();
    }
}
