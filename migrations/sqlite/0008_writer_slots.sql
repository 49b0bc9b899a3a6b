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

-- The per-account rows likewise (the accounts page sums the slots).
CREATE TABLE account_days_by_slot (
    account_id  TEXT    NOT NULL,
    day_ms      INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    received    INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    PRIMARY KEY (account_id, day_ms, slot)
);
INSERT INTO account_days_by_slot (account_id, day_ms, slot, received, sent)
SELECT account_id, day_ms, 0, received, sent FROM account_days;
DROP TABLE account_days;
ALTER TABLE account_days_by_slot RENAME TO account_days;
CREATE INDEX account_days_by_day ON account_days (day_ms);

CREATE TABLE account_hours_by_slot (
    account_id  TEXT    NOT NULL,
    hour_ms     INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (account_id, hour_ms, slot)
);
INSERT INTO account_hours_by_slot (account_id, hour_ms, slot, events)
SELECT account_id, hour_ms, 0, events FROM account_hours;
DROP TABLE account_hours;
ALTER TABLE account_hours_by_slot RENAME TO account_hours;
CREATE INDEX account_hours_by_hour ON account_hours (hour_ms);

CREATE TABLE account_waiting_minutes_by_slot (
    account_id  TEXT    NOT NULL,
    minute_ms   INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (account_id, minute_ms, slot)
);
INSERT INTO account_waiting_minutes_by_slot (account_id, minute_ms, slot, count)
SELECT account_id, minute_ms, 0, count FROM account_waiting_minutes;
DROP TABLE account_waiting_minutes;
ALTER TABLE account_waiting_minutes_by_slot RENAME TO account_waiting_minutes;
CREATE INDEX account_waiting_minutes_by_minute ON account_waiting_minutes (minute_ms);

CREATE TABLE account_reply_minutes_by_slot (
    account_id  TEXT    NOT NULL,
    minute_ms   INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (account_id, minute_ms, bucket, slot)
);
INSERT INTO account_reply_minutes_by_slot (account_id, minute_ms, bucket, slot, count)
SELECT account_id, minute_ms, bucket, 0, count FROM account_reply_minutes;
DROP TABLE account_reply_minutes;
ALTER TABLE account_reply_minutes_by_slot RENAME TO account_reply_minutes;
CREATE INDEX account_reply_minutes_by_minute ON account_reply_minutes (minute_ms);

-- An account's newest counted event, per slot (was a column of `accounts`,
-- which every writer touching the account had to lock): the newest is the
-- latest of its slots' rows.
CREATE TABLE account_last_events (
    account_id        TEXT    NOT NULL,
    slot              INTEGER NOT NULL,
    last_event_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (account_id, slot)
);
INSERT INTO account_last_events (account_id, slot, last_event_at_ms)
SELECT account_id, 0, last_event_at_ms FROM accounts WHERE last_event_at_ms IS NOT NULL;
CREATE INDEX account_last_events_by_time ON account_last_events (last_event_at_ms, account_id);
DROP INDEX accounts_by_last_event;
ALTER TABLE accounts DROP COLUMN last_event_at_ms;
