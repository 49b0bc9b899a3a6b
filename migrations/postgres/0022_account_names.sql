-- Display names admins give business accounts (webhooks carry only numeric
-- ids): shown beside the id wherever it is shown, and matched by the accounts
-- table's filter. Only adds.
CREATE TABLE account_names (
    account_id  TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    set_at_ms   BIGINT  NOT NULL
);
