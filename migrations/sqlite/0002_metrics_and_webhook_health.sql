-- Every event kind gets counted, not only DMs: the DM-only aggregate tables
-- become generic per-metric tables (existing counts are carried over), events
-- that could not be read keep their reason, and rejected webhook requests are
-- counted per minute, apart from the event tables.

ALTER TABLE events ADD COLUMN error TEXT;

-- Running total per metric (dm_received, dm_sent, comment, reaction, ...).
CREATE TABLE metric_totals (
    metric  TEXT    PRIMARY KEY,
    count   INTEGER NOT NULL
);

-- Count per metric and UTC day (keyed by the day's start in Unix ms).
CREATE TABLE metric_days (
    day_ms  INTEGER NOT NULL,
    metric  TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (day_ms, metric)
);

-- Count per metric and UTC minute (keyed by the minute's start in Unix ms).
CREATE TABLE metric_minutes (
    minute_ms  INTEGER NOT NULL,
    metric     TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, metric)
);

INSERT INTO metric_totals (metric, count)
SELECT 'dm_sent', dms_sent FROM stats_totals WHERE dms_sent > 0
UNION ALL
SELECT 'dm_received', dms_received FROM stats_totals WHERE dms_received > 0;

INSERT INTO metric_days (day_ms, metric, count)
SELECT day_ms, 'dm_sent', sent FROM dm_days WHERE sent > 0
UNION ALL
SELECT day_ms, 'dm_received', received FROM dm_days WHERE received > 0;

INSERT INTO metric_minutes (minute_ms, metric, count)
SELECT minute_ms, 'dm_sent', sent FROM dm_minutes WHERE sent > 0
UNION ALL
SELECT minute_ms, 'dm_received', received FROM dm_minutes WHERE received > 0;

DROP TABLE dm_days;
DROP TABLE dm_minutes;
ALTER TABLE stats_totals DROP COLUMN dms_sent;
ALTER TABLE stats_totals DROP COLUMN dms_received;

-- When a signed delivery was last accepted (committed), whatever it held.
ALTER TABLE stats_totals ADD COLUMN last_accepted_at_ms INTEGER;

-- Webhook requests refused before anything was stored, per minute and reason
-- (signature, payload, too_large, body, verification).
CREATE TABLE webhook_rejections (
    minute_ms  INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_ms, reason)
);
