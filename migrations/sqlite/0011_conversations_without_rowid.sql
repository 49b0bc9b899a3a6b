-- Conversations keyed by their primary key alone (WITHOUT ROWID): one
-- B-tree instead of a table and its key index, so ingestion's lookup and
-- upsert of a conversation each descend one tree instead of two.
CREATE TABLE conversations_by_key (
    account_id        TEXT    NOT NULL,
    peer_id           TEXT    NOT NULL,
    last_dm_at_ms     INTEGER NOT NULL,
    last_dm_sent      INTEGER NOT NULL DEFAULT 0,
    waiting_since_ms  INTEGER,
    last_dm_id        INTEGER,
    PRIMARY KEY (account_id, peer_id)
) WITHOUT ROWID;
INSERT INTO conversations_by_key
    (account_id, peer_id, last_dm_at_ms, last_dm_sent, waiting_since_ms, last_dm_id)
SELECT account_id, peer_id, last_dm_at_ms, last_dm_sent, waiting_since_ms, last_dm_id
FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_by_key RENAME TO conversations;
