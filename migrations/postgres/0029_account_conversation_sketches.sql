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

-- A sparse sketch with `marks` added: `sketch` holds two bytes per register
-- that saw something (`register << 6 | rank`, big-endian, in register
-- order), `marks` the same packed values; each register keeps the higher
-- rank, and the result is in register order again, so equal sketches have
-- equal bytes. A missing sketch is an empty one. Used by ingestion's one
-- aggregate statement, which adds a transaction's marks to its own slot's
-- rows.
CREATE FUNCTION pulse_sparse_sketch_add(sketch BYTEA, marks INTEGER[]) RETURNS BYTEA
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(string_agg(substring(int4send(register << 6 | rank) FROM 3 FOR 2), ''::bytea
                               ORDER BY register), ''::bytea)
    FROM (
        SELECT packed >> 6 AS register, max(packed & 63) AS rank
        FROM (
            SELECT get_byte(sketch, 2 * i) << 8 | get_byte(sketch, 2 * i + 1) AS packed
            FROM generate_series(0, COALESCE(length(sketch), 0) / 2 - 1) AS i
            UNION ALL
            SELECT unnest(marks)
        ) AS every_mark
        GROUP BY packed >> 6
    ) AS merged
$$;

-- Where adding the events stored before these sketches to them goes on: a
-- background pass reads them newest first and moves this down past them
-- (1 or less once done).
CREATE TABLE account_conversation_sketches_fill (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    below_id  BIGINT NOT NULL
);
INSERT INTO account_conversation_sketches_fill (id, below_id)
SELECT 1, COALESCE(max(id), 0) + 1 FROM events;
