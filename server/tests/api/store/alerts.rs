//! Alerts in the store, on both engines and at fixed instants: each decision is made once
//! whoever asks (incidents, reminders), a muted rule's incidents make no message, and a
//! message claimed by a node that dies is sent by another once the claim lapses.

use pulse::store::{
    alerts::{NewTarget, Outcome, CLAIM_MS},
    retention::INCIDENTS_KEPT_MS,
};
use secrecy::SecretString;

use super::*;

on_both_backends!(
    incidents_and_reminders_are_decided_once_and_a_dead_claim_lapses,
    a_muted_rule_records_its_incidents_and_tells_nobody,
    incidents_are_kept_a_year_and_a_month_after_they_clear
);

async fn with_targets(backend: Backend, names: &[&str]) -> (TestDatabase, Store) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let key = SecretString::from("key".to_string());
    for name in names {
        let target = NewTarget {
            name,
            kind: "webhook",
            url: Some("http://127.0.0.1:9/"),
            settings: None,
            secret: &key,
        };
        assert!(store.alerts().add_target(&target, NOW).await.unwrap());
    }
    (database, store)
}

/// Claims every message due at `now`, as many nodes would, recording each as sent; the
/// (target, event) of each.
async fn send_all(store: &Store, now: i64) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    while let Some(message) = store.alerts().claim(now).await.unwrap() {
        store
            .alerts()
            .record(message.id, &Outcome::Sent, now)
            .await
            .unwrap();
        sent.push((message.target_name, message.event));
    }
    sent.sort();
    sent
}

async fn incidents_and_reminders_are_decided_once_and_a_dead_claim_lapses(backend: Backend) {
    let (database, a) = with_targets(backend, &["one", "two"]).await;
    let b = database.open().await;
    // Two nodes see the condition at once: one incident.
    let first = a
        .alerts()
        .open("waiting", "2 customers wait", NOW)
        .await
        .unwrap();
    let second = b
        .alerts()
        .open("waiting", "2 customers wait", NOW)
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(second, None, "already open");
    assert_eq!(
        send_all(&a, NOW).await,
        [
            ("one".into(), "started".into()),
            ("two".into(), "started".into())
        ]
    );

    // The first reminder, asked for by both nodes: made once.
    assert!(a.alerts().repeat("waiting", 1, NOW + 1).await.unwrap());
    assert!(!b.alerts().repeat("waiting", 1, NOW + 1).await.unwrap());
    // A node claims one reminder and dies: nobody else can take it while the claim holds ...
    let claimed = a.alerts().claim(NOW + 2).await.unwrap().unwrap();
    assert_eq!(claimed.event, "repeat 1");
    let other = b.alerts().claim(NOW + 3).await.unwrap().unwrap();
    assert_ne!(
        other.id, claimed.id,
        "the other reminder, not the claimed one"
    );
    b.alerts()
        .record(other.id, &Outcome::Sent, NOW + 3)
        .await
        .unwrap();
    assert!(b.alerts().claim(NOW + 4).await.unwrap().is_none());
    // ... and once it lapses, another node sends it.
    let again = b.alerts().claim(NOW + 2 + CLAIM_MS).await.unwrap().unwrap();
    assert_eq!(again.id, claimed.id);
    assert_eq!(again.attempts, 2);
    b.alerts()
        .record(again.id, &Outcome::Sent, NOW + 2 + CLAIM_MS)
        .await
        .unwrap();

    // Cleared by both: once, with one message per target.
    let cleared = (
        a.alerts().clear("waiting", NOW + 10).await.unwrap(),
        b.alerts().clear("waiting", NOW + 10).await.unwrap(),
    );
    assert_eq!((cleared.0, cleared.1.is_none()), (first, true));
    assert_eq!(
        send_all(&b, NOW + 10).await,
        [
            ("one".into(), "cleared".into()),
            ("two".into(), "cleared".into())
        ]
    );
    assert!(
        !a.alerts().repeat("waiting", 2, NOW + 11).await.unwrap(),
        "no incident open"
    );
    let incidents = a.alerts().incidents(10).await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].messages.len(), 6);
    assert!(incidents[0]
        .messages
        .iter()
        .all(|message| message.sent_at_ms.is_some()));
}

async fn a_muted_rule_records_its_incidents_and_tells_nobody(backend: Backend) {
    let (_database, store) = with_targets(backend, &["one"]).await;
    let alerts = store.alerts();
    alerts.mute("silent_accounts", NOW + 60_000).await.unwrap();
    assert_eq!(
        alerts.mutes(NOW).await.unwrap(),
        [("silent_accounts".to_string(), NOW + 60_000)]
    );
    assert!(alerts
        .open("silent_accounts", "1 silent", NOW)
        .await
        .unwrap()
        .is_some());
    assert!(alerts
        .open("waiting", "1 waits", NOW)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        send_all(&store, NOW).await,
        [("one".into(), "started".into())],
        "only the rule not muted"
    );
    // Past the mute, the same incident's clearing is told.
    alerts
        .clear("silent_accounts", NOW + 120_000)
        .await
        .unwrap();
    assert_eq!(
        send_all(&store, NOW + 120_000).await,
        [("one".into(), "cleared".into())]
    );
    // A rule of each node's own is muted for every node at once.
    alerts.mute("redis", NOW + 60_000).await.unwrap();
    assert!(alerts
        .open("redis@a:3000", "polls", NOW)
        .await
        .unwrap()
        .is_some());
    assert_eq!(send_all(&store, NOW).await, [], "muted");
    alerts.mute("waiting", 0).await.unwrap();
    assert!(alerts
        .mutes(NOW)
        .await
        .unwrap()
        .iter()
        .all(|(rule, _)| rule != "waiting"));
}

async fn incidents_are_kept_a_year_and_a_month_after_they_clear(backend: Backend) {
    let (_database, store) = with_targets(backend, &["one"]).await;
    let alerts = store.alerts();
    // One cleared long ago, one cleared later, one still open.
    alerts.open("waiting", "old", NOW).await.unwrap().unwrap();
    alerts.clear("waiting", NOW + 1_000).await.unwrap().unwrap();
    alerts
        .open("waiting", "later", NOW + 2_000)
        .await
        .unwrap()
        .unwrap();
    alerts
        .clear("waiting", NOW + 60_000)
        .await
        .unwrap()
        .unwrap();
    alerts
        .open("silent_accounts", "open", NOW + 3_000)
        .await
        .unwrap()
        .unwrap();
    send_all(&store, NOW + 60_000).await;

    let removal = |at: i64| {
        let store = store.clone();
        async move { remove_expired(&store, at, 90).await.incident_rows }
    };
    assert_eq!(removal(NOW + 1_000 + INCIDENTS_KEPT_MS).await, 0, "not yet");
    // The first: its incident and its two messages (started, cleared).
    assert_eq!(removal(NOW + 1_001 + INCIDENTS_KEPT_MS).await, 3);
    let left: Vec<String> = alerts
        .incidents(10)
        .await
        .unwrap()
        .into_iter()
        .map(|incident| incident.summary)
        .collect();
    assert_eq!(left, ["open", "later"]);
    // Years on, the open one stays.
    assert_eq!(removal(NOW + 10 * INCIDENTS_KEPT_MS).await, 3);
    assert_eq!(alerts.incidents(10).await.unwrap().len(), 1);
}
