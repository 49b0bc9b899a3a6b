//! `/admin/accounts/{id}` and `GET /api/admin/accounts/{id}`: one account's figures, its events
//! per hour over the last 24 hours and why it is flagged silent; 404 for an account never seen.

use app::model::AccountPage;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

/// One delivery of `count` DMs from distinct customers to `account`, `ago_ms` before now.
fn dms(account: &str, count: usize, ago_ms: i64) -> String {
    let at = pulse::clock::now_ms() - ago_ms;
    let messages: Vec<String> = (0..count)
        .map(|n| {
            format!(
                r#"{{"sender":{{"id":"fan-{account}-{ago_ms}-{n}"}},"recipient":{{"id":"{account}"}},"timestamp":{at},"message":{{"mid":"m-{account}-{ago_ms}-{n}","text":"hi"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"{account}","time":{at},"messaging":[{}]}}]}}"#,
        messages.join(",")
    )
}

#[tokio::test]
async fn an_accounts_page_shows_its_figures_and_hours_and_says_why_it_is_silent() {
    let app = spawn_app().await;
    // biz-busy: 3 DMs now. biz-quiet: 25 DMs three hours ago, none since (silent by default:
    // at least 20 events in the previous 24 h, none for 120 min).
    assert_eq!(app.post_signed(dms("biz-busy", 3, 0)).await.status(), 200);
    assert_eq!(
        app.post_signed(dms("biz-quiet", 25, 3 * 3_600_000))
            .await
            .status(),
        200
    );

    let busy: AccountPage = app
        .get("/api/admin/accounts/biz-busy")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(busy.row.account_id, "biz-busy");
    assert_eq!(busy.row.waiting, 3);
    assert_eq!(busy.silence, None);
    assert_eq!(busy.hours.len(), 1);
    assert_eq!(busy.hours[0].1, 3);
    assert_eq!(busy.hours[0].0 % 3_600_000, 0, "a UTC hour");

    let quiet: AccountPage = app
        .get("/api/admin/accounts/biz-quiet")
        .await
        .json()
        .await
        .unwrap();
    assert!(quiet.row.silent);
    let silence = quiet.silence.unwrap();
    assert!(
        silence.starts_with("Busy in the previous 24 hours (25 events; 20 make an account busy)")
            && silence.contains("(silent after 120 min)"),
        "{silence}"
    );
    assert_eq!(
        quiet.hours.iter().map(|(_, events)| events).sum::<i64>(),
        25
    );

    // The page, server-rendered with the figures, loads the island; a page the filter links to.
    let response = app.get("/admin/accounts/biz-quiet").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"<span data-testid="account-id">biz-quiet</span>"#),
        "{page}"
    );
    assert!(
        page.contains("the usual sign of an expired access token"),
        "{page}"
    );
    assert!(page.contains(r#"data-events="25""#), "{page}");
    assert!(
        page.contains("modulepreload"),
        "the figures are live: {page}"
    );
    let table = app.get("/admin/accounts").await.text().await.unwrap();
    assert!(
        table.contains(r#"<a href="/admin/accounts/biz-quiet">biz-quiet</a>"#),
        "{table}"
    );

    // An account never seen: 404, as JSON and as a page.
    let missing = app.get("/api/admin/accounts/biz-none").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("no business account \"biz-none\""));
    let missing = app.get("/admin/accounts/biz-none").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("No such account"));
    // Without a session: the page sends the browser to log in, the API answers 401.
    let stranger = app.anonymous();
    assert_eq!(
        stranger.get("/api/admin/accounts/biz-busy").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
