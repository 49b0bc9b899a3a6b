//! Conversations at ingestion: each one's latest DM and reply state, and the
//! aggregate rows derived from them (conversations active per minute,
//! conversations waiting, reply times), written in the transaction that
//! stores the DMs.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Any, Transaction};

use super::{
    replies::{self, Conversation, Dm, Reply},
    slots::Slot,
    sql::{floor, json_rows, placeholders, ROWS_PER_UPSERT},
    Backend, MINUTE_MS,
};

/// A conversation: (business account, customer).
pub(super) type ConversationKey = (String, String);

/// A conversation's stored state and the newest of its chain of DMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    state: Conversation,
    /// The `conversation_dms` row of the DM stored last (every
    /// conversation has one since migration 0010).
    last_dm_id: Option<i64>,
}

/// One row of `conversation_dms`: a DM appended to its conversation's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChainedDm {
    id: i64,
    /// The conversation's DM stored before this one.
    previous_id: Option<i64>,
    dm: Dm,
    /// The latest event time of this DM and every DM stored before it in the
    /// conversation: a walk back from here may stop where it falls below
    /// what it looks for.
    latest_at_ms: i64,
}

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
    /// On Postgres, the new state and newest chained DM of each touched
    /// conversation, and the DMs appended to the chains, written with the
    /// aggregate rows (SQLite writes them as it goes).
    states: Vec<(ConversationKey, Conversation, i64)>,
    chained: Vec<ChainedDm>,
}

impl Changes {
    /// Replies counted (+) or taken back (−) per (minute sent, reply-time
    /// bucket).
    pub(super) fn reply_minutes(&self) -> &BTreeMap<(i64, i64), i64> {
        &self.reply_minutes
    }

    /// Replies counted (+) or taken back (−) per (account, minute sent,
    /// reply-time bucket).
    pub(super) fn account_reply_minutes(&self) -> &BTreeMap<(String, i64, i64), i64> {
        &self.account_reply_minutes
    }

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
/// stored by this transaction, each once), appends the DMs to the
/// conversations' chains (`conversation_dms`) and sums the changes of the
/// aggregate rows that follow; on SQLite the states and chains are written
/// here, on Postgres they are returned with the changes for the one
/// statement that writes every aggregate row (`write_changes` writes the
/// changes on SQLite). DMs newer than a conversation's latest stored DM are
/// applied to its stored state; a DM older than it (a late delivery) has the
/// conversation's replies recomputed from the last sent DM before it, found
/// by walking its chain back (see `recount_late`).
///
/// The stored state must not change between reading and writing it: on
/// Postgres, where several writers write at once, each transaction first
/// takes a transaction-level advisory lock per touched conversation, in key
/// order (two writers touching one conversation at once go one after the
/// other; others do not wait). Every lock a transaction takes before these
/// is on event keys, which a lock holder no longer asks for, and after them
/// only on rows in key order, so no cycle forms. SQLite has one writer
/// already. Under the locks each statement sees every chain row committed
/// before it, and its own.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    new_dms: &BTreeMap<ConversationKey, Vec<Dm>>,
) -> Result<Changes, sqlx::Error> {
    if new_dms.is_empty() {
        return Ok(Changes::default());
    }
    let count = new_dms.values().map(Vec::len).sum();
    let touched: Vec<_> = new_dms.iter().collect();
    let (ids, stored) = match backend {
        Backend::Postgres => lock_and_read_postgres(tx, &touched, count).await?,
        Backend::Sqlite => (
            next_ids_sqlite(tx, count).await?,
            read_states_sqlite(tx, &touched).await?,
        ),
    };
    let mut ids = ids.into_iter();
    let mut changes = Changes::default();
    for chunk in touched.chunks(ROWS_PER_UPSERT) {
        let mut written = Vec::with_capacity(chunk.len());
        let mut chained = Vec::with_capacity(chunk.len());
        for &(key, dms) in chunk {
            let mut dms = dms.clone();
            dms.sort_unstable();
            let stored = stored.get(key).copied();
            let before = stored.map(|stored| stored.state);
            let last_dm_id = stored.and_then(|stored| stored.last_dm_id);
            let after = match before {
                Some(state) if dms[0] < state.last && !joins_the_wait(state, &dms) => {
                    recount_late(tx, key, last_dm_id, &dms, &mut changes).await?
                }
                Some(state) if dms[0] < state.last => {
                    // The late DMs change nothing; the newer ones carry on.
                    let newer = dms.iter().copied().filter(|dm| *dm >= state.last);
                    let (after, replies) = replies::follow(before, newer);
                    changes.replies(&key.0, &replies, 1);
                    after
                }
                _ => {
                    let (after, replies) = replies::follow(before, dms.iter().copied());
                    changes.replies(&key.0, &replies, 1);
                    after
                }
            };
            let Some(after) = after else { continue };
            if before != Some(after) {
                changes.follow(&key.0, before, after);
            }
            // The new DMs go after the stored ones, in event order.
            let mut previous_id = last_dm_id;
            let mut latest_at_ms = before.map_or(i64::MIN, |state| state.last.at_ms);
            for dm in dms {
                let id = ids.next().ok_or_else(|| {
                    sqlx::Error::Protocol("fewer chain ids than new DMs".to_string())
                })?;
                latest_at_ms = latest_at_ms.max(dm.at_ms);
                chained.push(ChainedDm {
                    id,
                    previous_id,
                    dm,
                    latest_at_ms,
                });
                previous_id = Some(id);
            }
            written.push((
                key.clone(),
                after,
                previous_id.expect("a touched conversation has DMs"),
            ));
        }
        match backend {
            Backend::Sqlite => {
                write_states(tx, &written).await?;
                write_chained(tx, &chained).await?;
            }
            Backend::Postgres => {
                changes.states.extend(written);
                changes.chained.extend(chained);
            }
        }
    }
    Ok(changes)
}

