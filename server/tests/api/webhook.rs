//! `/api/webhooks/instagram`: handshake, signatures, parsing, storage.

use reqwest::StatusCode;

use crate::helpers::{dm_batch, spawn_app, APP_SECRET, VERIFY_TOKEN};

#[tokio::test]
async fn handshake_echoes_the_raw_challenge_for_the_right_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.webhook_url())
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", VERIFY_TOKEN),
            ("hub.challenge", "00042 not a number"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "00042 not a number");
}

#[tokio::test]
async fn handshake_refuses_a_wrong_token_or_mode() {
    let app = spawn_app().await;
    for (mode, token) in [
        ("subscribe", "wrong-token"),
        ("unsubscribe", VERIFY_TOKEN),
        ("subscribe", ""),
    ] {
        let response = app
            .client
            .get(app.webhook_url())
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", "123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{mode} / {token}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("123") && !text.contains(VERIFY_TOKEN),
            "{text}"
        );
    }
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_deliveries_get_401_and_store_nothing() {
    let app = spawn_app().await;
    let body = dm_batch(&[("mid-1", false)]);

    let missing = app
        .client
        .post(app.webhook_url())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("missing X-Hub-Signature-256"));

    let wrong_key =
        pulse::webhook::signature::sign(&"not-the-secret".to_string().into(), body.as_bytes());
    let wrong = app
        .client
        .post(app.webhook_url())
        .header("x-hub-signature-256", wrong_key)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let text = wrong.text().await.unwrap();
    assert!(
        text.contains("does not match") && !text.contains(APP_SECRET),
        "{text}"
    );

    let garbled = app
        .client
        .post(app.webhook_url())
        .header("x-hub-signature-256", "sha256=xyz")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.event_count().await, 0);
    let stats = app
        .wait_for_stats(|s| s.webhook_health.signature_failures_1h == 3)
        .await;
    assert_eq!(stats.webhook_health.rejected_1h, 3);
}

