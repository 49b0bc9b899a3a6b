//! A private `redis-server` on a free port, that its owner can kill and start
//! again (same port) to inject faults. A small shell
//! supervisor stops it when the test process goes away, however it ends.

use std::{
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::{free_port, partition::Partition, Supervised};

/// A `redis-server` of our own, stopped when dropped.
pub struct RedisServer {
    /// Where it listens: loopback, or a [`Partition`]'s address.
    host: String,
    /// The words that enter the partition's namespace it runs in, if any.
    enter: String,
    port: u16,
    running: Option<Supervised>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> Self {
        let mut server = RedisServer {
            host: "127.0.0.1".to_owned(),
            enter: String::new(),
            port: free_port(),
            running: None,
        };
        server.restart();
        server
    }

    /// As [`RedisServer::start`], inside `partition`'s namespace, listening
    /// on its address.
    pub fn start_behind(partition: &Partition) -> Self {
        let mut server = RedisServer {
            host: partition.address().to_owned(),
            enter: format!("{} ", partition.enter().join(" ")),
            port: free_port(),
            running: None,
        };
        server.restart();
        server
    }

    /// `redis://HOST:PORT`
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }

    /// Whether something accepts connections on its address (within a second).
    fn answers(&self) -> bool {
        let address = format!("{}:{}", self.host, self.port)
            .parse()
            .expect("a socket address");
        TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.answers() {
            assert!(Instant::now() < deadline, "redis-server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server (again) on the same port, empty.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "redis-server is already running");
        self.running = Some(Supervised::start(
            &format!(
                // Not protected: a partition's address is reached from
                // outside loopback, yet only from this machine.
                "{}redis-server --port {} --bind {} --protected-mode no --save '' --appendonly no",
                self.enter, self.port, self.host
            ),
            "KILL",
            "redis-server",
        ));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut connection) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start within 10 s (is it installed? `make test` installs it)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A synchronous client for the test's own commands.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid URL")
    }

    /// Runs one command as the default user.
    pub fn run(&self, command: &redis::Cmd) -> redis::Value {
        let mut connection = self.client().get_connection().expect("connect to redis");
        command.query(&mut connection).expect("redis command")
    }

    /// Calls per command since start (from `INFO commandstats`), without the
    /// commands the test itself uses to look.
    pub fn command_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let mut connection = self.client().get_connection().expect("connect to redis");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut connection)
            .expect("INFO commandstats");
        info.lines()
            .filter_map(|line| {
                let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?;
                Some((name.to_string(), calls.parse().ok()?))
            })
            .filter(|(name, _)| name != "info" && name != "ping")
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }
}
