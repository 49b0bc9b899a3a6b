-- A writer's first step on the conversations a group of deliveries touches,
-- in one round trip instead of two: take each conversation's transaction-level
-- advisory lock (`lock_keys`, a JSON array of bigints, in the order given),
-- then read the stored state of each conversation of `touched` (a JSON array
-- of [account_id, peer_id]) and take `chain_ids` ids for new
-- `conversation_dms` rows.
--
-- VOLATILE, so each statement takes a new snapshot under READ COMMITTED: the
-- states are read after the locks are held, and see every transaction that
-- released them. Returns one JSON text: [[chain ids], [[position in
-- touched, "<last_dm_at_ms> <last_dm_sent> <waiting_since_ms or -1>
-- <last_dm_id or -1>"], ...]] (only the conversations that have a row).
CREATE FUNCTION pulse_lock_and_read_conversations(lock_keys json, touched json, chain_ids bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(CAST(key.value AS BIGINT))
    FROM json_array_elements_text(lock_keys) WITH ORDINALITY AS key (value, position)
    ORDER BY key.position;
    RETURN CAST(json_build_array(
        (SELECT COALESCE(json_agg(nextval('conversation_dm_ids')), '[]')
         FROM generate_series(1, chain_ids)),
        -- One primary-key lookup per conversation (a join could be planned
        -- as a scan of the table once the list is long).
        (SELECT COALESCE(json_agg(json_build_array(found.position - 1, found.state))
                             FILTER (WHERE found.state IS NOT NULL), '[]')
         FROM (
             SELECT wanted.position,
                    (SELECT stored.last_dm_at_ms || ' ' || stored.last_dm_sent || ' '
                            || COALESCE(stored.waiting_since_ms, -1) || ' '
                            || COALESCE(stored.last_dm_id, -1)
                     FROM conversations AS stored
                     WHERE stored.account_id = wanted.key ->> 0
                       AND stored.peer_id = wanted.key ->> 1) AS state
             FROM json_array_elements(touched) WITH ORDINALITY AS wanted (key, position)
         ) AS found)
    ) AS TEXT);
END
$$;
