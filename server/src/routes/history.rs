//! `GET /api/admin/history` (a date range's report as JSON) and
//! `GET /api/admin/history.csv` (its series, one row per step, streamed);
//! the same of one business account at `GET /api/admin/accounts/{id}/history`
//! and `.../history.csv` (404 for an account never seen).
//!
//! All take `range` (`24h`, `today`, `yesterday`, `7d`, `30d`, `90d`,
//! `12m`) or `from` and `to` (dates, both included), `zone` (IANA, UTC when
//! absent) and `step` (`hour`, `day`, `week`; fitted to the range when
//! absent). A parameter that is not understood is a 400 naming it.

use std::collections::HashMap;

use app::model::{HistoryFailure, HistoryQuery};
use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;

use crate::{
    clock::now_ms,
    history::{self, Span},
    state::AppState,
    store::history::Whose,
};

/// The range the query string asks for, placed in time now.
fn span_of(params: &HashMap<String, String>) -> Result<Span, history::RangeError> {
    let now = jiff::Timestamp::from_millisecond(now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Span::resolve(&query_of(params), now)
}

fn query_of(params: &HashMap<String, String>) -> HistoryQuery {
    HistoryQuery::from_params(|name| params.get(name).cloned())
}

/// A failure as an answer: 400 naming the parameter, or 503.
fn refusal(failure: HistoryFailure) -> Response {
    let status = if failure.bad_request {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, failure.message).into_response()
}

/// `GET /api/admin/history`: the range's figures, the previous period's
/// and its chart, as JSON.
pub async fn report(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    report_of(&state, Whose::Service, &params).await
}

/// `GET /api/admin/accounts/{id}/history`: the same for one business
/// account; 404 for an account never seen.
pub async fn account_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = unknown_account(&state, &id).await {
        return refused;
    }
    report_of(&state, Whose::Account(&id), &params).await
}

async fn report_of(
    state: &AppState,
    whose: Whose<'_>,
    params: &HashMap<String, String>,
) -> Response {
    match history::answer(&state.store, whose, &query_of(params), now_ms()).await {
        Ok(report) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(report),
        )
            .into_response(),
        Err(failure) => refusal(failure),
    }
}

/// The answer for an account `id` that was never seen (404), or a database
/// that could not say (503); `None` for an account that is known.
async fn unknown_account(state: &AppState, id: &str) -> Option<Response> {
    match state.store.is_account(id).await {
        Ok(true) => None,
        Ok(false) => Some((StatusCode::NOT_FOUND, "no such business account").into_response()),
        Err(error) => Some(refusal(history::unreadable(&error))),
    }
}

/// `GET /api/admin/history.csv`: the range's series as CSV (RFC 4180,
/// UTF-8, a header row, one row per step), streamed a few hundred steps at
/// a time.
pub async fn csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    csv_of(&state, None, &params).await
}

/// `GET /api/admin/accounts/{id}/history.csv`: the same for one business
/// account (no `refused` column); 404 for an account never seen.
pub async fn account_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = unknown_account(&state, &id).await {
        return refused;
    }
    csv_of(&state, Some(id), &params).await
}

async fn csv_of(
    state: &AppState,
    account: Option<String>,
    params: &HashMap<String, String>,
) -> Response {
    let span = match span_of(params) {
        Ok(span) => span,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    // An account's id is digits as Meta sends them; anything else is left
    // out of the file's name.
    let whose = account
        .as_deref()
        .map(|id| {
            let safe: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("account-{safe}-")
        })
        .unwrap_or_default();
    let file_name = format!(
        "pulse-{whose}{}-{}.csv",
        span.key,
        span.start.date().strftime("%Y-%m-%d")
    );
    let header = history::csv_header(account.is_some());
    // The first chunk is read before the answer starts, so that a database
    // that cannot be read is a 503 and not a file cut short.
    let mut rows = Box::pin(history::csv_chunks(
        state.store.clone(),
        account,
        span,
        now_ms(),
    ));
    let first = match rows.next().await {
        Some(Err(error)) => return refusal(history::unreadable(&error)),
        Some(Ok(text)) => text,
        None => String::new(),
    };
    let body = futures::stream::iter([Ok(header.to_string()), Ok(first)]).chain(rows);
    super::csv_download(&file_name, "history", body)
}
