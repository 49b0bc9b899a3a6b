//! Keeping storage bounded: raw events past the retention period and
//! per-minute rows past the windows that read them are removed, a little at a
//! time, so that the database stops growing with the events it has taken.
//!
//! What may go, and why no figure changes:
//! - **raw events** (`events`) are read only for the duplicate check of a
//!   redelivery; Meta redelivers for up to 36 hours, so a retention of at
//!   least two days keeps every check exact. Every figure is kept in
//!   aggregates, and every past one in the history (`history.rs`), none of
//!   which are removed here.
//! - **per-minute rows** (`metric_minutes`, `reply_minutes`,
//!   `conversation_minutes`, `waiting_minutes`, `webhook_rejections`) are read
//!   only over the last 24 hours (the live dashboard); the history holds
//!   every figure they counted. A conversation that later moves out of a
//!   minute already removed leaves a negative count in that minute, which no
//!   window reads and the next step removes.
//!
//! - **an account's quarter-hours and hours** (`account_history`) older than
//!   its page reads them for (`account_history::QUARTERS_KEPT_MS`,
//!   `HOURS_KEPT_MS`) are folded into their hours and days in the step that
//!   removes them (a span reads every row that starts in it, whatever its
//!   unit, so a row not yet folded counts the same); **its days** go after
//!   `DAYS_KEPT_MS`, past the longest range and the period before it.
//!
//! - **an account's conversation sketches** (`account_conversation_sketches`)
//!   follow its history's units: folded, and removed, at the same horizons.
//!
//! - **an account's latest events** (`latest_events`) past its newest 20,
//!   which its page lists.
//!
//! - **the conversations' DM chains** (`conversation_dms`) are read only to
//!   recount a conversation that gets a DM older than its latest, walking back
//!   from its newest DM to the last sent DM before the late one
//!   (`conversations::WALK_BACK`). A late DM's event time is within the last
//!   [`CHAIN_KEPT_MS`] (Meta redelivers for up to 36 hours; the per-minute rows
//!   assume as much), so once a conversation has a sent DM `s` older than
//!   that, every walk stops at or before the first DM stored before `s`
//!   whose `latest_at_ms` is not past `s`: that DM and every one stored
//!   before it go (see [`chain_cut`]). A conversation's newest DM always
//!   stays; so does a customer's unanswered wait.
//!
//! Each step is its own short transaction that deletes at most
//! [`ROWS_PER_STEP`] rows, at the pace `steps.rs` sets: at most a twentieth
//! of the writer's time however much is due, so deliveries go in between
//! the steps at nearly their usual rate.
//!
//! Beside the removals, the conversations' quarter-hour sketches that can
//! no longer change are folded into their hours and days
//! (`conversation_sketches::fold`), which ranges read instead.

use std::time::Instant;

use sqlx::AnyPool;

use super::{
    account_conversation_sketches, account_history, conversation_sketches,
    history::{HOUR_MS, QUARTER_MS},
    latest_events,
    sql::placeholders,
    steps::{in_steps, rest_after, ROWS_PER_STEP, STEPS_PER_RUN},
    Backend, DAY_MS, MINUTE_MS,
};

/// How long per-minute rows are kept: the 24-hour windows and a day of
/// margin.
pub const MINUTE_ROWS_KEPT_MS: i64 = 2 * DAY_MS;

/// How long an alert incident is kept once cleared, with its messages: a
/// year and a month, so last year's incidents are there to compare with.
pub const INCIDENTS_KEPT_MS: i64 = 396 * DAY_MS;

/// The tables of per-minute rows and their minute column.
const MINUTE_TABLES: [(&str, &str); 5] = [
    ("metric_minutes", "minute_ms"),
    ("reply_minutes", "minute_ms"),
    ("conversation_minutes", "minute_ms"),
    ("waiting_minutes", "last_minute_ms"),
    ("webhook_rejections", "minute_ms"),
];

/// How long a conversation's DMs are kept in its chain at least, by event
/// time: as long as a late DM can be expected (the per-minute rows' horizon).
pub const CHAIN_KEPT_MS: i64 = MINUTE_ROWS_KEPT_MS;

