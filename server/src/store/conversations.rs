//! Conversations at ingestion: each one's latest DM and reply state, and the
//! aggregate rows derived from them (conversations active per minute,
//! conversations waiting, reply times), written in the transaction that
//! stores the DMs.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Any, Transaction};

use super::{
    queries::{floor, json_rows, placeholders, ROWS_PER_UPSERT},
    replies::{self, Conversation, Dm, Reply},
    slots::Slot,
    Backend, MINUTE_MS,
};

/// A conversation: (business account, customer).
pub(super) type ConversationKey = (String, String);

/// The aggregate changes one transaction's DMs make, summed per row.
#[derive(Default)]
pub(super) struct Changes {
    /// Conversations per minute of their latest DM.
    active_minutes: BTreeMap<i64, i64>,
    /// Waiting conversations per (minute of the latest DM, minute the wait began).
    waiting_minutes: BTreeMap<(i64, i64), i64>,
    /// Replies per (minute sent, reply-time bucket).
    reply_minutes: BTreeMap<(i64, i64), i64>,
    /// Waiting conversations per (account, minute of the latest DM).
    account_waiting_minutes: BTreeMap<(String, i64), i64>,
    /// Replies per (account, minute sent, reply-time bucket).
    account_reply_minutes: BTreeMap<(String, i64, i64), i64>,
    /// On Postgres, the new state of each changed conversation, written with
    /// the aggregate rows (SQLite writes them as it goes).
    states: Vec<(ConversationKey, Conversation)>,
}

impl Changes {
    /// Moves a conversation of `account` from its stored state to its new one.
    fn follow(&mut self, account: &str, before: Option<Conversation>, after: Conversation) {
        let minute = |at_ms: i64| floor(at_ms, MINUTE_MS);
        match before {
            None => {
                *self
                    .active_minutes
                    .entry(minute(after.last.at_ms))
                    .or_default() += 1
            }
            Some(before) if minute(before.last.at_ms) != minute(after.last.at_ms) => {
                *self
                    .active_minutes
                    .entry(minute(before.last.at_ms))
                    .or_default() -= 1;
                *self
                    .active_minutes
                    .entry(minute(after.last.at_ms))
                    .or_default() += 1;
            }
            Some(_) => {}
        }
        let waiting = |state: Conversation| {
            state
                .waiting_since_ms
                .map(|since| (minute(state.last.at_ms), minute(since)))
        };
        let (was, is) = (before.and_then(waiting), waiting(after));
        if was != is {
            for (key, change) in [(was, -1), (is, 1)] {
                if let Some(key @ (last_minute, _)) = key {
                    *self.waiting_minutes.entry(key).or_default() += change;
                    *self
                        .account_waiting_minutes
                        .entry((account.to_string(), last_minute))
                        .or_default() += change;
                }
            }
        }
    }

    /// Counts replies of `account` (`change` +1) or takes back replies
    /// counted before (−1).
    fn replies(&mut self, account: &str, replies: &[Reply], change: i64) {
        for reply in replies {
            let (minute, bucket) = (
                floor(reply.sent_at_ms, MINUTE_MS),
                replies::bucket_of(reply.waited_ms),
            );
            *self.reply_minutes.entry((minute, bucket)).or_default() += change;
            *self
                .account_reply_minutes
                .entry((account.to_string(), minute, bucket))
                .or_default() += change;
        }
    }
}

