//! Looking back: a date range's figures, the previous period's and its
//! chart ([`report`]), and the same series as CSV streamed step by step
//! ([`csv_chunks`]), for the whole service or one business account, all
//! read from the store's history rollups (`store::history`,
//! `store::account_history`), never from the raw events.

pub mod range;

use std::collections::BTreeMap;

use app::model::{
    HistoryFailure, HistoryPoint, HistoryQuery, HistoryReport, PreviousPoint, RangeFigures,
};
use futures::StreamExt as _;

use crate::{
    error_chain,
    event::Metric,
    metrics::metrics,
    store::{
        account_history::{Precision, ACCOUNT_FIGURES},
        history::{Figure, StepCount, Whose, EVERY_FIGURE},
        replies, ActiveByStep, Store, StoreError,
    },
};
pub use range::{RangeError, Span};

/// Steps read per database query when the series is streamed as CSV: a
/// year by hour (8,760 steps) is then 18 reads, never all in memory.
const STEPS_PER_READ: usize = 500;

/// The counts of one span of time by figure (see `store::history`).
#[derive(Debug, Default, Clone)]
struct Tally(BTreeMap<String, i64>);

impl Tally {
    fn add(&mut self, figure: &str, count: i64) {
        *self.0.entry(figure.to_string()).or_default() += count;
    }

    fn merge(&mut self, other: &Tally) {
        for (figure, count) in &other.0 {
            self.add(figure, *count);
        }
    }

    fn metric(&self, metric: Metric) -> i64 {
        self.0.get(metric.as_str()).copied().unwrap_or_default()
    }

    fn figures(&self) -> RangeFigures {
        let histogram: Vec<(i64, i64)> = self
            .0
            .iter()
            .filter_map(|(figure, count)| {
                let bucket = figure.strip_prefix("reply:")?.parse().ok()?;
                Some((bucket, *count))
            })
            .collect();
        let refused = self
            .0
            .iter()
            .filter(|(figure, _)| figure.starts_with("refused:"))
            .map(|(_, count)| count)
            .sum();
        RangeFigures {
            dms_received: self.metric(Metric::DmReceived),
            dms_sent: self.metric(Metric::DmSent),
            story_replies: self.metric(Metric::StoryReply),
            reactions: self.metric(Metric::Reaction),
            comments: self.metric(Metric::Comment),
            mentions: self.metric(Metric::Mention),
            postbacks: self.metric(Metric::Postback),
            reads: self.metric(Metric::Read),
            deleted: self.metric(Metric::Deleted),
            replies: histogram.iter().map(|(_, count)| count).sum(),
            reply_median_ms: replies::quantile(&histogram, 0.5),
            reply_p90_ms: replies::quantile(&histogram, 0.9),
            refused,
            active_conversations: None,
        }
    }
}

/// The figures the chart overlays for the previous period.
const OVERLAID: [Figure; 2] = [
    Figure::Metric(Metric::DmReceived),
    Figure::Metric(Metric::DmSent),
];

/// Whose history a report reads, and as of when.
#[derive(Clone, Copy, Debug)]
pub struct Reading<'a> {
    /// The service's history, or one account's.
    pub whose: Whose<'a>,
    /// Now, in Unix milliseconds: where an account's hours end and days
    /// begin ([`Precision`]).
    pub now_ms: i64,
}

impl Reading<'_> {
    /// The figures its history holds: every one for the service, all but
    /// the refusals for an account.
    fn figures(&self) -> &'static [Figure] {
        match self.whose {
            Whose::Service => EVERY_FIGURE.as_slice(),
            Whose::Account(_) => ACCOUNT_FIGURES.as_slice(),
        }
    }

    /// `spans` as its history can read them: as they are for the service;
    /// for an account, each boundary placed as its rows allow (see
    /// [`Precision::place`]).
    fn readable(&self, store: &Store, spans: &[(i64, i64)]) -> Vec<(i64, i64)> {
        match self.whose {
            Whose::Service => spans.to_vec(),
            Whose::Account(_) => {
                let precision = store.account_precision(self.now_ms);
                spans
                    .iter()
                    .map(|(from, to)| (precision.place(*from), precision.place(*to)))
                    .collect()
            }
        }
    }
}

