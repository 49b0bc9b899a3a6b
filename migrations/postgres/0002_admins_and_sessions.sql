-- Admin accounts and their login sessions (see migrations/sqlite/0003).

CREATE TABLE admins (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    created_at_ms   BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash       TEXT    PRIMARY KEY,
    admin_id         BIGINT  NOT NULL REFERENCES admins (id),
    created_at_ms    BIGINT  NOT NULL,
    last_seen_at_ms  BIGINT  NOT NULL
);
CREATE INDEX sessions_by_admin ON sessions (admin_id);
