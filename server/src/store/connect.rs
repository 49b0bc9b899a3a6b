//! Opening a store: pools, engine settings and migrations per backend.

use std::time::Duration;

use sqlx::{any::AnyPoolOptions, AnyPool, Executor};

use super::{Backend, StoreError};

/// How long an SQLite query waits for a lock held by another process.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per Postgres pool; several nodes share the server.
const POSTGRES_POOL_SIZE: u32 = 10;

/// Connects the writer and reader pools for `url` and brings the schema up to date.
pub(super) async fn open(backend: Backend, url: &str) -> Result<(AnyPool, AnyPool), StoreError> {
    sqlx::any::install_default_drivers();
    match backend {
        Backend::Sqlite => open_sqlite(url).await,
        Backend::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(POSTGRES_POOL_SIZE)
                .connect(url)
                .await?;
            sqlx::migrate!("../migrations/postgres").run(&pool).await?;
            Ok((pool.clone(), pool))
        }
    }
}

/// One writer connection and a few read-only ones on the same file, with the
/// WAL journal (readers never wait for the writer) and `synchronous = FULL`
/// (a commit survives power loss).
async fn open_sqlite(url: &str) -> Result<(AnyPool, AnyPool), StoreError> {
    let with_mode = |mode: &str| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode={mode}")
    };
    let settings = format!(
        "PRAGMA busy_timeout = {}; PRAGMA synchronous = FULL;",
        SQLITE_BUSY_TIMEOUT.as_millis()
    );
    let writer_settings = settings.clone();
    let writer = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |connection, _| {
            let settings = writer_settings.clone();
            Box::pin(async move { connection.execute(settings.as_str()).await.map(|_| ()) })
        })
        .connect(&with_mode("rwc"))
        .await?;
    // The journal mode is stored in the file; setting it once suffices.
    writer.execute("PRAGMA journal_mode = WAL").await?;
    sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
    let reader = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(move |connection, _| {
            let settings = settings.clone();
            Box::pin(async move { connection.execute(settings.as_str()).await.map(|_| ()) })
        })
        .connect(&with_mode("ro"))
        .await?;
    Ok((writer, reader))
}
