-- "Conversations active in the last 24 h" as a sum over at most 1,441 rows
-- instead of a count over every active conversation (a million on a busy
-- day): conversations counted by the UTC minute of their latest DM. Ingestion
-- moves a conversation from its old minute to its new one in the same
-- transaction as the `conversations` row.
CREATE TABLE conversation_minutes (
    minute_ms  INTEGER PRIMARY KEY,
    count      INTEGER NOT NULL
);

INSERT INTO conversation_minutes (minute_ms, count)
SELECT last_dm_at_ms - (last_dm_at_ms % 60000), count(*)
FROM conversations
GROUP BY last_dm_at_ms - (last_dm_at_ms % 60000);

-- Only the snapshot's count used it.
DROP INDEX conversations_by_last_dm;
