//! Where a Postgres database's time goes during a run: the execution time
//! `pg_stat_statements` records for each statement (the harness's durable
//! cluster loads it), summed by what the statement does and divided by the
//! events the run stored. It shows which part of Pulse's work per event
//! costs the database what, next to `COPY`'s time for the same rows. A
//! commit's WAL flush happens after its statement's clock stops, so it is in
//! none of these figures (nor in `COPY`'s).

use std::fmt;

use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection};

/// Execution time per stored event, by kind of statement, in microseconds.
#[derive(Clone, Debug, Default)]
pub struct DatabaseTime {
    /// `(what the statements do, µs per event)`, in a fixed order.
    pub per_event_us: Vec<(&'static str, f64)>,
}

impl DatabaseTime {
    /// The sum over every kind.
    pub fn total_us(&self) -> f64 {
        self.per_event_us.iter().map(|(_, us)| us).sum()
    }
}

impl fmt::Display for DatabaseTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .per_event_us
            .iter()
            .filter(|(_, us)| *us >= 0.05)
            .map(|(what, us)| format!("{what} {us:.1}"))
            .collect();
        write!(
            f,
            "{:.1} µs per event ({})",
            self.total_us(),
            parts.join(", ")
        )
    }
}

/// What a statement does, from its text (as `pg_stat_statements` normalises
/// it); `None` for the harness's own statements.
fn kind_of(query: &str) -> Option<&'static str> {
    let query = query.trim_start();
    let kind = if query.starts_with("INSERT INTO events") {
        "events"
    } else if query.contains("pulse_lock_and_read_conversations") {
        "conversations locked and read"
    } else if query.starts_with("WITH") && query.contains("metric_total_rows") {
        "aggregates and conversation states"
    } else if query.starts_with("COPY") {
        "COPY"
    } else if query.contains("pg_stat_activity") || query.contains("pg_stat_statements") {
        return None;
    } else {
        "other"
    };
    Some(kind)
}

/// Kinds in the order they are reported.
const KINDS: [&str; 5] = [
    "events",
    "conversations locked and read",
    "aggregates and conversation states",
    "COPY",
    "other",
];

/// Clears the recorded times (every database of the cluster) and makes sure
/// the database at `url` can read them.
pub async fn reset(url: &str) -> Result<()> {
    let mut connection = PgConnection::connect(url).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut connection)
        .await
        .context("pg_stat_statements (the durable cluster preloads it)")?;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut connection)
        .await?;
    Ok(())
}

/// The times recorded since [`reset`] in the database at `url`, per event of
/// the `events` the run stored.
pub async fn read(url: &str, events: u64) -> Result<DatabaseTime> {
    let mut connection = PgConnection::connect(url).await?;
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "SELECT query, total_exec_time FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut connection)
    .await?;
    let mut per_event_us: Vec<(&'static str, f64)> =
        KINDS.iter().map(|kind| (*kind, 0.0)).collect();
    for (query, total_ms) in rows {
        if let Some(kind) = kind_of(&query) {
            let entry = per_event_us
                .iter_mut()
                .find(|(known, _)| *known == kind)
                .expect("every kind is listed");
            entry.1 += total_ms * 1000.0 / events.max(1) as f64;
        }
    }
    Ok(DatabaseTime { per_event_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_sorted_by_what_they_do() {
        assert_eq!(
            kind_of("INSERT INTO events\n (kind, dedupe_key) VALUES ($1, $2)"),
            Some("events")
        );
        assert_eq!(
            kind_of("SELECT pulse_lock_and_read_conversations($1::json, $2::json, $3)"),
            Some("conversations locked and read")
        );
        assert_eq!(
            kind_of("WITH\n metric_total_rows AS (INSERT INTO metric_totals ...)"),
            Some("aggregates and conversation states")
        );
        assert_eq!(kind_of("COMMIT"), Some("other"));
        assert_eq!(
            kind_of("SELECT wait_event, query FROM pg_stat_activity"),
            None
        );
        assert_eq!(
            kind_of("SELECT CAST(COALESCE(sum(version), $1) AS BIGINT) FROM store_slots"),
            Some("other")
        );
    }
}
