//! `spawn_app()` and the small clients the tests share.

use std::time::Duration;

use app::model::StatsSnapshot;
use pulse::{
    store::admins::CreateAdminError, webhook::signature, Application, Config, WebhookSecrets,
};
use secrecy::SecretString;
use tokio::sync::oneshot;

pub const APP_SECRET: &str = "test-app-secret";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "a long test password";

/// A running server on a free port, stopped when dropped. Its HTTP helpers
/// are those of [`Node`].
pub struct TestApp {
    pub node: Node,
    pub state: pulse::state::AppState,
    _data_dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl std::ops::Deref for TestApp {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

/// The HTTP face of a running server (in this process or another one),
/// logged in as the test admin once [`Node::log_in`] succeeded.
#[derive(Clone)]
pub struct Node {
    pub address: String,
    pub client: reqwest::Client,
    /// `pulse_session=…`, sent with every request once logged in.
    pub session_cookie: Option<String>,
}

pub use testkit::free_port;

/// Waits, if needed, until the next minute boundary is at least `room` away:
/// every node publishes a recompute at each boundary, which a test comparing
/// exact frames must not straddle.
pub async fn clear_of_minute_boundary(room: Duration) {
    let minute_ms = 60_000u128;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    let to_boundary = minute_ms - now_ms % minute_ms;
    if to_boundary < room.as_millis() {
        tokio::time::sleep(Duration::from_millis(to_boundary as u64 + 200)).await;
    }
}

/// A server on the default embedded store (SQLite in a temporary directory).
pub async fn spawn_app() -> TestApp {
    spawn_app_on(None).await
}

/// A server on `database_url`, or on SQLite in its data directory when `None`.
pub async fn spawn_app_on(database_url: Option<String>) -> TestApp {
    spawn_app_with(|config| config.store.database_url = database_url.map(Into::into)).await
}

/// A server with the local defaults changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config::local(data_dir.path().to_path_buf());
    configure(&mut config);
    let https = config.tls_cert.is_some();
    let secrets = WebhookSecrets {
        app_secret: SecretString::from(APP_SECRET.to_string()),
        verify_token: SecretString::from(VERIFY_TOKEN.to_string()),
    };
    let application = Application::build(config, secrets)
        .await
        .expect("the server starts");
    let address = format!("http://{}", application.local_addr());
    let state = application.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run(async move {
        let _ = stopped.await;
    }));
    // Servers sharing a database share the admin too.
    let created = pulse::auth::create_admin(
        &state.store,
        ADMIN_EMAIL,
        &SecretString::from(ADMIN_PASSWORD.to_string()),
    )
    .await;
    match created {
        Ok(_) | Err(pulse::auth::NewAdminError::Create(CreateAdminError::Exists)) => {}
        Err(error) => panic!("cannot create the test admin: {error}"),
    }
    let mut node = Node::new(address);
    // The test client speaks plain HTTP; HTTPS tests log in with curl.
    if !https {
        node.log_in().await;
    }
    TestApp {
        node,
        state,
        _data_dir: data_dir,
        _stop: stop,
    }
}

impl TestApp {
    pub async fn event_count(&self) -> i64 {
        self.state.store.event_count().await.expect("count events")
    }
}

impl Node {
    /// A client for the server at `address` (`http://host:port`).
    pub fn new(address: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Node {
            address,
            client,
            session_cookie: None,
        }
    }

    /// The same server, as someone who is not logged in.
    pub fn anonymous(&self) -> Node {
        Node::new(self.address.clone())
    }

