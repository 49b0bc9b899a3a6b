-- The Postgres schema: the same tables and meaning as the SQLite one (see
-- migrations/sqlite), created in one step. Integers are BIGINT throughout:
-- timestamps are Unix milliseconds.

-- Every event as received, deduplicated on its natural key.
CREATE TABLE events (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT    NOT NULL,
    dedupe_key      TEXT    UNIQUE,
    account_id      TEXT    NOT NULL,
    peer_id         TEXT,
    occurred_at_ms  BIGINT  NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    raw             TEXT    NOT NULL,
    error           TEXT
);

-- One row: the store's version (bumped by every transaction that stores
-- something new), distinct accounts, and the newest times.
CREATE TABLE stats_totals (
    id                   BIGINT  PRIMARY KEY CHECK (id = 1),
    version              BIGINT  NOT NULL,
    accounts             BIGINT  NOT NULL,
    last_event_at_ms     BIGINT,
    last_accepted_at_ms  BIGINT
);
INSERT INTO stats_totals (id, version, accounts) VALUES (1, 0, 0);

-- Running total per metric.
CREATE TABLE metric_totals (
    metric  TEXT    PRIMARY KEY,
    count   BIGINT  NOT NULL
);

-- Count per metric and UTC day.
CREATE TABLE metric_days (
    day_ms  BIGINT  NOT NULL,
    metric  TEXT    NOT NULL,
    count   BIGINT  NOT NULL,
    PRIMARY KEY (day_ms, metric)
);

-- Count per metric and UTC minute.
CREATE TABLE metric_minutes (
    minute_ms  BIGINT  NOT NULL,
    metric     TEXT    NOT NULL,
    count      BIGINT  NOT NULL,
    PRIMARY KEY (minute_ms, metric)
);

-- Business accounts seen in a modelled event.
CREATE TABLE accounts (
    account_id        TEXT    PRIMARY KEY,
    first_seen_at_ms  BIGINT  NOT NULL
);

-- Conversations with their latest DM.
CREATE TABLE conversations (
    account_id     TEXT    NOT NULL,
    peer_id        TEXT    NOT NULL,
    last_dm_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (account_id, peer_id)
);
CREATE INDEX conversations_by_last_dm ON conversations (last_dm_at_ms);

-- Refused webhook requests per minute and reason.
CREATE TABLE webhook_rejections (
    minute_ms  BIGINT  NOT NULL,
    reason     TEXT    NOT NULL,
    count      BIGINT  NOT NULL,
    PRIMARY KEY (minute_ms, reason)
);
