-- Failed logins, shared by every node so that N nodes do not give a guesser
-- N times the attempts. One row per counted key: an account, an account from
-- one client address, or a client address (IPv4, or an IPv6 /64). Rows whose
-- last failure is older than the window are purged.
CREATE TABLE login_failures (
    key              TEXT PRIMARY KEY,
    failures         BIGINT NOT NULL,
    last_failure_ms  BIGINT NOT NULL
);
