//! `POST /api/auth/login` and `POST /api/auth/logout`.
//!
//! Both serve the login form (a browser posting `application/x-www-form-
//! urlencoded`, JavaScript or not) and scripts. A browser, which asks for
//! `text/html`, is sent on with `303 See Other` (to the dashboard, or back to
//! `/login` with the reason in the query); a script gets the status itself:
//! 303 with the cookie on success, 401 for wrong credentials, 429 when locked.

use std::net::SocketAddr;

use axum::{
    extract::{rejection::FormRejection, ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::auth::{session, LoginError};
use crate::{
    error_chain,
    serve::strangers::{client_address, pause_before_refusal},
    state::AppState,
};

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
}

/// Checks the credentials and starts a session.
pub async fn log_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let browser = wants_html(&headers);
    let Ok(Form(form)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            "send the form fields `email` and `password` (application/x-www-form-urlencoded)",
        )
            .into_response();
    };
    let auth = &state.auth;
    let address = client_address(&headers, peer, state.proxy_hops);
    let result = auth
        .log_in(
            &form.email,
            &form.password,
            address,
            session::token_from(&headers, auth.policy().cookie_name()),
        )
        .await;
    match result {
        Ok(token) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, HeaderValue::from_static("/admin")),
                (header::SET_COOKIE, auth.policy().cookie(&token)),
            ],
        )
            .into_response(),
        Err(LoginError::Credentials) if browser => super::see_other("/login?error=credentials"),
        Err(error @ LoginError::Credentials) => {
            (StatusCode::UNAUTHORIZED, error.to_string()).into_response()
        }
        Err(LoginError::Locked(_)) if browser => super::see_other("/login?error=locked"),
        Err(error @ LoginError::Locked(remaining)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, remaining.as_secs().max(1).to_string())],
            error.to_string(),
        )
            .into_response(),
        Err(error @ LoginError::Busy) => {
            pause_before_refusal().await;
            if browser {
                return super::see_other("/login?error=busy");
            }
            // 429, not 503: the trace layer logs every 5xx, and a flood of
            // them would fill the log.
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1".to_string())],
                error.to_string(),
            )
                .into_response()
        }
        Err(LoginError::Store(error)) => {
            tracing::warn!(error = %error_chain(&error), "login failed on the database");
            let message = match state.store.write_health().refusing() {
                Some(refusing) => format!(
                    "the login could not be recorded: {}; try again once it takes writes",
                    refusing.failure.describe()
                ),
                None => "the login could not be checked; try again shortly".to_string(),
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "10".to_string())],
                message,
            )
                .into_response()
        }
    }
}

/// Ends the session (if any) and removes the cookie.
pub async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session::token_from(&headers, state.auth.policy().cookie_name()) {
        if let Err(error) = state.auth.end_session(&session::token_hash(token)).await {
            tracing::error!(error = %error_chain(&error), "logout failed on the database");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the logout could not be recorded; try again shortly",
            )
                .into_response();
        }
    }
    let cleared = state.auth.policy().cleared_cookie();
    if wants_html(&headers) {
        (
            StatusCode::SEE_OTHER,
            [
                (
                    header::LOCATION,
                    HeaderValue::from_static("/login?reason=logged_out"),
                ),
                (header::SET_COOKIE, cleared),
            ],
        )
            .into_response()
    } else {
        (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response()
    }
}

/// Whether the client is a browser navigating (it asks for HTML).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}
