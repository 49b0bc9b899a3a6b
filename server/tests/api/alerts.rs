//! Alerts, end to end with real receivers: two nodes on one Postgres judge the rules, and a
//! signed webhook and a Slack-shaped one (an HTTP server started by the test) get exactly one
//! message when an incident starts and one when it clears.

use std::{
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Router};
use reqwest::StatusCode;

use crate::{helpers::free_port, node_process::NodeProcess, postgres::fresh_database_url};

/// What a receiver got: (path, headers, body).
type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// An HTTP server on a free loopback port recording every POST to `/hook` and `/slack`.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let record = |path: &'static str| {
        move |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
            received
                .lock()
                .unwrap()
                .push((path.to_string(), headers, body));
            StatusCode::OK
        }
    };
    // `/flaky` answers 500 to its first request, then as `/hook` does.
    let flaky = move |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
        let mut received = received.lock().unwrap();
        let first = !received.iter().any(|(path, _, _)| path == "/flaky");
        received.push(("/flaky".to_string(), headers, body));
        if first {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    };
    let app = Router::new()
        .route("/hook", post(record("/hook")))
        .route("/slack", post(record("/slack")))
        .route("/flaky", post(flaky))
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

/// Runs `pulse alerts ARGS` on `database_url` with `stdin` (without blocking the test's
/// runtime, which serves the receiver).
async fn alerts(database_url: &str, args: &[&str], stdin: &str) -> Output {
    alerts_with(&[("DATABASE_URL", database_url)], args, stdin).await
}

