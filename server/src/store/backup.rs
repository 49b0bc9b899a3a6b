//! Backups of an SQLite store, taken while the node serves, and their
//! restore onto a new data directory. (On Postgres the database's own tools
//! do both: `pg_dump` and `psql`/`pg_restore`; see README.)
//!
//! A backup is `VACUUM INTO` a file beside the target, on a read-only
//! connection: SQLite copies one consistent snapshot of the database (every
//! transaction committed before it began, none after) while the writer goes
//! on, since readers never wait for the writer in WAL mode. The copy is
//! synced, checked (`quick_check`) and only then renamed to the target, so a
//! file with the target's name is always a whole backup. A restore checks the
//! backup the same way and copies it in under the same rule.

use std::{
    fs, io,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use sqlx::{AnyConnection, Connection};

/// What a backup or a restore holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contents {
    /// Stored events.
    pub events: i64,
    /// The store version (every delivery acknowledged with a version up to
    /// it is in).
    pub version: i64,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// Why a backup or a restore was refused or failed. Nothing is left behind
/// under the target's name in any case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is not an SQLite file.
    #[error(
        "pulse backup and restore copy SQLite databases; on Postgres use pg_dump and psql \
         (README, \"Backups\")"
    )]
    NotSqlite,
    /// There is no database to back up.
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    /// The target exists already.
    #[error("{0} exists already: a backup or restore never overwrites a file")]
    TargetExists(PathBuf),
    /// The file to restore is not a whole Pulse database.
    #[error("{path} is not a Pulse backup: {reason}")]
    NotABackup {
        /// The file in question.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be written, synced or renamed (a full disk, say).
    #[error("cannot write {path}")]
    File {
        /// The file in question.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The database refused or failed a statement.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The file of the SQLite database `url` names; [`BackupError::NotSqlite`]
/// for any other engine.
pub fn sqlite_file(url: &str) -> Result<PathBuf, BackupError> {
    match super::Backend::from_url(url) {
        Ok(super::Backend::Sqlite) => Ok(PathBuf::from(super::connect::sqlite_path(url))),
        _ => Err(BackupError::NotSqlite),
    }
}

/// Copies the SQLite database at `database` into `target` (which must not
/// exist) while it may be in use; returns what the backup holds.
pub async fn backup(database: &Path, target: &Path) -> Result<Contents, BackupError> {
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database.to_path_buf()));
    }
    refuse_existing(target)?;
    let partial = partial_of(target);
    let copied = async {
        let mut source = connect(database, "ro").await?;
        let quoted = partial.display().to_string().replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{quoted}'"))
            .execute(&mut source)
            .await?;
        source.close().await?;
        make_private_and_sync(&partial)?;
        let contents = check(&partial).await?;
        rename_into_place(&partial, target)?;
        Ok(contents)
    };
    let result = copied.await;
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Copies the backup `source` to `database` (which must not exist, nor its
/// journal), after checking it is a whole Pulse database; returns what it
/// holds. The node migrates it on start when the backup is older.
pub async fn restore(source: &Path, database: &Path) -> Result<Contents, BackupError> {
    for existing in [database.to_path_buf(), journal_of(database)] {
        refuse_existing(&existing)?;
    }
    check(source).await?;
    let partial = partial_of(database);
    let copied = (|| {
        let mut from = fs::File::open(source).map_err(|error| file_error(source, error))?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|error| file_error(&partial, error))?;
        io::copy(&mut from, &mut to).map_err(|error| file_error(&partial, error))?;
        to.sync_all().map_err(|error| file_error(&partial, error))
    })();
    let result = match copied {
        Ok(()) => match check(&partial).await {
            Ok(contents) => rename_into_place(&partial, database).map(|()| contents),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// What a database file holds, after SQLite's `quick_check` found it whole
/// and it has Pulse's tables.
async fn check(path: &Path) -> Result<Contents, BackupError> {
    let not_a_backup = |reason: String| BackupError::NotABackup {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(not_a_backup("no such file".to_owned()));
    }
    let mut connection = connect(path, "ro")
        .await
        .map_err(|error| not_a_backup(crate::error_chain(&error)))?;
    let checked: Result<(String, i64), sqlx::Error> = async {
        let (verdict,): (String,) = sqlx::query_as("PRAGMA quick_check")
            .fetch_one(&mut connection)
            .await?;
        let (tables,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('_sqlx_migrations', 'events', 'store_slots')",
        )
        .fetch_one(&mut connection)
        .await?;
        Ok((verdict, tables))
    }
    .await;
    let (verdict, tables) = checked.map_err(|error| not_a_backup(crate::error_chain(&error)))?;
    if verdict != "ok" {
        return Err(not_a_backup(format!("SQLite finds it damaged ({verdict})")));
    }
    if tables != 3 {
        return Err(not_a_backup("it has no Pulse tables".to_owned()));
    }
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await?;
    let version = super::sql::version_on(&mut connection).await?;
    connection.close().await?;
    let bytes = fs::metadata(path)
        .map_err(|error| file_error(path, error))?
        .len();
    Ok(Contents {
        events,
        version,
        bytes,
    })
}

async fn connect(path: &Path, mode: &str) -> Result<AnyConnection, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode={mode}", path.display());
    let mut connection = AnyConnection::connect(&url).await?;
    sqlx::query("PRAGMA busy_timeout = 5000")
        .execute(&mut connection)
        .await?;
    Ok(connection)
}

fn refuse_existing(path: &Path) -> Result<(), BackupError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(BackupError::TargetExists(path.to_path_buf())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(file_error(path, error)),
    }
}

/// Where a copy is written before it is whole: beside `target`, so that the
/// rename is atomic.
fn partial_of(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

/// SQLite's write-ahead log beside `database`.
fn journal_of(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push("-wal");
    database.with_file_name(name)
}

fn make_private_and_sync(path: &Path) -> Result<(), BackupError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .and_then(|()| fs::File::open(path)?.sync_all())
        .map_err(|error| file_error(path, error))
}

/// Renames `partial` to `target` (refusing to replace one that appeared
/// meanwhile) and syncs the directory, so the name survives a crash.
fn rename_into_place(partial: &Path, target: &Path) -> Result<(), BackupError> {
    fs::hard_link(partial, target)
        .and_then(|()| fs::remove_file(partial))
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => BackupError::TargetExists(target.to_path_buf()),
            _ => file_error(target, error),
        })?;
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(directory)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| file_error(directory, error))
}

fn file_error(path: &Path, source: io::Error) -> BackupError {
    BackupError::File {
        path: path.to_path_buf(),
        source,
    }
}