#[tokio::test]
async fn a_signed_delivery_is_stored_and_counted_by_direction() {
    let app = spawn_app().await;
    let response = app
        .post_signed(dm_batch(&[
            ("in-1", false),
            ("in-2", false),
            ("out-1", true),
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "EVENT_RECEIVED");
    // Acknowledged means committed: the rows are there before the stats push.
    assert_eq!(app.event_count().await, 3);

    let stats = app.wait_for_stats(|s| s.dms_received.total == 2).await;
    assert_eq!(stats.dms_sent.total, 1);
    assert_eq!(stats.dms_received.today, 2);
    assert_eq!(stats.dms_received.last_hour, 2);
    assert_eq!(stats.dms_sent.last_hour, 1);
    assert_eq!(stats.accounts, 1);
    assert_eq!(stats.active_conversations_24h, 1);
    assert_eq!(stats.per_minute.len(), 60);
    assert_eq!(stats.per_minute.last().unwrap().received, 2);
    assert!(stats.version >= 1);
    assert!(stats.last_event_at_ms.is_some());
}

#[tokio::test]
async fn non_ascii_text_sent_as_unicode_escapes_verifies_and_is_counted() {
    let app = spawn_app().await;
    // As Meta sends it: "Olá 👋" escaped, signed over these exact bytes.
    let body =
        dm_batch(&[("mid-escaped", false)]).replace("\"hello\"", r#""Ol\u00e1 \ud83d\udc4b""#);
    assert!(body.contains(r"\u00e1"));
    let response = app.post_signed(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.wait_for_stats(|s| s.dms_received.total == 1).await;
}

#[tokio::test]
async fn a_redelivered_message_counts_once() {
    let app = spawn_app().await;
    let body = dm_batch(&[("dup-1", false), ("dup-1", false)]);
    assert_eq!(app.post_signed(body.clone()).await.status(), StatusCode::OK);
    assert_eq!(app.post_signed(body).await.status(), StatusCode::OK);
    assert_eq!(
        app.post_signed(dm_batch(&[("dup-1", false), ("new-1", false)]))
            .await
            .status(),
        StatusCode::OK
    );

    let stats = app.wait_for_stats(|s| s.dms_received.total >= 2).await;
    assert_eq!(stats.dms_received.total, 2);
    assert_eq!(app.event_count().await, 2);
}

#[tokio::test]
async fn unreadable_deliveries_get_400_store_nothing_and_are_counted_as_rejected() {
    let app = spawn_app().await;
    let cases = [
        ("{not json", "malformed"),
        (
            r#"{"object":"page","entry":[]}"#,
            "unsupported webhook object",
        ),
        (r#"{"object":"instagram","entry":{}}"#, "malformed"),
    ];
    for (body, expected) in cases {
        let response = app.post_signed(body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(app.event_count().await, 0);
    let stats = app
        .wait_for_stats(|s| s.webhook_health.rejected_1h == 3)
        .await;
    assert_eq!(stats.webhook_health.signature_failures_1h, 0);
    assert_eq!(stats.webhook_health.last_accepted_at_ms, None);
    assert_eq!(stats.version, 0, "rejections never touch the event tables");
}

#[tokio::test]
async fn one_bad_event_is_stored_flagged_and_the_rest_of_the_batch_counts() {
    let app = spawn_app().await;
    let body = r#"{"object":"instagram","entry":[{"id":"biz-1","messaging":[
        {"sender":{"id":"c"},"recipient":{"id":"biz-1"},"timestamp":1795631400000,"message":{"mid":"ok-2","text":"fine"}},
        {"sender":{"id":"c"},"recipient":{"id":"biz-1"},"timestamp":1795631400000,"message":{"text":"no mid"}}]}]}"#
        .replace("1795631400000", &pulse::clock::now_ms().to_string());
    assert_eq!(app.post_signed(body).await.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 2);
    let stats = app
        .wait_for_stats(|s| s.webhook_health.flagged_events_1h == 1)
        .await;
    assert_eq!(stats.dms_received.total, 1);
    assert!(stats.webhook_health.last_accepted_at_ms.is_some());
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_413_and_store_nothing() {
    let app = spawn_app().await;
    let padding = "x".repeat(1024 * 1024);
    let body = dm_batch(&[("big-1", false)]).replace("hello", &padding);
    let response = app.post_signed(body).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.text().await.unwrap().contains("1 MiB"));
    assert_eq!(app.event_count().await, 0);
}

#[tokio::test]
async fn unknown_kinds_are_stored_but_not_counted() {
    let app = spawn_app().await;
    let body = r#"{"object":"instagram","entry":[{"id":"biz-1","time":1795631400,
        "changes":[{"field":"story_insights","value":{"media_id":"1","reach":40}}],
        "messaging":[{"sender":{"id":"c"},"recipient":{"id":"biz-1"},"timestamp":1795631400000,
                      "message_edit":{"mid":"m","text":"edited"}}]}]}"#;
    assert_eq!(app.post_signed(body).await.status(), StatusCode::OK);
    // A redelivery of the same bytes is recognised even without a natural key.
    assert_eq!(app.post_signed(body).await.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 2);
    let stats = app.wait_for_stats(|s| s.version >= 1).await;
    assert_eq!(stats.version, 1);
    assert_eq!(stats.dms_received.total + stats.dms_sent.total, 0);
    assert_eq!(stats.engagement, Default::default());
    assert_eq!(stats.webhook_health.flagged_events_1h, 0);
}

#[tokio::test]
async fn every_fixture_counts_once_even_when_delivered_twice() {
    let app = spawn_app().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut fixtures: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 20, "{fixtures:?}");
    for _ in 0..2 {
        for path in &fixtures {
            let body = std::fs::read(path).unwrap();
            let response = app.post_signed(body).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", path.display());
        }
    }
    assert_eq!(app.event_count().await, fixtures.len() as i64);
    // Each fixture's first delivery stored one event in its own transaction;
    // the redeliveries stored nothing and did not move the version.
    let stats = app
        .wait_for_stats(|s| s.version == fixtures.len() as i64)
        .await;
    let engagement = stats.engagement;
    assert_eq!(stats.dms_received.total, 8);
    assert_eq!(stats.dms_sent.total, 1);
    assert_eq!(
        [
            engagement.comments.total,
            engagement.mentions.total,
            engagement.reactions.total,
            engagement.story_replies.total,
            engagement.postbacks.total,
            engagement.reads.total,
            engagement.deleted.total,
        ],
        [2, 2, 1, 1, 1, 1, 1]
    );
    assert_eq!(stats.webhook_health.flagged_events_1h, 0);
    // The Meta dashboard's test delivery uses account "0"; the rest share one account.
    assert_eq!(stats.accounts, 2);
}

