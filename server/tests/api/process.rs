//! The `pulse` binary as an operator runs it: start, serve, stop on SIGTERM.

use std::time::Duration;

use crate::node_process::NodeProcess;

#[tokio::test]
async fn sigterm_closes_live_streams_and_exits_cleanly() {
    let server = NodeProcess::start(&[]).await;
    let mut stream = server.open_stream().await;
    stream
        .next_event(Duration::from_secs(5))
        .await
        .expect("the initial snapshot");

    let exited = tokio::spawn(server.terminate());
    assert!(
        stream.ends_within(Duration::from_secs(5)).await,
        "the stream ends so the browser reconnects elsewhere"
    );
    let status = exited.await.unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Runs `pulse serve` with `env` (and without `unset`), expects it to refuse
/// to start, and returns what it said.
pub(crate) fn refused_start(env: &[(&str, &str)], unset: &[&str]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"));
    command
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("PULSE_DATA_DIR", data_dir.path())
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied());
    for name in unset {
        command.env_remove(name);
    }
    let output = command.output().expect("run pulse");
    assert!(!output.status.success(), "pulse started: {output:?}");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn an_invalid_redis_url_stops_the_start_with_a_clear_message_that_hides_it() {
    let said = refused_start(&[("REDIS_URL", "http://pulse:hunter2@127.0.0.1:6379")], &[]);
    assert!(
        said.contains("REDIS_URL is not a valid Redis URL"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}

/// Runs `pulse admin ARGS` on the data directory `data`, with `stdin` piped in.
fn admin(data: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("admin")
        .args(args)
        .env("PULSE_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pulse admin");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `pulse admin ARGS`, expects it to fail, and returns what it said.
fn refused_admin(data: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let output = admin(data, args, stdin);
    assert!(!output.status.success(), "pulse admin {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn admins_are_created_listed_and_deleted_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).to_string();

    let created = admin(
        data.path(),
        &["create", "--email", "Ops@Example.com"],
        "a strong passphrase\n",
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created admin ops@example.com"));

    let again = refused_admin(
        data.path(),
        &["create", "--email", "ops@example.com"],
        "another passphrase\n",
    );
    assert!(again.contains("already exists"), "{again}");

    let short = refused_admin(
        data.path(),
        &["create", "--email", "b@example.com"],
        "short\n",
    );
    assert!(short.contains("at least 12 characters"), "{short}");

    let not_email = refused_admin(
        data.path(),
        &["create", "--email", "nobody"],
        "a strong passphrase\n",
    );
    assert!(not_email.contains("is not an email address"), "{not_email}");

    let listed = admin(data.path(), &["list"], "");
    assert!(listed.status.success());
    let listing = text(&listed.stdout);
    assert!(
        listing.starts_with("ops@example.com\tcreated "),
        "{listing}"
    );
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert!(!listing.contains("passphrase") && !listing.contains("argon2"));

    let deleted = admin(data.path(), &["delete", "--email", "ops@example.com"], "");
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let missing = refused_admin(data.path(), &["delete", "--email", "ops@example.com"], "");
    assert!(
        missing.contains("no admin with the email ops@example.com"),
        "{missing}"
    );
}

#[tokio::test]
async fn a_first_start_without_an_admin_says_how_to_create_one() {
    let server =
        NodeProcess::launch(&[("PULSE_ADMIN_EMAIL", ""), ("PULSE_ADMIN_PASSWORD", "")]).await;
    let log = server.log();
    assert!(
        log.contains("no admin account yet") && log.contains("pulse admin create --email"),
        "{log}"
    );
}

#[test]
fn half_of_the_first_admin_settings_is_an_error() {
    let said = refused_start(
        &[("PULSE_ADMIN_EMAIL", "ops@example.com")],
        &["PULSE_ADMIN_PASSWORD"],
    );
    assert!(
        said.contains("set both PULSE_ADMIN_EMAIL and PULSE_ADMIN_PASSWORD"),
        "{said}"
    );
}
