//! Real servers for tests and benchmarks, started on free loopback ports and
//! stopped however the process that started them ends: a private Postgres
//! cluster ([`postgres::Cluster`]) and a private `redis-server`
//! ([`redis::RedisServer`]) that a test can kill and restart; Debian's nginx
//! running the project's recipe ([`nginx::Nginx`]); and
//! [`responses`], how a client reads Pulse's cookie and metrics.

pub mod nginx;
pub mod postgres;
pub mod redis;
pub mod responses;

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
