-- The writer's first step on a group's conversations (0012), answered as
-- plain text instead of JSON built per conversation, with the keys read by
-- `json_to_recordset`: the same locks, states and chain ids for about a
-- third less of the database's time (a 210-conversation group: 1.7-2.3 ms
-- instead of 2.7-3.7, measured with pgbench).
--
-- `lock_keys`: a JSON array of bigints, locked in the order given;
-- `touched`: a JSON array of {"account_id": ..., "peer_id": ...};
-- `chain_ids`: how many ids to take for new `conversation_dms` rows.
-- Returns "<chain ids, space-separated>|<states>", where <states> is, for
-- each conversation of `touched` that has a row, "<position in touched>
-- <last_dm_at_ms> <last_dm_sent> <waiting_since_ms or -1> <last_dm_id or
-- -1>", joined by commas: the text SQLite's read of the states gives.
--
-- VOLATILE, so each statement takes a new snapshot under READ COMMITTED: the
-- states are read after the locks are held, and see every transaction that
-- released them.
CREATE OR REPLACE FUNCTION pulse_lock_and_read_conversations(lock_keys json, touched json, chain_ids bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(CAST(key.value AS BIGINT))
    FROM json_array_elements_text(lock_keys) WITH ORDINALITY AS key (value, position)
    ORDER BY key.position;
    RETURN COALESCE(
               (SELECT string_agg(CAST(nextval('conversation_dm_ids') AS TEXT), ' ')
                FROM generate_series(1, chain_ids)),
               '')
        || '|'
        || COALESCE(
               (SELECT string_agg(found.state, ',')
                FROM (
                    -- One primary-key lookup per conversation (a join could
                    -- be planned as a scan of the table once the list is long).
                    SELECT (SELECT concat_ws(' ', wanted.position - 1, stored.last_dm_at_ms,
                                             stored.last_dm_sent,
                                             COALESCE(stored.waiting_since_ms, -1),
                                             COALESCE(stored.last_dm_id, -1))
                            FROM conversations AS stored
                            WHERE stored.account_id = wanted.account_id
                              AND stored.peer_id = wanted.peer_id) AS state
                    FROM ROWS FROM (json_to_recordset(touched) AS (account_id TEXT, peer_id TEXT))
                         WITH ORDINALITY AS wanted (account_id, peer_id, position)
                ) AS found),
               '');
END
$$;
