//! Looking back: a date range's figures, the previous period's and its
//! chart ([`report`]), and the same series as CSV streamed step by step
//! ([`csv_chunks`]), all read from the store's history rollups
//! (`store::history`), never from the raw events.

pub mod range;

use std::collections::BTreeMap;

use app::model::{HistoryFailure, HistoryPoint, HistoryQuery, HistoryReport, RangeFigures};
use futures::StreamExt as _;

use crate::{
    error_chain,
    event::Metric,
    metrics::metrics,
    store::{history::StepCount, replies, Store, StoreError},
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
        }
    }
}

/// One tally per span of `spans`, read in one query.
async fn tallies(store: &Store, spans: &[(i64, i64)]) -> Result<Vec<Tally>, StoreError> {
    let mut tallies = vec![Tally::default(); spans.len()];
    for StepCount {
        step,
        figure,
        count,
    } in store.history(spans).await?
    {
        tallies[step].add(&figure, count);
    }
    Ok(tallies)
}

/// `span`'s report: its figures, the previous period's, and one chart
/// point per step (one database read).
pub async fn report(store: &Store, span: &Span) -> Result<HistoryReport, StoreError> {
    let timer = metrics().history_report_seconds.start_timer();
    let mut spans = span.steps.clone();
    spans.push(span.previous_ms());
    let mut tallies = tallies(store, &spans).await?;
    let previous = tallies.pop().unwrap_or_default();
    let mut whole = Tally::default();
    for tally in &tallies {
        whole.merge(tally);
    }
    let points = span
        .steps
        .iter()
        .zip(&tallies)
        .map(|((start_ms, _), tally)| HistoryPoint {
            start_ms: *start_ms,
            start: span.written(*start_ms),
            label: span.step_label(*start_ms),
            figures: tally.figures(),
        })
        .collect();
    let (previous_from, previous_to) = span.previous_ms();
    timer.observe_duration();
    Ok(HistoryReport {
        range: span.key.clone(),
        query: span.query().to_query_string(),
        label: span.label.clone(),
        zone: span.zone_name.clone(),
        zone_chosen: span.zone_chosen,
        zone_offset: span.zone_offset(),
        from: span.written(span.start.timestamp().as_millisecond()),
        to: span.written(span.end.timestamp().as_millisecond()),
        step: span.step.as_str().to_string(),
        figures: whole.figures(),
        previous: previous.figures(),
        previous_from: span.written(previous_from),
        previous_to: span.written(previous_to),
        still_changing: span.still_changing,
        points,
    })
}

/// The report `query` asks for as of `now_ms`, or why there is none: the
/// parameter not understood (its message names it), or the database not
/// read (the cause logged here, once).
pub async fn answer(
    store: &Store,
    query: &HistoryQuery,
    now_ms: i64,
) -> Result<HistoryReport, HistoryFailure> {
    let now = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let span = Span::resolve(query, now).map_err(|error| HistoryFailure {
        bad_request: true,
        message: error.to_string(),
    })?;
    report(store, &span)
        .await
        .map_err(|error| unreadable(&error))
}

/// The report `query` asks for, for the admin `email`: a zone the query
/// names becomes theirs (remembered once the report is made); a query that
/// names none gets the zone they chose before, if any.
pub async fn for_admin(
    store: &Store,
    mut query: HistoryQuery,
    email: Option<String>,
    now_ms: i64,
) -> Result<HistoryReport, HistoryFailure> {
    let Some(email) = email else {
        return answer(store, &query, now_ms).await;
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
    let report = answer(store, &query, now_ms).await?;
    if let Some(zone) = named.filter(|zone| Some(zone) != remembered.as_ref()) {
        if let Err(error) = store.accounts().set_time_zone(&email, &zone).await {
            // The report stands; the zone is asked for again next time.
            tracing::warn!(error = %error_chain(&error), "an admin's time zone was not remembered");
        }
    }
    Ok(report)
}

/// What a caller is told when the history could not be read; the cause is
/// logged.
pub fn unreadable(error: &StoreError) -> HistoryFailure {
    tracing::error!(error = %error_chain(error), "the history could not be read");
    HistoryFailure {
        bad_request: false,
        message: "the history could not be read; see the server log".to_string(),
    }
}

/// The CSV's header row: one column per figure after the step's start and
/// end (RFC 4180, CRLF line ends).
pub const CSV_HEADER: &str = "start,end,dms_received,dms_sent,story_replies,reactions,comments,\
mentions,postbacks,reads,deleted,replies,reply_median_s,reply_p90_s,refused\r\n";

/// `span`'s series as CSV rows, [`STEPS_PER_READ`] steps per chunk, each
/// chunk read from the store when asked for: the caller streams them and
/// never holds the whole series.
pub fn csv_chunks(
    store: Store,
    span: Span,
) -> impl futures::Stream<Item = Result<String, StoreError>> {
    let chunks: Vec<Vec<(i64, i64)>> = span
        .steps
        .chunks(STEPS_PER_READ)
        .map(<[(i64, i64)]>::to_vec)
        .collect();
    futures::stream::iter(chunks).then(move |steps| {
        let (store, span) = (store.clone(), span.clone());
        async move {
            let tallies = tallies(&store, &steps).await?;
            let mut text = String::new();
            for ((start_ms, end_ms), tally) in steps.iter().zip(&tallies) {
                csv_row(&mut text, &span, *start_ms, *end_ms, &tally.figures());
            }
            Ok(text)
        }
    })
}

fn csv_row(text: &mut String, span: &Span, start_ms: i64, end_ms: i64, figures: &RangeFigures) {
    use std::fmt::Write as _;
    let seconds = |ms: Option<i64>| {
        ms.map(|ms| format!("{}", ms as f64 / 1000.0))
            .unwrap_or_default()
    };
    // Every field is a number or a timestamp: none needs quoting.
    let _ = write!(
        text,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
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
        figures.refused,
    );
}
