//! The accounts page's server side: the table's query (the app's wire type)
//! turned into the store's request, and the store's rows into the page the
//! browser gets. The route parses the query; the store reads the rows; this
//! is everything in between.

use app::model::{AccountRow, AccountSort, AccountsPage, AccountsQuery, ACCOUNTS_PER_PAGE};

use crate::store::{
    account_figures::Figure, AccountOrder, AccountRecords, PageRequest, Store, StoreError,
    Thresholds,
};

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
    }
}

/// The page for `query` from the store's `records` read at `now_ms`, with
/// `silent` accounts among all (counted apart: it reads every account that
/// could be silent).
fn page(records: AccountRecords, query: &AccountsQuery, now_ms: i64, silent: i64) -> AccountsPage {
    AccountsPage {
        generated_at_ms: now_ms,
        version: records.version,
        total: records.total,
        offset: query.offset,
        silent,
        rows: records
            .rows
            .into_iter()
            .map(|record| AccountRow {
                account_id: record.account_id,
                received_today: record.received_today,
                sent_today: record.sent_today,
                waiting: record.waiting,
                median_reply_ms: record.median_reply_ms,
                last_event_at_ms: record.last_event_at_ms,
                silent: record.silent,
            })
            .collect(),
    }
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
    Ok(page(records, query, now_ms, silent))
}