/// Works out the new state of every conversation `new_dms` touch (their DMs
/// stored by this transaction, each once) and the changes of the aggregate
/// rows that follow; on SQLite the states are written here, on Postgres they
/// are returned with the changes for the one statement that writes every
/// aggregate row (`write_changes` writes the changes on SQLite). DMs newer than a conversation's latest stored DM are applied to its
/// stored state; a DM older than it (a late delivery) has the conversation's
/// replies recomputed from the last sent DM before it (see `replies`).
///
/// The stored state must not change between reading and writing it: on
/// Postgres, where several writers write at once, each transaction first
/// takes a transaction-level advisory lock per touched conversation, in key
/// order (two writers touching one conversation at once go one after the
/// other; others do not wait). Every lock a transaction takes before these
/// is on event keys, which a lock holder no longer asks for, and after them
/// only on rows in key order, so no cycle forms. SQLite has one writer
/// already. Under the locks each statement sees every DM committed before
/// it, and its own.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    new_dms: &BTreeMap<ConversationKey, Vec<Dm>>,
) -> Result<Changes, sqlx::Error> {
    if new_dms.is_empty() {
        return Ok(Changes::default());
    }
    if backend == Backend::Postgres {
        lock_conversations(tx, new_dms.keys()).await?;
    }
    let mut changes = Changes::default();
    let touched: Vec<_> = new_dms.iter().collect();
    for chunk in touched.chunks(ROWS_PER_UPSERT) {
        let stored = read_states(tx, backend, chunk).await?;
        let mut changed = Vec::with_capacity(chunk.len());
        for &(key, dms) in chunk {
            let mut dms = dms.clone();
            dms.sort_unstable();
            let before = stored.get(key).copied();
            let after = match before {
                Some(state) if dms[0] < state.last && !joins_the_wait(state, &dms) => {
                    recount_late(tx, key, &dms, &mut changes).await?
                }
                Some(state) if dms[0] < state.last => {
                    // The late DMs change nothing; the newer ones carry on.
                    let newer = dms.into_iter().filter(|dm| *dm >= state.last);
                    let (after, replies) = replies::follow(before, newer);
                    changes.replies(&key.0, &replies, 1);
                    after
                }
                _ => {
                    let (after, replies) = replies::follow(before, dms);
                    changes.replies(&key.0, &replies, 1);
                    after
                }
            };
            let Some(after) = after else { continue };
            if before != Some(after) {
                changes.follow(&key.0, before, after);
                changed.push((key, after));
            }
        }
        match backend {
            Backend::Sqlite => write_states(tx, backend, &changed).await?,
            Backend::Postgres => changes
                .states
                .extend(changed.into_iter().map(|(key, state)| (key.clone(), state))),
        }
    }
    Ok(changes)
}

