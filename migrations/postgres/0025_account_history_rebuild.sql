-- Rebuilding the accounts' history of a database upgraded with stored
-- events: a background pass counts the metrics of the events stored before
-- the upgrade, newest first, a step at a time (see
-- server/src/store/account_history_rebuild.rs). Events with an id below
-- rebuild_below_id are still to be counted; the pass moves it down in the
-- transaction that counts them, and it is 1 or less once nothing is left.
-- Only adds: an older node ignores the column.
ALTER TABLE account_history_start ADD COLUMN rebuild_below_id BIGINT NOT NULL DEFAULT 0;
UPDATE account_history_start SET rebuild_below_id = first_event_id;
