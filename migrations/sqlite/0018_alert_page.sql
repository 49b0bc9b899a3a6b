-- What the alerts page (/admin/alerts) keeps. Only adds, so nodes of the
-- release before run on it unchanged.

-- The last test message sent to a target (from the page or `pulse alerts
-- test`): when, and what failed (NULL when it was sent).
ALTER TABLE alert_targets ADD COLUMN tested_at_ms INTEGER;
ALTER TABLE alert_targets ADD COLUMN test_error TEXT;

-- A rule's threshold as admins set it on the page, in place of the setting's
-- default (server/src/alerts/thresholds.rs names them); shared by every node.
CREATE TABLE alert_thresholds (
    name       TEXT    PRIMARY KEY,
    value      INTEGER NOT NULL,
    set_at_ms  INTEGER NOT NULL
);
