//! The middleware every request passes before its handler.
//!
//! - [`require_admin`]: everything except the login, the webhook, the probes
//!   and the static files needs a valid session. Pages without one are sent
//!   to `/login`; API calls (the JSON snapshot, the stream, every server
//!   function) get 401.
//! - [`refuse_unnormalised_path`]: a path with `.` or `..` segments, an
//!   encoded dot or slash, or an empty segment (`//`) gets 400 before any
//!   other check, so the guard and the router can never disagree on which
//!   page is asked for.
//! - [`refuse_cross_site`]: a state-changing request (anything but GET, HEAD,
//!   OPTIONS) that a browser says comes from another site is refused with 403,
//!   on top of the `SameSite=Lax` cookie. The webhook is exempt: Instagram is
//!   another site, and the signature is its authentication.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::auth::session;
use crate::{error_chain, state::AppState};

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/api/auth/login"
            | "/api/auth/logout"
            | "/healthz"
            | "/readyz"
            | "/favicon.ico"
            | "/favicon.svg"
    ) || path == crate::webhook::PATH
        || path.starts_with("/pkg/")
}

/// Lets the request through with its [`super::Session`] (and, for the pages,
/// the app's `Viewer`) in the extensions, or refuses it.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if is_public(path) || (path == "/metrics" && has_metrics_token(&state, request.headers())) {
        return next.run(request).await;
    }
    let is_api = path.starts_with("/api/") || path == "/metrics";
    let found = match session::token_from(request.headers(), state.auth.policy().cookie_name()) {
        Some(token) => state.auth.session(token).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(session)) => {
            request
                .extensions_mut()
                .insert(app::server_fns::stats::Viewer {
                    email: session.email.clone(),
                });
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Ok(None) if is_api => (
            StatusCode::UNAUTHORIZED,
            [(header::CACHE_CONTROL, "no-store")],
            "log in first: POST /api/auth/login with email and password",
        )
            .into_response(),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "session check failed on the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the session could not be checked; try again shortly",
            )
                .into_response()
        }
    }
}

/// Whether the request carries `Authorization: Bearer <PULSE_METRICS_TOKEN>`
/// (compared in constant time; never when no token is configured).
fn has_metrics_token(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.metrics_token else {
        return false;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes()))
}

/// Refuses, with 400, a request whose path is not in its one normal form.
pub async fn refuse_unnormalised_path(request: Request, next: Next) -> Response {
    if is_normalised(request.uri().path()) {
        return next.run(request).await;
    }
    (
        StatusCode::BAD_REQUEST,
        "the path must not contain `.` or `..` segments, encoded dots or slashes, or `//`",
    )
        .into_response()
}

/// Whether `path` names its resource in exactly one way: no empty, `.` or
/// `..` segments, and no percent-encoded dot, slash or backslash (which a
/// later decoding could turn into one of those).
fn is_normalised(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let lower = rest.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "\\"]
        .iter()
        .any(|encoded| lower.contains(encoded))
    {
        return false;
    }
    // A trailing slash is one empty segment at the end: allowed (`/pkg/`).
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/')
        .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// Refuses state-changing requests that a browser marks as cross-site.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || request.uri().path() == crate::webhook::PATH || is_same_site(request.headers()) {
        return next.run(request).await;
    }
    (
        StatusCode::FORBIDDEN,
        "cross-site request refused: this action must come from the dashboard's own pages",
    )
        .into_response()
}

/// `Sec-Fetch-Site` when the browser sends it (all current ones do), else
/// `Origin` against `Host`. A request with neither is not from a browser page
/// (a script or curl), which a forged cross-site request cannot be.
fn is_same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(origin), Some(host)) if origin == host)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn browsers_say_where_a_request_comes_from() {
        assert!(is_same_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_same_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(!is_same_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_same_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(is_same_site(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(!is_same_site(&headers(&[
            ("origin", "null"),
            ("host", "a")
        ])));
        assert!(is_same_site(&HeaderMap::new()), "scripts send neither");
    }

    #[test]
    fn paths_are_accepted_only_in_their_normal_form() {
        for path in [
            "/",
            "/admin",
            "/pkg/pulse.wasm",
            "/api/admin/stats/",
            "/a.b/c..d",
        ] {
            assert!(is_normalised(path), "{path}");
        }
        for path in [
            "/pkg/../admin",
            "/pkg/./pulse.js",
            "/pkg/..",
            "//admin",
            "/api//admin/stats",
            "/pkg/%2e%2e/admin",
            "/pkg/%2E%2E/admin",
            "/pkg/.%2e/admin",
            "/pkg%2f..%2fadmin",
            "/pkg/..%5cadmin",
            "/pkg/..\\admin",
            "admin",
        ] {
            assert!(!is_normalised(path), "{path}");
        }
    }

    #[test]
    fn only_login_webhook_probes_and_assets_are_public() {
        for path in [
            "/login",
            "/api/auth/login",
            "/api/webhooks/instagram",
            "/healthz",
            "/pkg/pulse.wasm",
        ] {
            assert!(is_public(path), "{path}");
        }
        for path in [
            "/",
            "/admin",
            "/api/admin/stats",
            "/api/admin/stats/stream",
            "/api/admin/stats/refresh",
            "/pkg",
        ] {
            assert!(!is_public(path), "{path}");
        }
    }
}
