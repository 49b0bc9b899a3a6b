-- Alerts (server/src/alerts/): where they go, the incidents decided, and each
-- message of an incident to each target. Every node evaluates the rules; the
-- database decides: one open incident per rule (the partial unique index), one
-- message per incident, target and event (the unique key), and a message is
-- sent by the node holding its claim, which lapses if that node dies.

-- A place alerts are sent: email over SMTP (`settings`: server, security,
-- sender, recipients), a Slack-compatible incoming webhook, or a generic
-- webhook at `url` whose body is signed with `secret` (HMAC-SHA256). `secret`
-- (the SMTP password, the Slack URL, the signing key) is never read back by
-- any API or command.
CREATE TABLE alert_targets (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    kind           TEXT    NOT NULL CHECK (kind IN ('email', 'slack', 'webhook')),
    url            TEXT,
    settings       TEXT,
    secret         TEXT    NOT NULL,
    created_at_ms  BIGINT NOT NULL
);

-- A condition of a rule that held: from when it started until it cleared.
CREATE TABLE alert_incidents (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule           TEXT    NOT NULL,
    summary        TEXT    NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    cleared_at_ms  BIGINT
);
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents (rule) WHERE cleared_at_ms IS NULL;

-- One message of an incident (`started`, `cleared`, or `repeat N`, the N-th
-- reminder while it lasts) to one target, and how sending it went.
CREATE TABLE alert_messages (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id       BIGINT  NOT NULL REFERENCES alert_incidents (id),
    target_id         BIGINT  NOT NULL REFERENCES alert_targets (id),
    event             TEXT    NOT NULL
                      CHECK (event IN ('started', 'cleared') OR event LIKE 'repeat %'),
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_ms   BIGINT  NOT NULL,
    claimed_until_ms  BIGINT,
    sent_at_ms        BIGINT,
    failed_at_ms      BIGINT,
    last_error        TEXT,
    UNIQUE (incident_id, target_id, event)
);
CREATE INDEX alert_messages_due ON alert_messages (next_attempt_ms) WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL;

-- A rule muted until a time: its incidents are still recorded, but nobody is
-- told of them.
CREATE TABLE alert_mutes (
    rule      TEXT    PRIMARY KEY,
    until_ms  BIGINT  NOT NULL
);
