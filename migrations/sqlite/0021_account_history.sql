-- One business account's history behind its page's date ranges: the figures
-- of `history` that belong to an account (its metrics and its replies by
-- reply-time bucket; refusals have no account), per account, UTC hour or
-- day, and writer slot (see server/src/store/account_history.rs). Ingestion
-- adds to the hours, in the same transaction as the other aggregates;
-- retention folds each hour into its day once it is 35 days old, and removes
-- days after 801 (a 400-day range and the period before it), so the table
-- grows with accounts and time, never with events. Keyed by time before
-- unit: a range is read as one run of the key, whatever the units in it.
--
-- Older nodes would store events without these rows: this migration raises
-- the schema's floor, and the upgrade to it stops every node first.
-- History from before the upgrade is not rebuilt here (it would hold the
-- start for as long as reading every stored event takes); the first event
-- id it lacks is kept in account_history_start.
CREATE TABLE account_history (
    account_id  TEXT    NOT NULL,
    unit_ms     INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    m_dm_received            INTEGER NOT NULL DEFAULT 0,
    m_dm_sent                INTEGER NOT NULL DEFAULT 0,
    m_story_reply            INTEGER NOT NULL DEFAULT 0,
    m_message_deleted        INTEGER NOT NULL DEFAULT 0,
    m_reaction               INTEGER NOT NULL DEFAULT 0,
    m_postback               INTEGER NOT NULL DEFAULT 0,
    m_read                   INTEGER NOT NULL DEFAULT 0,
    m_comment                INTEGER NOT NULL DEFAULT 0,
    m_mention                INTEGER NOT NULL DEFAULT 0,
    m_flagged                INTEGER NOT NULL DEFAULT 0,
    reply_0                    INTEGER NOT NULL DEFAULT 0,
    reply_1                    INTEGER NOT NULL DEFAULT 0,
    reply_2                    INTEGER NOT NULL DEFAULT 0,
    reply_3                    INTEGER NOT NULL DEFAULT 0,
    reply_4                    INTEGER NOT NULL DEFAULT 0,
    reply_5                    INTEGER NOT NULL DEFAULT 0,
    reply_6                    INTEGER NOT NULL DEFAULT 0,
    reply_7                    INTEGER NOT NULL DEFAULT 0,
    reply_8                    INTEGER NOT NULL DEFAULT 0,
    reply_9                    INTEGER NOT NULL DEFAULT 0,
    reply_10                   INTEGER NOT NULL DEFAULT 0,
    reply_11                   INTEGER NOT NULL DEFAULT 0,
    reply_12                   INTEGER NOT NULL DEFAULT 0,
    reply_13                   INTEGER NOT NULL DEFAULT 0,
    reply_14                   INTEGER NOT NULL DEFAULT 0,
    reply_15                   INTEGER NOT NULL DEFAULT 0,
    reply_16                   INTEGER NOT NULL DEFAULT 0,
    reply_17                   INTEGER NOT NULL DEFAULT 0,
    reply_18                   INTEGER NOT NULL DEFAULT 0,
    reply_19                   INTEGER NOT NULL DEFAULT 0,
    reply_20                   INTEGER NOT NULL DEFAULT 0,
    reply_21                   INTEGER NOT NULL DEFAULT 0,
    reply_22                   INTEGER NOT NULL DEFAULT 0,
    reply_23                   INTEGER NOT NULL DEFAULT 0,
    reply_24                   INTEGER NOT NULL DEFAULT 0,
    reply_25                   INTEGER NOT NULL DEFAULT 0,
    reply_26                   INTEGER NOT NULL DEFAULT 0,
    reply_27                   INTEGER NOT NULL DEFAULT 0,
    reply_28                   INTEGER NOT NULL DEFAULT 0,
    reply_29                   INTEGER NOT NULL DEFAULT 0,
    reply_30                   INTEGER NOT NULL DEFAULT 0,
    reply_31                   INTEGER NOT NULL DEFAULT 0,
    reply_32                   INTEGER NOT NULL DEFAULT 0,
    reply_33                   INTEGER NOT NULL DEFAULT 0,
    reply_34                   INTEGER NOT NULL DEFAULT 0,
    reply_35                   INTEGER NOT NULL DEFAULT 0,
    reply_36                   INTEGER NOT NULL DEFAULT 0,
    reply_37                   INTEGER NOT NULL DEFAULT 0,
    reply_38                   INTEGER NOT NULL DEFAULT 0,
    reply_39                   INTEGER NOT NULL DEFAULT 0,
    reply_40                   INTEGER NOT NULL DEFAULT 0,
    reply_41                   INTEGER NOT NULL DEFAULT 0,
    reply_42                   INTEGER NOT NULL DEFAULT 0,
    reply_43                   INTEGER NOT NULL DEFAULT 0,
    reply_44                   INTEGER NOT NULL DEFAULT 0,
    reply_45                   INTEGER NOT NULL DEFAULT 0,
    reply_46                   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, start_ms, unit_ms, slot)
) WITHOUT ROWID;
-- Retention folds the oldest hours and removes the oldest days through this
-- index.
CREATE INDEX account_history_by_start ON account_history (unit_ms, start_ms);

-- Where each account's history begins: events stored from this id on are in
-- it; those before the upgrade are not.
CREATE TABLE account_history_start (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    first_event_id INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL
);
INSERT INTO account_history_start (id, first_event_id, at_ms)
SELECT 1, COALESCE(max(id), 0) + 1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM events;

UPDATE schema_floor SET oldest_migration = 21;
