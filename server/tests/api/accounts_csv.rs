//! `GET /api/admin/accounts.csv`: every account of the table's filter and order, once each,
//! streamed in chunks.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_accounts_csv_holds_every_account_once_in_the_tables_order() {
    let mut app = spawn_app().await;
    app.node.log_in().await;
    // 1,050 accounts (more than a chunk of 1,000), account i with i % 3 + 1 DMs received.
    let now = pulse::clock::now_ms();
    let mut entries = Vec::new();
    for i in 0..1_050 {
        let account = format!("biz-{i:04}");
        let messages: Vec<String> = (0..=i % 3)
            .map(|n| {
                format!(
                    r#"{{"sender":{{"id":"c-{i}"}},"recipient":{{"id":"{account}"}},"timestamp":{now},"message":{{"mid":"m-{i}-{n}","text":"hi"}}}}"#
                )
            })
            .collect();
        entries.push(format!(
            r#"{{"id":"{account}","time":{now},"messaging":[{}]}}"#,
            messages.join(",")
        ));
    }
    let body = format!(
        r#"{{"object":"instagram","entry":[{}]}}"#,
        entries.join(",")
    );
    assert_eq!(app.post_signed(body).await.status(), 200);

    let response = app
        .get("/api/admin/accounts.csv?sort=account&dir=asc")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "account_id,received_today,sent_today,waiting,median_reply_s,last_event_at,silent,name"
    );
    assert_eq!(lines.len(), 1 + 1_050, "every account once");
    for (i, line) in lines[1..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], format!("biz-{i:04}"), "in the table's order");
        assert_eq!(cells[1], (i % 3 + 1).to_string(), "{line}");
        assert_eq!(cells[6], "false");
    }

    // The table's filter and order: most received first, ties by id.
    let text = app
        .get("/api/admin/accounts.csv?q=biz-10&sort=received")
        .await
        .text()
        .await
        .unwrap();
    let ids: Vec<&str> = text
        .split_terminator("\r\n")
        .skip(1)
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 50, "biz-1000 to biz-1049");
    assert_eq!(&ids[..3], ["biz-1001", "biz-1004", "biz-1007"]);

    let refused = app.get("/api/admin/accounts.csv?sort=colour").await;
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("unknown sort \"colour\""));
}
