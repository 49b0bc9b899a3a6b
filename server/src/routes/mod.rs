//! The HTTP surface: every route and every handler, the only modules that
//! see [`AppState`].
//!
//! - [`webhook`]: Meta's deliveries and the subscription handshake.
//! - [`login`]: `POST /api/auth/login` and `POST /api/auth/logout`.
//! - [`stream`]: the dashboards' live stream.
//! - [`guard`]: the middleware that requires a session and refuses cross-site writes.
//! - [`headers`]: the security headers of every answer.
//! - [`history`]: a date range's report and its CSV.
//! - [`alerts`]: the alerts page's forms.

mod alerts;
pub mod guard;
mod headers;
mod history;
pub mod login;
pub mod stream;
pub mod webhook;

use app::model::AccountsQuery;
use app::{shell, App};
use axum::{
    extract::{DefaultBodyLimit, Query, State},
    http::{header, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    services::{ServeDir, ServeFile},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use std::sync::Arc;

use app::server_fns::{alerts::AlertsContext, stats::StatsContext};

use crate::{
    clock::now_ms, error_chain, metrics, repeated_warning::RepeatedWarning, state::AppState,
    store::Backend,
};

/// Largest body any route but the webhook accepts (login form, server functions).
const FORM_BODY_LIMIT_BYTES: usize = 16 * 1024;
/// Longest time a request may take to produce its response head. A stream's
/// body is not limited by it; only its start is.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    // Browsers that reached the dashboard over HTTPS (here, or through a proxy
    // that terminates it) keep to HTTPS from then on.
    let https = state.auth.policy().secure_cookies;
    let pages = generate_route_list(App);
    let contexts = page_contexts(&state);
    let options = state.leptos_options.clone();
    let site_root = std::path::Path::new(options.site_root.as_ref()).to_path_buf();
    let pkg_dir = site_root.join(options.site_pkg_dir.as_ref());
    let router = Router::new()
        .route("/", get(|| async { Redirect::temporary("/admin") }))
        .route("/api/auth/login", post(login::log_in))
        .route("/api/auth/logout", post(login::log_out))
        .route(
            crate::webhook::PATH,
            get(webhook::verify_subscription)
                .post(webhook::receive)
                .layer(DefaultBodyLimit::max(webhook::BODY_LIMIT_BYTES)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::export))
        .route("/readyz", get(readiness))
        .route("/api/admin/stats", get(current_stats))
        .route("/api/admin/accounts", get(accounts_page))
        .route("/api/admin/accounts.csv", get(accounts_csv))
        .route("/api/admin/accounts/{id}", get(account_page))
        .route("/admin/accounts/{id}", post(name_account))
        .route("/api/admin/history", get(history::report))
        .route("/api/admin/history.csv", get(history::csv))
        .route(
            "/api/admin/accounts/{id}/history",
            get(history::account_report),
        )
        .route(
            "/api/admin/accounts/{id}/history.csv",
            get(history::account_csv),
        )
        .route(stream::PATH, get(stream::stream))
        .route(alerts::PATH, post(alerts::change))
        // The built assets, from a file service only: no page or handler can
        // answer under /pkg, so the guard's public prefix grants files alone.
        .nest("/pkg", assets(pkg_dir))
        .merge(site_files(&site_root))
        .leptos_routes_with_context(&state, pages, contexts, move || shell(options.clone()))
        .fallback(not_found)
        // Outermost last: trace, headers, timeout, path form, CSRF, session, body limit.
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_admin,
        ))
        .layer(middleware::from_fn(guard::refuse_cross_site))
        .layer(middleware::from_fn(guard::refuse_unnormalised_path))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(headers::security_headers));
    let router = if https {
        router.layer(middleware::map_response(headers::strict_transport_security))
    } else {
        router
    };
    router
        .layer(TraceLayer::new_for_http().on_failure(log_server_error))
        .with_state(state)
}

/// What pages and server functions reach the server through (the `app`
/// crate's service traits), provided to every Leptos render: by the router,
/// and by a handler that renders a page itself.
fn page_contexts(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let stats = StatsContext(Arc::new(state.publisher.clone()));
    let alerts = AlertsContext(Arc::new(crate::alerts::overview::Overview {
        store: state.store.clone(),
        defaults: state.alert_defaults,
    }));
    move || {
        provide_context(stats.clone());
        provide_context(alerts.clone());
    }
}