/// Takes the advisory lock of each conversation of `keys` (Postgres), in the
/// order of their lock keys.
async fn lock_conversations<'k>(
    tx: &mut Transaction<'_, Any>,
    keys: impl Iterator<Item = &'k ConversationKey>,
) -> Result<(), sqlx::Error> {
    let mut lock_keys: Vec<i64> = keys.map(lock_key).collect();
    lock_keys.sort_unstable();
    lock_keys.dedup();
    // The keys as one JSON array (one statement text for any number of
    // conversations), read in its order: the locks are taken sorted.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(CAST(key.value AS BIGINT))
         FROM json_array_elements_text($1::json) WITH ORDINALITY AS key (value, position)
         ORDER BY key.position",
    )
    .bind(serde_json::to_string(&lock_keys).expect("integers serialise"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A conversation's advisory lock key: a 64-bit FNV-1a hash of its two ids
/// (two conversations sharing a key only wait for each other).
fn lock_key((account_id, peer_id): &ConversationKey) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.bytes().chain([0]).chain(peer_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// The stored state of each conversation of `chunk` that has one.
async fn read_states(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    chunk: &[(&ConversationKey, &Vec<Dm>)],
) -> Result<HashMap<ConversationKey, Conversation>, sqlx::Error> {
    if backend == Backend::Sqlite {
        return read_states_sqlite(tx, chunk).await;
    }
    // One primary-key lookup per touched conversation, on both engines.
    // (Not `WHERE (account_id, peer_id) IN (VALUES …)`: Postgres 15 plans
    // that as a hash join over a scan of the whole table once the list is
    // long, 30 ms instead of 4–7 ms for 1,000 pairs among 200,000
    // conversations, growing with the table; SQLite 3.40's planner scans too.)
    // The three columns in one text value: one lookup per conversation
    // instead of three (it was a tenth of batch ingestion on SQLite).
    let statement = format!(
        "WITH touched (account_id, peer_id) AS (VALUES {})
         SELECT touched.account_id, touched.peer_id,
                (SELECT stored.last_dm_at_ms || ' ' || stored.last_dm_sent || ' '
                        || COALESCE(stored.waiting_since_ms, -1)
                 FROM conversations AS stored
                 WHERE stored.account_id = touched.account_id
                   AND stored.peer_id = touched.peer_id)
         FROM touched",
        placeholders(backend, chunk.len(), 2),
    );
    let mut query = sqlx::query_as::<_, (String, String, Option<String>)>(&statement);
    for ((account_id, peer_id), _) in chunk {
        query = query.bind(account_id).bind(peer_id);
    }
    Ok(query
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .filter_map(|(account_id, peer_id, stored)| {
            Some(((account_id, peer_id), parse_state(&stored?)?))
        })
        .collect())
}

/// Whether every DM of `dms` (sorted) older than the conversation's latest is
/// a received one inside the customer's current wait: between the wait's
/// first DM and the latest there are only received DMs, so such DMs change
/// neither a reply nor the wait. (The usual late DM under load: concurrent
/// deliveries of one conversation committed out of order.)
fn joins_the_wait(state: Conversation, dms: &[Dm]) -> bool {
    let Some(since) = state.waiting_since_ms else {
        return false;
    };
    dms.iter()
        .take_while(|dm| **dm < state.last)
        .all(|dm| !dm.sent && dm.at_ms >= since)
}

/// [`read_states`] on SQLite, as ONE row: sqlx hands every row from its
/// SQLite thread to the caller with a wake-up, so the stored states come as
/// one text, `"<position in chunk> <state>"` per stored conversation, joined
/// by commas (a conversation without a row is left out by `group_concat`).
/// The keys go in as one JSON array, so the statement's text is the same for
/// any number of them and stays prepared (sqlx keeps the last 100 statements
/// a connection prepared; one text per count of keys did not fit).
async fn read_states_sqlite(
    tx: &mut Transaction<'_, Any>,
    chunk: &[(&ConversationKey, &Vec<Dm>)],
) -> Result<HashMap<ConversationKey, Conversation>, sqlx::Error> {
    let keys: Vec<[&str; 2]> = chunk
        .iter()
        .map(|((account_id, peer_id), _)| [account_id.as_str(), peer_id.as_str()])
        .collect();
    let (found,): (Option<String>,) = sqlx::query_as(
        "SELECT group_concat(found, ',') FROM (
             SELECT touched.key || ' ' || (
                 SELECT stored.last_dm_at_ms || ' ' || stored.last_dm_sent || ' '
                        || COALESCE(stored.waiting_since_ms, -1)
                 FROM conversations AS stored
                 WHERE stored.account_id = touched.value ->> 0
                   AND stored.peer_id = touched.value ->> 1) AS found
             FROM json_each($1) AS touched)",
    )
    .bind(serde_json::to_string(&keys).expect("strings serialise"))
    .fetch_one(&mut **tx)
    .await?;
    Ok(found
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (position, state) = entry.split_once(' ')?;
            let (key, _) = chunk.get(position.parse::<usize>().ok()?)?;
            Some(((*key).clone(), parse_state(state)?))
        })
        .collect())
}

/// A conversation's state from `read_states`'s text: `"<last_dm_at_ms>
/// <last_dm_sent> <waiting_since_ms or -1>"`.
fn parse_state(text: &str) -> Option<Conversation> {
    let mut fields = text.split(' ').map(str::parse::<i64>);
    let (at_ms, sent, since) = (
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    );
    Some(Conversation {
        last: Dm {
            at_ms,
            sent: sent != 0,
        },
        waiting_since_ms: (since >= 0).then_some(since),
    })
}

