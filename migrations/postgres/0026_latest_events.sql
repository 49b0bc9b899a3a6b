-- Each business account's latest events, for its page (see
-- server/src/store/latest_events.rs): ingestion adds the events it stores,
-- retention keeps each account's newest 20. It starts empty: an account's
-- list fills with the events stored from the upgrade on. Only adds (an
-- older node's events during a rolling upgrade are not listed).
CREATE TABLE latest_events (
    account_id  TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL,
    dedupe_key  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    peer_id     TEXT,
    PRIMARY KEY (account_id, at_ms, dedupe_key)
);