/// Conversations one step walks, and one run at most (a run a minute: a
/// whole pass over 700,000 conversations in under three hours).
const CONVERSATIONS_PER_STEP: i64 = 500;
const CONVERSATIONS_PER_RUN: i64 = 5_000;

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Raw events received before the retention period.
    pub events: u64,
    /// Per-minute rows before their windows.
    pub minute_rows: u64,
    /// DMs of the conversations' chains that no late DM can need.
    pub chain_rows: u64,
    /// Alert incidents cleared more than [`INCIDENTS_KEPT_MS`] ago, and their
    /// messages.
    pub incident_rows: u64,
    /// Accounts' hours and days past the spans they are kept for.
    pub account_history_rows: u64,
    /// Accounts' latest events past the newest they list.
    pub latest_event_rows: u64,
    /// Accounts' conversation sketches folded into larger units or past
    /// the days kept.
    pub account_sketch_rows: u64,
    /// Hours of the conversations' sketches folded from their quarter-hours
    /// (nothing is removed: see `conversation_sketches`).
    pub sketch_hours_folded: u64,
}

impl Removed {
    /// Rows removed in all.
    pub fn total(&self) -> u64 {
        self.events
            + self.minute_rows
            + self.chain_rows
            + self.incident_rows
            + self.account_history_rows
            + self.latest_event_rows
            + self.account_sketch_rows
    }
}

/// Where the walk over the conversations' chains goes on: the last
/// conversation walked (by key), `None` to start from the first. Runs pass
/// over every conversation and start again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChainCursor(Option<(String, String)>);

/// Where a node's retention walks go on from one run to the next: over the
/// conversations' chains and over the accounts' latest events (the default
/// starts both from the first).
#[derive(Debug, Default)]
pub struct Walks {
    pub(super) chains: ChainCursor,
    pub(super) latest: latest_events::TrimCursor,
}

/// Removes, in steps, the raw events received before `events_before_ms`
/// and the per-minute rows before `now_ms` less [`MINUTE_ROWS_KEPT_MS`]; and
/// the alert incidents cleared before `now_ms` less [`INCIDENTS_KEPT_MS`]
/// (a few a day at most: one step).
pub(super) async fn run(
    writer: &AnyPool,
    backend: Backend,
    now_ms: i64,
    events_before_ms: i64,
    latest: &mut latest_events::TrimCursor,
) -> Result<Removed, sqlx::Error> {
    // The oldest events by id (ids grow as events are stored), deleted only
    // if received before the period: one index range a step.
    let events = in_steps(|| async {
        let deleted = sqlx::query(
            "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT $1)
             AND received_at_ms < $2",
        )
        .bind(ROWS_PER_STEP)
        .bind(events_before_ms)
        .execute(writer)
        .await?;
        Ok(deleted.rows_affected())
    })
    .await?;
    let mut removed = Removed {
        events,
        ..Removed::default()
    };
    let minutes_before_ms = now_ms - MINUTE_ROWS_KEPT_MS;
    for (table, column) in MINUTE_TABLES {
        for _ in 0..STEPS_PER_RUN {
            // A step covers the oldest six hours left (at most 360 minutes of
            // rows per figure), up to the horizon.
            let oldest: Option<(Option<i64>,)> =
                sqlx::query_as(&format!("SELECT min({column}) FROM {table}"))
                    .fetch_optional(writer)
                    .await?;
            let Some(oldest) = oldest.and_then(|(oldest,)| oldest) else {
                break;
            };
            if oldest >= minutes_before_ms {
                break;
            }
            let until = (oldest + 360 * MINUTE_MS).min(minutes_before_ms);
            let began = Instant::now();
            removed.minute_rows += sqlx::query(&format!("DELETE FROM {table} WHERE {column} < $1"))
                .bind(until)
                .execute(writer)
                .await?
                .rows_affected();
            rest_after(began).await;
        }
    }
    let horizons = account_history::Horizons::at(now_ms);
    let folds = [
        ((QUARTER_MS, HOUR_MS), horizons.quarters_before_ms),
        ((HOUR_MS, DAY_MS), horizons.hours_before_ms),
    ];
    for (units, before_ms) in folds {
        removed.account_history_rows +=
            in_steps(|| account_history::fold(writer, backend, units, before_ms, ROWS_PER_STEP))
                .await?;
    }
    removed.account_history_rows +=
        in_steps(|| remove_days(writer, "account_history", horizons.days_before_ms)).await?;
    // The accounts' conversation sketches follow the same units.
    for (units, before_ms) in folds {
        removed.account_sketch_rows += in_steps(|| {
            account_conversation_sketches::fold(writer, backend, units, before_ms, ROWS_PER_STEP)
        })
        .await?;
    }
    removed.account_sketch_rows += in_steps(|| {
        remove_days(
            writer,
            "account_conversation_sketches",
            horizons.days_before_ms,
        )
    })
    .await?;
    removed.latest_event_rows = latest_events::trim(writer, latest).await?;
    removed.sketch_hours_folded = conversation_sketches::fold(writer, backend, now_ms).await?;
    // Messages first: a run cut short between the two leaves incidents
    // without messages, which the next run removes.
    let incidents_before_ms = now_ms - INCIDENTS_KEPT_MS;
    for statement in [
        "DELETE FROM alert_messages WHERE incident_id IN
             (SELECT id FROM alert_incidents WHERE cleared_at_ms < $1)",
        "DELETE FROM alert_incidents WHERE cleared_at_ms < $1",
    ] {
        removed.incident_rows += sqlx::query(statement)
            .bind(incidents_before_ms)
            .execute(writer)
            .await?
            .rows_affected();
    }
    Ok(removed)
}

