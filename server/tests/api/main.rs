//! Integration tests of the `pulse` server: real HTTP on a free port, a real
//! SQLite file in a temporary directory, a real SSE stream.

mod dashboard;
mod helpers;
mod postgres;
mod process;
mod properties;
mod store;
mod stream;
mod webhook;
