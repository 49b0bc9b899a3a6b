-- Replies and conversations waiting for one, kept exact at ingestion (see
-- server/src/store/replies.rs for the rules).

-- Each conversation's latest DM direction and, while its latest DM is a
-- received one, when the customer's wait began.
ALTER TABLE conversations ADD COLUMN last_dm_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN waiting_since_ms INTEGER;

-- A conversation's DMs in event order: read only when a DM arrives later
-- than a DM it precedes (out of order), from the last sent DM before it.
CREATE INDEX events_conversation_dms ON events (account_id, peer_id, occurred_at_ms)
    WHERE kind IN ('dm_received', 'dm_sent');

-- Replies per UTC minute they were sent in, by reply-time bucket.
CREATE TABLE reply_minutes (
    minute_ms  INTEGER NOT NULL,
    bucket     INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, bucket)
);

-- Waiting conversations by the minute of their latest (received) DM and the
-- minute their wait began: the snapshot sums the rows of the last 24 h.
CREATE TABLE waiting_minutes (
    last_minute_ms   INTEGER NOT NULL,
    since_minute_ms  INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    PRIMARY KEY (last_minute_ms, since_minute_ms)
);

-- The state of the conversations stored so far, from their events (at the
-- same millisecond a received DM comes before a sent one). The repeated
-- `kind IN (...)` lets SQLite use the partial index.
UPDATE conversations SET last_dm_sent = EXISTS (
    SELECT 1 FROM events
    WHERE events.account_id = conversations.account_id
      AND events.peer_id = conversations.peer_id
      AND events.kind = 'dm_sent'
      AND events.kind IN ('dm_received', 'dm_sent')
      AND events.occurred_at_ms = conversations.last_dm_at_ms
);
UPDATE conversations SET waiting_since_ms = (
    SELECT min(received.occurred_at_ms) FROM events AS received
    WHERE received.account_id = conversations.account_id
      AND received.peer_id = conversations.peer_id
      AND received.kind = 'dm_received'
      AND received.kind IN ('dm_received', 'dm_sent')
      AND received.occurred_at_ms > COALESCE((
          SELECT max(sent.occurred_at_ms) FROM events AS sent
          WHERE sent.account_id = conversations.account_id
            AND sent.peer_id = conversations.peer_id
            AND sent.kind = 'dm_sent'
            AND sent.kind IN ('dm_received', 'dm_sent')), -1)
)
WHERE last_dm_sent = 0;
INSERT INTO waiting_minutes (last_minute_ms, since_minute_ms, count)
SELECT last_dm_at_ms - (last_dm_at_ms % 60000), waiting_since_ms - (waiting_since_ms % 60000),
       count(*)
FROM conversations
WHERE waiting_since_ms IS NOT NULL
GROUP BY last_dm_at_ms - (last_dm_at_ms % 60000), waiting_since_ms - (waiting_since_ms % 60000);
