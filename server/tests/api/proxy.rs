//! The nginx recipe (`deploy/nginx/pulse.conf`), run by Debian's nginx in
//! front of two real nodes on one Postgres and one Redis: everything checked
//! through nginx, over HTTPS, as a browser behind it would meet it.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use testkit::{nginx::Nginx, redis::RedisServer};

use crate::{
    helpers::{dm_batch, ADMIN_EMAIL, ADMIN_PASSWORD, APP_SECRET},
    node_process::NodeProcess,
    postgres::fresh_database_url,
    tls::{certificate, curl},
};

const RECIPE: &str = include_str!("../../../deploy/nginx/pulse.conf");

/// A dashboard's stream read through nginx with curl: each snapshot's
/// received-DM total as it arrives.
struct ProxiedStream {
    curl: Child,
    totals: mpsc::Receiver<i64>,
}

impl ProxiedStream {
    fn open(url: &str, jar: &str) -> Self {
        let mut curl = Command::new("curl")
            .args(["-sS", "-k", "-N", "--http2", "-b", jar])
            .arg(format!("{url}/api/admin/stats/stream"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl runs");
        let lines = BufReader::new(curl.stdout.take().unwrap()).lines();
        let (sender, totals) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let Some(data) = line.strip_prefix("data: ") else {
                    continue;
                };
                let Ok(snapshot) = serde_json::from_str::<serde_json::Value>(data) else {
                    continue;
                };
                let total = snapshot["dms_received"]["total"].as_i64().unwrap_or(-1);
                if sender.send(total).is_err() {
                    return;
                }
            }
        });
        ProxiedStream { curl, totals }
    }

    /// Waits up to `timeout` for a snapshot counting `total` received DMs.
    fn shows(&self, total: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.totals.recv_timeout(left) {
                Ok(seen) if seen == total => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

impl Drop for ProxiedStream {
    fn drop(&mut self) {
        let _ = self.curl.kill();
        let _ = self.curl.wait();
    }
}

/// Logs in through `url` from the loopback source address `from`; returns
/// the HTTP status.
fn log_in(url: &str, from: &str, password: &str, jar: &str) -> String {
    curl(&[
        "--interface",
        from,
        "-c",
        jar,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-urlencode",
        &format!("email={ADMIN_EMAIL}"),
        "--data-urlencode",
        &format!("password={password}"),
        &format!("{url}/api/auth/login"),
    ])
}

fn port_of(node: &NodeProcess) -> u16 {
    node.address.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn behind_the_nginx_recipe_two_nodes_serve_logins_streams_and_survive_one_dying() {
    let redis = RedisServer::start();
    let database_url = fresh_database_url().await;
    let redis_url = redis.url();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("PULSE_TRUST_FORWARDED_FOR", "1"),
        ("PULSE_SECURE_COOKIES", "true"),
    ];
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;
    a.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    b.wait_for_mode("pubsub", Duration::from_secs(10)).await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path(), "proxy");
    let nginx = Nginx::start(RECIPE, &[port_of(&a), port_of(&b)], &cert, &key);
    let url = nginx.url();
    let jar = certs.path().join("jar");
    let jar = jar.to_str().unwrap().to_string();

    // Plain HTTP is sent to HTTPS; the login works through nginx.
    let redirect = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        &format!("http://127.0.0.1:{}/admin", nginx.http_port),
    ]);
    assert!(redirect.starts_with("301 https://"), "{redirect}");
    assert_eq!(log_in(&url, "127.0.0.1", ADMIN_PASSWORD, &jar), "303");
    let cookies = std::fs::read_to_string(&jar).unwrap();
    assert!(cookies.contains("__Host-pulse_session"), "{cookies}");

    // A dashboard through nginx gets a webhook sent to either node within a second.
    let stream = ProxiedStream::open(&url, &jar);
    assert!(stream.shows(0, Duration::from_secs(5)), "the stream opens");
    for (total, node) in [(1, &a), (2, &b)] {
        let response = node
            .post_signed(dm_batch(&[(&format!("proxied-{total}"), false)]))
            .await;
        assert_eq!(response.status(), 200);
        assert!(
            stream.shows(total, Duration::from_secs(1)),
            "the webhook to {} did not reach the dashboard behind nginx within 1 s",
            node.address
        );
    }

    // Failed logins count against the client's address, not nginx's: a
    // guesser at 127.0.0.5 is locked out; the admin at 127.0.0.6 is not.
    for _ in 0..10 {
        assert_eq!(log_in(&url, "127.0.0.5", "guess guess guess", &jar), "401");
    }
    assert_eq!(log_in(&url, "127.0.0.5", ADMIN_PASSWORD, &jar), "429");
    assert_eq!(log_in(&url, "127.0.0.6", ADMIN_PASSWORD, &jar), "303");

    // The recipe's limits: an address opening streams as fast as it can is
    // answered by nginx (429) past its burst, before any node sees it.
    let opens: Vec<String> = (0..90)
        .map(|_| {
            curl(&[
                "--interface",
                "127.0.0.7",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{url}/api/admin/stats/stream"),
            ])
        })
        .collect();
    assert_eq!(opens[0], "401", "the first reach a node (no session)");
    assert!(
        opens.iter().any(|status| status == "429"),
        "past the burst nginx refuses: {opens:?}"
    );
    assert_eq!(
        log_in(&url, "127.0.0.8", ADMIN_PASSWORD, &jar),
        "303",
        "another address is not limited"
    );

    // One node dies: dashboards reconnect through nginx to the other.
    drop(stream);
    let status = a.terminate().await;
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        let stream = ProxiedStream::open(&url, &jar);
        if stream.shows(2, Duration::from_secs(2)) {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "no stream through nginx after a node stopped:\n{}",
            nginx.error_log()
        );
    };
    let response = b
        .post_signed(dm_batch(&[("after-a-node-died", false)]))
        .await;
    assert_eq!(response.status(), 200);
    assert!(stream.shows(3, Duration::from_secs(1)));
}

