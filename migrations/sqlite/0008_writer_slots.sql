-- Aggregate rows that concurrent writers do not share (issue #14): every
-- additive aggregate row gets the writer slot that wrote it, and readers sum
-- the slots. A writer owns its slot while it runs (SQLite has one writer:
-- slot 0; see server/src/store/slots.rs), so no two transactions ever add to
-- the same aggregate row at once. What is stored so far goes to slot 0.

-- The store's version and totals per slot (was one row, `stats_totals`): the
-- store version is the sum of the slots' versions.
CREATE TABLE store_slots (
    slot                 INTEGER PRIMARY KEY,
    version              INTEGER NOT NULL,
    accounts             INTEGER NOT NULL,
    last_event_at_ms     INTEGER,
    last_accepted_at_ms  INTEGER
);
INSERT INTO store_slots (slot, version, accounts, last_event_at_ms, last_accepted_at_ms)
SELECT 0, version, accounts, last_event_at_ms, last_accepted_at_ms FROM stats_totals;
DROP TABLE stats_totals;

CREATE TABLE metric_totals_by_slot (
    metric  TEXT    NOT NULL,
    slot    INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (metric, slot)
);
INSERT INTO metric_totals_by_slot (metric, slot, count) SELECT metric, 0, count FROM metric_totals;
DROP TABLE metric_totals;
ALTER TABLE metric_totals_by_slot RENAME TO metric_totals;

CREATE TABLE metric_days_by_slot (
    day_ms  INTEGER NOT NULL,
    metric  TEXT    NOT NULL,
    slot    INTEGER NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (day_ms, metric, slot)
);
INSERT INTO metric_days_by_slot (day_ms, metric, slot, count)
SELECT day_ms, metric, 0, count FROM metric_days;
DROP TABLE metric_days;
ALTER TABLE metric_days_by_slot RENAME TO metric_days;

CREATE TABLE metric_minutes_by_slot (
    minute_ms  INTEGER NOT NULL,
    metric     TEXT    NOT NULL,
    slot       INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, metric, slot)
);
INSERT INTO metric_minutes_by_slot (minute_ms, metric, slot, count)
SELECT minute_ms, metric, 0, count FROM metric_minutes;
DROP TABLE metric_minutes;
ALTER TABLE metric_minutes_by_slot RENAME TO metric_minutes;

CREATE TABLE conversation_minutes_by_slot (
    minute_ms  INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, slot)
);
INSERT INTO conversation_minutes_by_slot (minute_ms, slot, count)
SELECT minute_ms, 0, count FROM conversation_minutes;
DROP TABLE conversation_minutes;
ALTER TABLE conversation_minutes_by_slot RENAME TO conversation_minutes;

CREATE TABLE reply_minutes_by_slot (
    minute_ms  INTEGER NOT NULL,
    bucket     INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, bucket, slot)
);
INSERT INTO reply_minutes_by_slot (minute_ms, bucket, slot, count)
SELECT minute_ms, bucket, 0, count FROM reply_minutes;
DROP TABLE reply_minutes;
ALTER TABLE reply_minutes_by_slot RENAME TO reply_minutes;

CREATE TABLE waiting_minutes_by_slot (
    last_minute_ms   INTEGER NOT NULL,
    since_minute_ms  INTEGER NOT NULL,
    slot             INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    PRIMARY KEY (last_minute_ms, since_minute_ms, slot)
);
INSERT INTO waiting_minutes_by_slot (last_minute_ms, since_minute_ms, slot, count)
SELECT last_minute_ms, since_minute_ms, 0, count FROM waiting_minutes;
DROP TABLE waiting_minutes;
ALTER TABLE waiting_minutes_by_slot RENAME TO waiting_minutes;
