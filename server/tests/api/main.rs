//! Integration tests of the `pulse` server: real HTTP on a free port, a real
//! SQLite file in a temporary directory, a real SSE stream; for scale-out, real
//! `pulse` processes sharing a private Postgres and a private `redis-server`.

mod account_page;
mod accounts_csv;
mod alerts;
mod assets;
mod auth;
mod backup;
mod dashboard;
mod disk_full;
mod faults;
mod helpers;
mod history;
mod import_rules;
mod metrics;
mod node_process;
mod postgres;
mod process;
mod properties;
mod proxy;
mod public_endpoints;
mod scale_out;
mod store;
mod stream;
mod tls;
mod webhook;
