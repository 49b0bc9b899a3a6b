//! Writer slots: which share of the aggregate rows a writer adds to.
//!
//! Every additive aggregate row (`store_slots`, the metric, conversation,
//! reply and waiting minutes) carries the slot of the writer that wrote it,
//! and readers sum the slots. A slot belongs to one writer at a time, so two
//! transactions never add to the same aggregate row at once and never wait
//! for each other there, on one node or many. The store version is the sum
//! of the slots' versions (see `ingest::ingest` for why that keeps its
//! promise).
//!
//! SQLite has one writer and uses slot 0. On Postgres a writer owns its slot
//! by a session-level advisory lock held by its connection: it tries slots
//! from 0 upwards and keeps the first it gets until its connection closes
//! (when the process ends, or the connection fails), then the slot is free
//! for the next writer. Slot numbers are therefore reused, and the number of
//! rows per aggregate key stays at the number of writers ever running at once.

use sqlx::{AnyConnection, Connection};

/// One writer's share of the aggregate rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(pub i64);

impl Slot {
    /// The slot of a store's only writer (SQLite).
    pub const SINGLE: Slot = Slot(0);
}

/// Writers that can hold a slot at once on one database (every node's
/// writers together).
pub const MAX_SLOTS: i64 = 64;

/// The first key of the two-key advisory locks that own slots (the second is
/// the slot); one-key locks, such as the conversations', are a separate space.
const SLOT_LOCK_CLASS: i64 = 0x5055_4c53; // "PULS"

/// Why no slot could be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The database could not be reached or refused the lock query.
    #[error("cannot open a writer connection")]
    Database(#[from] sqlx::Error),
    /// Every slot is held by a running writer.
    #[error("all {MAX_SLOTS} writer slots are held: more writers run on this database than it has slots (lower PULSE_STORE_WRITERS or the number of nodes)")]
    AllTaken,
}

/// Opens a connection to the Postgres database at `url` and claims the
/// lowest free slot on it.
pub async fn claim(url: &str) -> Result<(AnyConnection, Slot), ClaimError> {
    let mut connection = AnyConnection::connect(url).await?;
    for slot in 0..MAX_SLOTS {
        let (claimed,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(CAST($1 AS INTEGER), CAST($2 AS INTEGER))")
                .bind(SLOT_LOCK_CLASS)
                .bind(slot)
                .fetch_one(&mut connection)
                .await?;
        if claimed {
            return Ok((connection, Slot(slot)));
        }
    }
    Err(ClaimError::AllTaken)
}