/// Removes up to [`ROWS_PER_STEP`] of the oldest days of `table` (an
/// account's rows by unit: `account_history` or
/// `account_conversation_sketches`) that start before `before_ms`; returns
/// the rows removed.
async fn remove_days(writer: &AnyPool, table: &str, before_ms: i64) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query(&format!(
        "DELETE FROM {table}
         WHERE (account_id, start_ms, unit_ms, slot) IN (
             SELECT account_id, start_ms, unit_ms, slot FROM {table}
             WHERE unit_ms = $1 AND start_ms < $2
             ORDER BY unit_ms, start_ms LIMIT $3)"
    ))
    .bind(DAY_MS)
    .bind(before_ms)
    .bind(ROWS_PER_STEP)
    .execute(writer)
    .await?;
    Ok(deleted.rows_affected())
}

/// A conversation's DMs from its newest back to the first one its chain
/// still holds, in that order: (id, event time, sent, `latest_at_ms`).
const WALK_WHOLE: &str = "
    WITH RECURSIVE chain (id, previous_id, at_ms, sent, latest_at_ms, depth) AS (
        SELECT id, previous_id, at_ms, sent, latest_at_ms, 0
        FROM conversation_dms WHERE id = $1
      UNION ALL
        SELECT dm.id, dm.previous_id, dm.at_ms, dm.sent, dm.latest_at_ms, chain.depth + 1
        FROM chain JOIN conversation_dms AS dm ON dm.id = chain.previous_id)
    SELECT id, at_ms, sent, latest_at_ms FROM chain ORDER BY depth";

/// One DM of a chain as [`WALK_WHOLE`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChainDm {
    pub id: i64,
    pub at_ms: i64,
    pub sent: bool,
    pub latest_at_ms: i64,
}

/// Where a chain (newest first) may be cut, given that no DM older than
/// `horizon_ms` will arrive late: the position of the first DM, walking
/// back, whose `latest_at_ms` is not past a sent DM older than the horizon
/// stored after it. A walk for a late DM carries an anchor at least that
/// sent DM's time past it and stops there (and that DM, like every one
/// stored before it, is no later than the anchor, so it is never read).
/// `None` when nothing may go.
pub(super) fn chain_cut(chain: &[ChainDm], horizon_ms: i64) -> Option<usize> {
    let mut anchor: Option<i64> = None;
    for (position, dm) in chain.iter().enumerate() {
        if anchor.is_some_and(|anchor| dm.latest_at_ms <= anchor) {
            return Some(position);
        }
        if dm.sent && dm.at_ms < horizon_ms {
            anchor = anchor.max(Some(dm.at_ms));
        }
    }
    None
}

