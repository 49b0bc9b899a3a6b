-- What each business account did, for the accounts page: kept at ingestion
-- like the global aggregates, never counted from the events table.

-- The newest counted event of the account (event time).
ALTER TABLE accounts ADD COLUMN last_event_at_ms INTEGER;
CREATE INDEX accounts_by_last_event ON accounts (last_event_at_ms);

-- DMs per account and UTC day.
CREATE TABLE account_days (
    account_id  TEXT    NOT NULL,
    day_ms      INTEGER NOT NULL,
    received    INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    PRIMARY KEY (account_id, day_ms)
);

-- Counted events per account and UTC hour (whether an account fell silent).
CREATE TABLE account_hours (
    account_id  TEXT    NOT NULL,
    hour_ms     INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    PRIMARY KEY (account_id, hour_ms)
);

-- Waiting conversations per account and minute of their latest DM.
CREATE TABLE account_waiting_minutes (
    account_id  TEXT    NOT NULL,
    minute_ms   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (account_id, minute_ms)
);

-- Replies per account, minute sent and reply-time bucket.
CREATE TABLE account_reply_minutes (
    account_id  TEXT    NOT NULL,
    minute_ms   INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (account_id, minute_ms, bucket)
);

-- From what is stored so far (replies before the upgrade are not counted);
-- daily and hourly rows only as far back as their windows reach.
UPDATE accounts SET last_event_at_ms = latest.at
FROM (SELECT account_id, max(occurred_at_ms) AS at FROM events
      WHERE kind IN ('dm_received', 'dm_sent', 'message_deleted', 'reaction', 'postback', 'read',
                   'comment', 'mention')
      GROUP BY account_id) AS latest
WHERE latest.account_id = accounts.account_id;
INSERT INTO account_days (account_id, day_ms, received, sent)
SELECT account_id, occurred_at_ms - (occurred_at_ms % 86400000),
       sum(CASE WHEN kind = 'dm_received' THEN 1 ELSE 0 END),
       sum(CASE WHEN kind = 'dm_sent' THEN 1 ELSE 0 END)
FROM events WHERE kind IN ('dm_received', 'dm_sent')
  AND occurred_at_ms >= (CAST(strftime('%s', 'now') AS INTEGER) - 172800) * 1000
GROUP BY account_id, occurred_at_ms - (occurred_at_ms % 86400000);
INSERT INTO account_hours (account_id, hour_ms, events)
SELECT account_id, occurred_at_ms - (occurred_at_ms % 3600000), count(*)
FROM events WHERE kind IN ('dm_received', 'dm_sent', 'message_deleted', 'reaction', 'postback', 'read',
                   'comment', 'mention')
  AND occurred_at_ms >= (CAST(strftime('%s', 'now') AS INTEGER) - 93600) * 1000
GROUP BY account_id, occurred_at_ms - (occurred_at_ms % 3600000);
INSERT INTO account_waiting_minutes (account_id, minute_ms, count)
SELECT account_id, last_dm_at_ms - (last_dm_at_ms % 60000), count(*)
FROM conversations WHERE waiting_since_ms IS NOT NULL
GROUP BY account_id, last_dm_at_ms - (last_dm_at_ms % 60000);
