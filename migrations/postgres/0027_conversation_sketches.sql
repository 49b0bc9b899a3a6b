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
    unit_ms   BIGINT NOT NULL,
    start_ms  BIGINT NOT NULL,
    slot      BIGINT NOT NULL,
    sketch    BYTEA  NOT NULL,
    PRIMARY KEY (unit_ms, start_ms, slot)
);

-- A sketch with `marks` added: `marks` holds (register, rank) pairs one
-- after the other, and each register keeps the higher rank. A missing
-- sketch is an empty one. Used by ingestion's one aggregate statement,
-- which adds a transaction's marks to its own slot's rows.
CREATE FUNCTION pulse_sketch_add(sketch BYTEA, marks INTEGER[]) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    added BYTEA := COALESCE(sketch, decode(repeat('00', 1024), 'hex'));
    i INTEGER;
BEGIN
    FOR i IN 1 .. COALESCE(array_length(marks, 1), 0) / 2 LOOP
        IF get_byte(added, marks[2 * i - 1]) < marks[2 * i] THEN
            added := set_byte(added, marks[2 * i - 1], marks[2 * i]);
        END IF;
    END LOOP;
    RETURN added;
END
$$;

-- Where adding the events stored before the sketches to them goes on: a
-- background pass reads them newest first and moves this down past them
-- (1 or less once done).
CREATE TABLE conversation_sketches_fill (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    below_id  BIGINT NOT NULL
);
INSERT INTO conversation_sketches_fill (id, below_id)
SELECT 1, COALESCE(max(id), 0) + 1 FROM events;

-- Where retention has folded the quarter-hours into their hours and days
-- (slot -2): every hour before below_ms has its sketch, every day before
-- it too. NULL until the first fold: a range reads quarter-hours from here
-- on, and hours and days only before.
CREATE TABLE conversation_sketches_fold (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    below_ms  BIGINT
);
INSERT INTO conversation_sketches_fold (id, below_ms) VALUES (1, NULL);