/// A conversation that got a DM older than its latest stored one: its DMs
/// since the last sent DM before the earliest new one are read (they include
/// this transaction's), the replies they made without the new DMs are taken
/// back and the replies they make with them are counted. Returns the new state.
async fn recount_late(
    tx: &mut Transaction<'_, Any>,
    (account_id, peer_id): &ConversationKey,
    new_dms: &[Dm],
    changes: &mut Changes,
) -> Result<Option<Conversation>, sqlx::Error> {
    // The `kind IN (…)` term lets SQLite use the partial index.
    let (anchor,): (Option<i64>,) = sqlx::query_as(
        "SELECT max(occurred_at_ms) FROM events
         WHERE account_id = $1 AND peer_id = $2 AND kind IN ('dm_received', 'dm_sent')
           AND kind = 'dm_sent' AND occurred_at_ms < $3",
    )
    .bind(account_id)
    .bind(peer_id)
    .bind(new_dms[0].at_ms)
    .fetch_one(&mut **tx)
    .await?;
    // After the anchor (a sent DM, last at its millisecond) nobody waits.
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT occurred_at_ms, kind FROM events
         WHERE account_id = $1 AND peer_id = $2 AND kind IN ('dm_received', 'dm_sent')
           AND occurred_at_ms > $3",
    )
    .bind(account_id)
    .bind(peer_id)
    .bind(anchor.unwrap_or(i64::MIN))
    .fetch_all(&mut **tx)
    .await?;
    let mut with_new: Vec<Dm> = rows
        .into_iter()
        .map(|(at_ms, kind)| Dm {
            at_ms,
            sent: kind == "dm_sent",
        })
        .collect();
    with_new.sort_unstable();
    let without_new = multiset_difference(&with_new, new_dms);
    let (_, before) = replies::follow(None, without_new);
    let (after, replies) = replies::follow(None, with_new);
    changes.replies(account_id, &before, -1);
    changes.replies(account_id, &replies, 1);
    Ok(after)
}

/// `all` without one occurrence of each of `taken` (both sorted).
fn multiset_difference(all: &[Dm], taken: &[Dm]) -> Vec<Dm> {
    let mut taken = taken.iter().peekable();
    let mut rest = Vec::with_capacity(all.len().saturating_sub(taken.len()));
    for dm in all {
        while taken.next_if(|next| *next < dm).is_some() {}
        if taken.next_if(|next| *next == dm).is_none() {
            rest.push(*dm);
        }
    }
    rest
}