/// Deliveries sent through nginx by curl, ten at a time every 50 ms (200/s),
/// until stopped; what each was answered.
struct DeliveriesThroughNginx {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sender: std::thread::JoinHandle<Vec<String>>,
}

impl DeliveriesThroughNginx {
    fn start(url: &str, bodies: &Path) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, bodies) = (
            format!("{url}/api/webhooks/instagram"),
            bodies.to_path_buf(),
        );
        let sender = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let secret = secrecy::SecretString::from(APP_SECRET.to_owned());
                let mut answers = Vec::new();
                let mut batch = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let mut config = String::new();
                    for i in 0..10 {
                        if i > 0 {
                            // Options after `next` are the next transfer's own.
                            config.push_str("next\n");
                        }
                        let body = dm_batch(&[(&format!("rolling-{batch}-{i}"), false)]);
                        let file = bodies.join(format!("{batch}-{i}.json"));
                        std::fs::write(&file, &body).unwrap();
                        let signature = pulse::webhook::signature::sign(&secret, body.as_bytes());
                        config.push_str(&format!(
                            "url = \"{url}\"\noutput = \"/dev/null\"\n\
                             insecure\nsilent\nshow-error\nmax-time = 25\n\
                             write-out = \"%{{http_code}}\\n\"\n\
                             header = \"Content-Type: application/json\"\n\
                             header = \"X-Hub-Signature-256: {signature}\"\n\
                             data-binary = \"@{}\"\n",
                            file.display()
                        ));
                    }
                    let config_file = bodies.join(format!("{batch}.curl"));
                    std::fs::write(&config_file, config).unwrap();
                    let output = Command::new("curl")
                        .args(["--parallel", "--parallel-max", "10", "-K"])
                        .arg(&config_file)
                        .output()
                        .expect("curl runs");
                    answers.extend(
                        String::from_utf8_lossy(&output.stdout)
                            .lines()
                            .map(str::to_owned),
                    );
                    batch += 1;
                    std::thread::sleep(Duration::from_millis(50).saturating_sub(started.elapsed()));
                }
                answers
            }
        });
        DeliveriesThroughNginx { stop, sender }
    }

    /// Stops sending; what every delivery was answered.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sender.join().expect("the sender")
    }
}

/// Stops `node` with SIGTERM and starts a node of the same settings on the
/// same port, as an upgrade does.
async fn restart(node: NodeProcess, env: &[(&str, &str)]) -> NodeProcess {
    let address = format!("127.0.0.1:{}", port_of(&node));
    let status = node.terminate().await;
    assert!(status.success(), "{status}");
    let mut env = env.to_vec();
    env.push(("LEPTOS_SITE_ADDR", address.as_str()));
    NodeProcess::launch(&env).await
}

#[tokio::test]
async fn behind_the_nginx_recipe_restarting_both_nodes_in_turn_fails_no_delivery() {
    let database_url = fresh_database_url().await;
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("PULSE_TRUST_FORWARDED_FOR", "1"),
        ("PULSE_SECURE_COOKIES", "true"),
    ];
    let a = NodeProcess::start(&env).await;
    let b = NodeProcess::start(&env).await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path(), "proxy");
    let nginx = Nginx::start(RECIPE, &[port_of(&a), port_of(&b)], &cert, &key);
    let bodies = tempfile::tempdir().unwrap();
    let deliveries = DeliveriesThroughNginx::start(&nginx.url(), bodies.path());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = restart(a, &env).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = restart(b, &env).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answers = deliveries.stop();
    let failed: Vec<&String> = answers.iter().filter(|status| *status != "200").collect();
    assert!(answers.len() >= 400, "{} deliveries sent", answers.len());
    assert!(
        failed.is_empty(),
        "{} of {} deliveries failed ({failed:?}):\n{}",
        failed.len(),
        answers.len(),
        nginx.error_log()
    );
    let mut b = b;
    b.node.log_in().await;
    // A recompute from the database: without Redis, what the other node took
    // last reaches this one's snapshot only at its next recompute.
    let refreshed = b
        .request(reqwest::Method::POST, "/api/admin/stats/refresh")
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let total = b.stats().await.dms_received.total;
    assert_eq!(
        total,
        answers.len() as i64,
        "every acknowledged delivery counted once"
    );
    drop(a);
}
