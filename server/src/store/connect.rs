//! Opening a store: pools, engine settings and migrations per backend.

use std::time::Duration;

use sqlx::{any::AnyPoolOptions, AnyPool, Executor};

use super::{checkpoints, transaction, Backend, StoreError};

/// Per-connection SQLite settings: wait up to 5 s for a lock held by another
/// process, sync every commit to disk, and keep temporary data (statement
/// journals, sorts) in memory: by default a statement journal over 64 KiB
/// spills to a file, which a group's multi-row insert always did, writing
/// every page it changed twice.
const SQLITE_CONNECTION_SETTINGS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;";
/// Connections per Postgres pool; several nodes share the server.
const POSTGRES_POOL_SIZE: u32 = 10;
/// Longest wait for a pooled connection (sqlx's default is 30 s): a database
/// that cannot be reached fails a request within it, well before Meta's 20 s
/// delivery timeout, instead of holding it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings every pool shares: [`ACQUIRE_TIMEOUT`], and a connection
/// handed back while sqlx counts it inside a transaction (its rollback
/// failed, or never ran) is closed instead of reused (see `transaction`).
fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_release(|connection, _| {
            let settled = transaction::is_settled(connection);
            Box::pin(async move {
                if !settled {
                    tracing::warn!(
                        "a database connection was left inside a transaction; closing it"
                    );
                }
                Ok(settled)
            })
        })
}

/// The pools a store works with.
pub(super) struct Pools {
    /// Takes every write (on SQLite, its one connection).
    pub writer: AnyPool,
    /// Serves reads.
    pub reader: AnyPool,
    /// SQLite: the connection that copies the WAL back (see `checkpoints`).
    pub checkpointer: Option<AnyPool>,
}

/// Connects the pools for `url` and brings the schema up to date.
pub(super) async fn open(backend: Backend, url: &str) -> Result<Pools, StoreError> {
    sqlx::any::install_default_drivers();
    match backend {
        Backend::Sqlite => open_sqlite(url).await,
        Backend::Postgres => {
            let pool = pool_options()
                .max_connections(POSTGRES_POOL_SIZE)
                .connect(url)
                .await?;
            migrate(&pool, backend, &sqlx::migrate!("../migrations/postgres")).await?;
            Ok(Pools {
                writer: pool.clone(),
                reader: pool,
                checkpointer: None,
            })
        }
    }
}

/// Brings the schema up to date with `migrator`. A schema a newer `pulse`
/// took beyond what this build knows is used as it is when it says this
/// build still works with it (its `schema_floor`, the oldest migration a node
/// must carry, is one this build has: the newer migrations only added what
/// this build does not touch), so nodes can be upgraded one at a time;
/// otherwise the node refuses to start and says why.
async fn migrate(
    pool: &AnyPool,
    backend: Backend,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), StoreError> {
    let known = migrator
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0);
    if let Some(found) = newest_applied(pool, backend)
        .await?
        .filter(|found| *found > known)
    {
        let needs = schema_floor(pool, backend).await?.unwrap_or(found);
        if needs > known {
            return Err(StoreError::SchemaNewer {
                found,
                known,
                needs,
            });
        }
        tracing::info!(
            "the schema is at migration {found}, newer than this pulse knows (up to {known}); \
             it still works with nodes that carry migration {needs}, which this one does"
        );
        return Ok(());
    }
    migrator.run(pool).await?;
    Ok(())
}

/// The newest migration applied to the database, if it has any.
async fn newest_applied(pool: &AnyPool, backend: Backend) -> Result<Option<i64>, StoreError> {
    if !has_table(pool, backend, "_sqlx_migrations").await? {
        return Ok(None);
    }
    let (found,): (Option<i64>,) =
        sqlx::query_as("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(found)
}

/// The oldest migration a node must carry to run on this schema (migration
/// sqlite 0016 / postgres 0018), if the schema says.
async fn schema_floor(pool: &AnyPool, backend: Backend) -> Result<Option<i64>, StoreError> {
    if !has_table(pool, backend, "schema_floor").await? {
        return Ok(None);
    }
    let floor: Option<(i64,)> = sqlx::query_as("SELECT oldest_migration FROM schema_floor")
        .fetch_optional(pool)
        .await?;
    Ok(floor.map(|(oldest,)| oldest))
}

/// Whether the database has a table named `name`.
async fn has_table(pool: &AnyPool, backend: Backend, name: &str) -> Result<bool, StoreError> {
    let exists = match backend {
        Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        Backend::Postgres => {
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() \
             AND tablename = $1"
        }
    };
    let (tables,): (i64,) = sqlx::query_as(exists).bind(name).fetch_one(pool).await?;
    Ok(tables > 0)
}

/// One writer connection, a few read-only ones and one that checkpoints, on
/// the same file, with the WAL journal (readers never wait for the writer)
/// and `synchronous = FULL` (a commit survives power loss).
async fn open_sqlite(url: &str) -> Result<Pools, StoreError> {
    create_private_file(sqlite_path(url)).map_err(|source| StoreError::File {
        path: sqlite_path(url).to_string(),
        source,
    })?;
    let with_mode = |mode: &str| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode={mode}")
    };
    // The writer copies the WAL back itself only past this many pages;
    // `checkpoints` does it before.
    let writer_settings = format!(
        "PRAGMA wal_autocheckpoint = {};",
        checkpoints::WRITER_CHECKPOINT_PAGES
    );
    let writer = sqlite_pool(&with_mode("rwc"), 1, Some(writer_settings)).await?;
    // The journal mode is stored in the file; setting it once suffices.
    writer.execute("PRAGMA journal_mode = WAL").await?;
    migrate(
        &writer,
        Backend::Sqlite,
        &sqlx::migrate!("../migrations/sqlite"),
    )
    .await?;
    Ok(Pools {
        writer,
        reader: sqlite_pool(&with_mode("ro"), 4, None).await?,
        checkpointer: Some(sqlite_pool(&with_mode("rw"), 1, None).await?),
    })
}

/// The file an `sqlite:` URL names.
pub(super) fn sqlite_path(url: &str) -> &str {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    path.split('?').next().unwrap_or(path)
}

/// Creates the database file, when it does not exist yet, readable and
/// writable by its owner only (0600); SQLite gives its `-wal` and `-shm`
/// files the same mode.
fn create_private_file(path: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// A pool whose every connection gets [`SQLITE_CONNECTION_SETTINGS`] and
/// `more` settings: the Any driver takes no SQLite options, so they are
/// applied as `PRAGMA`s.
async fn sqlite_pool(
    url: &str,
    max_connections: u32,
    more: Option<String>,
) -> Result<AnyPool, sqlx::Error> {
    pool_options()
        .max_connections(max_connections)
        .after_connect(move |connection, _| {
            let more = more.clone();
            Box::pin(async move {
                connection.execute(SQLITE_CONNECTION_SETTINGS).await?;
                if let Some(more) = more {
                    connection.execute(more.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}
