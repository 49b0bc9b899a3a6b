-- A slowed account's passwords are checked at most once a second, whichever
-- node the attempts reach (server/src/auth/throttle.rs): the time from which
-- the next check of the key may start, on the account's row. Only adds.
ALTER TABLE login_failures ADD COLUMN next_check_ms BIGINT;