    /// Logs in as the test admin and keeps the session cookie.
    pub async fn log_in(&mut self) {
        let response = self.post_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 303, "the test admin logs in");
        self.session_cookie = Some(session_cookie(&response).expect("a session cookie"));
    }

    /// Posts the login form, as a script would.
    pub async fn post_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/api/auth/login")
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .expect("request sent")
    }

    /// A request to `path` carrying the session cookie, if any.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.address));
        match &self.session_cookie {
            Some(cookie) => builder.header("cookie", cookie),
            None => builder,
        }
    }

    /// `GET` of a path on this server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/api/webhooks/instagram", self.address)
    }

    /// Posts `body` with a correct signature.
    pub async fn post_signed(&self, body: impl Into<Vec<u8>>) -> reqwest::Response {
        let body = body.into();
        let header = signature::sign(&SecretString::from(APP_SECRET.to_string()), &body);
        self.client
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .header("x-hub-signature-256", header)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn stats(&self) -> StatsSnapshot {
        let response = self.get("/api/admin/stats").await;
        let status = response.status();
        let body = response.text().await.expect("a body");
        serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("a snapshot, not {status} {body:?}: {error}"))
    }

    /// Waits until the published snapshot satisfies `done` (the coalescer
    /// publishes within its interval, refusals are written within a second),
    /// failing after three seconds.
    pub async fn wait_for_stats(&self, done: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let snapshot = self.stats().await;
            if done(&snapshot) {
                return snapshot;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stats never reached the expected state: {snapshot:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens a stream and reads past its first snapshot, so the next event is a push.
    pub async fn open_live_stream(&self) -> SseClient {
        let mut stream = self.open_stream().await;
        stream
            .next_event(Duration::from_secs(2))
            .await
            .expect("the stream starts with the current snapshot");
        stream
    }

    pub async fn open_stream(&self) -> SseClient {
        SseClient::new(self.get("/api/admin/stats/stream").await)
    }
}

/// The `name=value` part of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    testkit::responses::session_cookie(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok()),
    )
}

/// A webhook body with one DM per `(mid, is_echo)`, all for account `biz-1`.
pub fn dm_batch(messages: &[(&str, bool)]) -> String {
    let items: Vec<String> = messages
        .iter()
        .map(|(mid, is_echo)| {
            let (sender, recipient) = if *is_echo { ("biz-1", "customer-1") } else { ("customer-1", "biz-1") };
            format!(
                r#"{{"sender":{{"id":"{sender}"}},"recipient":{{"id":"{recipient}"}},"timestamp":{now},"message":{{"mid":"{mid}","text":"hello","is_echo":{is_echo}}}}}"#,
                now = pulse::clock::now_ms()
            )
        })
        .collect();
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","time":{},"messaging":[{}]}}]}}"#,
        pulse::clock::now_ms(),
        items.join(",")
    )
}

/// One parsed SSE event.
#[derive(Debug)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
    pub retry: Option<String>,
}

impl SseEvent {
    pub fn snapshot(&self) -> StatsSnapshot {
        serde_json::from_str(&self.data).expect("the event carries a snapshot")
    }
}

/// Reads an SSE response frame by frame.
pub struct SseClient {
    pub response: Option<reqwest::Response>,
    buffer: String,
}

impl SseClient {
    pub fn new(response: reqwest::Response) -> Self {
        SseClient {
            response: Some(response),
            buffer: String::new(),
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.response
            .as_ref()?
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// The next frame (comments included as empty-data frames), within `timeout`.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                return Some(frame);
            }
            let response = self.response.as_mut()?;
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }

    /// The first snapshot event satisfying `wanted` within `timeout`, skipping
    /// others (e.g. the recompute every node publishes at each minute boundary).
    pub async fn next_event_where(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&StatsSnapshot) -> bool,
    ) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = self
                .next_event(deadline - tokio::time::Instant::now())
                .await?;
            if wanted(&event.snapshot()) {
                return Some(event);
            }
        }
    }

    /// Whether the server ends the stream within `timeout`; frames that
    /// arrive first (a minute boundary's snapshot, a keep-alive) are skipped.
    pub async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let Some(response) = self.response.as_mut() else {
            return true;
        };
        loop {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// The reason in the `session_ended` event within `timeout`, skipping
    /// snapshots on the way (a minute boundary's recompute can land first).
    pub async fn session_ended(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = self
                .next_event(deadline - tokio::time::Instant::now())
                .await?;
            match event.event.as_deref() {
                Some("session_ended") => return Some(event.data),
                Some("sync") => continue,
                other => panic!("unexpected event {other:?}: {}", event.data),
            }
        }
    }

    /// The next frame that carries data, within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = self
                .next_frame(deadline - tokio::time::Instant::now())
                .await?;
            let mut event = SseEvent {
                event: None,
                id: None,
                data: String::new(),
                retry: None,
            };
            for line in frame.lines() {
                match line.split_once(": ") {
                    Some(("event", value)) => event.event = Some(value.to_string()),
                    Some(("id", value)) => event.id = Some(value.to_string()),
                    Some(("data", value)) => event.data.push_str(value),
                    Some(("retry", value)) => event.retry = Some(value.to_string()),
                    _ => {}
                }
            }
            if !event.data.is_empty() {
                return Some(event);
            }
        }
    }
}

