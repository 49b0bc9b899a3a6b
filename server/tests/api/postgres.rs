//! The tests' Postgres: one private cluster per test process (see
//! `testkit::postgres`), one fresh database per test.

use std::sync::OnceLock;

use testkit::postgres::Cluster;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The URL of a new, empty database on the test cluster.
pub async fn fresh_database_url() -> String {
    CLUSTER
        .get_or_init(Cluster::start)
        .fresh_database_url()
        .await
}
