//! Admin accounts and login sessions: the rows behind `pulse admin …` and the
//! session cookie. Portable SQL over the same pools as the event store.

use sqlx::{AnyPool, Row};

use super::{transaction, write_health::WriteHealth, Store, StoreError};

/// An admin as listed by `pulse admin list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// Row id.
    pub id: i64,
    /// Lower-cased email address, the login name.
    pub email: String,
    /// When the account was created (Unix ms).
    pub created_at_ms: i64,
}

/// A live session row, found by the hash of its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// The admin it belongs to.
    pub admin_id: i64,
    /// That admin's email.
    pub email: String,
    /// When it was created at login (Unix ms).
    pub created_at_ms: i64,
    /// When it was last used (Unix ms).
    pub last_seen_at_ms: i64,
}

/// Why an admin could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    /// The email is taken.
    #[error("an admin with this email already exists")]
    Exists,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Admin and session rows of a [`Store`].
#[derive(Clone, Copy, Debug)]
pub struct Accounts<'a> {
    writer: &'a AnyPool,
    reader: &'a AnyPool,
    writes: &'a WriteHealth,
}

impl Store {
    /// The admin accounts and sessions kept in this store.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            writer: &self.writer,
            reader: &self.reader,
            writes: &self.writes,
        }
    }
}

impl Accounts<'_> {
    /// The time zone the admin `email` last chose for date ranges, if any.
    pub async fn time_zone(&self, email: &str) -> Result<Option<String>, StoreError> {
        let zone: Option<(Option<String>,)> =
            sqlx::query_as("SELECT time_zone FROM admins WHERE email = $1")
                .bind(email)
                .fetch_optional(self.reader)
                .await?;
        Ok(zone.and_then(|(zone,)| zone))
    }

    /// The time zones admins have chosen, the most chosen first (ties by
    /// name), at most `limit`.
    pub async fn chosen_time_zones(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let zones: Vec<(String,)> = sqlx::query_as(
            "SELECT time_zone FROM admins WHERE time_zone IS NOT NULL
             GROUP BY time_zone ORDER BY count(*) DESC, time_zone LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader)
        .await?;
        Ok(zones.into_iter().map(|(zone,)| zone).collect())
    }

    /// Remembers `zone` (an IANA name, already checked) as the time zone of
    /// the admin `email`.
    pub async fn set_time_zone(&self, email: &str, zone: &str) -> Result<(), StoreError> {
        let outcome = sqlx::query("UPDATE admins SET time_zone = $1 WHERE email = $2")
            .bind(zone)
            .bind(email)
            .execute(self.writer)
            .await
            .map(|_| ());
        Ok(self
            .writes
            .observe("remembering an admin's time zone", outcome)?)
    }

    /// Adds an admin; `email` must already be normalised (trimmed, lower case).
    pub async fn create_admin(
        &self,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<(), CreateAdminError> {
        let inserted = sqlx::query(
            "INSERT INTO admins (email, password_hash, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(email)
        .bind(password_hash)
        .bind(now_ms)
        .execute(self.writer)
        .await;
        let inserted = self
            .writes
            .observe("creating an admin", inserted)
            .map_err(StoreError::from)?;
        if inserted.rows_affected() == 0 {
            return Err(CreateAdminError::Exists);
        }
        Ok(())
    }

    /// Every admin, by email.
    pub async fn list_admins(&self) -> Result<Vec<Admin>, StoreError> {
        let rows = sqlx::query("SELECT id, email, created_at_ms FROM admins ORDER BY email")
            .fetch_all(self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Admin {
                    id: row.try_get(0)?,
                    email: row.try_get(1)?,
                    created_at_ms: row.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Whether any admin exists.
    pub async fn has_admins(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM admins")
            .fetch_one(self.reader)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(count > 0)
    }

    /// Removes an admin and all their sessions; false when there was none.
    pub async fn delete_admin(&self, email: &str) -> Result<bool, StoreError> {
        let mut connection = self.writer.acquire().await?;
        let deleted = async {
            let mut transaction = transaction::begin(&mut connection).await?;
            let deleted = delete_admin_in(&mut transaction, email).await;
            transaction::end(transaction, deleted).await
        }
        .await;
        Ok(self.writes.observe("deleting an admin", deleted)?)
    }

    /// The id and password hash of the admin with this email.
    pub async fn credentials(&self, email: &str) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM admins WHERE email = $1")
            .bind(email)
            .fetch_optional(self.reader)
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    /// Starts a session for `admin_id`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        admin_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let created = sqlx::query(
            "INSERT INTO sessions (token_hash, admin_id, created_at_ms, last_seen_at_ms) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(token_hash)
        .bind(admin_id)
        .bind(now_ms)
        .execute(self.writer)
        .await;
        self.writes.observe("starting a session", created)?;
        Ok(())
    }

    /// The session with this id hash, if it exists.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT s.admin_id, a.email, s.created_at_ms, s.last_seen_at_ms \
             FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.reader)
        .await?;
        Ok(match row {
            Some(row) => Some(SessionRow {
                admin_id: row.try_get(0)?,
                email: row.try_get(1)?,
                created_at_ms: row.try_get(2)?,
                last_seen_at_ms: row.try_get(3)?,
            }),
            None => None,
        })
    }

    /// Records that the session was used at `now_ms`.
    pub async fn touch_session(&self, token_hash: &str, now_ms: i64) -> Result<(), StoreError> {
        let touched = sqlx::query("UPDATE sessions SET last_seen_at_ms = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now_ms)
            .execute(self.writer)
            .await;
        self.writes.observe("recording a session's use", touched)?;
        Ok(())
    }

    /// Ends a session (logout or expiry).
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer)
            .await;
        self.writes.observe("ending a session", deleted)?;
        Ok(())
    }

    /// Deletes sessions idle since before `idle_before_ms` or created before
    /// `created_before_ms`.
    pub async fn purge_sessions(
        &self,
        idle_before_ms: i64,
        created_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let purged =
            sqlx::query("DELETE FROM sessions WHERE last_seen_at_ms < $1 OR created_at_ms < $2")
                .bind(idle_before_ms)
                .bind(created_before_ms)
                .execute(self.writer)
                .await;
        Ok(self
            .writes
            .observe("deleting ended sessions", purged)?
            .rows_affected())
    }
}

/// The statements of [`Accounts::delete_admin`]: the admin's sessions, then
/// the admin; whether there was one.
async fn delete_admin_in(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    email: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE admin_id IN (SELECT id FROM admins WHERE email = $1)")
        .bind(email)
        .execute(&mut **transaction)
        .await?;
    let deleted = sqlx::query("DELETE FROM admins WHERE email = $1")
        .bind(email)
        .execute(&mut **transaction)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
