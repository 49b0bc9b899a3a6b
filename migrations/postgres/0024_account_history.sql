-- As migrations/sqlite/0021: one business account's history behind its
-- page's date ranges, per account, UTC hour or day, and writer slot (see
-- server/src/store/account_history.rs). Figures are INTEGER here (an
-- account's count in one day is far below 2^31), half the width of BIGINT:
-- Postgres stores every column at full width, zeros included.
--
-- Raises the schema's floor: the upgrade to it stops every node first.
CREATE TABLE account_history (
    account_id  TEXT COLLATE "C" NOT NULL,
    unit_ms     BIGINT  NOT NULL,
    start_ms    BIGINT  NOT NULL,
    slot        BIGINT  NOT NULL,
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
);
CREATE INDEX account_history_by_start ON account_history (unit_ms, start_ms);

CREATE TABLE account_history_start (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    first_event_id BIGINT NOT NULL,
    at_ms          BIGINT NOT NULL
);
INSERT INTO account_history_start (id, first_event_id, at_ms)
SELECT 1, COALESCE(max(id), 0) + 1, CAST(extract(epoch FROM now()) * 1000 AS BIGINT)
FROM events;

UPDATE schema_floor SET oldest_migration = 24;
