-- Active conversations over any range (see server/src/store/conversation_sketches.rs):
-- per UTC quarter-hour, hour and day, a HyperLogLog sketch (1,024 one-byte
-- registers) of the conversations with a DM in it. Ingestion writes the
-- quarter-hours, one row per writer slot; retention folds them into hours
-- and days once Meta can no longer deliver into them (slot -2, below).
-- Adding is a register-wise maximum, so duplicates and reordered deliveries
-- change nothing; a range merges its units' rows. Slot -1 is the catch-up
-- pass's own (below). Only adds (an older node's DMs during a rolling
-- upgrade are not counted in them).
CREATE TABLE conversation_sketches (
    unit_ms   INTEGER NOT NULL,
    start_ms  INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    sketch    BLOB    NOT NULL,
    PRIMARY KEY (unit_ms, start_ms, slot)
);
-- A rowid table: its rows (over 1 KiB) stay on their page, where a table
-- WITHOUT ROWID would put each on an overflow page of its own (4 KiB).

-- Where adding the events stored before the sketches to them goes on: a
-- background pass reads them newest first and moves this down past them
-- (1 or less once done).
CREATE TABLE conversation_sketches_fill (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    below_id  INTEGER NOT NULL
);
INSERT INTO conversation_sketches_fill (id, below_id)
SELECT 1, COALESCE(max(id), 0) + 1 FROM events;

-- Where retention has folded the quarter-hours into their hours and days
-- (slot -2): every hour before below_ms has its sketch, every day before
-- it too. NULL until the first fold: a range reads quarter-hours from here
-- on, and hours and days only before.
CREATE TABLE conversation_sketches_fold (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    below_ms  INTEGER
);
INSERT INTO conversation_sketches_fold (id, below_ms) VALUES (1, NULL);