/// `count` ids for new `conversation_dms` rows on SQLite: the ones after the
/// largest stored (the one writer holds the write lock already: the events
/// were inserted first).
async fn next_ids_sqlite(
    tx: &mut Transaction<'_, Any>,
    count: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let (largest,): (i64,) = sqlx::query_as("SELECT COALESCE(max(id), 0) FROM conversation_dms")
        .fetch_one(&mut **tx)
        .await?;
    Ok((1..=count as i64).map(|offset| largest + offset).collect())
}

/// Takes the advisory lock of each conversation of `touched` (Postgres), in
/// the order of their lock keys, then reads the stored state of each that has
/// one and takes `count` ids for new `conversation_dms` rows from their
/// sequence: one round trip, `pulse_lock_and_read_conversations` (migrations
/// 0012 and 0013), whose statements each see a new snapshot, the reads one
/// taken under the locks. The keys go in as JSON, so the statement's text is
/// one for any number of conversations; one primary-key lookup each. The
/// answer is one text: the ids, `|`, the states as [`parse_states`] reads
/// them.
async fn lock_and_read_postgres(
    tx: &mut Transaction<'_, Any>,
    touched: &[(&ConversationKey, &Vec<Dm>)],
    count: usize,
) -> Result<(Vec<i64>, HashMap<ConversationKey, Stored>), sqlx::Error> {
    let mut lock_keys: Vec<i64> = touched.iter().map(|(key, _)| lock_key(key)).collect();
    lock_keys.sort_unstable();
    lock_keys.dedup();
    let keys: Vec<serde_json::Value> = touched
        .iter()
        .map(|((account_id, peer_id), _)| {
            serde_json::json!({"account_id": account_id, "peer_id": peer_id})
        })
        .collect();
    let (found,): (String,) =
        sqlx::query_as("SELECT pulse_lock_and_read_conversations($1::json, $2::json, $3)")
            .bind(serde_json::to_string(&lock_keys).expect("integers serialise"))
            .bind(json_rows(keys))
            .bind(count as i64)
            .fetch_one(&mut **tx)
            .await?;
    let unreadable = || {
        let start: String = found.chars().take(80).collect();
        sqlx::Error::Protocol(format!(
            "unreadable answer to the conversations' lock: {start}"
        ))
    };
    let (ids, states) = found.split_once('|').ok_or_else(unreadable)?;
    let ids = ids
        .split_whitespace()
        .map(str::parse::<i64>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unreadable())?;
    Ok((ids, parse_states(states, touched)))
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

/// The stored state of each conversation of `touched` that has one (SQLite),
/// as ONE row: sqlx hands every row from its SQLite thread to the caller
/// with a wake-up, so the stored states come as one text,
/// `"<position in touched> <state>"` per stored conversation, joined
/// by commas (a conversation without a row is left out by `group_concat`).
/// The keys go in as one JSON array, so the statement's text is the same for
/// any number of them and stays prepared (sqlx keeps the last 100 statements
/// a connection prepared; one text per count of keys did not fit).
async fn read_states_sqlite(
    tx: &mut Transaction<'_, Any>,
    touched: &[(&ConversationKey, &Vec<Dm>)],
) -> Result<HashMap<ConversationKey, Stored>, sqlx::Error> {
    let keys: Vec<[&str; 2]> = touched
        .iter()
        .map(|((account_id, peer_id), _)| [account_id.as_str(), peer_id.as_str()])
        .collect();
    let (found,): (Option<String>,) = sqlx::query_as(
        "SELECT group_concat(found, ',') FROM (
             SELECT touched.key || ' ' || (
                 SELECT stored.last_dm_at_ms || ' ' || stored.last_dm_sent || ' '
                        || COALESCE(stored.waiting_since_ms, -1) || ' '
                        || COALESCE(stored.last_dm_id, -1)
                 FROM conversations AS stored
                 WHERE stored.account_id = touched.value ->> 0
                   AND stored.peer_id = touched.value ->> 1) AS found
             FROM json_each($1) AS touched)",
    )
    .bind(serde_json::to_string(&keys).expect("strings serialise"))
    .fetch_one(&mut **tx)
    .await?;
    Ok(parse_states(found.as_deref().unwrap_or_default(), touched))
}

