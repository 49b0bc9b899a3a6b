-- The per-account rows are needed only inside their time windows; older ones
-- are deleted every minute (see `Store::purge_expired_account_rows`), found
-- through these indexes.
CREATE INDEX account_days_by_day ON account_days (day_ms);
CREATE INDEX account_hours_by_hour ON account_hours (hour_ms);
CREATE INDEX account_waiting_minutes_by_minute ON account_waiting_minutes (minute_ms);
CREATE INDEX account_reply_minutes_by_minute ON account_reply_minutes (minute_ms);
