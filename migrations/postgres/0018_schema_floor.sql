-- The oldest migration a node must carry to run on this schema. A node that
-- finds migrations newer than it knows starts only if it carries this one
-- (see server/src/store/connect.rs): a migration that only adds (a table, a
-- column, an index) leaves it alone, so nodes of the release before keep
-- running and restarting during a rolling upgrade; a migration that removes
-- or changes what an older release reads or writes raises it (ARCHITECTURE.md,
-- "Migrations"). Nodes older than 0016 store events without their history.
CREATE TABLE schema_floor (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    oldest_migration BIGINT NOT NULL
);
INSERT INTO schema_floor (id, oldest_migration) VALUES (1, 16);
