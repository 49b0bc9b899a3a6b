-- Admin accounts and their login sessions.

-- One row per admin. The email is stored lower-cased; the password only as
-- an argon2id PHC string.
CREATE TABLE admins (
    id              INTEGER PRIMARY KEY,
    email           TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL
);

-- One row per live session. Only the SHA-256 of the session id is stored, so
-- a copy of the database does not let anyone in.
CREATE TABLE sessions (
    token_hash       TEXT    PRIMARY KEY,
    admin_id         INTEGER NOT NULL REFERENCES admins (id),
    created_at_ms    INTEGER NOT NULL,
    last_seen_at_ms  INTEGER NOT NULL
);
CREATE INDEX sessions_by_admin ON sessions (admin_id);
