//! The schema between versions: a node older than the database it finds refuses to start and
//! says why, leaving the database as it was.

use super::*;

on_both_backends!(a_database_a_newer_pulse_upgraded_is_refused_with_a_clear_message);

/// A newer `pulse` has applied a migration this build does not carry: opening
/// the store fails with a message naming both versions, and the database keeps
/// its data and that migration.
async fn a_database_a_newer_pulse_upgraded_is_refused_with_a_clear_message(backend: Backend) {
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
    let refused = Store::open(&database.url).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(
            refused,
            pulse::store::StoreError::SchemaNewer { found: 99999, .. }
        ),
        "{message}"
    );
    assert!(message.contains("migration 99999"), "{message}");
    assert!(message.contains("newer than this pulse"), "{message}");
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(events, 1, "the database is left as it was");
}
