//! Only admins see the stats; only Instagram writes events.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::{
    dm_batch, session_cookie, spawn_app, spawn_app_with, Node, ADMIN_EMAIL, ADMIN_PASSWORD,
};

/// Every protected route, with the method it is called with.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/admin/stats"),
    ("GET", "/api/admin/stats/stream"),
    ("POST", "/api/admin/stats/current"),
    ("POST", "/api/admin/stats/refresh"),
];

async fn call(node: &Node, method: &str, path: &str) -> reqwest::Response {
    node.request(method.parse::<Method>().unwrap(), path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_session_pages_go_to_login_and_the_api_answers_401() {
    let app = spawn_app().await;
    let stranger = app.anonymous();
    for page in ["/", "/admin"] {
        let response = stranger.get(page).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.headers()["location"], "/login", "{page}");
    }
    for (method, path) in PROTECTED {
        let response = call(&stranger, method, path).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert!(response.text().await.unwrap().contains("log in first"));
    }
    // A made-up session id is no better than none.
    let mut forger = app.anonymous();
    forger.session_cookie = Some(format!("pulse_session={}", "ab".repeat(32)));
    assert_eq!(
        forger.get("/api/admin/stats").await.status(),
        StatusCode::UNAUTHORIZED
    );

    for (method, path) in PROTECTED {
        let response = call(&app, method, path).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{method} {path} with a session"
        );
    }
    assert_eq!(app.get("/admin").await.status(), StatusCode::OK);
    assert_eq!(stranger.get("/login").await.status(), StatusCode::OK);
    assert_eq!(stranger.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer_and_no_cookie() {
    let app = spawn_app().await;
    let stranger = app.anonymous();
    let wrong = stranger
        .post_login(ADMIN_EMAIL, "not the password at all")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session_cookie(&wrong), None);
    let wrong_text = wrong.text().await.unwrap();

    let unknown = stranger
        .post_login("nobody@example.com", ADMIN_PASSWORD)
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text().await.unwrap(), wrong_text);
    assert_eq!(wrong_text, "wrong email or password");

    // The email is matched whatever its case and surrounding spaces.
    let right = stranger
        .post_login("  Admin@Example.com ", ADMIN_PASSWORD)
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], "/admin");

    let missing = stranger
        .request(Method::POST, "/api/auth/login")
        .form(&[("email", ADMIN_EMAIL)])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_browser_that_fails_to_log_in_is_sent_back_to_the_form_with_the_reason() {
    let app = spawn_app().await;
    let response = app
        .anonymous()
        .request(Method::POST, "/api/auth/login")
        .header("accept", "text/html")
        .form(&[("email", ADMIN_EMAIL), ("password", "wrong password here")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/login?error=credentials");
    let page = app
        .anonymous()
        .get("/login?error=credentials")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Wrong email or password."), "{page}");
}

#[tokio::test]
async fn repeated_failures_are_slowed_then_refused_even_with_the_right_password() {
    let app = spawn_app().await;
    let stranger = app.anonymous();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            stranger
                .post_login(ADMIN_EMAIL, "guess guess guess")
                .await
                .status(),
        );
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let locked = stranger.post_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(session_cookie(&locked), None);
    assert!(locked
        .text()
        .await
        .unwrap()
        .contains("too many failed logins"));
}

#[tokio::test]
async fn every_login_gets_a_new_session_id_and_ends_the_one_it_replaces() {
    let app = spawn_app().await;
    let old_cookie = app.session_cookie.clone().unwrap();
    let response = app.post_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let new_cookie = session_cookie(&response).unwrap();
    assert_ne!(new_cookie, old_cookie);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP by default: {set_cookie}"
    );

    let mut with_new = app.anonymous();
    with_new.session_cookie = Some(new_cookie);
    assert_eq!(
        with_new.get("/api/admin/stats").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/admin/stats").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logging_out_ends_the_session_and_closes_its_open_stream() {
    let app = spawn_app().await;
    let mut stream = app.open_live_stream().await;
    let response = call(&app, "POST", "/api/auth/logout").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));

    let reason = stream
        .session_ended(Duration::from_secs(2))
        .await
        .expect("a last event");
    assert_eq!(reason, "logged_out");
    assert!(
        stream.ends_within(Duration::from_secs(2)).await,
        "the stream ends"
    );
    assert_eq!(
        app.get("/api/admin/stats").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_logout_on_another_node_closes_the_streams_here_at_the_next_check() {
    let app = spawn_app_with(|config| config.session_stream_check_s = 1).await;
    let mut streams = vec![app.open_live_stream().await, app.open_live_stream().await];
    // Another node's logout only deletes the row in the shared database.
    let cookie = app.session_cookie.as_deref().unwrap();
    let token = cookie.strip_prefix("pulse_session=").unwrap();
    app.state
        .store
        .accounts()
        .delete_session(&pulse::auth::session::token_hash(token))
        .await
        .unwrap();
    for stream in &mut streams {
        let reason = stream
            .session_ended(Duration::from_secs(3))
            .await
            .expect("the check ends the stream");
        assert_eq!(reason, "logged_out");
        assert!(stream.ends_within(Duration::from_secs(2)).await);
    }
}

#[tokio::test]
async fn a_watched_session_outlives_its_idle_timeout() {
    let app = spawn_app_with(|config| {
        config.session_idle_timeout_s = 3;
        config.session_stream_check_s = 1;
    })
    .await;
    let mut stream = app.open_live_stream().await;
    assert!(
        stream
            .session_ended(Duration::from_millis(4_500))
            .await
            .is_none(),
        "an open stream keeps its session in use"
    );
    assert_eq!(app.get("/api/admin/stats").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_session_closes_its_open_stream() {
    let app = spawn_app_with(|config| config.session_lifetime_s = 2).await;
    let mut stream = app.open_live_stream().await;
    let reason = stream
        .session_ended(Duration::from_secs(5))
        .await
        .expect("the stream says the session ended");
    assert_eq!(reason, "expired");
    assert!(stream.ends_within(Duration::from_secs(2)).await);
    assert_eq!(
        app.get("/api/admin/stats").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_idle_session_ends() {
    let app = spawn_app_with(|config| config.session_idle_timeout_s = 1).await;
    assert_eq!(app.get("/api/admin/stats").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        app.get("/api/admin/stats").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cross_site_writes_are_refused_but_the_webhook_is_not() {
    let app = spawn_app().await;
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let refresh = app
            .request(Method::POST, "/api/admin/stats/refresh")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(refresh.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        let login = app
            .anonymous()
            .request(Method::POST, "/api/auth/login")
            .header(name, value)
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            login.status(),
            StatusCode::FORBIDDEN,
            "login {name}: {value}"
        );
    }
    let same_site = app
        .request(Method::POST, "/api/admin/stats/refresh")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::OK);

    // Instagram is another site; its signature is what counts, not cookies.
    let delivered = app
        .anonymous()
        .client
        .post(app.webhook_url())
        .header("sec-fetch-site", "cross-site")
        .header(
            "x-hub-signature-256",
            pulse::webhook::signature::sign(
                &secrecy::SecretString::from(crate::helpers::APP_SECRET.to_string()),
                dm_batch(&[("cross-site-ok", false)]).as_bytes(),
            ),
        )
        .body(dm_batch(&[("cross-site-ok", false)]))
        .send()
        .await
        .unwrap();
    assert_ne!(delivered.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn responses_carry_security_headers_and_pages_a_nonce_policy() {
    let app = spawn_app().await;
    let page = app
        .request(Method::GET, "/admin")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("'wasm-unsafe-eval'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the inline scripts carry it"
    );

    let api = app.get("/api/admin/stats").await;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(api.headers()["x-frame-options"], "DENY");
    let another = app.get("/admin").await;
    let another_policy = another.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        !another_policy.contains(&nonce),
        "a fresh nonce per response"
    );
}

/// Every page keeps its own policy while the site's files are served beside
/// it: a file served while a page renders once took the page's headers (its
/// policy) with it, leaving the page with the policy that lets nothing run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_keeps_its_policy_while_files_are_served_beside_it() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg></svg>").unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |config| config.site_root = root).await;
    let strict = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let node = app.node.clone();
        tasks.spawn(async move {
            for _ in 0..100 {
                let (page, file) = tokio::join!(node.get("/admin"), node.get("/favicon.svg"));
                assert_eq!(
                    (page.status(), file.status()),
                    (StatusCode::OK, StatusCode::OK)
                );
                let policy = page.headers()["content-security-policy"].to_str().unwrap();
                assert!(
                    policy.contains("'nonce-"),
                    "the page's own policy: {policy}"
                );
                assert_eq!(file.headers()["content-security-policy"], strict);
                assert_eq!(file.text().await.unwrap(), "<svg></svg>");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // Any other path is the app's own 404 page, with a page's policy.
    let missing = app.node.get("/nowhere").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let policy = missing.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("'nonce-"), "{policy}");
    assert!(missing.text().await.unwrap().contains("Page not found."));
}
