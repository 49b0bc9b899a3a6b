-- As migrations/sqlite/0009: each account touched by a transaction is
-- marked with its writer slot's version after that transaction, so that the
-- accounts page's ordered figures (kept in memory by each node, see
-- server/src/store/account_figures.rs) can find the accounts that changed
-- since they were last caught up.

-- The version of its slot with which a transaction last touched the account.
ALTER TABLE account_last_events ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX account_last_events_by_version ON account_last_events (slot, version);
