-- One account's history is written by the quarter-hour (see
-- server/src/store/account_history.rs), so that its today, yesterday and
-- last 24 hours are exact in every zone. Rows written before are hours, so
-- quarter-hours are read only from two whole hours after quarters_began_ms:
-- the upgrade's time, or 0 for a database that held neither events nor
-- history. Only adds: an older node ignores the column (until it is upgraded,
-- its accounts table's "today" in a zone misses the quarter-hours).
ALTER TABLE account_history_start ADD COLUMN quarters_began_ms BIGINT NOT NULL DEFAULT 0;
UPDATE account_history_start
SET quarters_began_ms = CAST(extract(epoch FROM now()) * 1000 AS BIGINT)
WHERE EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM account_history);
