-- One account's active conversations over any range (see
-- server/src/store/account_conversation_sketches.rs): per account, unit and
-- writer slot, a HyperLogLog sketch of the conversations with a DM in it, in
-- its sparse form (two bytes per register that saw something; an account's
-- quarter-hour usually sees few). Units as in account_history: ingestion
-- writes quarter-hours to its own slot; retention folds them into hours
-- (slot -2) after three days and two hours, hours into days after 35 days,
-- and removes days after 801. Adding is a register-wise maximum, so
-- duplicates and reordered deliveries change nothing. Slot -1 is the
-- catch-up pass's own (below). Only adds: an older node's DMs during a
-- rolling upgrade are not counted in them (an estimate, like the
-- conversations' sketches).
CREATE TABLE account_conversation_sketches (
    account_id  TEXT COLLATE "C" NOT NULL,
    start_ms    BIGINT NOT NULL,
    unit_ms     BIGINT NOT NULL,
    slot        BIGINT NOT NULL,
    sketch      BYTEA  NOT NULL,
    PRIMARY KEY (account_id, start_ms, unit_ms, slot)
);
-- Retention folds the oldest quarter-hours and hours and removes the
-- oldest days through this index.
CREATE INDEX account_conversation_sketches_by_start
    ON account_conversation_sketches (unit_ms, start_ms);

-- Where adding the events stored before these sketches to them goes on: a
-- background pass reads them newest first and moves this down past them
-- (1 or less once done).
CREATE TABLE account_conversation_sketches_fill (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    below_id  BIGINT NOT NULL
);
INSERT INTO account_conversation_sketches_fill (id, below_id)
SELECT 1, COALESCE(max(id), 0) + 1 FROM events;
