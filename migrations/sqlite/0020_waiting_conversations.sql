-- One account's conversations waiting for a reply, oldest first, for its
-- page: only waiting conversations are in the index, so it costs a write
-- only when a conversation starts or stops waiting. Only adds.
CREATE INDEX conversations_waiting ON conversations (account_id, waiting_since_ms)
    WHERE waiting_since_ms IS NOT NULL;
