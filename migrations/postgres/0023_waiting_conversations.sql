-- As migrations/sqlite/0020: one account's conversations waiting for a
-- reply, oldest first, for its page; only waiting conversations are in the
-- index. Only adds.
CREATE INDEX conversations_waiting ON conversations (account_id, waiting_since_ms)
    WHERE waiting_since_ms IS NOT NULL;
