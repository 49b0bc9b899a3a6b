//! The accounts page's server side: the table's query (the app's wire type)
//! turned into the store's request, and the store's rows into the page the
//! browser gets. The route parses the query; the store reads the rows; this
//! is everything in between.

use app::model::{
    AccountEvent, AccountPage, AccountRow, AccountSort, AccountsPage, AccountsQuery,
    WaitingConversation, ACCOUNTS_PER_PAGE,
};

use futures::StreamExt as _;

use crate::store::{
    account_figures::Figure, account_history::Precision, AccountOrder, AccountRecord,
    AccountRecords, PageRequest, Store, StoreError, Thresholds, Today,
};

/// Accounts read per query when the table is streamed as CSV.
const ACCOUNTS_PER_READ: usize = 1_000;

/// Chunks of the CSV read at once.
const CHUNKS_AHEAD: usize = 2;

/// The CSV's header row (RFC 4180, CRLF line ends).
pub const CSV_HEADER: &str =
    "account_id,received_today,sent_today,waiting,median_reply_s,last_event_at,silent,name\r\n";

/// The store's request for the table's `query`.
fn request(query: &AccountsQuery) -> PageRequest {
    let order = match query.sort {
        AccountSort::Account => AccountOrder::Id,
        AccountSort::LastEvent => AccountOrder::LastEvent,
        AccountSort::Received => AccountOrder::Figure(Figure::Received),
        AccountSort::Sent => AccountOrder::Figure(Figure::Sent),
        AccountSort::Waiting => AccountOrder::Figure(Figure::Waiting),
        AccountSort::Reply => AccountOrder::Figure(Figure::MedianReply),
    };
    PageRequest {
        filter: query.filter.clone(),
        order,
        descending: query.descending,
        offset: query.offset,
        limit: ACCOUNTS_PER_PAGE,
        today: today(query.zone.as_deref()),
    }
}

/// The day the pages count today in for `zone` (an IANA name already
/// checked; `None` or a name for UTC: the UTC day).
pub(crate) fn today(zone: Option<&str>) -> Today {
    match zone {
        Some(zone) if !app::model::is_utc(zone) => Today::Zone(zone.to_string()),
        _ => Today::Utc,
    }
}

/// What "today" means on the accounts' pages for `zone` as of `at`, in
/// words: a zone's day begins at its midnight, or, for two hours after the
/// upgrade that began the accounts' quarter-hours, at the whole hour nearest
/// it, which the words then say.
pub fn today_in_words(zone: Option<&str>, at: &Precision) -> String {
    let (Today::Zone(name), Some(zone)) = (
        today(zone),
        zone.and_then(|zone| jiff::tz::TimeZone::get(zone).ok()),
    ) else {
        return "today: the UTC day".to_string();
    };
    let begins = Today::Zone(name.clone()).start_ms(at);
    let midnight = crate::clock::start_of_day(&name, at.now_ms).map(|(midnight, _)| midnight);
    if midnight == Some(begins) {
        return format!("today: since midnight in {name}");
    }
    let clock = jiff::Timestamp::from_millisecond(begins)
        .map(|at| at.to_zoned_datetime(zone).strftime("%H:%M").to_string())
        .unwrap_or_default();
    format!(
        "today: from {clock} in {name}, the whole hour nearest its midnight (accounts were \
         counted by the hour before this version)"
    )
}

/// The page for `query` from the store's `records` read at `now_ms`, with
/// `silent` accounts among all (counted apart: it reads every account that
/// could be silent).
fn page(
    records: AccountRecords,
    query: &AccountsQuery,
    at: &Precision,
    silent: i64,
) -> AccountsPage {
    AccountsPage {
        generated_at_ms: at.now_ms,
        version: records.version,
        total: records.total,
        offset: query.offset,
        silent,
        zone: query.zone.clone(),
        today: today_in_words(query.zone.as_deref(), at),
        rows: records.rows.into_iter().map(row).collect(),
    }
}

/// An account's row as the browser gets it.
fn row(record: AccountRecord) -> AccountRow {
    AccountRow {
        account_id: record.account_id,
        received_today: record.received_today,
        sent_today: record.sent_today,
        waiting: record.waiting,
        median_reply_ms: record.median_reply_ms,
        last_event_at_ms: record.last_event_at_ms,
        silent: record.silent,
        name: record.name,
    }
}

/// The longest display name, in characters.
pub const NAME_MAX_CHARS: usize = 100;

/// What an admin typed as an account's display name: `None` when blank (the
/// account goes back to its id alone), or why it cannot be one.
pub fn display_name(text: &str) -> Result<Option<String>, String> {
    let name = text.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "a display name is 1 to {NAME_MAX_CHARS} characters, without control characters"
        ));
    }
    if name.starts_with(['=', '+', '-', '@']) {
        return Err(
            "a display name may not begin with =, +, - or @, which spreadsheets read as a formula \
             (it is in the CSV)"
                .to_string(),
        );
    }
    Ok(Some(name.to_string()))
}

