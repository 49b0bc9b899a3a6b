-- Each business account's latest events, for its page (see
-- server/src/store/latest_events.rs): ingestion adds the events it stores,
-- retention keeps each account's newest 20. It starts empty and is filled
-- in the background from the events stored before (below). Only adds (an
-- older node's events during a rolling upgrade are not listed).
CREATE TABLE latest_events (
    account_id  TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL,
    dedupe_key  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    peer_id     TEXT,
    PRIMARY KEY (account_id, at_ms, dedupe_key)
);

-- Where filling the list from the events stored before it goes on: a
-- background pass reads them newest first and moves this down past them
-- (1 or less once done), so that an account quiet since the upgrade still
-- lists its last events.
CREATE TABLE latest_events_fill (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    below_id  BIGINT NOT NULL
);
INSERT INTO latest_events_fill (id, below_id) SELECT 1, COALESCE(max(id), 0) + 1 FROM events;
