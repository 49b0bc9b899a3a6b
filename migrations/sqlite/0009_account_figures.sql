-- The figures the accounts page sorts by, one row per account, so that a
-- page is an index range (see server/src/store/account_figures.rs): they are
-- caught up when a page is asked for, from the accounts whose rows changed
-- since (found by the writer slot version that last touched them) and the
-- accounts whose time windows moved.

-- The version of its slot with which a transaction last touched the account.
ALTER TABLE account_last_events ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX account_last_events_by_version ON account_last_events (slot, version);

CREATE TABLE account_figures (
    account_id       TEXT    PRIMARY KEY,
    received_today   INTEGER NOT NULL,
    sent_today       INTEGER NOT NULL,
    waiting          INTEGER NOT NULL,
    median_reply_ms  INTEGER
);
-- Each order the page offers, largest first with ties by account id A to Z;
-- walked backwards for the opposite order.
CREATE INDEX account_figures_by_received ON account_figures (received_today DESC, account_id);
CREATE INDEX account_figures_by_sent ON account_figures (sent_today DESC, account_id);
CREATE INDEX account_figures_by_waiting ON account_figures (waiting DESC, account_id);
CREATE INDEX account_figures_by_reply ON account_figures (median_reply_ms DESC, account_id)
    WHERE median_reply_ms IS NOT NULL;

-- Up to which version of each slot the figures include every change.
CREATE TABLE account_figures_slots (
    slot     INTEGER PRIMARY KEY,
    version  INTEGER NOT NULL
);

-- When the figures were last caught up (their time windows end there), and
-- how many accounts existed then. One row, written by the first catch-up.
CREATE TABLE account_figures_clock (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    at_ms     INTEGER NOT NULL,
    accounts  INTEGER NOT NULL
);
