//! Failed-login counts shared by every node (Postgres only: an SQLite store
//! serves one node, which keeps its counts in memory; see
//! `auth::throttle`).

use sqlx::{AnyPool, Row};

use super::{write_health::WriteHealth, Store, StoreError};

/// The `login_failures` rows of a [`Store`].
#[derive(Clone, Copy, Debug)]
pub struct LoginFailures<'a> {
    writer: &'a AnyPool,
    reader: &'a AnyPool,
    writes: &'a WriteHealth,
}

impl Store {
    /// The shared failed-login counts.
    pub fn login_failures(&self) -> LoginFailures<'_> {
        LoginFailures {
            writer: &self.writer,
            reader: &self.reader,
            writes: &self.writes,
        }
    }
}

impl LoginFailures<'_> {
    /// Adds one attempt to each of `keys` (a count whose last failure is not
    /// after `window_start_ms` starts again from one) and returns the counts
    /// after it, in the order of `keys`. One statement, so two nodes counting
    /// the same key at once both see the other's attempt.
    pub async fn count(
        &self,
        keys: &[&str],
        now_ms: i64,
        window_start_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        // Rows are locked in key order, so concurrent statements cannot deadlock.
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let values: Vec<String> = (0..sorted.len())
            .map(|index| format!("(${}, 1, $1)", index + 3))
            .collect();
        let sql = format!(
            "INSERT INTO login_failures (key, failures, last_failure_ms) VALUES {}
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN login_failures.last_failure_ms > $2
                                 THEN login_failures.failures + 1 ELSE 1 END,
                 last_failure_ms = excluded.last_failure_ms
             RETURNING key, failures",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now_ms).bind(window_start_ms);
        for key in &sorted {
            query = query.bind(*key);
        }
        let rows = query.fetch_all(self.writer).await;
        let rows = self.writes.observe("counting a failed login", rows)?;
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let count = rows
                .iter()
                .find(|row| row.get::<String, _>(0) == *key)
                .map_or(0, |row| row.get::<i64, _>(1));
            counts.push(count);
        }
        Ok(counts)
    }

    /// The counts of `keys` whose last failure is after `window_start_ms`
    /// (0 for the others), in the order of `keys`; one read.
    pub async fn current(
        &self,
        keys: &[&str],
        window_start_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let placeholders: Vec<String> = (0..keys.len()).map(|n| format!("${}", n + 2)).collect();
        let sql = format!(
            "SELECT key, failures FROM login_failures WHERE last_failure_ms > $1 AND key IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(window_start_ms);
        for key in keys {
            query = query.bind(*key);
        }
        let rows = query.fetch_all(self.reader).await?;
        Ok(keys
            .iter()
            .map(|key| {
                rows.iter()
                    .find(|row| row.get::<String, _>(0) == *key)
                    .map_or(0, |row| row.get::<i64, _>(1))
            })
            .collect())
    }

    /// Takes the next check of the slowed `key` at `now_ms`, checks being
    /// `interval_ms` apart: the wait before this one may start, or `None`
    /// when the next free one is more than `longest_wait_ms` away (nothing
    /// is taken then). One statement, so nodes taking checks at once each
    /// get their own.
    pub async fn take_check(
        &self,
        key: &str,
        now_ms: i64,
        interval_ms: i64,
        longest_wait_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let taken = sqlx::query(
            "UPDATE login_failures
             SET next_check_ms = GREATEST(COALESCE(next_check_ms, 0), $2) + $3
             WHERE key = $1 AND COALESCE(next_check_ms, 0) - $2 <= $4
             RETURNING next_check_ms",
        )
        .bind(key)
        .bind(now_ms)
        .bind(interval_ms)
        .bind(longest_wait_ms)
        .fetch_optional(self.writer)
        .await;
        let taken = self.writes.observe("taking a login check", taken)?;
        Ok(taken.map(|row| (row.get::<i64, _>(0) - interval_ms - now_ms).max(0)))
    }

    /// Keeps `key`'s lock fresh: its last failure becomes `now_ms`.
    pub async fn refresh(&self, key: &str, now_ms: i64) -> Result<(), StoreError> {
        let refreshed =
            sqlx::query("UPDATE login_failures SET last_failure_ms = $2 WHERE key = $1")
                .bind(key)
                .bind(now_ms)
                .execute(self.writer)
                .await;
        self.writes
            .observe("keeping a login lock fresh", refreshed)?;
        Ok(())
    }

    /// Forgets `forgotten` entirely and takes one attempt back from each of
    /// `refunded` (after a successful login).
    pub async fn refund(&self, forgotten: &[&str], refunded: &[&str]) -> Result<(), StoreError> {
        let refund = async {
            if !forgotten.is_empty() {
                let keys: Vec<String> = (1..=forgotten.len()).map(|n| format!("${n}")).collect();
                let sql = format!(
                    "DELETE FROM login_failures WHERE key IN ({})",
                    keys.join(", ")
                );
                let mut query = sqlx::query(&sql);
                for key in forgotten {
                    query = query.bind(*key);
                }
                query.execute(self.writer).await?;
            }
            for key in refunded {
                sqlx::query(
                    "UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0",
                )
                .bind(*key)
                .execute(self.writer)
                .await?;
            }
            Ok(())
        }
        .await;
        Ok(self.writes.observe("forgetting failed logins", refund)?)
    }

    /// Deletes the counts whose last failure is not after `window_start_ms`.
    pub async fn purge(&self, window_start_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM login_failures WHERE last_failure_ms <= $1")
            .bind(window_start_ms)
            .execute(self.writer)
            .await;
        Ok(self
            .writes
            .observe("deleting old failed logins", done)?
            .rows_affected())
    }
}
