//! `GET /api/admin/history` (a date range's report as JSON) and
//! `GET /api/admin/history.csv` (its series, one row per step, streamed).
//!
//! Both take `range` (`24h`, `today`, `yesterday`, `7d`, `30d`, `90d`,
//! `12m`) or `from` and `to` (dates, both included), `zone` (IANA, UTC when
//! absent) and `step` (`hour`, `day`, `week`; fitted to the range when
//! absent). A parameter that is not understood is a 400 naming it.

use std::collections::HashMap;

use app::model::{HistoryFailure, HistoryQuery};
use axum::{
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use futures::StreamExt as _;

use crate::{
    clock::now_ms,
    history::{self, Span},
    state::AppState,
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
    match history::answer(&state.store, &query_of(&params), now_ms()).await {
        Ok(report) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(report),
        )
            .into_response(),
        Err(failure) => refusal(failure),
    }
}

/// `GET /api/admin/history.csv`: the range's series as CSV (RFC 4180,
/// UTF-8, a header row, one row per step), streamed a few hundred steps at
/// a time.
pub async fn csv(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let span = match span_of(&params) {
        Ok(span) => span,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let file_name = format!(
        "pulse-{}-{}.csv",
        span.key,
        span.start.date().strftime("%Y-%m-%d")
    );
    // The first chunk is read before the answer starts, so that a database
    // that cannot be read is a 503 and not a file cut short.
    let mut rows = Box::pin(history::csv_chunks(state.store.clone(), span));
    let first = match rows.next().await {
        Some(Err(error)) => return refusal(history::unreadable(&error)),
        Some(Ok(text)) => text,
        None => String::new(),
    };
    let body = futures::stream::iter([Ok(history::CSV_HEADER.to_string()), Ok(first)]).chain(rows);
    super::csv_download(&file_name, "history", body)
}