/// One tally of `figures` per span of `spans` of `reading`'s history, read
/// in one query.
async fn tallies_of(
    store: &Store,
    reading: Reading<'_>,
    spans: &[(i64, i64)],
    figures: &[Figure],
) -> Result<Vec<Tally>, StoreError> {
    let mut tallies = vec![Tally::default(); spans.len()];
    let spans = reading.readable(store, spans);
    for StepCount {
        step,
        figure,
        count,
    } in store.history(reading.whose, &spans, figures).await?
    {
        tallies[step].add(&figure, count);
    }
    Ok(tallies)
}

/// The active conversations of `reading`'s history in each step of each of
/// `runs` and in each run as a whole (one read).
async fn active_conversations(
    store: &Store,
    reading: Reading<'_>,
    runs: &[&[(i64, i64)]],
) -> Result<Vec<ActiveByStep>, StoreError> {
    match reading.whose {
        Whose::Service => store.active_conversations_by_step(runs).await,
        Whose::Account(id) => {
            let placed: Vec<Vec<(i64, i64)>> = runs
                .iter()
                .map(|run| reading.readable(store, run))
                .collect();
            let placed: Vec<&[(i64, i64)]> = placed.iter().map(Vec::as_slice).collect();
            store
                .account_active_conversations_by_step(id, &placed)
                .await
        }
    }
}

