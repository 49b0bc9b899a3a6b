//! Alerts in the database: the targets, the incidents and their messages.
//! Every node evaluates the rules and sends; the database makes each decision
//! once: an incident opens only if none of its rule is open (a partial unique
//! index), its messages are one per target and event (a unique key, written in
//! the transaction that opens or clears it), and a message is sent by the
//! node holding its claim, which lapses after [`CLAIM_MS`] if that node dies.

use sqlx::{AnyPool, Row};

use super::{transaction, write_health::WriteHealth, Store, StoreError};

/// How long a node's claim on a message lasts: the send's timeout and more.
pub const CLAIM_MS: i64 = 60_000;
/// Attempts of a message before it is recorded as failed.
pub const ATTEMPTS: i64 = 5;

/// A target to add.
pub struct NewTarget<'a> {
    pub name: &'a str,
    /// `email`, `slack` or `webhook`.
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub settings: Option<&'a str>,
    pub secret: &'a secrecy::SecretString,
}

/// A target as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRow {
    pub name: String,
    /// `slack` or `webhook`.
    pub kind: String,
    /// The webhook's URL (a Slack URL is a secret and not kept here).
    pub url: Option<String>,
    /// An email target's settings (JSON).
    pub settings: Option<String>,
    pub created_at_ms: i64,
    /// When its last test message was sent or tried, and what failed.
    pub tested: Option<(i64, Option<String>)>,
}

/// A message due to be sent, with what sending it needs.
#[derive(Clone, Debug)]
pub struct DueMessage {
    pub id: i64,
    /// `started` or `cleared`.
    pub event: String,
    pub attempts: i64,
    pub rule: String,
    pub summary: String,
    pub started_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
    pub target_name: String,
    pub kind: String,
    pub url: Option<String>,
    /// An email target's settings (JSON).
    pub settings: Option<String>,
    /// The SMTP password, the Slack URL, or the webhook's signing key.
    pub secret: secrecy::SecretString,
}

/// What became of a message's attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed, tried again at the given time.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
}

/// An incident and its messages, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRow {
    pub id: i64,
    pub rule: String,
    pub summary: String,
    pub started_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
    pub messages: Vec<MessageRow>,
}

/// A message of an incident, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub target: String,
    /// `started` or `cleared`.
    pub event: String,
    pub sent_at_ms: Option<i64>,
    pub failed_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// The alerts kept in a store.
pub struct Alerts<'a> {
    writer: &'a AnyPool,
    reader: &'a AnyPool,
    writes: &'a WriteHealth,
}

impl Store {
    /// The alert targets, incidents and messages kept in this store.
    pub fn alerts(&self) -> Alerts<'_> {
        Alerts {
            writer: &self.writer,
            reader: &self.reader,
            writes: &self.writes,
        }
    }
}