/// The stored states both engines' reads return (on Postgres migration
/// 0013's function writes the same text): `"<position in touched> <state>"`
/// per conversation that has a row, joined by commas.
fn parse_states(
    text: &str,
    touched: &[(&ConversationKey, &Vec<Dm>)],
) -> HashMap<ConversationKey, Stored> {
    text.split(',')
        .filter_map(|entry| {
            let (position, state) = entry.split_once(' ')?;
            let (key, _) = touched.get(position.parse::<usize>().ok()?)?;
            Some(((*key).clone(), parse_state(state)?))
        })
        .collect()
}

/// A conversation's state from the text of [`parse_states`]:
/// `"<last_dm_at_ms> <last_dm_sent> <waiting_since_ms or -1> <last_dm_id or -1>"`.
fn parse_state(text: &str) -> Option<Stored> {
    let mut fields = text.split(' ').map(str::parse::<i64>);
    let (at_ms, sent, since, last_dm_id) = (
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    );
    Some(Stored {
        state: Conversation {
            last: Dm {
                at_ms,
                sent: sent != 0,
            },
            waiting_since_ms: (since >= 0).then_some(since),
        },
        last_dm_id: (last_dm_id >= 0).then_some(last_dm_id),
    })
}

/// A conversation's stored DMs after the last sent DM older than `$2` (all
/// of them when there is none), walked back along its chain from its newest
/// (`$1`) in one statement. The walk carries the anchor found so far (the
/// latest sent DM older than `$2`; `$3` while there is none) and stops at a
/// DM whose `latest_at_ms` is not past it: that DM and every one stored
/// before it are no later than the anchor, so neither a later anchor nor a
/// DM after it is left behind. Stored in event order, the walk reads the DMs
/// after the anchor and the anchor; stored out of order, also those stored
/// among them.
const WALK_BACK: &str = "
    WITH RECURSIVE walk (id, previous_id, at_ms, sent, anchor_ms) AS (
        SELECT id, previous_id, at_ms, sent,
               CASE WHEN sent = 1 AND at_ms < $2 THEN at_ms ELSE CAST($3 AS BIGINT) END
        FROM conversation_dms WHERE id = $1
      UNION ALL
        SELECT dm.id, dm.previous_id, dm.at_ms, dm.sent,
               CASE WHEN dm.sent = 1 AND dm.at_ms < $2 AND dm.at_ms > walk.anchor_ms
                    THEN dm.at_ms ELSE walk.anchor_ms END
        FROM walk JOIN conversation_dms AS dm ON dm.id = walk.previous_id
        WHERE dm.latest_at_ms > walk.anchor_ms)
    SELECT at_ms, sent, anchor_ms FROM walk";

/// A conversation that got a DM older than its latest stored one: its stored
/// DMs since the last sent DM before the earliest new one are read (by
/// walking its chain back, [`WALK_BACK`]), the replies they made are taken
/// back and the replies they make with the new DMs are counted. Returns the
/// new state.
async fn recount_late(
    tx: &mut Transaction<'_, Any>,
    (account_id, _): &ConversationKey,
    last_dm_id: Option<i64>,
    new_dms: &[Dm],
    changes: &mut Changes,
) -> Result<Option<Conversation>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = match last_dm_id {
        Some(id) => {
            sqlx::query_as(WALK_BACK)
                .bind(id)
                .bind(new_dms[0].at_ms)
                .bind(i64::MIN)
                .fetch_all(&mut **tx)
                .await?
        }
        None => Vec::new(),
    };
    // After the anchor (a sent DM, last at its millisecond) nobody waits.
    let anchor_ms = rows.iter().map(|(_, _, anchor)| *anchor).max();
    let mut stored: Vec<Dm> = rows
        .into_iter()
        .filter(|(at_ms, _, _)| Some(*at_ms) > anchor_ms)
        .map(|(at_ms, sent, _)| Dm {
            at_ms,
            sent: sent != 0,
        })
        .collect();
    stored.sort_unstable();
    let mut with_new = [stored.as_slice(), new_dms].concat();
    with_new.sort_unstable();
    let (_, before) = replies::follow(None, stored);
    let (after, replies) = replies::follow(None, with_new);
    changes.replies(account_id, &before, -1);
    changes.replies(account_id, &replies, 1);
    Ok(after)
}

