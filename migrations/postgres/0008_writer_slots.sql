-- Aggregate rows that concurrent writers do not share (see
-- migrations/sqlite/0008 and server/src/store/slots.rs): every additive
-- aggregate row gets the writer slot that wrote it; readers sum the slots.
-- What is stored so far goes to slot 0.

CREATE TABLE store_slots (
    slot                 BIGINT PRIMARY KEY,
    version              BIGINT NOT NULL,
    accounts             BIGINT NOT NULL,
    last_event_at_ms     BIGINT,
    last_accepted_at_ms  BIGINT
);
INSERT INTO store_slots (slot, version, accounts, last_event_at_ms, last_accepted_at_ms)
SELECT 0, version, accounts, last_event_at_ms, last_accepted_at_ms FROM stats_totals;
DROP TABLE stats_totals;

ALTER TABLE metric_totals ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE metric_totals DROP CONSTRAINT metric_totals_pkey;
ALTER TABLE metric_totals ADD PRIMARY KEY (metric, slot);
ALTER TABLE metric_totals ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE metric_days ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE metric_days DROP CONSTRAINT metric_days_pkey;
ALTER TABLE metric_days ADD PRIMARY KEY (day_ms, metric, slot);
ALTER TABLE metric_days ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE metric_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE metric_minutes DROP CONSTRAINT metric_minutes_pkey;
ALTER TABLE metric_minutes ADD PRIMARY KEY (minute_ms, metric, slot);
ALTER TABLE metric_minutes ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE conversation_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_minutes DROP CONSTRAINT conversation_minutes_pkey;
ALTER TABLE conversation_minutes ADD PRIMARY KEY (minute_ms, slot);
ALTER TABLE conversation_minutes ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE reply_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reply_minutes DROP CONSTRAINT reply_minutes_pkey;
ALTER TABLE reply_minutes ADD PRIMARY KEY (minute_ms, bucket, slot);
ALTER TABLE reply_minutes ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE waiting_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE waiting_minutes DROP CONSTRAINT waiting_minutes_pkey;
ALTER TABLE waiting_minutes ADD PRIMARY KEY (last_minute_ms, since_minute_ms, slot);
ALTER TABLE waiting_minutes ALTER COLUMN slot DROP DEFAULT;

-- The per-account rows likewise (the accounts page sums the slots).
ALTER TABLE account_days ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_days DROP CONSTRAINT account_days_pkey;
ALTER TABLE account_days ADD PRIMARY KEY (account_id, day_ms, slot);
ALTER TABLE account_days ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE account_hours ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_hours DROP CONSTRAINT account_hours_pkey;
ALTER TABLE account_hours ADD PRIMARY KEY (account_id, hour_ms, slot);
ALTER TABLE account_hours ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE account_waiting_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_waiting_minutes DROP CONSTRAINT account_waiting_minutes_pkey;
ALTER TABLE account_waiting_minutes ADD PRIMARY KEY (account_id, minute_ms, slot);
ALTER TABLE account_waiting_minutes ALTER COLUMN slot DROP DEFAULT;

ALTER TABLE account_reply_minutes ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_reply_minutes DROP CONSTRAINT account_reply_minutes_pkey;
ALTER TABLE account_reply_minutes ADD PRIMARY KEY (account_id, minute_ms, bucket, slot);
ALTER TABLE account_reply_minutes ALTER COLUMN slot DROP DEFAULT;

-- An account's newest counted event, per slot (was a column of `accounts`,
-- which every writer touching the account had to lock).
CREATE TABLE account_last_events (
    account_id        TEXT    NOT NULL,
    slot              BIGINT  NOT NULL,
    last_event_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (account_id, slot)
);
INSERT INTO account_last_events (account_id, slot, last_event_at_ms)
SELECT account_id, 0, last_event_at_ms FROM accounts WHERE last_event_at_ms IS NOT NULL;
CREATE INDEX account_last_events_by_time ON account_last_events (last_event_at_ms, account_id);
ALTER TABLE accounts DROP COLUMN last_event_at_ms;

-- Keys compared byte by byte: Instagram's ids and Pulse's natural keys have
-- no language order, and the database's collation (en_US.UTF-8, C.UTF-8, …)
-- made every index comparison of them a locale comparison.
ALTER TABLE events
    ALTER COLUMN dedupe_key TYPE TEXT COLLATE "C",
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN peer_id TYPE TEXT COLLATE "C";
ALTER TABLE conversations
    ALTER COLUMN account_id TYPE TEXT COLLATE "C",
    ALTER COLUMN peer_id TYPE TEXT COLLATE "C";
