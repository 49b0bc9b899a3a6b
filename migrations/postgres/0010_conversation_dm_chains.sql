-- Each conversation's DMs as a chain in the order they were stored, for the
-- exact recount a late DM needs (see server/src/store/conversations.rs). It
-- replaces the index events_conversation_dms, which put every DM into a
-- random leaf of a B-tree: a chain row is appended at the end of its table
-- and the conversation's row, which ingestion writes anyway, points at its
-- newest one. Writers take their ids from conversation_dm_ids.

-- One DM of a conversation: the DM stored before it in the same
-- conversation, its event time and direction, and the latest event time of
-- it and every DM stored before it (where a walk back may stop).
CREATE TABLE conversation_dms (
    id            BIGINT  PRIMARY KEY,
    previous_id   BIGINT,
    at_ms         BIGINT  NOT NULL,
    sent          INTEGER NOT NULL,
    latest_at_ms  BIGINT  NOT NULL
);
CREATE SEQUENCE conversation_dm_ids;

-- The conversation's DM stored last.
ALTER TABLE conversations ADD COLUMN last_dm_id BIGINT;

-- The chains of the DMs stored so far, each in event order (at the same
-- millisecond a received DM before a sent one): numbered conversation by
-- conversation, so a DM's predecessor is the number before its own.
CREATE TEMP TABLE stored_dms AS
SELECT row_number() OVER (ORDER BY account_id, peer_id, occurred_at_ms, kind = 'dm_sent', id)
           AS id,
       account_id, peer_id, occurred_at_ms AS at_ms, CAST(kind = 'dm_sent' AS INTEGER) AS sent
FROM events
WHERE kind IN ('dm_received', 'dm_sent') AND peer_id IS NOT NULL;

INSERT INTO conversation_dms (id, previous_id, at_ms, sent, latest_at_ms)
SELECT id,
       CASE WHEN lag(account_id) OVER chain = account_id AND lag(peer_id) OVER chain = peer_id
            THEN id - 1 END,
       at_ms, sent, at_ms
FROM stored_dms
WINDOW chain AS (ORDER BY id);

UPDATE conversations SET last_dm_id = newest.id
FROM (SELECT account_id, peer_id, max(id) AS id FROM stored_dms GROUP BY account_id, peer_id)
    AS newest
WHERE conversations.account_id = newest.account_id AND conversations.peer_id = newest.peer_id;

SELECT setval('conversation_dm_ids', COALESCE(max(id), 0) + 1, false) FROM conversation_dms;

DROP TABLE stored_dms;

DROP INDEX events_conversation_dms;