/// Writes the new state and newest chained DM of the touched conversations
/// (SQLite).
async fn write_states(
    tx: &mut Transaction<'_, Any>,
    written: &[(ConversationKey, Conversation, i64)],
) -> Result<(), sqlx::Error> {
    if written.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "INSERT INTO conversations
             (account_id, peer_id, last_dm_at_ms, last_dm_sent, waiting_since_ms, last_dm_id)
         VALUES {}
         ON CONFLICT (account_id, peer_id) DO UPDATE SET
             last_dm_at_ms = excluded.last_dm_at_ms,
             last_dm_sent = excluded.last_dm_sent,
             waiting_since_ms = excluded.waiting_since_ms,
             last_dm_id = excluded.last_dm_id",
        placeholders(Backend::Sqlite, written.len(), 6)
    );
    let mut query = sqlx::query(&statement);
    for ((account_id, peer_id), state, last_dm_id) in written {
        query = query
            .bind(account_id)
            .bind(peer_id)
            .bind(state.last.at_ms)
            .bind(i64::from(state.last.sent))
            .bind(state.waiting_since_ms)
            .bind(*last_dm_id);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Appends DMs to their conversations' chains (SQLite).
async fn write_chained(
    tx: &mut Transaction<'_, Any>,
    chained: &[ChainedDm],
) -> Result<(), sqlx::Error> {
    for chunk in chained.chunks(ROWS_PER_UPSERT) {
        let statement = format!(
            "INSERT INTO conversation_dms (id, previous_id, at_ms, sent, latest_at_ms) VALUES {}",
            placeholders(Backend::Sqlite, chunk.len(), 5)
        );
        let mut query = sqlx::query(&statement);
        for chained in chunk {
            query = query
                .bind(chained.id)
                .bind(chained.previous_id)
                .bind(chained.dm.at_ms)
                .bind(i64::from(chained.dm.sent))
                .bind(chained.latest_at_ms);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds the summed changes to the aggregate rows, one upsert per table and
/// chunk of rows.
pub(super) async fn write_changes(
    tx: &mut Transaction<'_, Any>,
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
    add_counts(tx, "conversation_minutes", &["minute_ms", "slot"], &active).await?;
    add_counts(
        tx,
        "waiting_minutes",
        &["last_minute_ms", "since_minute_ms", "slot"],
        &waiting,
    )
    .await?;
    add_counts(
        tx,
        "reply_minutes",
        &["minute_ms", "bucket", "slot"],
        &replies,
    )
    .await?;
    add_counts(
        tx,
        "account_waiting_minutes",
        &["account_id", "minute_ms", "slot"],
        &account_waiting,
    )
    .await?;
    add_counts(
        tx,
        "account_reply_minutes",
        &["account_id", "minute_ms", "bucket", "slot"],
        &account_replies,
    )
    .await
}

impl Changes {
    /// The rows as JSON arrays of objects for Postgres's `json_to_recordset`:
    /// (conversation minutes, waiting minutes, reply minutes, account
    /// waiting minutes, account reply minutes, conversation states, chained
    /// DMs); changes of zero left out.
    pub(super) fn postgres_rows(&self) -> [String; 7] {
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
                .map(|((account, peer), state, last_dm_id)| {
                    json!({
                        "account_id": account,
                        "peer_id": peer,
                        "last_dm_at_ms": state.last.at_ms,
                        "last_dm_sent": i64::from(state.last.sent),
                        "waiting_since_ms": state.waiting_since_ms,
                        "last_dm_id": last_dm_id,
                    })
                })
                .collect()),
            json_rows(self
                .chained
                .iter()
                .map(|chained| {
                    json!({
                        "id": chained.id,
                        "previous_id": chained.previous_id,
                        "at_ms": chained.dm.at_ms,
                        "sent": i64::from(chained.dm.sent),
                        "latest_at_ms": chained.latest_at_ms,
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
            placeholders(Backend::Sqlite, chunk.len(), key_columns.len() + 1)
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
            parse_state("1795631405000 1 -1 7"),
            Some(Stored {
                state: Conversation {
                    last: Dm {
                        at_ms: 1_795_631_405_000,
                        sent: true
                    },
                    waiting_since_ms: None
                },
                last_dm_id: Some(7),
            })
        );
        let waiting = parse_state("20 0 10 -1").unwrap();
        assert_eq!(
            (waiting.state.waiting_since_ms, waiting.last_dm_id),
            (Some(10), None)
        );
        assert_eq!(parse_state("20 0 10"), None);
    }
}
