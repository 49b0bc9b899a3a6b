-- Every webhook event, raw, plus the aggregate rows that let a stats snapshot
-- be computed without reading the events table. Aggregates are updated in the
-- same transaction as the event insert, so they always agree with it.

-- Every event as received. `dedupe_key` is the event's natural key
-- (e.g. `dm_received:<mid>`); kinds without one store NULL, which UNIQUE allows
-- any number of times.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    dedupe_key      TEXT    UNIQUE,
    account_id      TEXT    NOT NULL,
    peer_id         TEXT,
    occurred_at_ms  INTEGER NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    raw             TEXT    NOT NULL
);

-- One row: running totals and the store's version (bumped by every
-- transaction that stores something new).
CREATE TABLE stats_totals (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    version           INTEGER NOT NULL,
    dms_sent          INTEGER NOT NULL,
    dms_received      INTEGER NOT NULL,
    accounts          INTEGER NOT NULL,
    last_event_at_ms  INTEGER
);
INSERT INTO stats_totals (id, version, dms_sent, dms_received, accounts, last_event_at_ms)
VALUES (1, 0, 0, 0, 0, NULL);

-- DMs per UTC minute (keyed by the minute's start in Unix ms).
CREATE TABLE dm_minutes (
    minute_ms  INTEGER PRIMARY KEY,
    sent       INTEGER NOT NULL DEFAULT 0,
    received   INTEGER NOT NULL DEFAULT 0
);

-- DMs per UTC day (keyed by the day's start in Unix ms).
CREATE TABLE dm_days (
    day_ms    INTEGER PRIMARY KEY,
    sent      INTEGER NOT NULL DEFAULT 0,
    received  INTEGER NOT NULL DEFAULT 0
);

-- Business accounts seen in a counted event.
CREATE TABLE accounts (
    account_id        TEXT    PRIMARY KEY,
    first_seen_at_ms  INTEGER NOT NULL
);

-- Conversations (business account, customer) with their latest DM, indexed so
-- "active in the last 24 h" reads only the active ones.
CREATE TABLE conversations (
    account_id     TEXT    NOT NULL,
    peer_id        TEXT    NOT NULL,
    last_dm_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (account_id, peer_id)
);
CREATE INDEX conversations_by_last_dm ON conversations (last_dm_at_ms);
