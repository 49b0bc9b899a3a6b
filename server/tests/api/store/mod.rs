//! The store on both engines, at fixed instants: every test runs against SQLite and Postgres
//! (`on_both_backends!`), with the builders they share here.

use app::model::{AccountSort, AccountsQuery, Replies, SnapshotSource, Waiting};
use pulse::{
    event::{EventKind, WebhookEvent},
    store::{replies, Backend, Store, Today, DAY_MS, MINUTE_MS},
};

use crate::{
    helpers::{AccountsPageOf, SnapshotOf},
    postgres::fresh_database_url,
};

/// A DM received that is not a story reply.
const RECEIVED: EventKind = EventKind::DmReceived { story_reply: false };

/// 2026-11-25 18:30:05 UTC.
const NOW: i64 = 1_795_631_405_000;

/// The default thresholds (`AUTOMATION_REPLY_ALERT_S`, `ACCOUNT_SILENCE_*`).
const THRESHOLDS: pulse::store::Thresholds = pulse::store::Thresholds {
    reply_alert: std::time::Duration::from_secs(300),
    silence_min_events: 20,
    silence_after: std::time::Duration::from_secs(7200),
};

fn dm(mid: &str, kind: EventKind, account: &str, peer: &str, occurred_at_ms: i64) -> WebhookEvent {
    WebhookEvent {
        dedupe_key: format!("{}:{mid}", kind.as_str()),
        kind,
        account_id: account.to_string(),
        peer_id: Some(peer.to_string()),
        occurred_at_ms,
        raw: format!(r#"{{"mid":"{mid}"}}"#),
        error: None,
    }
}

/// A fresh database of either backend, and what keeps it alive.
struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("pulse.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => TestDatabase {
                url: fresh_database_url().await,
                _dir: None,
            },
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

/// Runs one store test against SQLite and against Postgres.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(pulse::store::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(pulse::store::Backend::Postgres).await
            })*
        }
    };
}

const MINUTE: i64 = MINUTE_MS;

/// What the tests of one conversation written by two nodes compare, as
/// `store` sees it at [`NOW`]: replies, waiting conversations and
/// conversations active in 24 h.
async fn conversation_figures(store: &Store) -> (Replies, Waiting, i64) {
    let snapshot = store
        .snapshot(NOW, SnapshotSource::Push, &THRESHOLDS)
        .await
        .unwrap();
    (
        snapshot.replies,
        snapshot.waiting,
        snapshot.active_conversations_24h,
    )
}

/// [`conversation_figures`] once one store of a fresh database took
/// `events` in order, one delivery each.
async fn figures_of_one_writer(
    backend: Backend,
    events: &[WebhookEvent],
) -> (Replies, Waiting, i64) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    for event in events {
        store.ingest(vec![event.clone()], NOW).await.unwrap();
    }
    conversation_figures(&store).await
}

/// One retention pass over `store` at `now_ms` keeping `days` of raw
/// events, walking from the start.
async fn remove_expired(store: &Store, now_ms: i64, days: u64) -> pulse::store::retention::Removed {
    store
        .remove_expired(
            now_ms,
            std::time::Duration::from_secs(days * 86_400),
            &mut pulse::store::retention::Walks::default(),
        )
        .await
        .unwrap()
}

mod account_history;
mod accounts;
mod alerts;
mod conversations;
mod counting;
mod history;
mod retention;
mod schema;
mod writers;
