-- One row that `/readyz` rewrites while the database refuses writes (a full
-- disk, say), to see whether it takes them again: a write that needs space
-- like any other and changes nothing the dashboard reads.
CREATE TABLE write_probe (
    id              INTEGER PRIMARY KEY,
    probed_at_ms    BIGINT NOT NULL
);