/// The page of the account `id` read from `store` at `now_ms`, today
/// counted in `zone` (an IANA name already checked; `None`: the UTC day);
/// `None` when it was never seen.
pub async fn account(
    store: &Store,
    now_ms: i64,
    id: &str,
    zone: Option<&str>,
    thresholds: &Thresholds,
) -> Result<Option<AccountPage>, StoreError> {
    let Some(detail) = store
        .account_detail(now_ms, &today(zone), id, thresholds)
        .await?
    else {
        return Ok(None);
    };
    let events_24h: i64 = detail.hours.iter().map(|(_, events)| events).sum();
    let record = detail.record;
    let silence = record.silent.then(|| {
        let quiet = record
            .last_event_at_ms
            .map(|at| format!("no event for {}", app::format::duration(Some(now_ms - at))))
            .unwrap_or_else(|| "no event since".to_string());
        format!(
            "Busy in the previous 24 hours ({events_24h} events; {} make an account busy) and \
             {quiet} (silent after {} min): the usual sign of an expired access token or a \
             removed app.",
            thresholds.silence_min_events,
            thresholds.silence_after.as_secs() / 60
        )
    });
    Ok(Some(AccountPage {
        generated_at_ms: now_ms,
        version: detail.version,
        row: row(record),
        zone: zone.map(str::to_string),
        today: today_in_words(zone, &store.account_precision(now_ms)),
        zone_offset_s: zone
            .and_then(|zone| crate::clock::start_of_day(zone, now_ms))
            .map_or(0, |(_, offset_s)| offset_s),
        hours: detail.hours,
        silence,
        waiting: detail
            .waiting
            .into_iter()
            .map(|(customer, since_ms)| WaitingConversation { customer, since_ms })
            .collect(),
        latest: detail
            .latest
            .into_iter()
            .map(|event| AccountEvent {
                at_ms: event.at_ms,
                kind: event.kind,
                customer: event.customer,
            })
            .collect(),
    }))
}

/// One page of the accounts table read from `store` at `now_ms`.
pub async fn read(
    store: &Store,
    now_ms: i64,
    query: &AccountsQuery,
    thresholds: &Thresholds,
    silent: i64,
) -> Result<AccountsPage, StoreError> {
    let records = store
        .account_records(now_ms, &request(query), thresholds)
        .await?;
    Ok(page(
        records,
        query,
        &store.account_precision(now_ms),
        silent,
    ))
}

/// Every account of the table's `query` (its filter and order; every page)
/// as CSV rows, read at `now_ms`: the order is fixed at the start (the ids
/// alone, about 50 bytes an account), then the rows are read and written
/// [`ACCOUNTS_PER_READ`] at a time, [`CHUNKS_AHEAD`] chunks at most ahead of
/// the caller, so every account appears exactly once and the rows never sit
/// in memory together. The first item is the header.
pub async fn csv_chunks(
    store: Store,
    now_ms: i64,
    query: &AccountsQuery,
    thresholds: Thresholds,
) -> Result<impl futures::Stream<Item = Result<String, StoreError>>, StoreError> {
    let request = request(query);
    let ids = store.ordered_account_ids(now_ms, &request).await?;
    let chunks: Vec<Vec<String>> = ids
        .chunks(ACCOUNTS_PER_READ)
        .map(<[String]>::to_vec)
        .collect();
    // The next chunk is read while the one before is sent (in order; two at
    // most in memory): the reads are on the reader pool, one per core.
    let rows = futures::stream::iter(chunks)
        .map(move |ids| {
            let store = store.clone();
            let today = request.today.clone();
            async move {
                let records = store.account_rows(now_ms, &today, ids, &thresholds).await?;
                let mut text = String::with_capacity(records.len() * 64);
                for record in &records {
                    csv_row(&mut text, record);
                }
                Ok(text)
            }
        })
        .buffered(CHUNKS_AHEAD);
    Ok(futures::stream::iter([Ok(CSV_HEADER.to_string())]).chain(rows))
}

fn csv_row(text: &mut String, record: &AccountRecord) {
    use std::fmt::Write as _;
    let median = record
        .median_reply_ms
        .map(|ms| format!("{}", ms as f64 / 1000.0))
        .unwrap_or_default();
    let last_event = record
        .last_event_at_ms
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|at| at.to_string())
        .unwrap_or_default();
    let _ = write!(
        text,
        "{},{},{},{},{median},{last_event},{},{}\r\n",
        csv_field(&record.account_id),
        record.received_today,
        record.sent_today,
        record.waiting,
        record.silent,
        csv_field(record.name.as_deref().unwrap_or_default()),
    );
}

/// `text` as one CSV field (RFC 4180): quoted, with its quotes doubled,
/// when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_never_a_formula() {
        assert_eq!(
            display_name("  Shop Lisbon "),
            Ok(Some("Shop Lisbon".into()))
        );
        assert_eq!(display_name("   "), Ok(None));
        assert!(display_name(&"x".repeat(101)).is_err());
        assert_eq!(display_name(&"é".repeat(100)), Ok(Some("é".repeat(100))));
        assert!(display_name("tab\there").is_err());
        assert!(display_name("=HYPERLINK(\"x\")")
            .unwrap_err()
            .contains("formula"));
    }

    #[test]
    fn today_says_where_it_begins() {
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        let now = Precision::at(at("2026-07-01T12:10:00Z"), 0);
        assert_eq!(today_in_words(None, &now), "today: the UTC day");
        assert_eq!(today_in_words(Some("Etc/UTC"), &now), "today: the UTC day");
        for zone in ["America/Sao_Paulo", "Asia/Kolkata", "Asia/Kathmandu"] {
            assert_eq!(
                today_in_words(Some(zone), &now),
                format!("today: since midnight in {zone}")
            );
        }
        // Just after an upgrade began the quarter-hours, from the nearest whole hour.
        let upgraded = Precision::at(at("2026-07-01T12:10:00Z"), at("2026-07-01T11:00:00Z"));
        assert!(today_in_words(Some("Asia/Kolkata"), &upgraded)
            .starts_with("today: from 00:30 in Asia/Kolkata, the whole hour nearest"));
        assert!(
            today_in_words(Some("Asia/Kathmandu"), &upgraded).starts_with("today: from 23:45 in")
        );
        assert_eq!(
            today_in_words(Some("America/Sao_Paulo"), &upgraded),
            "today: since midnight in America/Sao_Paulo"
        );
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("17841400000001"), "17841400000001");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