/// [`alerts`] with the store settings `env` (and no other `DATABASE_URL`).
async fn alerts_with(env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("alerts")
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pulse");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

/// Adds the webhook target `name` posting to `url` (failing the test if refused); what the
/// command printed (its last line is the signing key).
async fn add_webhook(database_url: &str, name: &str, url: &str) -> Output {
    let added = alerts(
        database_url,
        &["add-webhook", "--name", name, "--url", url],
        "",
    )
    .await;
    assert!(added.status.success(), "{}", said(&added));
    added
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A signed delivery of one DM of customer-1 to biz-1 (`sent`: the business's reply) that
/// happened `ago_ms` before now.
fn dm(mid: &str, sent: bool, ago_ms: i64) -> String {
    let at = pulse::clock::now_ms() - ago_ms;
    let (sender, recipient) = if sent {
        ("biz-1", "customer-1")
    } else {
        ("customer-1", "biz-1")
    };
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","time":{at},"messaging":[{{"sender":{{"id":"{sender}"}},"recipient":{{"id":"{recipient}"}},"timestamp":{at},"message":{{"mid":"{mid}","text":"hello","is_echo":{sent}}}}}]}}]}}"#
    )
}

/// The waiting rule's messages each receiver got: (webhook bodies, Slack texts).
fn waiting_messages(received: &Received) -> (Vec<serde_json::Value>, Vec<String>) {
    let received = received.lock().unwrap();
    let mut hooks = Vec::new();
    let mut slack = Vec::new();
    for (path, _, body) in received.iter() {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        if path == "/hook" && json["rule"] == "waiting" {
            hooks.push(json);
        } else if path == "/slack" && json["text"].as_str().unwrap().contains("Customers waiting") {
            slack.push(json["text"].as_str().unwrap().to_string());
        }
    }
    (hooks, slack)
}

/// Waits until the receivers hold `hooks` webhook and `slack` Slack messages of the waiting
/// rule, failing after 20 s; then checks for 3 s more that no more arrive.
async fn exactly(received: &Received, hooks: usize, slack: usize) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (got_hooks, got_slack) = waiting_messages(received);
        if got_hooks.len() >= hooks && got_slack.len() >= slack {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} webhook and {} Slack messages after 20 s",
            got_hooks.len(),
            got_slack.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (got_hooks, got_slack) = waiting_messages(received);
    assert_eq!(
        (got_hooks.len(), got_slack.len()),
        (hooks, slack),
        "one message per incident event and target, however many nodes: {got_hooks:?} {got_slack:?}"
    );
    got_hooks
}

#[tokio::test]
async fn two_nodes_send_one_message_per_incident_and_target_when_it_starts_and_when_it_clears() {
    let (address, received) = receiver().await;
    let database_url = fresh_database_url().await;
    let slack_url = format!("{address}/slack");
    let added = alerts(&database_url, &["add-slack", "--name", "chat"], &slack_url).await;
    assert!(added.status.success(), "{}", said(&added));
    let added = add_webhook(&database_url, "ops", &format!("{address}/hook")).await;
    let key = String::from_utf8_lossy(&added.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(key.len(), 64, "{}", said(&added));
    let listed = said(&alerts(&database_url, &["list"], "").await);
    assert!(
        listed.contains("chat\tslack\t(URL kept secret)"),
        "{listed}"
    );
    assert!(
        !listed.contains(&slack_url),
        "the Slack URL is never shown: {listed}"
    );
    assert!(
        !listed.contains(&key),
        "the signing key is never shown again: {listed}"
    );

    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("ALERT_FOR_S", "2"),
        ("PULSE_PUBLIC_URL", "https://pulse.example.com"),
    ];
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;

    // A customer wrote ten minutes ago and nobody answered: past the 300 s threshold.
    let response = a.post_signed(dm("waiting-1", false, 600_000)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let started = exactly(&received, 1, 1).await;
    assert_eq!(started[0]["event"], "started");
    assert_eq!(started[0]["link"], "https://pulse.example.com/admin");
    assert!(
        started[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("1 customers have waited longer than 300 s"),
        "{started:?}"
    );
    {
        let received = received.lock().unwrap();
        let (_, headers, body) = received
            .iter()
            .find(|(path, _, _)| path == "/hook")
            .unwrap();
        let key = secrecy::SecretString::from(key.clone());
        assert_eq!(
            headers["x-pulse-signature-256"].to_str().unwrap(),
            pulse::webhook::signature::sign(&key, body),
            "signed with the key the command printed"
        );
        assert!(headers.contains_key("x-pulse-message-id"));
    }

    // The reply, through the other node: the incident clears, once.
    let response = b.post_signed(dm("reply-1", true, 0)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let both = exactly(&received, 2, 2).await;
    assert_eq!(both[1]["event"], "cleared");
    assert!(both[1]["cleared_at"].is_string());

    let incidents = said(&alerts(&database_url, &["incidents"], "").await);
    assert!(incidents.contains("waiting"), "{incidents}");
    assert_eq!(
        incidents.matches("→ ops: sent").count(),
        2,
        "started and cleared sent to the webhook: {incidents}"
    );
}

/// `pulse alerts test` sends at once and says exactly what failed; a message an incident's
/// target refuses is tried again (10 s later) and its outcome recorded.
#[tokio::test]
async fn a_test_message_says_what_failed_and_a_refused_message_is_tried_again() {
    let (address, received) = receiver().await;
    let database_url = fresh_database_url().await;
    let closed = format!("http://127.0.0.1:{}/", free_port());
    for (name, url) in [
        ("ok", format!("{address}/hook")),
        ("fails", format!("{address}/fail")),
        ("closed", closed),
        ("flaky", format!("{address}/flaky")),
    ] {
        add_webhook(&database_url, name, &url).await;
    }
    let tested = alerts(&database_url, &["test", "--name", "ok"], "").await;
    assert!(tested.status.success(), "{}", said(&tested));
    assert!(received
        .lock()
        .unwrap()
        .iter()
        .any(|(path, _, body)| path == "/hook"
            && serde_json::from_slice::<serde_json::Value>(body).unwrap()["event"] == "test"));
    let failed = alerts(&database_url, &["test", "--name", "fails"], "").await;
    assert!(!failed.status.success());
    assert!(
        said(&failed).contains("was not sent: the target answered 500 Internal Server Error"),
        "{}",
        said(&failed)
    );
    let refused = alerts(&database_url, &["test", "--name", "closed"], "").await;
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("was not sent: could not connect"),
        "{}",
        said(&refused)
    );
    let unknown = alerts(&database_url, &["test", "--name", "nobody"], "").await;
    assert!(
        said(&unknown).contains("no target named \"nobody\""),
        "{}",
        said(&unknown)
    );
    // The test messages were not stored: a fresh start for the incident below.
    let removed = alerts(&database_url, &["remove", "--name", "ok"], "").await;
    assert!(removed.status.success(), "{}", said(&removed));

    let node = NodeProcess::start(&[
        ("DATABASE_URL", database_url.as_str()),
        ("ALERT_FOR_S", "0"),
    ])
    .await;
    let response = node.post_signed(dm("waiting-1", false, 600_000)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let incidents = loop {
        let incidents = said(&alerts(&database_url, &["incidents"], "").await);
        if incidents.contains("started → flaky: sent") {
            break incidents;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flaky target never got its message: {incidents}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let flaky_posts = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _, _)| path == "/flaky")
        .count();
    assert_eq!(flaky_posts, 2, "refused once, then taken");
    assert!(
        incidents
            .contains("started → fails: retrying: the target answered 500 Internal Server Error"),
        "{incidents}"
    );
    assert!(
        incidents.contains("started → closed: retrying: could not connect"),
        "{incidents}"
    );
}

/// Python's aiosmtpd (Debian's `python3-aiosmtpd`) on a free port, keeping every message it
/// takes in a Maildir; stopped when dropped.
struct SmtpReceiver {
    port: u16,
    maildir: tempfile::TempDir,
    server: std::process::Child,
}

impl SmtpReceiver {
    async fn start() -> Self {
        let port = free_port();
        let maildir = tempfile::tempdir().unwrap();
        let server = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd runs (`make test` installs Debian's python3-aiosmtpd)");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not listen within 10 s (is python3-aiosmtpd installed?)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpReceiver {
            port,
            maildir,
            server,
        }
    }

    /// Every message taken so far, as text.
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail").join("new");
        std::fs::read_dir(new)
            .map(|entries| {
                entries
                    .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// An email target through a real SMTP server: `pulse alerts test` and an incident's message
/// arrive, addressed to every recipient.
#[tokio::test]
async fn alerts_arrive_by_email_through_a_real_smtp_server() {
    let smtp = SmtpReceiver::start().await;
    let database_url = fresh_database_url().await;
    let port = smtp.port.to_string();
    let added = alerts(
        &database_url,
        &[
            "add-email",
            "--name",
            "mail",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--security",
            "none",
            "--from",
            "pulse@example.com",
            "--to",
            "ops@example.com,oncall@example.com",
        ],
        "",
    )
    .await;
    assert!(added.status.success(), "{}", said(&added));
    let listed = said(&alerts(&database_url, &["list"], "").await);
    assert!(
        listed.contains(&format!(
            "mail\temail\tops@example.com, oncall@example.com via 127.0.0.1:{port}"
        )),
        "{listed}"
    );
    let tested = alerts(&database_url, &["test", "--name", "mail"], "").await;
    assert!(tested.status.success(), "{}", said(&tested));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("Subject: [Pulse] Test: Pulse"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("ops@example.com"), "{}", messages[0]);
    assert!(
        messages[0].contains("oncall@example.com"),
        "{}",
        messages[0]
    );

    let node = NodeProcess::start(&[
        ("DATABASE_URL", database_url.as_str()),
        ("ALERT_FOR_S", "0"),
    ])
    .await;
    let response = node.post_signed(dm("waiting-1", false, 600_000)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let alerts: Vec<String> = smtp
            .messages()
            .into_iter()
            .filter(|message| message.contains("Subject: [Pulse] Alert: Customers waiting"))
            .collect();
        if let Some(alert) = alerts.first() {
            assert!(alert.contains("have waited longer than 300 s"), "{alert}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no alert email within 20 s: {:?}",
            smtp.messages()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn bad_targets_are_refused_with_the_field_named_and_nothing_saved() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("PULSE_DATA_DIR", dir.path().to_str().unwrap())];
    let run = |args: &'static [&'static str], stdin: &'static str| alerts_with(&env, args, stdin);
    for (args, stdin, expected) in [
        (
            &["add-webhook", "--name", "x", "--url", "ftp://example.com/"][..],
            "",
            "--url: the scheme must be http or https, not ftp",
        ),
        (
            &[
                "add-webhook",
                "--name",
                "x",
                "--url",
                "https://example.com:99999/",
            ][..],
            "",
            "--url: not a URL (invalid port number)",
        ),
        (
            &["add-slack", "--name", "x"][..],
            "not a url\n",
            "the Slack URL: not a URL",
        ),
        (
            &[
                "add-webhook",
                "--name",
                "x",
                "--url",
                "https://no-such-host.invalid/hook",
            ][..],
            "",
            "--url: the host \"no-such-host.invalid\" does not resolve",
        ),
        (
            &["add-slack", "--name", "x"][..],
            "https://no-such-host.invalid/services/T0/B0/secret-part\n",
            "the Slack URL: the host \"no-such-host.invalid\" does not resolve",
        ),
        (
            &[
                "add-email",
                "--name",
                "m",
                "--host",
                "smtp.example.com",
                "--port",
                "70000",
                "--from",
                "a@example.com",
                "--to",
                "b@example.com",
            ][..],
            "",
            "--port",
        ),
        (
            &[
                "add-email",
                "--name",
                "m",
                "--host",
                "smtp.example.com",
                "--port",
                "587",
                "--from",
                "a@example.com",
                "--to",
                "b@example.com,not-an-address",
            ][..],
            "",
            "--to: not an email address: \"not-an-address\"",
        ),
        (
            &["mute", "--rule", "nope", "--minutes", "5"][..],
            "",
            "--rule: one of webhooks, waiting, silent_accounts, redis, not \"nope\"",
        ),
        (
            &["add-slack", "--name", ""][..],
            "https://hooks.example.com/x\n",
            "--name: 1 to 64 characters",
        ),
    ] {
        let output = run(args, stdin).await;
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(
            !said(&output).contains("secret-part"),
            "a Slack URL is never shown"
        );
        assert!(
            said(&output).contains(expected),
            "{args:?}: {}",
            said(&output)
        );
    }
    let listed = said(&run(&["list"], "").await);
    assert!(listed.contains("none yet"), "nothing was saved: {listed}");
}

/// An HTTPS target is reached over TLS, and one whose certificate no public authority signed
/// is refused with the reason (here a node of ours serving a self-signed certificate).
#[tokio::test]
async fn an_https_target_with_an_untrusted_certificate_is_refused_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::tls::certificate(dir.path(), "untrusted-receiver");
    let receiver = crate::helpers::spawn_app_with(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
    })
    .await;
    let url = format!(
        "{}/healthz",
        receiver.address.replace("http://", "https://")
    );
    let database_url = fresh_database_url().await;
    add_webhook(&database_url, "tls", &url).await;
    let tested = alerts(&database_url, &["test", "--name", "tls"], "").await;
    assert!(!tested.status.success());
    let said = said(&tested);
    assert!(
        said.contains("was not sent: could not connect") && said.contains("certificate"),
        "{said}"
    );
}

/// A node that cannot use Redis opens an incident of its own (keyed by the node, so another
/// node's view never clears it): with Redis killed under two nodes, the target gets one
/// message per node, and one more per node once Redis is back.
#[tokio::test]
async fn each_node_polling_without_redis_is_its_own_incident() {
    let (address, received) = receiver().await;
    let mut redis = testkit::redis::RedisServer::start();
    let database_url = fresh_database_url().await;
    add_webhook(&database_url, "ops", &format!("{address}/hook")).await;
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("STATS_DB_POLL_S", "1"),
        ("ALERT_FOR_S", "1"),
    ];
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;
    for node in [&a, &b] {
        node.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    }
    let redis_messages = |event: &str| {
        let mut rules: Vec<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, body)| serde_json::from_slice::<serde_json::Value>(body).unwrap())
            .filter(|json| {
                json["event"] == event && json["rule"].as_str().unwrap().starts_with("redis@")
            })
            .map(|json| json["rule"].as_str().unwrap().to_string())
            .collect();
        rules.sort();
        rules
    };
    let until = |event: &'static str| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while redis_messages(event).len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{event}: {:?}",
                redis_messages(event)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        redis_messages(event)
    };

    redis.kill();
    let started = until("started").await;
    assert_eq!(started.len(), 2, "one per node: {started:?}");
    assert_ne!(started[0], started[1], "each node's own: {started:?}");
    redis.restart();
    let cleared = until("cleared").await;
    assert_eq!(cleared, started, "each cleared once");
}

/// Posts the alerts page's form `fields` to `node` as a browser does (asking for HTML).
async fn page_form(node: &crate::helpers::Node, fields: &[(&str, &str)]) -> reqwest::Response {
    node.request(reqwest::Method::POST, "/admin/alerts")
        .header("accept", "text/html")
        .form(fields)
        .send()
        .await
        .unwrap()
}

/// Posts the form `fields` as [`page_form`] does, expecting it refused (400) with the page
/// saying `why`; the page.
async fn refused_saying(node: &crate::helpers::Node, fields: &[(&str, &str)], why: &str) -> String {
    let refused = page_form(node, fields).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{fields:?}");
    let page = refused.text().await.unwrap();
    assert!(page.contains(why), "{fields:?} should say {why:?}: {page}");
    page
}

/// The alerts page's forms: a wrong field is named on the page rendered again, with what was
/// typed but never a secret, and nothing is saved; a change is made and the browser sent back;
/// a cross-site post and a post without a session are refused.
#[tokio::test]
async fn the_alerts_page_names_a_wrong_field_and_saves_nothing_and_never_shows_a_secret() {
    let node = NodeProcess::start(&[]).await;
    let slack_secret = "ftp://hooks.example.com/T000/B000/secret-token";
    let page = refused_saying(
        &node,
        &[
            ("action", "add-slack"),
            ("name", "chat"),
            ("url", slack_secret),
        ],
        "the scheme must be http or https, not ftp",
    )
    .await;
    assert!(
        !page.contains("secret-token"),
        "the Slack URL is never shown back"
    );
    refused_saying(
        &node,
        &[
            ("action", "add-webhook"),
            ("name", "pager"),
            ("url", "https://no-such-host.invalid/hook"),
        ],
        r#"the host "no-such-host.invalid" does not resolve"#,
    )
    .await;

    let page = refused_saying(
        &node,
        &[
            ("action", "add-email"),
            ("name", "mail"),
            ("host", "smtp.example.com"),
            ("port", "70000"),
            ("security", "tls"),
            ("user", "pulse"),
            ("password", "hunter2 correct horse"),
            ("from", "pulse@example.com"),
            ("to", "ops@example.com"),
        ],
        "a port from 1 to 65535",
    )
    .await;
    assert!(
        page.contains(r#"value="smtp.example.com""#),
        "what was typed stays"
    );
    assert!(page.contains(r#"<option value="tls" selected"#), "{page}");
    assert!(!page.contains("hunter2"), "a password is never shown back");
    refused_saying(
        &node,
        &[
            ("action", "add-email"),
            ("name", "mail"),
            ("host", "smtp.example.com"),
            ("port", "587"),
            ("user", "pulse"),
            ("from", "pulse@example.com"),
            ("to", "ops@example.com, not an address"),
        ],
        "the login's password",
    )
    .await;

    // Two thresholds, one out of bounds: neither is saved.
    refused_saying(
        &node,
        &[
            ("action", "thresholds"),
            ("reply_wait_s", "120"),
            ("account_silence_min", "1440"),
        ],
        "a whole number from 1 to 1439, not \"1440\"",
    )
    .await;
    assert_eq!(node.stats().await.waiting.threshold_s, 300);

    let listed = said(
        &alerts_with(
            &[("PULSE_DATA_DIR", node.data_dir().to_str().unwrap())],
            &["list"],
            "",
        )
        .await,
    );
    assert!(listed.contains("none yet"), "nothing was saved: {listed}");

    // Made, and the browser sent back.
    let saved = page_form(&node, &[("action", "thresholds"), ("reply_wait_s", "120")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(saved.headers()["location"], "/admin/alerts?done=saved");
    assert_eq!(node.stats().await.waiting.threshold_s, 120);
    let page = node
        .get("/admin/alerts?done=saved")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Thresholds saved"), "{page}");
    assert!(
        page.contains(r#"name="reply_wait_s" value="120""#),
        "{page}"
    );

    let cross_site = node
        .request(reqwest::Method::POST, "/admin/alerts")
        .header("origin", "https://elsewhere.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("action", "unmute"), ("rule", "waiting")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let stranger = node
        .anonymous()
        .request(reqwest::Method::POST, "/admin/alerts")
        .form(&[("action", "thresholds"), ("reply_wait_s", "5")])
        .send()
        .await
        .unwrap();
    assert!(stranger.status().is_redirection(), "{}", stranger.status());
    assert_eq!(stranger.headers()["location"], "/login");
    assert_eq!(node.stats().await.waiting.threshold_s, 120);

    // Times in the admin's own zone, once they have one (a range's page remembers it).
    let muted = page_form(
        &node,
        &[("action", "mute"), ("rule", "waiting"), ("minutes", "60")],
    )
    .await;
    assert_eq!(muted.status(), StatusCode::SEE_OTHER);
    let page = node.get("/admin/alerts").await.text().await.unwrap();
    assert!(page.contains("Times in UTC"), "{page}");
    assert!(page.contains(" UTC</span>"), "muted until, in UTC: {page}");
    let ranged = node.get("/admin?range=7d&zone=America/Sao_Paulo").await;
    assert_eq!(ranged.status(), StatusCode::OK);
    let page = node.get("/admin/alerts").await.text().await.unwrap();
    assert!(page.contains("Times in America/Sao_Paulo"), "{page}");
    assert!(
        page.contains(" -03</span>"),
        "muted until, in São Paulo: {page}"
    );
}

/// A threshold set on one node's page is judged by the other node, and a node killed (kill -9)
/// while the incident is open neither loses nor doubles a message: the one left clears it,
/// once.
#[tokio::test]
async fn a_threshold_set_on_one_node_is_judged_by_all_and_a_node_killed_mid_incident_loses_nothing()
{
    let (address, received) = receiver().await;
    let database_url = fresh_database_url().await;
    add_webhook(&database_url, "ops", &format!("{address}/hook")).await;
    let slack_url = format!("{address}/slack");
    let added = alerts(&database_url, &["add-slack", "--name", "chat"], &slack_url).await;
    assert!(added.status.success(), "{}", said(&added));
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("ALERT_FOR_S", "1"),
    ];
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;

    // A customer has waited 150 s: under the default 300 s, over the 60 s set on a's page.
    let response = b.post_signed(dm("waiting-1", false, 150_000)).await;
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(waiting_messages(&received).0.len(), 0, "under the default");
    let saved = page_form(&a, &[("action", "thresholds"), ("reply_wait_s", "60")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    b.wait_for_stats(|stats| stats.waiting.threshold_s == 60 && stats.waiting.over_threshold == 1)
        .await;
    let started = exactly(&received, 1, 1).await;
    assert!(
        started[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("1 customers have waited longer than 60 s"),
        "{started:?}"
    );

    a.kill_hard();
    let response = b.post_signed(dm("reply-1", true, 0)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let both = exactly(&received, 2, 2).await;
    assert_eq!(both[1]["event"], "cleared");
    let page = b.get("/admin/alerts").await.text().await.unwrap();
    assert_eq!(page.matches("started → ops: sent").count(), 1, "{page}");
    assert_eq!(page.matches("cleared → ops: sent").count(), 1, "{page}");
}
