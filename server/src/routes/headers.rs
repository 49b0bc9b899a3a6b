//! Security headers on every response.
//!
//! HTML pages get their `Content-Security-Policy` from the app, which knows
//! the per-response nonce Leptos puts on its inline scripts
//! (`app::content_security_policy`); every other response gets the strictest
//! policy here, since it is never meant to run or embed anything.

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

/// Policy for responses that are not pages (JSON, the stream, files, errors).
const NOTHING_ALLOWED: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security` for a year: browsers that have seen the
/// dashboard over HTTPS never ask for it over plain HTTP again.
pub async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// Adds the security headers a response does not set itself.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, NOTHING_ALLOWED),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}