/// `span`'s report from `reading`'s history: its figures, the previous
/// period's, and one chart point per step (one database read), and with the
/// overlay the previous period's DMs step by step (one narrower read more).
pub async fn report(
    store: &Store,
    reading: Reading<'_>,
    span: &Span,
) -> Result<HistoryReport, StoreError> {
    let timer = metrics().history_report_seconds.start_timer();
    let mut spans = span.steps.clone();
    spans.push(span.previous_ms());
    let mut tallies = tallies_of(store, reading, &spans, reading.figures()).await?;
    let previous = tallies.pop().unwrap_or_default();
    // The active conversations, step by step, for the range (its steps
    // merged) and the previous period, in one read.
    let active =
        active_conversations(store, reading, &[&span.steps, &[span.previous_ms()]]).await?;
    let counted = |count: u64| Some(count as i64);
    let mut whole = Tally::default();
    for tally in &tallies {
        whole.merge(tally);
    }
    let points = span
        .steps
        .iter()
        .zip(&tallies)
        .enumerate()
        .map(|(step, ((start_ms, _), tally))| HistoryPoint {
            start_ms: *start_ms,
            start: span.written(*start_ms),
            label: span.step_label(*start_ms),
            figures: RangeFigures {
                active_conversations: active
                    .first()
                    .and_then(|range| range.steps.get(step).copied())
                    .and_then(counted),
                ..tally.figures()
            },
        })
        .collect();
    let previous_points = if span.overlays() {
        let before = tallies_of(store, reading, &span.previous_steps, &OVERLAID).await?;
        span.previous_steps
            .iter()
            .zip(&before)
            .map(|((start_ms, _), tally)| PreviousPoint {
                start: span.written(*start_ms),
                label: span.step_label(*start_ms),
                dms_received: tally.metric(Metric::DmReceived),
                dms_sent: tally.metric(Metric::DmSent),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (previous_from, previous_to) = span.previous_ms();
    let figures = RangeFigures {
        active_conversations: active.first().and_then(|range| counted(range.whole)),
        ..whole.figures()
    };
    let previous = RangeFigures {
        active_conversations: active.get(1).and_then(|before| counted(before.whole)),
        ..previous.figures()
    };
    let note = match reading.whose {
        Whose::Service => None,
        Whose::Account(_) => {
            let since = store.account_history_since().await?;
            let filling = store.account_sketches_filling().await?;
            account_note(
                span,
                store.account_precision(reading.now_ms),
                since,
                filling,
            )
        }
    };
    timer.observe_duration();
    let page = match reading.whose {
        Whose::Service => "/admin".to_string(),
        Whose::Account(id) => format!("/admin/accounts/{}", app::model::query_value(id)),
    };
    Ok(HistoryReport {
        page,
        range: span.key.clone(),
        query: span.query().to_query_string(),
        label: span.label.clone(),
        zone: span.zone_name.clone(),
        zone_chosen: span.zone_chosen,
        zone_offset: span.zone_offset(),
        from: span.written(span.start.timestamp().as_millisecond()),
        to: span.written(span.end.timestamp().as_millisecond()),
        step: span.step.as_str().to_string(),
        figures,
        previous,
        previous_from: span.written(previous_from),
        previous_to: span.written(previous_to),
        still_changing: span.still_changing,
        points,
        overlay: span.overlays(),
        previous_points,
        note,
    })
}

/// What an account's report cannot show as asked, in words: boundaries read
/// by the UTC day (before the hours kept) or from the hour they fall in (a
/// zone whose offset is not whole hours, before the quarter-hours kept), and
/// a range reaching back before
/// the account's history began (`since`, when the database had events
/// before it), and active conversations still being counted from stored
/// events (`sketches_filling`); `None` when every figure is read exactly.
fn account_note(
    span: &Span,
    precision: Precision,
    since: Option<crate::store::account_history::HistoryStart>,
    sketches_filling: bool,
) -> Option<String> {
    let (previous_from, previous_to) = span.previous_ms();
    let mut boundaries = vec![previous_from, previous_to];
    for (from, to) in span.steps.iter().chain(&span.previous_steps) {
        boundaries.extend([*from, *to]);
    }
    let mut notes = Vec::new();
    let first = boundaries.iter().copied().min().unwrap_or(previous_from);
    if let Some(since) = since.filter(|since| first < since.at_ms) {
        let day = span.written(since.at_ms);
        let day = day.get(..10).unwrap_or_default();
        notes.push(if since.rebuilding {
            format!(
                "This account's history before {day} is still being counted from the stored \
                 events: figures before then may still grow."
            )
        } else {
            format!(
                "This account's reply times begin {day}, when this version of Pulse started \
                 keeping its history; its other figures before then were counted from the \
                 stored events."
            )
        });
    }
    if sketches_filling {
        notes.push(
            "This account's active conversations are still being counted from the events \
             stored before this version of Pulse: they may still grow."
                .to_string(),
        );
    }
    let moved = |at: &i64| precision.place(*at) != *at;
    if boundaries
        .iter()
        .any(|at| *at < precision.hours_from_ms && moved(at))
    {
        notes.push(format!(
            "Before {}, one account's figures are kept by UTC day: this range's steps there \
             begin and end at the nearest UTC midnight.",
            span.written(precision.hours_from_ms)
                .get(..10)
                .unwrap_or_default()
        ));
    } else if boundaries.iter().any(moved) {
        let quarters_from = span.written(precision.quarters_from_ms);
        notes.push(format!(
            "Before {} {}, one account's figures are kept by the hour: this range's steps \
             there begin and end at the nearest whole hour.",
            quarters_from.get(..10).unwrap_or_default(),
            quarters_from.get(11..16).unwrap_or_default(),
        ));
    }
    (!notes.is_empty()).then(|| notes.join(" "))
}

/// The report of `whose` history `query` asks for as of `now_ms`, or why
/// there is none: the parameter not understood (its message names it), or
/// the database not read (the cause logged here, once).
pub async fn answer(
    store: &Store,
    whose: Whose<'_>,
    query: &HistoryQuery,
    now_ms: i64,
) -> Result<HistoryReport, HistoryFailure> {
    let now = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let span = Span::resolve(query, now)
        .map_err(|error| HistoryFailure::bad_request(error.to_string()))?;
    report(store, Reading { whose, now_ms }, &span)
        .await
        .map_err(|error| unreadable(&error))
}

/// The report `query` asks for, for the admin `email`: a zone the query
/// names becomes theirs (remembered once the report is made); a query that
/// names none gets the zone they chose before, if any.
pub async fn for_admin(
    store: &Store,
    whose: Whose<'_>,
    mut query: HistoryQuery,
    email: Option<String>,
    now_ms: i64,
) -> Result<HistoryReport, HistoryFailure> {
    let Some(email) = email else {
        return answer(store, whose, &query, now_ms).await;
    };
    let remembered = store
        .accounts()
        .time_zone(&email)
        .await
        .map_err(|error| unreadable(&error))?;
    let named = query.zone.clone();
    if named.is_none() {
        query.zone = remembered.clone();
    }
    let report = answer(store, whose, &query, now_ms).await?;
    if let Some(zone) = &named {
        remember(store, &email, zone, remembered.as_deref()).await;
    }
    Ok(report)
}

/// Remembers `zone` as the admin `email`'s unless it is `remembered`
/// already. A failure is logged, and the page that named it stands: the
/// zone is asked for again next time.
async fn remember(store: &Store, email: &str, zone: &str, remembered: Option<&str>) {
    if remembered == Some(zone) {
        return;
    }
    if let Err(error) = store.accounts().set_time_zone(email, zone).await {
        tracing::warn!(error = %error_chain(&error), "an admin's time zone was not remembered");
    }
}

/// The time zone the live view counts today in for the admin `email`: the
/// one `named` (a 400 when it is not an IANA name; remembered as theirs,
/// like a range's), else the one they chose before, if any.
pub async fn live_zone(
    store: &Store,
    named: Option<String>,
    email: Option<String>,
) -> Result<Option<String>, HistoryFailure> {
    let named = named
        .map(|zone| range::zone_name(&zone))
        .transpose()
        .map_err(|error| HistoryFailure::bad_request(error.to_string()))?;
    let Some(email) = email else {
        return Ok(named);
    };
    let remembered = store
        .accounts()
        .time_zone(&email)
        .await
        .map_err(|error| unreadable(&error))?;
    match named {
        Some(zone) => {
            remember(store, &email, &zone, remembered.as_deref()).await;
            Ok(Some(zone))
        }
        None => Ok(remembered),
    }
}

/// What a caller is told when the history could not be read; the cause is
/// logged.
pub fn unreadable(error: &StoreError) -> HistoryFailure {
    tracing::error!(error = %error_chain(error), "the history could not be read");
    HistoryFailure::unavailable("the history could not be read; see the server log")
}

/// The CSV's header row: one column per figure after the step's start and
/// end (RFC 4180, CRLF line ends); an account's has no `refused` (refusals
/// belong to no account).
pub fn csv_header(account: bool) -> &'static str {
    if account {
        "start,end,dms_received,dms_sent,story_replies,reactions,comments,\
mentions,postbacks,reads,deleted,replies,reply_median_s,reply_p90_s,\
active_conversations\r\n"
    } else {
        "start,end,dms_received,dms_sent,story_replies,reactions,comments,\
mentions,postbacks,reads,deleted,replies,reply_median_s,reply_p90_s,refused,\
active_conversations\r\n"
    }
}

/// `span`'s series of the service's history, or of `account`'s, as of
/// `now_ms`, as CSV rows, [`STEPS_PER_READ`] steps per chunk, each chunk
/// read from the store when asked for: the caller streams them and never
/// holds the whole series.
pub fn csv_chunks(
    store: Store,
    account: Option<String>,
    span: Span,
    now_ms: i64,
) -> impl futures::Stream<Item = Result<String, StoreError>> {
    let chunks: Vec<Vec<(i64, i64)>> = span
        .steps
        .chunks(STEPS_PER_READ)
        .map(<[(i64, i64)]>::to_vec)
        .collect();
    futures::stream::iter(chunks).then(move |steps| {
        let (store, span, account) = (store.clone(), span.clone(), account.clone());
        async move {
            let whose = match &account {
                Some(id) => Whose::Account(id),
                None => Whose::Service,
            };
            let reading = Reading { whose, now_ms };
            let tallies = tallies_of(&store, reading, &steps, reading.figures()).await?;
            let active = active_conversations(&store, reading, &[&steps]).await?;
            let active = active
                .first()
                .map(|run| run.steps.as_slice())
                .unwrap_or_default();
            let mut text = String::new();
            for (step, ((start_ms, end_ms), tally)) in steps.iter().zip(&tallies).enumerate() {
                let figures = tally.figures();
                csv_row(&mut text, &span, *start_ms, *end_ms, &figures);
                if whose == Whose::Service {
                    text.push_str(&format!(",{}", figures.refused));
                }
                let count = active.get(step).copied().unwrap_or_default();
                text.push_str(&format!(",{count}"));
                text.push_str("\r\n");
            }
            Ok(text)
        }
    })
}

/// A row's cells up to the reply times (the caller ends it).
fn csv_row(text: &mut String, span: &Span, start_ms: i64, end_ms: i64, figures: &RangeFigures) {
    use std::fmt::Write as _;
    let seconds = |ms: Option<i64>| {
        ms.map(|ms| format!("{}", ms as f64 / 1000.0))
            .unwrap_or_default()
    };
    // Every field is a number or a timestamp: none needs quoting.
    let _ = write!(
        text,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        span.written(start_ms),
        span.written(end_ms),
        figures.dms_received,
        figures.dms_sent,
        figures.story_replies,
        figures.reactions,
        figures.comments,
        figures.mentions,
        figures.postbacks,
        figures.reads,
        figures.deleted,
        figures.replies,
        seconds(figures.reply_median_ms),
        seconds(figures.reply_p90_ms),
    );
}
