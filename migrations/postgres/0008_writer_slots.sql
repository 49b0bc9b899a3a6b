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