#[tokio::test]
async fn a_batch_of_1000_events_is_stored_in_one_transaction() {
    let app = spawn_app().await;
    let mids: Vec<(String, bool)> = (0..1000)
        .map(|i| (format!("batch-{i}"), i % 3 == 0))
        .collect();
    let refs: Vec<(&str, bool)> = mids
        .iter()
        .map(|(mid, echo)| (mid.as_str(), *echo))
        .collect();
    let response = app.post_signed(dm_batch(&refs)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 1000);
    let stats = app
        .wait_for_stats(|s| s.dms_received.total + s.dms_sent.total == 1000)
        .await;
    assert_eq!(stats.version, 1, "one delivery, one transaction");
    assert_eq!(stats.dms_sent.total, 334);
}

#[tokio::test]
async fn absurdly_nested_json_gets_400_stores_nothing_and_leaves_the_server_unaffected() {
    let app = spawn_app().await;
    let depth = 200_000;
    let body = format!(
        r#"{{"object":"instagram","entry":[{{"id":"biz-1","messaging":[{{"x":{}{}}}]}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let response = app.post_signed(body).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("nested deeper than 64 levels"));
    assert_eq!(app.event_count().await, 0);

    let after = app.post_signed(dm_batch(&[("after-deep", false)])).await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(app.event_count().await, 1);
}

#[tokio::test]
async fn a_comment_mentioning_two_connected_accounts_counts_for_each() {
    let app = spawn_app().await;
    let mention = |account: &str| {
        format!(
            r#"{{"id":"{account}","time":1795631402,"changes":[{{"field":"mentions","value":{{"media_id":"m-1","comment_id":"c-1"}}}}]}}"#
        )
    };
    let body = format!(
        r#"{{"object":"instagram","entry":[{},{}]}}"#,
        mention("account-a"),
        mention("account-b")
    );
    assert_eq!(app.post_signed(body.clone()).await.status(), StatusCode::OK);
    // Delivered again, neither counts twice.
    assert_eq!(app.post_signed(body).await.status(), StatusCode::OK);
    let stats = app
        .wait_for_stats(|s| s.engagement.mentions.total == 2)
        .await;
    assert_eq!(stats.engagement.mentions.total, 2);
    assert_eq!(app.event_count().await, 2);
}

#[tokio::test]
async fn absurd_timestamps_are_clamped_and_the_event_still_counts() {
    let app = spawn_app().await;
    for (mid, timestamp) in [
        ("ancient", i64::MIN.to_string()),
        ("future", i64::MAX.to_string()),
        ("negative", "-1".to_string()),
    ] {
        let body = format!(
            r#"{{"object":"instagram","entry":[{{"id":"biz","time":{timestamp},"messaging":[
            {{"sender":{{"id":"c-{mid}"}},"recipient":{{"id":"biz"}},"timestamp":{timestamp},"message":{{"mid":"{mid}","text":"t"}}}}]}}]}}"#
        );
        let response = app.post_signed(body).await;
        assert_eq!(response.status(), StatusCode::OK, "{mid}");
    }
    let stats = app.wait_for_stats(|s| s.dms_received.total == 3).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let latest = stats.last_event_at_ms.expect("a last event time");
    assert!(
        latest <= now + 60 * 60 * 1000 + 5_000,
        "the future event is read as at most an hour ahead: {latest} vs {now}"
    );
    assert_eq!(
        stats.dms_received.last_hour, 0,
        "neither absurd time lands in the last hour's buckets"
    );
}
