-- The history behind date ranges: every figure a range shows, counted per
-- UTC quarter-hour, hour and day, so that a range of any length in any time
-- zone is read from a few thousand rows and never from the raw events (see
-- server/src/store/history.rs). Written at ingestion with the other
-- aggregates; a figure is a metric (`dm_received`, ...), `reply:<bucket>`
-- (replies by reply-time bucket) or `refused:<reason>` (refused requests).
CREATE TABLE history (
    unit_ms   INTEGER NOT NULL,
    start_ms  INTEGER NOT NULL,
    figure    TEXT    NOT NULL,
    slot      INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (unit_ms, start_ms, figure, slot)
) WITHOUT ROWID;

-- From the per-minute rows kept so far (every figure since the first event).
INSERT INTO history (unit_ms, start_ms, figure, slot, count)
SELECT units.unit_ms, counted.minute_ms - (counted.minute_ms % units.unit_ms), counted.figure,
       counted.slot, sum(counted.count)
FROM (SELECT minute_ms, metric AS figure, slot, count FROM metric_minutes
      UNION ALL
      SELECT minute_ms, 'reply:' || bucket, slot, count FROM reply_minutes
      UNION ALL
      SELECT minute_ms, 'refused:' || reason, 0, count FROM webhook_rejections) AS counted
CROSS JOIN (SELECT 900000 AS unit_ms UNION ALL SELECT 3600000 UNION ALL SELECT 86400000) AS units
GROUP BY units.unit_ms, counted.minute_ms - (counted.minute_ms % units.unit_ms), counted.figure,
         counted.slot
HAVING sum(counted.count) <> 0;
