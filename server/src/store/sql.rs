//! What the store's queries share. They are written once, in SQL that SQLite
//! and Postgres both accept where the engines allow: `$n` parameters,
//! `ON CONFLICT` upserts with table-qualified columns, `CASE` where one would
//! write `max(a, b)` / `GREATEST(a, b)`, and `CAST` where Postgres would widen
//! a sum. The engines differ in how they are opened (`super::connect`), in the
//! parameters of multi-row statements (anonymous `?` on SQLite: see
//! [`placeholders`]), and in what saves Postgres round trips (see
//! `super::ingest` and `super::snapshot`).

use std::fmt::Write as _;

use sqlx::Any;

use super::Backend;

pub(super) fn floor(value: i64, unit: i64) -> i64 {
    value - value.rem_euclid(unit)
}

/// `INSERT INTO table (key, columns)` and the `ON CONFLICT (key) DO UPDATE`
/// that adds each of `columns` to what the row holds: the two halves of an
/// additive upsert, the `VALUES` or `SELECT` to go between them.
pub(super) fn additive_upsert(table: &str, key: &str, columns: &[&str]) -> (String, String) {
    let additions: Vec<String> = columns
        .iter()
        .map(|column| format!("{column} = {table}.{column} + excluded.{column}"))
        .collect();
    (
        format!("INSERT INTO {table} ({key}, {})", columns.join(", ")),
        format!("ON CONFLICT ({key}) DO UPDATE SET {}", additions.join(", ")),
    )
}

/// Aggregate rows written by one upsert statement (5 parameters each at most).
pub(super) const ROWS_PER_UPSERT: usize = 1_000;

/// `rows` tuples of `columns` parameters, for a multi-row statement:
/// `(?, ?), (?, ?)` on SQLite, `($1, $2), ($3, $4)` on Postgres.
///
/// SQLite gets anonymous `?` because sqlx asks SQLite for the name of every
/// named parameter it binds, and SQLite finds a name by a linear search: with
/// `$n` a 4,000-parameter statement costs 4,000² steps (it was 57 % of the
/// server's CPU during batch ingestion).
pub(super) fn placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            match backend {
                Backend::Sqlite => text.push('?'),
                Backend::Postgres => {
                    let _ = write!(text, "${}", row * columns + column + 1);
                }
            }
        }
        text.push(')');
    }
    text
}

/// `values` as one JSON array, the text of a parameter Postgres reads with
/// `json_to_recordset`.
pub(super) fn json_rows(values: Vec<serde_json::Value>) -> String {
    serde_json::Value::Array(values).to_string()
}

/// The JSON text a statement returned as its one row, read into `T` (on
/// SQLite, many rows as one: sqlx hands each row over with a wake-up).
pub(super) fn from_json_row<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// The number of business accounts as `connection` sees it: the sum of the
/// slots' counts (every transaction adds the accounts it inserted to its
/// slot's), not a count of the table, which Postgres scans (10 ms at
/// 100,000 accounts).
pub(super) async fn accounts_on<'c, E>(executor: E) -> Result<i64, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let (accounts,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(sum(accounts), 0) AS BIGINT) FROM store_slots")
            .fetch_one(executor)
            .await?;
    Ok(accounts)
}

/// The store version as `connection` sees it now: the sum of the slots'.
pub(super) async fn version_on<'c, E>(executor: E) -> Result<i64, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let (version,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(sum(version), 0) AS BIGINT) FROM store_slots")
            .fetch_one(executor)
            .await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_placeholders_are_anonymous_on_sqlite_and_numbered_on_postgres() {
        assert_eq!(placeholders(Backend::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
    }
}
