-- The key every node signs the snapshots it shares through Redis with
-- (HMAC-SHA256), made by the first node that starts with Redis: a party that
-- can write to Redis but cannot read this database cannot make a node take a
-- snapshot.
CREATE TABLE relay_key (
    id   INTEGER PRIMARY KEY,
    key  TEXT    NOT NULL
);