/// The site's own files outside `/pkg` (the favicon), from a file service.
/// Not through `leptos_axum`'s file handler: it serves a file inside a
/// reactive owner made under whichever one the thread holds, and so, while a
/// page rendered beside it, took that page's headers (its
/// `Content-Security-Policy`) for the file, and the page went out with the
/// policy that lets nothing run.
fn site_files(site_root: &std::path::Path) -> Router<AppState> {
    Router::new()
        .route_service(
            "/favicon.svg",
            ServeFile::new(site_root.join("favicon.svg")),
        )
        .layer(middleware::from_fn(asset_caching))
}

/// Any other path: the app's "Page not found." page, a 404, rendered like
/// every page (its own headers, its own nonce).
async fn not_found(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let options = state.leptos_options.clone();
    let page = leptos_axum::render_app_async_with_context(page_contexts(&state), move || {
        shell(options.clone())
    });
    let mut response = page(request).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// `/pkg`: the built wasm, js and css. The brotli or gzip copy the release
/// build wrote (`scripts/compress-site.sh`) is served when the browser
/// accepts it; a name carrying a content hash is cached for a year, any other
/// is revalidated on each use (a `304` when unchanged).
fn assets(pkg_dir: std::path::PathBuf) -> Router<AppState> {
    Router::new()
        .fallback_service(
            ServeDir::new(pkg_dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(middleware::from_fn(asset_caching))
}

async fn asset_caching(request: axum::extract::Request, next: middleware::Next) -> Response {
    let hashed = has_content_hash(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if hashed {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether a file name carries cargo-leptos's content hash
/// (`pulse.<22 base64url characters>.wasm`): its content never changes.
fn has_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|part| {
            part.len() == 22
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `GET /api/admin/stats`: the newest snapshot as JSON (pre-serialised by the bus).
async fn current_stats(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.publisher.bus().latest().json.clone(),
    )
        .into_response()
}

/// The accounts table's query from the query string (`offset` only when
/// `paged`), its zone as the zone database spells it; the message of a 400
/// naming the parameter that is not understood.
fn accounts_query(
    params: &std::collections::HashMap<String, String>,
    paged: bool,
) -> Result<AccountsQuery, String> {
    let param = |name: &str| params.get(name).map(String::as_str);
    let offset = if paged { param("offset") } else { None };
    let mut query = AccountsQuery::parse(
        param("q"),
        param("sort"),
        param("dir"),
        offset,
        param("zone"),
    )?;
    query.zone = zone_named(query.zone)?;
    Ok(query)
}

/// `zone` (an IANA name, if any) as the zone database spells it, or the
/// message of a 400 naming it.
fn zone_named(zone: Option<String>) -> Result<Option<String>, String> {
    zone.map(|zone| crate::history::range::zone_name(&zone))
        .transpose()
        .map_err(|error| error.to_string())
}

/// `GET /api/admin/accounts?q=&sort=&dir=&offset=&zone=`: one page of the
/// accounts table as JSON, today in `zone` (the UTC day without one); 400
/// naming the parameter that is not understood.
async fn accounts_page(
    State(state): State<AppState>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let query = match accounts_query(&params, true) {
        Ok(query) => query,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    match state.publisher.accounts_page(&query).await {
        Ok(page) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(page),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "the accounts page failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the accounts could not be read; see the server log",
            )
                .into_response()
        }
    }
}

/// `GET /api/admin/accounts/{id}?zone=`: one account's page as JSON, today
/// in `zone` (the UTC day without one); 404 for an account never seen, 400
/// for a zone not known.
async fn account_page(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let zone = match zone_named(params.get("zone").filter(|zone| !zone.is_empty()).cloned()) {
        Ok(zone) => zone,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    match state.publisher.account_page(&id, zone.as_deref()).await {
        Ok(Some(page)) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(page),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            format!("no business account {id:?} has sent or received anything here"),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "an account's page failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the account could not be read; see the server log",
            )
                .into_response()
        }
    }
}

/// `POST /admin/accounts/{id}` (form field `name`): gives the account a
/// display name, or none when blank. A browser is sent back to the
/// account's page (with `?invalid=name` when the name cannot be one); a
/// script gets 204, or 400 with why; 404 for an account never seen.
async fn name_account(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    form: Result<
        axum::Form<std::collections::HashMap<String, String>>,
        axum::extract::rejection::FormRejection,
    >,
) -> Response {
    let browser = login::wants_html(&headers);
    let page = app::pages::account::address(&id);
    let Ok(axum::Form(form)) = form else {
        return (
            StatusCode::BAD_REQUEST,
            "send the form field `name` (application/x-www-form-urlencoded)",
        )
            .into_response();
    };
    let name = match crate::stats::accounts_page::display_name(
        form.get("name").map_or("", String::as_str),
    ) {
        Ok(name) => name,
        Err(_) if browser => return see_other(&format!("{page}?invalid=name")),
        Err(why) => return (StatusCode::BAD_REQUEST, format!("name: {why}")).into_response(),
    };
    match state
        .store
        .set_account_name(&id, name.as_deref(), crate::clock::now_ms())
        .await
    {
        Ok(true) if browser => see_other(&page),
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            format!("no business account {id:?} has sent or received anything here"),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "an account's name was not saved");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the name could not be saved; nothing was changed; see the server log",
            )
                .into_response()
        }
    }
}

/// `303 See Other` to `location`, a path of this server (to the dashboard
/// should it not make a header).
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/admin")]).into_response(),
    }
}

