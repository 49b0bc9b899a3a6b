//! How much room the database takes, and how much its disk has left.
//!
//! On SQLite the database is the node's own files (the database, its WAL and
//! shared-memory index) and the disk is the one they are on. On Postgres the
//! size is the database's as Postgres counts it; its disk belongs to another
//! machine, which the node cannot see.

use std::{ffi::CString, os::unix::ffi::OsStrExt, path::Path};

use sqlx::AnyPool;

/// One measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageUse {
    /// Bytes the database takes.
    pub database_bytes: i64,
    /// The database disk's free and total bytes, when the node can see it.
    pub disk: Option<DiskSpace>,
}

/// A filesystem's room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes an unprivileged process may still write.
    pub free_bytes: i64,
    /// Bytes in all.
    pub total_bytes: i64,
}

/// The SQLite database at `file`: its files' sizes and its disk's room.
pub(super) fn of_sqlite(file: &Path) -> std::io::Result<StorageUse> {
    let mut database_bytes = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = file.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::metadata(&name) {
            Ok(metadata) => database_bytes += i64::try_from(metadata.len()).unwrap_or(i64::MAX),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    Ok(StorageUse {
        database_bytes,
        disk: Some(disk_space(directory)?),
    })
}

/// The Postgres database `pool` is connected to: its size.
pub(super) async fn of_postgres(pool: &AnyPool) -> Result<StorageUse, sqlx::Error> {
    let (database_bytes,): (i64,) =
        sqlx::query_as("SELECT CAST(pg_database_size(current_database()) AS BIGINT)")
            .fetch_one(pool)
            .await?;
    Ok(StorageUse {
        database_bytes,
        disk: None,
    })
}

/// The room of the filesystem holding `path` (`statvfs`).
fn disk_space(path: &Path) -> std::io::Result<DiskSpace> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    // SAFETY: statvfs writes only the struct passed; `name` is a valid C string.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(name.as_ptr(), &mut stats) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = stats.f_frsize as i64;
    Ok(DiskSpace {
        free_bytes: (stats.f_bavail as i64).saturating_mul(block),
        total_bytes: (stats.f_blocks as i64).saturating_mul(block),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_database_counts_its_files_and_sees_its_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pulse.db");
        std::fs::write(&file, vec![0_u8; 4096]).unwrap();
        std::fs::write(dir.path().join("pulse.db-wal"), vec![0_u8; 1000]).unwrap();
        let measured = of_sqlite(&file).unwrap();
        assert_eq!(measured.database_bytes, 5096);
        let disk = measured.disk.unwrap();
        assert!(
            disk.total_bytes > 0 && disk.free_bytes <= disk.total_bytes,
            "{disk:?}"
        );
    }
}
