//! The accounts page: one row per business account.

use serde::{Deserialize, Serialize};

/// Rows shown per page.
pub const ACCOUNTS_PER_PAGE: usize = 100;

/// One business account at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    /// The Instagram account id.
    pub account_id: String,
    /// DMs received today (in the page's zone: see `today`).
    pub received_today: i64,
    /// DMs sent today.
    pub sent_today: i64,
    /// Its conversations waiting for a reply (latest DM received, in the last 24 h).
    pub waiting: i64,
    /// Median reply time over the last hour, in ms (`None` without replies).
    pub median_reply_ms: Option<i64>,
    /// Its newest counted event (event time, Unix ms).
    pub last_event_at_ms: Option<i64>,
    /// Busy in the previous 24 h and quiet for a while: the usual sign of an
    /// expired access token or a removed app.
    pub silent: bool,
    /// The display name an admin gave it (shown beside the id).
    pub name: Option<String>,
}

/// One account's page: its row, its events per hour over the previous
/// 24 hours, and why it is flagged silent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPage {
    /// When it was computed (Unix ms).
    pub generated_at_ms: i64,
    /// The store version it was computed at.
    pub version: i64,
    pub row: AccountRow,
    /// The time zone its today is counted in (`None`: the UTC day).
    pub zone: Option<String>,
    /// What "today" means here, in words.
    pub today: String,
    /// The zone's offset from UTC now, in seconds (0 for the UTC day): the
    /// chart's times are shown at it (the browser has no zone database).
    pub zone_offset_s: i64,
    /// Counted events per UTC hour (start, events) over the previous 24
    /// hours, oldest first; hours without events left out.
    pub hours: Vec<(i64, i64)>,
    /// Why it is flagged silent, in words; `None` when it is not.
    pub silence: Option<String>,
    /// Its conversations waiting for a reply now, oldest first (at most
    /// 50; `row.waiting` counts them all).
    pub waiting: Vec<WaitingConversation>,
    /// Its latest events by event time, newest first (at most 20).
    pub latest: Vec<AccountEvent>,
}

/// One of an account's latest events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// Event time (Unix ms).
    pub at_ms: i64,
    /// Its kind as stored (`dm_received`, `reaction`, ...; an unknown kind
    /// keeps the name Meta gave it).
    pub kind: String,
    /// The customer it concerns, if any.
    pub customer: Option<String>,
}

impl AccountEvent {
    /// Its kind in words.
    pub fn what(&self) -> String {
        match self.kind.as_str() {
            "dm_received" => "DM received",
            "dm_sent" => "DM sent",
            "message_self" => "Message to itself",
            "message_deleted" => "Message deleted",
            "reaction" => "Reaction",
            "unreaction" => "Reaction removed",
            "postback" => "Button tap",
            "read" => "Read",
            "referral" => "Referral",
            "comment" => "Comment",
            "own_comment" => "Its own comment",
            "mention" => "Mention",
            "invalid" => "Unreadable (flagged)",
            other => return format!("Unknown kind ({other})"),
        }
        .to_string()
    }
}

/// A conversation waiting for the account's reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingConversation {
    /// The customer's id.
    pub customer: String,
    /// When their wait began: their first DM since the account last
    /// answered (Unix ms).
    pub since_ms: i64,
}

/// One page of the accounts table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsPage {
    /// When it was computed (Unix ms).
    pub generated_at_ms: i64,
    /// The store version it was computed at.
    pub version: i64,
    /// Accounts matching the filter.
    pub total: i64,
    /// Index of the first row among them.
    pub offset: i64,
    /// Silent accounts among all accounts (whatever the filter).
    pub silent: i64,
    /// The time zone its today is counted in (`None`: the UTC day).
    pub zone: Option<String>,
    /// What "today" means here, in words.
    pub today: String,
    /// At most [`ACCOUNTS_PER_PAGE`] rows, in the asked order.
    pub rows: Vec<AccountRow>,
}

/// A column the table can be sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AccountSort {
    /// The account id.
    Account,
    /// DMs received today.
    Received,
    /// DMs sent today.
    Sent,
    /// Conversations waiting.
    #[default]
    Waiting,
    /// Median reply time.
    Reply,
    /// Newest event.
    LastEvent,
}

impl AccountSort {
    /// Every column, in table order.
    pub const ALL: [AccountSort; 6] = [
        AccountSort::Account,
        AccountSort::Received,
        AccountSort::Sent,
        AccountSort::Waiting,
        AccountSort::Reply,
        AccountSort::LastEvent,
    ];

    /// The name in the query string (`?sort=`).
    pub fn key(self) -> &'static str {
        match self {
            AccountSort::Account => "account",
            AccountSort::Received => "received",
            AccountSort::Sent => "sent",
            AccountSort::Waiting => "waiting",
            AccountSort::Reply => "reply",
            AccountSort::LastEvent => "last_event",
        }
    }

    /// The column a query-string name means.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.key() == key)
    }

    /// The order a column is first sorted in: figures largest first, names A–Z.
    pub fn natural_descending(self) -> bool {
        !matches!(self, AccountSort::Account)
    }
}

