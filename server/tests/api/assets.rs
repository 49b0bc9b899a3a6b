//! `/pkg`: the built assets, precompressed copies by `Accept-Encoding`.

use reqwest::StatusCode;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn assets_come_precompressed_by_accept_encoding_and_are_revalidated_or_kept_by_name() {
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("pulse.js"), "plain javascript").unwrap();
    std::fs::write(pkg.join("pulse.js.br"), "brotli bytes").unwrap();
    std::fs::write(pkg.join("pulse.js.gz"), "gzip bytes").unwrap();
    let hashed = "pulse.Xk3_9aZ-QwErTyUiOp12aB.wasm";
    std::fs::write(pkg.join(hashed), "wasm bytes").unwrap();
    let root = site.path().to_path_buf();
    let app = spawn_app_with(move |config| config.site_root = root).await;
    // A client that decodes nothing itself, to see the bytes as sent.
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let get = |path: String, encoding: &'static str| {
        let request = client.get(format!("{}{path}", app.address));
        let request = if encoding.is_empty() {
            request
        } else {
            request.header("accept-encoding", encoding)
        };
        request.send()
    };

    for (encoding, body, content_encoding) in [
        ("br, gzip", "brotli bytes", Some("br")),
        ("gzip", "gzip bytes", Some("gzip")),
        ("", "plain javascript", None),
    ] {
        let response = get("/pkg/pulse.js".into(), encoding).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            content_encoding,
            "{encoding:?}"
        );
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["vary"], "accept-encoding");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert_eq!(response.text().await.unwrap(), body);
    }
    let immutable = get(format!("/pkg/{hashed}"), "").await.unwrap();
    assert_eq!(
        immutable.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}