/// The dashboard's snapshot of a store, built from its rows the way a node
/// builds it, without what only a running node knows (no silent accounts,
/// no write failure, the default delivery mode).
pub trait SnapshotOf {
    /// The snapshot as of `now_ms`, customers' waits judged by `thresholds`.
    fn snapshot(
        &self,
        now_ms: i64,
        source: app::model::SnapshotSource,
        thresholds: &pulse::store::Thresholds,
    ) -> impl std::future::Future<Output = Result<StatsSnapshot, pulse::store::StoreError>>;
}

impl SnapshotOf for pulse::store::Store {
    async fn snapshot(
        &self,
        now_ms: i64,
        source: app::model::SnapshotSource,
        thresholds: &pulse::store::Thresholds,
    ) -> Result<StatsSnapshot, pulse::store::StoreError> {
        let rows = self.snapshot_rows(now_ms).await?;
        let health = pulse::stats::HealthPolicy {
            silence_alert: Duration::from_secs(3_600),
            rejections_alert_per_hour: i64::MAX,
            thresholds: *thresholds,
        };
        let node = pulse::stats::document::NodeView {
            source,
            health: &health,
            refusing: None,
            silent_accounts: 0,
            delivery: app::model::Delivery::default(),
            storage: app::model::Storage::default(),
        };
        Ok(pulse::stats::document::document(&rows, node))
    }
}

/// One page of a store's accounts table, built the way a node builds it,
/// without the silent total only a running node counts (0).
pub trait AccountsPageOf {
    /// The page for `query` as of `now_ms`, silence judged by `thresholds`.
    fn accounts_page(
        &self,
        now_ms: i64,
        query: &app::model::AccountsQuery,
        thresholds: &pulse::store::Thresholds,
    ) -> impl std::future::Future<Output = Result<app::model::AccountsPage, pulse::store::StoreError>>;
}

impl AccountsPageOf for pulse::store::Store {
    async fn accounts_page(
        &self,
        now_ms: i64,
        query: &app::model::AccountsQuery,
        thresholds: &pulse::store::Thresholds,
    ) -> Result<app::model::AccountsPage, pulse::store::StoreError> {
        pulse::stats::accounts_page::read(self, now_ms, query, thresholds, 0).await
    }
}

/// Sets the database at `url` as the upgrade to the accounts' history left
/// one that held events, at `upgraded_at_ms`: the history empty, ingestion
/// counting from the next event id (into quarter-hours), the rebuild still to
/// read every stored event. Returns how many events are stored.
pub async fn as_upgraded_to_the_accounts_history(url: &str, upgraded_at_ms: i64) -> i64 {
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect to the database");
    sqlx::query("DELETE FROM account_history")
        .execute(&mut admin)
        .await
        .expect("empty the accounts' history");
    sqlx::query(
        "UPDATE account_history_start SET at_ms = $1, quarters_began_ms = $1,
             first_event_id = (SELECT max(id) + 1 FROM events),
             rebuild_below_id = (SELECT max(id) + 1 FROM events)",
    )
    .bind(upgraded_at_ms)
    .execute(&mut admin)
    .await
    .expect("set where the accounts' history began");
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&mut admin)
        .await
        .expect("count the stored events");
    stored
}