/// What the accounts table shows: filter, order and page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountsQuery {
    /// Only accounts whose id contains this text.
    pub filter: String,
    /// The column sorted by.
    pub sort: AccountSort,
    /// Largest (or Z) first.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// The time zone today is counted in (an IANA name the server checks);
    /// `None`: the admin's, or the UTC day.
    pub zone: Option<String>,
}

impl Default for AccountsQuery {
    /// The page as first opened: every account, the default column in its
    /// natural order (most waiting first).
    fn default() -> Self {
        AccountsQuery {
            filter: String::new(),
            sort: AccountSort::default(),
            descending: AccountSort::default().natural_descending(),
            offset: 0,
            zone: None,
        }
    }
}

impl AccountsQuery {
    /// From query-string values (`q`, `sort`, `dir`, `offset`, `zone`);
    /// `Err` names the first one that is not understood (a zone's name is
    /// checked by the server).
    pub fn parse(
        filter: Option<&str>,
        sort: Option<&str>,
        dir: Option<&str>,
        offset: Option<&str>,
        zone: Option<&str>,
    ) -> Result<Self, String> {
        let sort = match sort.filter(|value| !value.is_empty()) {
            None => AccountSort::default(),
            Some(key) => AccountSort::from_key(key).ok_or_else(|| {
                format!(
                    "unknown sort {key:?}; use one of: {}",
                    AccountSort::ALL.map(AccountSort::key).join(", ")
                )
            })?,
        };
        let descending = match dir.filter(|value| !value.is_empty()) {
            None => sort.natural_descending(),
            Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("unknown dir {other:?}; use asc or desc")),
        };
        let offset = match offset.filter(|value| !value.is_empty()) {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|offset| *offset >= 0)
                .ok_or_else(|| format!("offset {text:?} is not a whole number ≥ 0"))?,
        };
        let filter = filter.unwrap_or_default().trim().to_string();
        if filter.chars().count() > 100 {
            return Err("the filter is longer than 100 characters".to_string());
        }
        let zone = zone
            .map(str::trim)
            .filter(|zone| !zone.is_empty())
            .map(str::to_string);
        Ok(AccountsQuery {
            filter,
            sort,
            descending,
            offset,
            zone,
        })
    }

    /// The query string that asks for this view (for links and the JSON endpoint).
    pub fn to_query_string(&self) -> String {
        let mut text = format!(
            "sort={}&dir={}&offset={}",
            self.sort.key(),
            if self.descending { "desc" } else { "asc" },
            self.offset
        );
        if !self.filter.is_empty() {
            text.push_str("&q=");
            text.push_str(&super::query_value(&self.filter));
        }
        if let Some(zone) = &self.zone {
            text.push_str("&zone=");
            text.push_str(&super::query_value(zone));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_with_defaults_and_refuse_what_they_do_not_know() {
        let query = AccountsQuery::parse(None, None, None, None, None).unwrap();
        assert_eq!(query.sort, AccountSort::Waiting);
        assert!(query.descending);
        assert_eq!(query.offset, 0);
        assert_eq!(query, AccountsQuery::default(), "the page as first opened");
        let query =
            AccountsQuery::parse(Some(" 1784 "), Some("account"), None, Some("100"), Some(""))
                .unwrap();
        assert_eq!(query.filter, "1784");
        assert!(!query.descending, "names sort A to Z first");
        assert_eq!(query.offset, 100);
        assert_eq!(query.zone, None, "an empty zone is none");
        let query = AccountsQuery::parse(None, None, None, None, Some("Asia/Kolkata")).unwrap();
        assert_eq!(query.zone.as_deref(), Some("Asia/Kolkata"));
        assert!(AccountsQuery::parse(None, Some("colour"), None, None, None)
            .unwrap_err()
            .contains("unknown sort"));
        assert!(AccountsQuery::parse(None, None, Some("up"), None, None).is_err());
        assert!(AccountsQuery::parse(None, None, None, Some("-1"), None).is_err());
        assert!(AccountsQuery::parse(Some(&"x".repeat(101)), None, None, None, None).is_err());
    }

    #[test]
    fn a_query_string_round_trips() {
        let query = AccountsQuery {
            filter: "biz a&b".to_string(),
            sort: AccountSort::Reply,
            descending: false,
            offset: 200,
            zone: Some("America/Sao_Paulo".to_string()),
        };
        assert_eq!(
            query.to_query_string(),
            "sort=reply&dir=asc&offset=200&q=biz%20a%26b&zone=America%2FSao_Paulo"
        );
    }
}
