-- The time zone each admin last chose for date ranges (an IANA name), so that
-- "today" and the days of a range follow them on every device; NULL until
-- they choose one (the browser's zone is used meanwhile).
ALTER TABLE admins ADD COLUMN time_zone TEXT;