/// Writes the new state of the conversations that changed.
async fn write_states(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    changed: &[(&ConversationKey, Conversation)],
) -> Result<(), sqlx::Error> {
    if changed.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "INSERT INTO conversations
             (account_id, peer_id, last_dm_at_ms, last_dm_sent, waiting_since_ms)
         VALUES {}
         ON CONFLICT (account_id, peer_id) DO UPDATE SET
             last_dm_at_ms = excluded.last_dm_at_ms,
             last_dm_sent = excluded.last_dm_sent,
             waiting_since_ms = excluded.waiting_since_ms",
        placeholders(backend, changed.len(), 5)
    );
    let mut query = sqlx::query(&statement);
    for ((account_id, peer_id), state) in changed {
        query = query
            .bind(account_id)
            .bind(peer_id)
            .bind(state.last.at_ms)
            .bind(i64::from(state.last.sent))
            .bind(state.waiting_since_ms);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Adds the summed changes to the aggregate rows, one upsert per table and
/// chunk of rows.
pub(super) async fn write_changes(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    slot: Slot,
    changes: &Changes,
) -> Result<(), sqlx::Error> {
    use KeyPart::{Int, Text};
    let active: Vec<_> = changes
        .active_minutes
        .iter()
        .map(|(minute, change)| (vec![Int(*minute), Int(slot.0)], *change))
        .collect();
    let waiting: Vec<_> = changes
        .waiting_minutes
        .iter()
        .map(|((last, since), change)| (vec![Int(*last), Int(*since), Int(slot.0)], *change))
        .collect();
    let replies: Vec<_> = changes
        .reply_minutes
        .iter()
        .map(|((minute, bucket), change)| (vec![Int(*minute), Int(*bucket), Int(slot.0)], *change))
        .collect();
    let account_waiting: Vec<_> = changes
        .account_waiting_minutes
        .iter()
        .map(|((account, minute), change)| {
            (vec![Text(account), Int(*minute), Int(slot.0)], *change)
        })
        .collect();
    let account_replies: Vec<_> = changes
        .account_reply_minutes
        .iter()
        .map(|((account, minute, bucket), change)| {
            (
                vec![Text(account), Int(*minute), Int(*bucket), Int(slot.0)],
                *change,
            )
        })
        .collect();
    add_counts(
        tx,
        backend,
        "conversation_minutes",
        &["minute_ms", "slot"],
        &active,
    )
    .await?;
    add_counts(
        tx,
        backend,
        "waiting_minutes",
        &["last_minute_ms", "since_minute_ms", "slot"],
        &waiting,
    )
    .await?;
    add_counts(
        tx,
        backend,
        "reply_minutes",
        &["minute_ms", "bucket", "slot"],
        &replies,
    )
    .await?;
    add_counts(
        tx,
        backend,
        "account_waiting_minutes",
        &["account_id", "minute_ms", "slot"],
        &account_waiting,
    )
    .await?;
    add_counts(
        tx,
        backend,
        "account_reply_minutes",
        &["account_id", "minute_ms", "bucket", "slot"],
        &account_replies,
    )
    .await
}

impl Changes {
    /// The rows as JSON arrays of objects for Postgres's `json_to_recordset`:
    /// (conversation minutes, waiting minutes, reply minutes, account
    /// waiting minutes, account reply minutes, conversation states); changes
    /// of zero left out.
    pub(super) fn postgres_rows(&self) -> [String; 6] {
        use serde_json::json;
        [
            json_rows(self
                .active_minutes
                .iter()
                .filter(|(_, change)| **change != 0)
                .map(|(minute, change)| json!({"minute_ms": minute, "count": change}))
                .collect()),
            json_rows(self
                .waiting_minutes
                .iter()
                .filter(|(_, change)| **change != 0)
                .map(|((last, since), change)| {
                    json!({"last_minute_ms": last, "since_minute_ms": since, "count": change})
                })
                .collect()),
            json_rows(self
                .reply_minutes
                .iter()
                .filter(|(_, change)| **change != 0)
                .map(|((minute, bucket), change)| {
                    json!({"minute_ms": minute, "bucket": bucket, "count": change})
                })
                .collect()),
            json_rows(self
                .account_waiting_minutes
                .iter()
                .filter(|(_, change)| **change != 0)
                .map(|((account, minute), change)| {
                    json!({"account_id": account, "minute_ms": minute, "count": change})
                })
                .collect()),
            json_rows(self
                .account_reply_minutes
                .iter()
                .filter(|(_, change)| **change != 0)
                .map(|((account, minute, bucket), change)| {
                    json!({"account_id": account, "minute_ms": minute, "bucket": bucket, "count": change})
                })
                .collect()),
            json_rows(self
                .states
                .iter()
                .map(|((account, peer), state)| {
                    json!({
                        "account_id": account,
                        "peer_id": peer,
                        "last_dm_at_ms": state.last.at_ms,
                        "last_dm_sent": i64::from(state.last.sent),
                        "waiting_since_ms": state.waiting_since_ms,
                    })
                })
                .collect()),
        ]
    }
}

/// One column of an aggregate row's key.
enum KeyPart<'a> {
    Text(&'a str),
    Int(i64),
}

/// Adds `change` to the `count` of each row keyed by `key_columns` (creating
/// missing rows); changes of zero are skipped.
async fn add_counts(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    table: &str,
    key_columns: &[&str],
    rows: &[(Vec<KeyPart<'_>>, i64)],
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = rows.iter().filter(|(_, change)| *change != 0).collect();
    let keys = key_columns.join(", ");
    for chunk in rows.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO {table} ({keys}, count) VALUES {}
             ON CONFLICT ({keys}) DO UPDATE SET count = {table}.count + excluded.count",
            placeholders(backend, chunk.len(), key_columns.len() + 1)
        );
        let mut query = sqlx::query(&statement);
        for (key, change) in chunk {
            for part in key {
                query = match part {
                    KeyPart::Text(text) => query.bind(*text),
                    KeyPart::Int(number) => query.bind(*number),
                };
            }
            query = query.bind(*change);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_states_are_read_back_from_their_text() {
        assert_eq!(
            parse_state("1795631405000 1 -1"),
            Some(Conversation {
                last: Dm {
                    at_ms: 1_795_631_405_000,
                    sent: true
                },
                waiting_since_ms: None
            })
        );
        assert_eq!(parse_state("20 0 10").unwrap().waiting_since_ms, Some(10));
        assert_eq!(parse_state("20 0"), None);
    }

    #[test]
    fn the_difference_takes_each_new_dm_once() {
        let dm = |at_ms, sent| Dm { at_ms, sent };
        let all = [dm(1, false), dm(1, false), dm(2, true), dm(3, false)];
        assert_eq!(
            multiset_difference(&all, &[dm(1, false), dm(3, false)]),
            vec![dm(1, false), dm(2, true)]
        );
        assert_eq!(multiset_difference(&all, &[]), all.to_vec());
    }
}