/// Walks up to [`CONVERSATIONS_PER_RUN`] conversations after `cursor`, in
/// steps, and removes from each chain what no late DM can need (DMs older
/// than `now_ms` less [`CHAIN_KEPT_MS`] no longer arrive). The walks read on
/// `reader`; what a step's conversations shed is deleted on `writer` up to
/// [`ROWS_PER_STEP`] rows a statement. A cut is right whatever is stored
/// after the walk read, so nothing is held between the two.
pub(super) async fn prune_chains(
    reader: &AnyPool,
    writer: &AnyPool,
    backend: Backend,
    cursor: &mut ChainCursor,
    now_ms: i64,
) -> Result<u64, sqlx::Error> {
    let horizon_ms = now_ms - CHAIN_KEPT_MS;
    let mut removed = 0;
    let mut walked = 0;
    while walked < CONVERSATIONS_PER_RUN {
        let (after_account, after_peer) = cursor.0.clone().unwrap_or_default();
        let conversations: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT account_id, peer_id, last_dm_id FROM conversations
             WHERE (account_id, peer_id) > ($1, $2) AND last_dm_id IS NOT NULL
             ORDER BY account_id, peer_id LIMIT $3",
        )
        .bind(after_account)
        .bind(after_peer)
        .bind(CONVERSATIONS_PER_STEP)
        .fetch_all(reader)
        .await?;
        walked += CONVERSATIONS_PER_STEP;
        let Some((account, peer, _)) = conversations.last() else {
            // Past the last conversation: the next run starts again.
            cursor.0 = None;
            break;
        };
        cursor.0 = Some((account.clone(), peer.clone()));
        let mut gone = Vec::new();
        for (_, _, newest) in &conversations {
            let chain: Vec<ChainDm> = sqlx::query_as::<_, (i64, i64, i64, i64)>(WALK_WHOLE)
                .bind(newest)
                .fetch_all(reader)
                .await?
                .into_iter()
                .map(|(id, at_ms, sent, latest_at_ms)| ChainDm {
                    id,
                    at_ms,
                    sent: sent != 0,
                    latest_at_ms,
                })
                .collect();
            if let Some(cut) = chain_cut(&chain, horizon_ms) {
                gone.extend(chain[cut..].iter().map(|dm| dm.id));
            }
        }
        for ids in gone.chunks(ROWS_PER_STEP as usize) {
            let statement = format!(
                "DELETE FROM conversation_dms WHERE id IN (VALUES {})",
                placeholders(backend, ids.len(), 1)
            );
            let mut delete = sqlx::query(&statement);
            for id in ids {
                delete = delete.bind(id);
            }
            let began = Instant::now();
            removed += delete.execute(writer).await?.rows_affected();
            rest_after(began).await;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm(id: i64, at_ms: i64, sent: bool, latest_at_ms: i64) -> ChainDm {
        ChainDm {
            id,
            at_ms,
            sent,
            latest_at_ms,
        }
    }

    #[test]
    fn a_chain_is_cut_below_a_sent_dm_older_than_the_horizon() {
        // Newest first: a reply and a DM within the horizon (100), a reply before it, the
        // customer's DM it answered, and an older exchange.
        let chain = [
            dm(6, 150, true, 150),
            dm(5, 120, false, 120),
            dm(4, 90, true, 90),
            dm(3, 80, false, 80),
            dm(2, 70, true, 70),
            dm(1, 60, false, 60),
        ];
        assert_eq!(chain_cut(&chain, 100), Some(3), "below the reply at 90");
        assert_eq!(
            chain_cut(&chain, 50),
            None,
            "no reply older than the horizon"
        );
    }

    #[test]
    fn a_dm_stored_early_with_a_later_time_stays_while_a_walk_can_reach_it() {
        // DM 2 was stored before the reply at 90 but happened after it (a late delivery
        // stored out of order): its running latest is 95, past the reply, so it stays, and so
        // does everything stored after it.
        let chain = [
            dm(4, 90, true, 95),
            dm(3, 50, false, 95),
            dm(2, 95, false, 95),
            dm(1, 40, false, 40),
        ];
        assert_eq!(chain_cut(&chain, 100), Some(3));
    }

    #[test]
    fn a_customer_still_waiting_keeps_the_whole_wait() {
        let chain = [
            dm(3, 90, false, 90),
            dm(2, 80, false, 80),
            dm(1, 70, false, 70),
        ];
        assert_eq!(chain_cut(&chain, 100), None);
        // The newest DM always stays.
        assert_eq!(chain_cut(&[dm(1, 10, true, 10)], 100), None);
    }
}