/// `GET /api/admin/accounts.csv?q=&sort=&dir=&zone=`: every account the
/// table's filter matches, in its order, as CSV (streamed), today in `zone`
/// (the UTC day without one); 400 naming the parameter that is not
/// understood.
async fn accounts_csv(
    State(state): State<AppState>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let query = match accounts_query(&params, false) {
        Ok(query) => query,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let rows = match state.publisher.accounts_csv(&query).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "the accounts CSV failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the accounts could not be read; see the server log",
            )
                .into_response();
        }
    };
    csv_download("pulse-accounts.csv", "accounts", rows)
}

/// A CSV file named `file_name` as a streamed answer of `chunks` (the
/// `what` of its log line): a chunk that cannot be read is logged with its
/// cause and ends the download, cut short.
fn csv_download(
    file_name: &str,
    what: &'static str,
    chunks: impl futures::Stream<Item = Result<String, crate::store::StoreError>> + Send + 'static,
) -> Response {
    let body = futures::StreamExt::map(chunks, move |chunk| {
        chunk.map_err(|error| {
            tracing::error!(error = %error_chain(&error), "the {what} CSV was cut short");
            std::io::Error::other("the download could not be read")
        })
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// `GET /readyz`: 200 when the database answers and takes writes, 503
/// otherwise, within [`READINESS_WAIT`] whatever the database does; says why,
/// which database engine and which bus this node uses, for load balancers
/// and operators. While the database refuses writes each check tries one
/// (a row nothing reads), so the node turns ready again by itself.
async fn readiness(State(state): State<AppState>) -> Response {
    let store = &state.store;
    let backend = match store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let check = async {
        if store.write_health().refusing().is_some() {
            store.probe_write(now_ms()).await
        } else {
            store.ping().await
        }
    };
    let database = match tokio::time::timeout(READINESS_WAIT, check).await {
        Ok(Ok(())) => match store.write_health().refusing() {
            None => Ok(()),
            Some(refusing) => Err(refusing.failure.key()),
        },
        Ok(Err(_)) => Err(store
            .write_health()
            .refusing()
            .map_or("unreachable", |refusing| refusing.failure.key())),
        Err(_) => Err("unreachable"),
    };
    let status = match database {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::json!({
        "ready": database.is_ok(),
        "database": { "backend": backend, "status": database.err().unwrap_or("ok") },
        "bus": state.publisher.bus().delivery().mode.key(),
    });
    (status, axum::Json(body)).into_response()
}

/// Logs a 5xx answer, at most one line per interval with how many there
/// were: while the database refuses writes every delivery is answered 503.
fn log_server_error(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    static ERRORS: std::sync::LazyLock<RepeatedWarning> =
        std::sync::LazyLock::new(Default::default);
    if let Some(times) = ERRORS.note() {
        tracing::warn!(%class, latency_ms = latency.as_millis() as u64, responses = times, "answered with a server error");
    }
}

/// The longest a readiness check waits for the database.
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_content_hash_are_cached_for_good() {
        assert!(has_content_hash("/pkg/pulse.Xk3_9aZ-QwErTyUiOp12aB.wasm"));
        assert!(has_content_hash(
            "/pkg/pulse.Xk3_9aZ-QwErTyUiOp12aB.wasm.br"
        ));
        assert!(!has_content_hash("/pkg/pulse.wasm"));
        assert!(!has_content_hash("/pkg/pulse_bg.wasm.d.ts"));
        assert!(!has_content_hash("/pkg/pulse.short.js"));
    }
}