impl Alerts<'_> {
    /// Adds a target; false when one of that name exists.
    pub async fn add_target(
        &self,
        target: &NewTarget<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        use secrecy::ExposeSecret;
        let added = sqlx::query(
            "INSERT INTO alert_targets (name, kind, url, settings, secret, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(target.name)
        .bind(target.kind)
        .bind(target.url)
        .bind(target.settings)
        .bind(target.secret.expose_secret())
        .bind(now_ms)
        .execute(self.writer)
        .await
        .map(|done| done.rows_affected() == 1);
        Ok(self.writes.observe("adding an alert target", added)?)
    }

    /// The targets, by name.
    pub async fn targets(&self) -> Result<Vec<TargetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, url, settings, created_at_ms, tested_at_ms, test_error
             FROM alert_targets ORDER BY name",
        )
        .fetch_all(self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let tested_at: Option<i64> = row.try_get(5)?;
                let test_error: Option<String> = row.try_get(6)?;
                Ok(TargetRow {
                    name: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    url: row.try_get(2)?,
                    settings: row.try_get(3)?,
                    created_at_ms: row.try_get(4)?,
                    tested: tested_at.map(|at| (at, test_error)),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Removes a target and the messages it still had to get; false when
    /// there was none of that name.
    pub async fn remove_target(&self, name: &str) -> Result<bool, StoreError> {
        let mut connection = self.writer.acquire().await?;
        let removed = async {
            let mut tx = transaction::begin(&mut connection).await?;
            let outcome = async {
                sqlx::query(
                    "DELETE FROM alert_messages WHERE target_id IN
                         (SELECT id FROM alert_targets WHERE name = $1)",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM alert_targets WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
            .await;
            transaction::end(tx, outcome).await
        }
        .await;
        Ok(self.writes.observe("removing an alert target", removed)?)
    }

    /// Opens an incident of `rule` unless one is open, with a `started`
    /// message for every target; its id when this call opened it.
    pub async fn open(
        &self,
        rule: &str,
        summary: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let opened = sqlx::query_as(
            "INSERT INTO alert_incidents (rule, summary, started_at_ms)
             VALUES ($1, $2, $3)
             ON CONFLICT (rule) WHERE cleared_at_ms IS NULL DO NOTHING
             RETURNING id",
        )
        .bind(rule)
        .bind(summary)
        .bind(now_ms);
        let decided = self
            .decide("opening an incident", opened, "started", now_ms)
            .await?;
        Ok(decided.map(|(id, _)| id))
    }

    /// Clears the open incident of `rule`, if any, with a `cleared` message
    /// for every target; its id when this call cleared it.
    pub async fn clear(&self, rule: &str, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let cleared = sqlx::query_as(
            "UPDATE alert_incidents SET cleared_at_ms = $2
             WHERE rule = $1 AND cleared_at_ms IS NULL RETURNING id",
        )
        .bind(rule)
        .bind(now_ms);
        let decided = self
            .decide("clearing an incident", cleared, "cleared", now_ms)
            .await?;
        Ok(decided.map(|(id, _)| id))
    }

    /// The `number`-th reminder of the open incident of `rule` for every
    /// target, unless it was made already (by this node or another) or the
    /// rule is muted; whether this call made any.
    pub async fn repeat(&self, rule: &str, number: i64, now_ms: i64) -> Result<bool, StoreError> {
        let open = sqlx::query_as(
            "SELECT id FROM alert_incidents WHERE rule = $1 AND cleared_at_ms IS NULL",
        )
        .bind(rule);
        let event = format!("repeat {number}");
        let decided = self
            .decide("repeating an incident", open, &event, now_ms)
            .await?;
        Ok(decided.is_some_and(|(_, made)| made > 0))
    }

    /// In one transaction: `decision`, a statement returning the id of the
    /// incident it opened, cleared or found, if any, and then that incident's
    /// `event` message for every target that has none yet ([`enqueue`]). The
    /// incident's id and the messages made; `what` names the write.
    async fn decide<'q>(
        &self,
        what: &str,
        decision: sqlx::query::QueryAs<'q, sqlx::Any, (i64,), sqlx::any::AnyArguments<'q>>,
        event: &str,
        now_ms: i64,
    ) -> Result<Option<(i64, u64)>, StoreError> {
        let mut connection = self.writer.acquire().await?;
        let decided = async {
            let mut tx = transaction::begin(&mut connection).await?;
            let outcome = async {
                let Some((id,)) = decision.fetch_optional(&mut *tx).await? else {
                    return Ok(None);
                };
                let made = enqueue(&mut tx, id, event, now_ms).await?;
                Ok(Some((id, made)))
            }
            .await;
            transaction::end(tx, outcome).await
        }
        .await;
        Ok(self.writes.observe(what, decided)?)
    }

    /// Mutes `rule` until `until_ms` (0 unmutes it): its incidents are still
    /// recorded, but no message is made for them meanwhile.
    pub async fn mute(&self, rule: &str, until_ms: i64) -> Result<(), StoreError> {
        let muted = sqlx::query(
            "INSERT INTO alert_mutes (rule, until_ms) VALUES ($1, $2)
             ON CONFLICT (rule) DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(rule)
        .bind(until_ms)
        .execute(self.writer)
        .await
        .map(|_| ());
        Ok(self.writes.observe("muting a rule", muted)?)
    }

    /// The rules muted at `now_ms`, and until when.
    pub async fn mutes(&self, now_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT rule, until_ms FROM alert_mutes WHERE until_ms > $1 ORDER BY rule",
        )
        .bind(now_ms)
        .fetch_all(self.reader)
        .await?)
    }

    /// The rules with an open incident, and when each started.
    pub async fn open_rules(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT rule, started_at_ms FROM alert_incidents WHERE cleared_at_ms IS NULL",
        )
        .fetch_all(self.reader)
        .await?)
    }

    /// Claims the oldest message due at `now_ms` (never sent, not failed, not
    /// claimed by a node whose claim still holds) for [`CLAIM_MS`].
    pub async fn claim(&self, now_ms: i64) -> Result<Option<DueMessage>, StoreError> {
        let claimed = async {
            let claimed: Option<(i64,)> = sqlx::query_as(
                "UPDATE alert_messages
                 SET claimed_until_ms = $2, attempts = attempts + 1
                 WHERE id = (
                     SELECT id FROM alert_messages
                     WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL
                       AND next_attempt_ms <= $1
                       AND (claimed_until_ms IS NULL OR claimed_until_ms <= $1)
                     ORDER BY next_attempt_ms, id LIMIT 1)
                   AND (claimed_until_ms IS NULL OR claimed_until_ms <= $1)
                 RETURNING id",
            )
            .bind(now_ms)
            .bind(now_ms + CLAIM_MS)
            .fetch_optional(self.writer)
            .await?;
            let Some((id,)) = claimed else {
                return Ok(None);
            };
            let row = sqlx::query(
                "SELECT message.id, message.event, message.attempts, incident.rule,
                        incident.summary, incident.started_at_ms, incident.cleared_at_ms,
                        target.name, target.kind, target.url, target.settings, target.secret
                 FROM alert_messages AS message
                 JOIN alert_incidents AS incident ON incident.id = message.incident_id
                 JOIN alert_targets AS target ON target.id = message.target_id
                 WHERE message.id = $1",
            )
            .bind(id)
            .fetch_optional(self.writer)
            .await?;
            row.map(|row| {
                Ok(DueMessage {
                    id: row.try_get(0)?,
                    event: row.try_get(1)?,
                    attempts: row.try_get(2)?,
                    rule: row.try_get(3)?,
                    summary: row.try_get(4)?,
                    started_at_ms: row.try_get(5)?,
                    cleared_at_ms: row.try_get(6)?,
                    target_name: row.try_get(7)?,
                    kind: row.try_get(8)?,
                    url: row.try_get(9)?,
                    settings: row.try_get(10)?,
                    secret: secrecy::SecretString::from(row.try_get::<String, _>(11)?),
                })
            })
            .transpose()
        }
        .await;
        Ok(self.writes.observe("claiming an alert message", claimed)?)
    }

    /// A test message for the target `name`, if there is one: sent at once by
    /// `pulse alerts test`, never stored.
    pub async fn test_message(
        &self,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<DueMessage>, StoreError> {
        let row = sqlx::query(
            "SELECT name, kind, url, settings, secret FROM alert_targets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.reader)
        .await?;
        row.map(|row| {
            Ok(DueMessage {
                id: 0,
                event: "test".into(),
                attempts: 1,
                rule: "test".into(),
                summary: "A test message from Pulse: this target receives its alerts.".into(),
                started_at_ms: now_ms,
                cleared_at_ms: None,
                target_name: row.try_get(0)?,
                kind: row.try_get(1)?,
                url: row.try_get(2)?,
                settings: row.try_get(3)?,
                secret: secrecy::SecretString::from(row.try_get::<String, _>(4)?),
            })
        })
        .transpose()
        .map_err(|error: sqlx::Error| StoreError::from(error))
    }

    /// Records how the test message to target `name` went at `now_ms`
    /// (`error`: what failed, if it did).
    pub async fn record_test(
        &self,
        name: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let recorded = sqlx::query(
            "UPDATE alert_targets SET tested_at_ms = $2, test_error = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(now_ms)
        .bind(error)
        .execute(self.writer)
        .await
        .map(|_| ());
        Ok(self.writes.observe("recording a test message", recorded)?)
    }

    /// The thresholds admins set, by name.
    pub async fn thresholds(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, value FROM alert_thresholds ORDER BY name")
                .fetch_all(self.reader)
                .await?,
        )
    }

    /// Sets every threshold in `values` at once (a value of `None` goes back
    /// to the setting's default).
    pub async fn set_thresholds(
        &self,
        values: &[(&str, Option<i64>)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut connection = self.writer.acquire().await?;
        let set = async {
            let mut tx = transaction::begin(&mut connection).await?;
            let outcome = async {
                for (name, value) in values {
                    let query = match value {
                        Some(value) => sqlx::query(
                            "INSERT INTO alert_thresholds (name, value, set_at_ms)
                             VALUES ($1, $2, $3) ON CONFLICT (name)
                             DO UPDATE SET value = excluded.value, set_at_ms = excluded.set_at_ms",
                        )
                        .bind(*name)
                        .bind(*value)
                        .bind(now_ms),
                        None => {
                            sqlx::query("DELETE FROM alert_thresholds WHERE name = $1").bind(*name)
                        }
                    };
                    query.execute(&mut *tx).await?;
                }
                Ok(())
            }
            .await;
            transaction::end(tx, outcome).await
        }
        .await;
        Ok(self.writes.observe("setting alert thresholds", set)?)
    }

    /// Records how sending message `id` went.
    pub async fn record(&self, id: i64, outcome: &Outcome, now_ms: i64) -> Result<(), StoreError> {
        let query = match outcome {
            Outcome::Sent => sqlx::query(
                "UPDATE alert_messages SET sent_at_ms = $2, claimed_until_ms = NULL,
                     last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms),
            Outcome::Retry { at_ms, error } => sqlx::query(
                "UPDATE alert_messages SET next_attempt_ms = $2, claimed_until_ms = NULL,
                     last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(*at_ms)
            .bind(error.clone()),
            Outcome::Failed { error } => sqlx::query(
                "UPDATE alert_messages SET failed_at_ms = $2, claimed_until_ms = NULL,
                     last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms)
            .bind(error.clone()),
        };
        let recorded = query.execute(self.writer).await.map(|_| ());
        Ok(self
            .writes
            .observe("recording an alert message", recorded)?)
    }

    /// The latest `limit` incidents, newest first, with their messages.
    pub async fn incidents(&self, limit: i64) -> Result<Vec<IncidentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rule, summary, started_at_ms, cleared_at_ms FROM alert_incidents
             ORDER BY started_at_ms DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.reader)
        .await?;
        let mut incidents = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let messages = sqlx::query(
                "SELECT target.name, message.event, message.sent_at_ms, message.failed_at_ms,
                        message.last_error
                 FROM alert_messages AS message
                 JOIN alert_targets AS target ON target.id = message.target_id
                 WHERE message.incident_id = $1 ORDER BY message.id",
            )
            .bind(id)
            .fetch_all(self.reader)
            .await?
            .iter()
            .map(|message| {
                Ok(MessageRow {
                    target: message.try_get(0)?,
                    event: message.try_get(1)?,
                    sent_at_ms: message.try_get(2)?,
                    failed_at_ms: message.try_get(3)?,
                    last_error: message.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
            incidents.push(IncidentRow {
                id,
                rule: row.try_get(1)?,
                summary: row.try_get(2)?,
                started_at_ms: row.try_get(3)?,
                cleared_at_ms: row.try_get(4)?,
                messages,
            });
        }
        Ok(incidents)
    }
}

/// One `event` message of incident `id` for every target, due at `now_ms`,
/// unless the incident's rule is muted then.
async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    event: &str,
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let made = sqlx::query(
        "INSERT INTO alert_messages (incident_id, target_id, event, next_attempt_ms)
         SELECT $1, target.id, $2, $3 FROM alert_targets AS target
         WHERE NOT EXISTS (
             SELECT 1 FROM alert_mutes AS mute JOIN alert_incidents AS incident
                 ON incident.rule = mute.rule OR incident.rule LIKE mute.rule || '@%'
             WHERE incident.id = $1 AND mute.until_ms > $3)
         ON CONFLICT (incident_id, target_id, event) DO NOTHING",
    )
    .bind(id)
    .bind(event)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(made.rows_affected())
}
