//! Backups: `pulse backup` while a node serves, `pulse restore` onto a new
//! data directory, and on Postgres the database's own `pg_dump` and `psql`.

use std::{
    path::Path,
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
};

use app::model::SnapshotSource;
use pulse::store::Store;

use crate::{
    helpers::{dm_batch, Node, SnapshotOf},
    node_process::NodeProcess,
    postgres::fresh_database_url,
};

/// Runs `pulse COMMAND ARGS` on the data directory `data`.
fn pulse(command: &str, args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg(command)
        .args(args)
        .env("PULSE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pulse")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Posts one signed DM; whether it was acknowledged.
async fn deliver(node: &Node, mid: &str) -> bool {
    node.post_signed(dm_batch(&[(mid, false)]))
        .await
        .status()
        .is_success()
}

#[tokio::test]
async fn a_backup_taken_while_the_node_serves_restores_every_delivery_acknowledged_before_it() {
    let node = NodeProcess::start(&[]).await;
    for i in 0..20 {
        assert!(deliver(&node, &format!("before-{i}")).await);
    }
    // Deliveries go on while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let during = Arc::new(AtomicI64::new(0));
    let sender = tokio::spawn({
        let (node, stop, during) = (node.anonymous(), stop.clone(), during.clone());
        async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                if deliver(&node, &format!("during-{i}")).await {
                    during.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let kept = tempfile::tempdir().unwrap();
    let file = kept.path().join("pulse-backup.db");
    let file_arg = file.to_str().unwrap();
    let backup = pulse("backup", &["--to", file_arg], node.data_dir());
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();
    assert!(backup.status.success(), "{}", said(&backup));
    assert!(said(&backup).contains("backed up"), "{}", said(&backup));
    assert!(!kept.path().join("pulse-backup.db.partial").exists());
    let again = pulse("backup", &["--to", file_arg], node.data_dir());
    assert!(!again.status.success());
    assert!(said(&again).contains("exists already"), "{}", said(&again));

    let restored = tempfile::tempdir().unwrap();
    let restore = pulse("restore", &["--from", file_arg], restored.path());
    assert!(restore.status.success(), "{}", said(&restore));
    let twice = pulse("restore", &["--from", file_arg], restored.path());
    assert!(!twice.status.success());
    assert!(said(&twice).contains("exists already"), "{}", said(&twice));

    let acknowledged = 20 + during.load(Ordering::Relaxed);
    let restored = NodeProcess::start_on(restored, &[]).await;
    let total = restored.stats().await.dms_received.total;
    assert!(
        (20..=acknowledged).contains(&total),
        "{total} DMs after the restore; 20 acknowledged before the backup, {acknowledged} in all"
    );
}

#[tokio::test]
async fn what_is_not_a_whole_backup_is_never_restored() {
    let data = tempfile::tempdir().unwrap();
    let garbage = data.path().join("not-a-backup.db");
    std::fs::write(&garbage, b"this is not a database").unwrap();
    let target = tempfile::tempdir().unwrap();
    let refused = pulse(
        "restore",
        &["--from", garbage.to_str().unwrap()],
        target.path(),
    );
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("is not a Pulse backup"),
        "{}",
        said(&refused)
    );
    assert!(
        !target.path().join("pulse.db").exists(),
        "nothing is left behind"
    );
    assert!(!target.path().join("pulse.db.partial").exists());
    let missing = pulse("backup", &["--to", "/nonexistent/b.db"], target.path());
    assert!(!missing.status.success());
    assert!(
        said(&missing).contains("there is no database"),
        "{}",
        said(&missing)
    );
}

#[tokio::test]
async fn on_postgres_the_commands_point_to_pg_dump() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["backup", "--to", "b.db"])
        .env("PULSE_DATA_DIR", data.path())
        .env("DATABASE_URL", "postgres://pulse@127.0.0.1:1/pulse")
        .output()
        .expect("run pulse");
    assert!(!output.status.success());
    assert!(said(&output).contains("pg_dump"), "{}", said(&output));
}

/// The Postgres recipe README gives: `pg_dump` of a database in use, then
/// `psql` into a new one, gives every figure back.
#[tokio::test]
async fn a_pg_dump_of_a_store_restores_into_a_new_database_with_every_figure() {
    const NOW: i64 = 1_795_631_405_000;
    let url = fresh_database_url().await;
    let store = Store::open(&url).await.unwrap();
    for i in 0..30 {
        let kind = if i % 3 == 0 {
            pulse::event::EventKind::DmSent
        } else {
            pulse::event::EventKind::DmReceived { story_reply: false }
        };
        let event = pulse::event::WebhookEvent {
            dedupe_key: format!("{}:pg-{i}", kind.as_str()),
            kind,
            account_id: format!("biz-{}", i % 4),
            peer_id: Some(format!("customer-{}", i % 7)),
            occurred_at_ms: NOW - i * 60_000,
            raw: format!(r#"{{"mid":"pg-{i}"}}"#),
            error: None,
        };
        store.ingest(vec![event], NOW).await.unwrap();
    }
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("pulse.sql");
    testkit::run_ok(
        Command::new("pg_dump")
            .args(["--no-owner", "--file"])
            .arg(&file)
            .arg(&url),
        "pg_dump",
    );
    let restored_url = fresh_database_url().await;
    testkit::run_ok(
        Command::new("psql")
            .args(["--quiet", "--set", "ON_ERROR_STOP=1", "--file"])
            .arg(&file)
            .arg(&restored_url),
        "psql restores the dump",
    );
    let restored = Store::open(&restored_url).await.unwrap();
    let thresholds = pulse::store::Thresholds::default();
    let before = store
        .snapshot(NOW, SnapshotSource::Initial, &thresholds)
        .await
        .unwrap();
    let after = restored
        .snapshot(NOW, SnapshotSource::Initial, &thresholds)
        .await
        .unwrap();
    assert_eq!(before.dms_received, after.dms_received);
    assert_eq!(before.dms_sent, after.dms_sent);
    assert_eq!(before.version, after.version);
    assert_eq!(before.replies, after.replies);
    assert_eq!(before.accounts, after.accounts);
}

/// A backup onto a full disk fails saying so, leaves no file behind (neither the backup's name
/// nor its partial copy), and costs the serving node nothing; with room again it succeeds.
#[tokio::test]
async fn a_backup_onto_a_full_disk_fails_saying_so_and_leaves_nothing_behind() {
    let disk = match testkit::tmpfs::Tmpfs::mount(1) {
        Ok(disk) => disk,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let node = NodeProcess::start(&[]).await;
    for i in 0..20 {
        assert!(deliver(&node, &format!("before-{i}")).await);
    }
    disk.fill();
    let file = disk.path().join("pulse-backup.db");
    let file_arg = file.to_str().unwrap();
    let refused = pulse("backup", &["--to", file_arg], node.data_dir());
    assert!(!refused.status.success(), "{}", said(&refused));
    let said_refused = said(&refused);
    assert!(
        said_refused.contains("full") || said_refused.contains("No space left"),
        "{said_refused}"
    );
    assert!(!file.exists(), "no file of the backup's name");
    assert!(
        !disk.path().join("pulse-backup.db.partial").exists(),
        "no partial copy left"
    );
    assert!(
        deliver(&node, "while-the-backup-failed").await,
        "the node serves on"
    );

    disk.release();
    let taken = pulse("backup", &["--to", file_arg], node.data_dir());
    assert!(taken.status.success(), "{}", said(&taken));
    assert!(file.exists());
}
