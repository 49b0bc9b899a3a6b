//! The schema between versions: a node older than the database it finds starts when the schema
//! says it still works with it (rolling upgrades), and otherwise refuses to start and says why,
//! leaving the database as it was.

use super::*;

on_both_backends!(
    a_database_a_newer_pulse_upgraded_is_refused_with_a_clear_message,
    a_database_a_newer_pulse_only_added_to_is_used_as_it_is
);

/// What a newer `pulse` leaves behind: the database of `backend` with one
/// delivery stored, a migration 99999 this build does not carry, and the
/// oldest migration a node must carry set to `floor` (left as this build
/// set it when `None`); the database and a connection of the test's own.
async fn upgraded_by_a_newer_pulse(
    backend: Backend,
    floor: Option<i64>,
) -> (TestDatabase, sqlx::AnyConnection) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store
        .ingest(vec![dm("kept", RECEIVED, "biz", "c", NOW)], NOW)
        .await
        .unwrap();
    drop(store);
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
        .await
        .unwrap();
    let checksum = match backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    sqlx::query(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99999, 'from a newer pulse', TRUE, {checksum}, 0)"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    if let Some(floor) = floor {
        sqlx::query("UPDATE schema_floor SET oldest_migration = $1")
            .bind(floor)
            .execute(&mut admin)
            .await
            .unwrap();
    }
    (database, admin)
}

/// Events in the database.
async fn events(admin: &mut sqlx::AnyConnection) -> i64 {
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(admin)
        .await
        .unwrap();
    events
}

/// A newer `pulse` has applied a migration this build does not carry and
/// that needs nodes to carry it (it raised the schema's floor): opening the
/// store fails with a message naming the versions, and the database keeps
/// its data and that migration.
async fn a_database_a_newer_pulse_upgraded_is_refused_with_a_clear_message(backend: Backend) {
    let (database, mut admin) = upgraded_by_a_newer_pulse(backend, Some(99999)).await;
    let refused = Store::open(&database.url).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(
            refused,
            pulse::store::StoreError::SchemaNewer {
                found: 99999,
                needs: 99999,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("migration 99999"), "{message}");
    assert!(message.contains("newer than this pulse"), "{message}");
    assert_eq!(
        events(&mut admin).await,
        1,
        "the database is left as it was"
    );
    let (newest,): (i64,) = sqlx::query_as("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(newest, 99999);
}

/// A newer `pulse` has applied a migration this build does not carry but
/// that only added (the floor is one this build carries): the node of this
/// build starts on it and stores as before, as in a rolling upgrade where
/// the older nodes keep running and restarting.
async fn a_database_a_newer_pulse_only_added_to_is_used_as_it_is(backend: Backend) {
    let (database, mut admin) = upgraded_by_a_newer_pulse(backend, None).await;
    let store = Store::open(&database.url)
        .await
        .expect("a schema that only added is used");
    store
        .ingest(vec![dm("after", RECEIVED, "biz", "c", NOW + 1)], NOW + 1)
        .await
        .unwrap();
    let snapshot = store
        .snapshot(NOW + 1, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    assert_eq!(snapshot.dms_received.total, 2);
    assert_eq!(events(&mut admin).await, 2);
}
