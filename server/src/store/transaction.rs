//! Write transactions whose end is certain.
//!
//! sqlx counts a connection's transaction depth itself and chooses its
//! statements by that count: `BEGIN` at depth 0, `SAVEPOINT` deeper; `COMMIT`
//! at depth 1, `RELEASE SAVEPOINT` deeper. SQLite may roll a transaction back
//! by itself when a statement fails (`SQLITE_FULL`, `SQLITE_IOERR`, a
//! trigger's `RAISE(ROLLBACK)`), and the `ROLLBACK` sqlx then sends fails
//! ("no transaction is active"), leaving its count at 1 on a connection that
//! is not in a transaction. The next `begin` would then open a `SAVEPOINT`,
//! and after one more failure every later "commit" only released a savepoint
//! inside a transaction that never commits: deliveries answered 200 that no
//! reader ever saw and that were lost with the connection.
//!
//! So the store keeps one rule: **a transaction begins only on a connection
//! sqlx counts at depth 0**, where `begin` sends a real `BEGIN` (which SQLite
//! refuses inside a transaction) and `commit` a real `COMMIT`. A rollback is
//! awaited where the transaction fails ([`end`]), and a pooled connection
//! returned at any other depth is closed, never reused ([`is_settled`], the
//! pools' `after_release`); the Postgres writers drop theirs the same way.

use sqlx::{Any, AnyConnection, AnyPool, Connection, Transaction};

use super::Backend;

/// What a connection left inside a transaction is told when asked for a new one.
const LEFT_IN_TRANSACTION: &str =
    "the connection was left inside a failed transaction; it is closed and a new one opened";

/// Begins a read-only transaction on a connection of `reader` that reads
/// one snapshot of the database throughout: SQLite transactions do already,
/// Postgres needs asking.
pub(super) async fn begin_read(
    reader: &AnyPool,
    backend: Backend,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let mut tx = reader.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Begins a transaction on `connection`, which must not be in one.
pub(super) async fn begin(
    connection: &mut AnyConnection,
) -> Result<Transaction<'_, Any>, sqlx::Error> {
    if !is_settled(connection) {
        // A rollback sqlx queued when a transaction was dropped (a failed
        // commit) goes out before the next command: let it, then look again.
        let _ = connection.ping().await;
        if !is_settled(connection) {
            return Err(sqlx::Error::Protocol(LEFT_IN_TRANSACTION.into()));
        }
    }
    connection.begin().await
}

/// Commits `transaction` when `outcome` is a success, else rolls it back and
/// waits for the rollback, so that the connection is settled (or, when the
/// rollback failed, known not to be: see [`is_settled`]) before it is used
/// again. Returns `outcome`, or the commit's failure.
pub(super) async fn end<T>(
    transaction: Transaction<'_, Any>,
    outcome: Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    match outcome {
        Ok(value) => {
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = transaction.rollback().await {
                tracing::debug!(error = %rollback, "rollback after a failed write failed");
            }
            Err(error)
        }
    }
}

/// Whether `connection` is outside any transaction as far as sqlx counts:
/// the only state in which it may be used again. (sqlx lowers its count only
/// after a `COMMIT` or `ROLLBACK` succeeded, so a count of 0 means SQLite is
/// outside a transaction too.)
pub(super) fn is_settled(connection: &AnyConnection) -> bool {
    !connection.is_in_transaction()
}
