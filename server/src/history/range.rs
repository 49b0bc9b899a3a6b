//! A date range as the admin asks for it (`range=7d`, or `from`/`to` dates,
//! in a time zone) turned into instants: where it begins and ends, its
//! chart's steps, and the previous period it is compared with.
//!
//! Days are the zone's days (23 or 25 hours across a daylight-saving
//! change), from the IANA database through `jiff`: no offset is ever
//! written by hand. Every boundary falls on a UTC quarter-hour, because
//! every zone's offset is a whole number of quarter-hours; the history is
//! kept in quarter-hours, so every range is exact.

use app::model::{HistoryQuery, RANGES};
use jiff::{civil::Date, tz::TimeZone, Timestamp, ToSpan, ZonedDateTime};

use crate::store::history::QUARTER_MS;

/// The longest range that can be asked for, in days: 13 months and a bit,
/// enough to compare a month with the same month a year before.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Meta redelivers for up to 36 hours: a range that reaches into them may
/// still change.
const REDELIVERY_HOURS: i64 = 36;

/// Why a range could not be read: each names the parameter and says what
/// would be understood (the text of a 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    /// `range` is not one this page knows.
    #[error(
        "unknown range {0:?}; use one of 24h, today, yesterday, 7d, 30d, 90d, 12m, or from and to"
    )]
    UnknownRange(String),
    /// `zone` is not an IANA time zone.
    #[error("unknown time zone {0:?}; use an IANA name such as Europe/London or Asia/Kolkata")]
    UnknownZone(String),
    /// `from` or `to` is not a date (or not a real one).
    #[error("{param} {value:?} is not a date; write it as YYYY-MM-DD")]
    BadDate {
        /// `from` or `to`.
        param: &'static str,
        /// What was given.
        value: String,
    },
    /// A custom range lacks one end.
    #[error("a custom range needs both from and to (YYYY-MM-DD)")]
    MissingEnd,
    /// `from` comes after `to`.
    #[error("from {from} is after to {to}")]
    FromAfterTo {
        /// The first day asked for.
        from: String,
        /// The last day asked for.
        to: String,
    },
    /// The range is longer than the history that can be shown at once.
    #[error("the range is {days} days long; at most {MAX_RANGE_DAYS} days can be shown")]
    TooLong {
        /// Its length in days.
        days: i64,
    },
    /// `step` is not a step.
    #[error("unknown step {0:?}; use hour, day or week")]
    UnknownStep(String),
    /// `overlay` is not something the chart can overlay.
    #[error("unknown overlay {0:?}; use previous (the previous period) or leave it out")]
    UnknownOverlay(String),
    /// The time zone database could not place a day (a date outside the
    /// years it covers).
    #[error("{0} cannot be placed in the time zone")]
    OutOfRange(String),
}

/// A chart's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One hour of real time.
    Hour,
    /// One day of the zone (23 to 25 hours).
    Day,
    /// Seven days of the zone, from the range's first day.
    Week,
}

impl Step {
    /// Its name in the address and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Hour => "hour",
            Step::Day => "day",
            Step::Week => "week",
        }
    }

    fn parse(text: &str) -> Result<Self, RangeError> {
        match text {
            "hour" => Ok(Step::Hour),
            "day" => Ok(Step::Day),
            "week" => Ok(Step::Week),
            other => Err(RangeError::UnknownStep(other.to_string())),
        }
    }

    /// The step that fits a range of `hours`: hours up to two days, days up
    /// to about three months, weeks beyond.
    fn fitting(hours: i64) -> Self {
        if hours <= 50 {
            Step::Hour
        } else if hours <= 93 * 24 {
            Step::Day
        } else {
            Step::Week
        }
    }
}

/// A range placed in time: `[start, end)` in its zone.
#[derive(Debug, Clone)]
pub struct Span {
    /// The range's key (`7d`, ..., `custom`).
    pub key: String,
    /// Its label on the page.
    pub label: String,
    /// Its zone.
    pub zone: TimeZone,
    /// The zone's IANA name.
    pub zone_name: String,
    /// Whether the query named the zone (UTC otherwise).
    pub zone_chosen: bool,
    /// Its first instant.
    pub start: ZonedDateTime,
    /// The instant after it.
    pub end: ZonedDateTime,
    /// Its chart's step.
    pub step: Step,
    /// Its chart's steps, `[start, end)` each, in Unix milliseconds.
    pub steps: Vec<(i64, i64)>,
    /// The period it is compared with, `[start, end)`.
    pub previous: (ZonedDateTime, ZonedDateTime),
    /// With the overlay, the previous period's steps to draw beside `steps`
    /// (the whole period before the range, so "today" is overlaid with all
    /// of yesterday); empty without it.
    pub previous_steps: Vec<(i64, i64)>,
    /// Whether it reaches into the hours Meta may still deliver into.
    pub still_changing: bool,
}

/// The time zone the IANA name `name` names, or why not.
pub fn time_zone(name: &str) -> Result<TimeZone, RangeError> {
    TimeZone::get(name).map_err(|_| RangeError::UnknownZone(name.to_string()))
}

/// The IANA name `name` as the zone database spells it (`asia/kolkata` is
/// `Asia/Kolkata`; an older name, `Asia/Calcutta`, is kept), or why it is
/// not one.
pub fn zone_name(name: &str) -> Result<String, RangeError> {
    let zone = time_zone(name)?;
    Ok(zone.iana_name().unwrap_or(name).to_string())
}

impl Span {
    /// Places `request` in time as of `now`.
    pub fn resolve(request: &HistoryQuery, now: Timestamp) -> Result<Span, RangeError> {
        let given = |value: &Option<String>| value.clone().filter(|text| !text.is_empty());
        let zone_name = given(&request.zone).unwrap_or_else(|| "UTC".to_string());
        let zone = time_zone(&zone_name)?;
        // As the database spells it (`asia/kolkata` is `Asia/Kolkata`); an
        // older name (`Asia/Calcutta`, which some browsers report) is kept.
        let zone_name = zone.iana_name().unwrap_or(&zone_name).to_string();
        let now_here = now.to_zoned_datetime(zone.clone());
        let today = now_here.date();
        let key = given(&request.range).unwrap_or_else(|| {
            if request.from.is_some() {
                "custom"
            } else {
                "24h"
            }
            .to_string()
        });
        let day_start = |date: Date| start_of(date, &zone);
        // The instant the figures reach: the end of the quarter-hour now is in.
        let now_edge = ceil_quarter(now);
        let (label, start, end, previous) = match key.as_str() {
            "24h" => {
                let end = now_edge.to_zoned_datetime(zone.clone());
                let start = shift(&end, -24.hours())?;
                let before = shift(&start, -24.hours())?;
                (
                    "Last 24 hours".to_string(),
                    start.clone(),
                    end,
                    (before, start),
                )
            }
            "today" => {
                let start = day_start(today)?;
                let end = day_start(next_day(today)?)?;
                let yesterday = day_start(previous_day(today)?)?;
                // The same part of yesterday as has passed of today.
                let elapsed = now_edge.duration_since(start.timestamp());
                let same_part = yesterday
                    .timestamp()
                    .checked_add(elapsed)
                    .map_err(|_| RangeError::OutOfRange(today.to_string()))?
                    .to_zoned_datetime(zone.clone());
                ("Today".to_string(), start, end, (yesterday, same_part))
            }
            "yesterday" => {
                let day = previous_day(today)?;
                let start = day_start(day)?;
                let before = day_start(previous_day(day)?)?;
                (
                    "Yesterday".to_string(),
                    start.clone(),
                    day_start(today)?,
                    (before, start),
                )
            }
            "7d" | "30d" | "90d" => {
                let days: i64 = key.trim_end_matches('d').parse().unwrap_or(7);
                let first = add_days(today, 1 - days)?;
                let label = RANGES.iter().find(|(k, _)| *k == key).map(|(_, l)| *l);
                let start = day_start(first)?;
                let before = day_start(add_days(first, -days)?)?;
                let end = day_start(next_day(today)?)?;
                (
                    label.unwrap_or_default().to_string(),
                    start.clone(),
                    end,
                    (before, start),
                )
            }
            "12m" => {
                let first = next_day(today)?
                    .checked_sub(12.months())
                    .map_err(|_| RangeError::OutOfRange(today.to_string()))?;
                let before = first
                    .checked_sub(12.months())
                    .map_err(|_| RangeError::OutOfRange(first.to_string()))?;
                let start = day_start(first)?;
                let end = day_start(next_day(today)?)?;
                (
                    "Last 12 months".to_string(),
                    start.clone(),
                    end,
                    (day_start(before)?, start),
                )
            }
            "custom" => {
                let (from, to) = match (given(&request.from), given(&request.to)) {
                    (Some(from), Some(to)) => (parse_date("from", &from)?, parse_date("to", &to)?),
                    _ => return Err(RangeError::MissingEnd),
                };
                if from > to {
                    return Err(RangeError::FromAfterTo {
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                let days = i64::from((to - from).get_days()) + 1;
                if days > MAX_RANGE_DAYS {
                    return Err(RangeError::TooLong { days });
                }
                let start = day_start(from)?;
                let before = day_start(add_days(from, -days)?)?;
                let label = if from == to {
                    from.strftime("%-d %b %Y").to_string()
                } else {
                    format!(
                        "{} – {}",
                        from.strftime("%-d %b %Y"),
                        to.strftime("%-d %b %Y")
                    )
                };
                (
                    label,
                    start.clone(),
                    day_start(next_day(to)?)?,
                    (before, start),
                )
            }
            other => return Err(RangeError::UnknownRange(other.to_string())),
        };
        let hours =
            (end.timestamp().as_millisecond() - start.timestamp().as_millisecond()) / 3_600_000;
        let step = match given(&request.step) {
            Some(text) => Step::parse(&text)?,
            None => Step::fitting(hours),
        };
        let still_changing =
            end.timestamp().as_millisecond() > now.as_millisecond() - REDELIVERY_HOURS * 3_600_000;
        let steps = steps_of(&start, &end, step, &zone)?;
        let previous_steps = match given(&request.overlay).as_deref() {
            None => Vec::new(),
            Some("previous") => steps_of(&previous.0, &start, step, &zone)?,
            Some(other) => return Err(RangeError::UnknownOverlay(other.to_string())),
        };
        Ok(Span {
            key,
            label,
            zone,
            zone_name,
            zone_chosen: given(&request.zone).is_some(),
            start,
            end,
            step,
            steps,
            previous,
            previous_steps,
            still_changing,
        })
    }

    /// The query that asks for this span again (its days for a custom
    /// range; its zone and step always).
    pub fn query(&self) -> HistoryQuery {
        let custom = self.key == "custom";
        let last_day = self.end.date().yesterday().unwrap_or(self.end.date());
        HistoryQuery {
            range: Some(self.key.clone()),
            from: custom.then(|| self.start.date().to_string()),
            to: custom.then(|| last_day.to_string()),
            zone: Some(self.zone_name.clone()),
            step: Some(self.step.as_str().to_string()),
            overlay: self.overlays().then(|| "previous".to_string()),
        }
    }

    /// Whether the chart overlays the previous period.
    pub fn overlays(&self) -> bool {
        !self.previous_steps.is_empty()
    }

    /// The previous period as `[start, end)` in Unix milliseconds.
    pub fn previous_ms(&self) -> (i64, i64) {
        (
            self.previous.0.timestamp().as_millisecond(),
            self.previous.1.timestamp().as_millisecond(),
        )
    }

    /// `at` as the zone writes it (`2026-11-30T00:00:00+05:30`).
    pub fn written(&self, at_ms: i64) -> String {
        self.local(at_ms)
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// A step's short label: the time for hours (the date too at midnight),
    /// the day for days and weeks.
    pub fn step_label(&self, at_ms: i64) -> String {
        let local = self.local(at_ms);
        let format = match self.step {
            Step::Hour if local.hour() == 0 && local.minute() == 0 => "%a %-d %b %H:%M",
            Step::Hour => "%H:%M",
            Step::Day | Step::Week => "%a %-d %b",
        };
        local.strftime(format).to_string()
    }

    /// The zone's abbreviation and offset at the range's end (`IST,
    /// UTC+05:30`).
    pub fn zone_offset(&self) -> String {
        self.end.strftime("%Z, UTC%:z").to_string()
    }

    fn local(&self, at_ms: i64) -> ZonedDateTime {
        Timestamp::from_millisecond(at_ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(self.zone.clone())
    }
}

/// The steps of `[start, end)`, `[from, to)` each in Unix milliseconds;
/// the last one ends with the range even where a whole step would not.
fn steps_of(
    start: &ZonedDateTime,
    end: &ZonedDateTime,
    step: Step,
    zone: &TimeZone,
) -> Result<Vec<(i64, i64)>, RangeError> {
    let end = end.timestamp().as_millisecond();
    let mut steps = Vec::new();
    let mut cursor = start.clone();
    while cursor.timestamp().as_millisecond() < end {
        let next = match step {
            Step::Hour => shift(&cursor, 1.hour())?,
            Step::Day => start_of(next_day(cursor.date())?, zone)?,
            Step::Week => start_of(add_days(cursor.date(), 7)?, zone)?,
        };
        let from = cursor.timestamp().as_millisecond();
        steps.push((from, next.timestamp().as_millisecond().min(end)));
        cursor = next;
    }
    Ok(steps)
}

fn parse_date(param: &'static str, text: &str) -> Result<Date, RangeError> {
    text.parse::<Date>().map_err(|_| RangeError::BadDate {
        param,
        value: text.to_string(),
    })
}

/// The first instant of `date` in `zone` (not always midnight: a zone that
/// skips midnight begins that day at 01:00).
fn start_of(date: Date, zone: &TimeZone) -> Result<ZonedDateTime, RangeError> {
    date.to_zoned_datetime(zone.clone())
        .and_then(|zoned| zoned.start_of_day())
        .map_err(|_| RangeError::OutOfRange(date.to_string()))
}

fn add_days(date: Date, days: i64) -> Result<Date, RangeError> {
    date.checked_add(days.days())
        .map_err(|_| RangeError::OutOfRange(date.to_string()))
}

fn next_day(date: Date) -> Result<Date, RangeError> {
    add_days(date, 1)
}

fn previous_day(date: Date) -> Result<Date, RangeError> {
    add_days(date, -1)
}

fn shift(at: &ZonedDateTime, by: jiff::Span) -> Result<ZonedDateTime, RangeError> {
    at.checked_add(by)
        .map_err(|_| RangeError::OutOfRange(at.to_string()))
}

/// `now` moved up to the next quarter-hour (itself if on one).
fn ceil_quarter(now: Timestamp) -> Timestamp {
    let ms = now.as_millisecond();
    let ceiled = ms + (QUARTER_MS - ms.rem_euclid(QUARTER_MS)) % QUARTER_MS;
    Timestamp::from_millisecond(ceiled).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(range: &str, zone: &str) -> HistoryQuery {
        HistoryQuery {
            range: Some(range.into()),
            zone: Some(zone.into()),
            ..HistoryQuery::default()
        }
    }

    fn custom(from: &str, to: &str, zone: &str) -> HistoryQuery {
        HistoryQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            zone: Some(zone.into()),
            ..HistoryQuery::default()
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    fn hours(span: &Span) -> i64 {
        (span.end.timestamp().as_millisecond() - span.start.timestamp().as_millisecond())
            / 3_600_000
    }

    #[test]
    fn a_daylight_saving_day_has_its_real_length() {
        // America/New_York: 2026-03-08 has 23 hours, 2026-11-01 has 25.
        let spring = Span::resolve(
            &custom("2026-03-08", "2026-03-08", "America/New_York"),
            at("2026-12-06T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(hours(&spring), 23);
        assert_eq!(spring.steps.len(), 23);
        assert_eq!(
            spring.written(spring.start.timestamp().as_millisecond()),
            "2026-03-08T00:00:00-05:00"
        );
        let autumn = Span::resolve(
            &custom("2026-10-25", "2026-10-25", "Europe/London"),
            at("2026-12-06T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(hours(&autumn), 25);
        assert_eq!(autumn.start.timestamp(), at("2026-10-24T23:00:00Z"));
    }

    #[test]
    fn half_and_three_quarter_hour_zones_are_exact() {
        let kolkata = Span::resolve(
            &request("yesterday", "Asia/Kolkata"),
            at("2026-12-06T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(kolkata.start.timestamp(), at("2026-12-04T18:30:00Z"));
        assert_eq!(kolkata.end.timestamp(), at("2026-12-05T18:30:00Z"));
        assert_eq!(kolkata.zone_offset(), "IST, UTC+05:30");
        let spelled = Span::resolve(
            &request("yesterday", "asia/KOLKATA"),
            at("2026-12-06T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(spelled.zone_name, "Asia/Kolkata");
        let kathmandu =
            Span::resolve(&request("7d", "Asia/Kathmandu"), at("2026-12-06T12:00:00Z")).unwrap();
        assert_eq!(kathmandu.start.timestamp(), at("2026-11-29T18:15:00Z"));
        assert_eq!(kathmandu.end.timestamp(), at("2026-12-06T18:15:00Z"));
        assert_eq!(kathmandu.step, Step::Day);
        let steps = kathmandu.steps;
        assert_eq!(steps.len(), 7);
        assert!(steps
            .iter()
            .all(|(from, to)| from % QUARTER_MS == 0 && to - from == 86_400_000));
    }

    #[test]
    fn today_is_compared_with_the_same_part_of_yesterday() {
        let today = Span::resolve(
            &request("today", "Europe/Paris"),
            at("2026-12-06T09:07:00Z"),
        )
        .unwrap();
        assert_eq!(today.start.timestamp(), at("2026-12-05T23:00:00Z"));
        assert_eq!(today.previous.0.timestamp(), at("2026-12-04T23:00:00Z"));
        // Up to the quarter-hour now is in (09:15 UTC), a day earlier.
        assert_eq!(today.previous.1.timestamp(), at("2026-12-05T09:15:00Z"));
        assert!(today.still_changing);
    }

    #[test]
    fn named_ranges_end_with_today_and_are_compared_with_the_period_before() {
        let now = at("2026-12-06T12:00:00Z");
        let month = Span::resolve(&request("30d", "UTC"), now).unwrap();
        assert_eq!(month.start.timestamp(), at("2026-11-07T00:00:00Z"));
        assert_eq!(month.end.timestamp(), at("2026-12-07T00:00:00Z"));
        assert_eq!(
            month.previous_ms().0,
            at("2026-10-08T00:00:00Z").as_millisecond()
        );
        let year = Span::resolve(&request("12m", "UTC"), now).unwrap();
        assert_eq!(year.start.timestamp(), at("2025-12-07T00:00:00Z"));
        assert_eq!(year.step, Step::Week);
        assert_eq!(year.steps.len(), 53);
        let day = Span::resolve(&request("24h", "UTC"), at("2026-12-06T12:01:00Z")).unwrap();
        assert_eq!(day.end.timestamp(), at("2026-12-06T12:15:00Z"));
        assert_eq!(day.steps.len(), 24);
        let old = Span::resolve(&custom("2026-01-01", "2026-01-31", "UTC"), now).unwrap();
        assert!(!old.still_changing);
        assert_eq!(
            old.previous_ms().0,
            at("2025-12-01T00:00:00Z").as_millisecond()
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let now = at("2026-12-06T12:00:00Z");
        let error = |request: HistoryQuery| Span::resolve(&request, now).unwrap_err();
        assert_eq!(
            error(request("2w", "UTC")),
            RangeError::UnknownRange("2w".into())
        );
        assert_eq!(
            error(request("7d", "Mars/Olympus")),
            RangeError::UnknownZone("Mars/Olympus".into())
        );
        assert_eq!(
            error(custom("2026-02-30", "2026-03-01", "UTC")),
            RangeError::BadDate {
                param: "from",
                value: "2026-02-30".into()
            }
        );
        assert_eq!(
            error(custom("2026-11-02", "2026-11-01", "UTC")),
            RangeError::FromAfterTo {
                from: "2026-11-02".into(),
                to: "2026-11-01".into()
            }
        );
        assert_eq!(
            error(custom("2024-01-01", "2026-01-01", "UTC")),
            RangeError::TooLong { days: 732 }
        );
        assert_eq!(
            error(HistoryQuery {
                range: Some("custom".into()),
                from: Some("2026-01-01".into()),
                ..HistoryQuery::default()
            }),
            RangeError::MissingEnd
        );
        let mut fine = request("12m", "UTC");
        fine.step = Some("minute".into());
        assert_eq!(
            error(fine.clone()),
            RangeError::UnknownStep("minute".into())
        );
        fine.step = Some("hour".into());
        let by_hour = Span::resolve(&fine, now).unwrap();
        assert_eq!(by_hour.steps.len(), 365 * 24);
        let mut overlaid = request("7d", "UTC");
        overlaid.overlay = Some("last year".into());
        assert_eq!(
            error(overlaid),
            RangeError::UnknownOverlay("last year".into())
        );
    }

    #[test]
    fn the_overlay_is_the_whole_previous_period_in_the_same_steps() {
        let now = at("2026-11-30T10:07:00Z");
        let mut today = request("today", "America/New_York");
        today.overlay = Some("previous".into());
        let span = Span::resolve(&today, now).unwrap();
        // Today (Monday 30 November) by hour, beside all of Sunday by hour.
        assert_eq!(span.steps.len(), 24);
        assert_eq!(span.previous_steps.len(), 24);
        assert_eq!(
            span.previous_steps[0].0,
            at("2026-11-29T05:00:00Z").as_millisecond()
        );
        assert_eq!(span.previous_steps[23].1, span.steps[0].0);
        assert!(span
            .query()
            .to_query_string()
            .ends_with("&overlay=previous"));

        // Across the end of daylight saving (1 November in New York): the
        // previous week's days are its own, one of them 25 hours long.
        let mut week = custom("2026-11-02", "2026-11-08", "America/New_York");
        week.overlay = Some("previous".into());
        let span = Span::resolve(&week, now).unwrap();
        assert_eq!(span.previous_steps.len(), 7);
        let long_day = span.previous_steps[6];
        assert_eq!(long_day.1 - long_day.0, 25 * 3_600_000);
        assert_eq!(long_day.0, at("2026-11-01T04:00:00Z").as_millisecond());

        let plain = Span::resolve(&request("7d", "UTC"), now).unwrap();
        assert!(plain.previous_steps.is_empty() && !plain.overlays());
    }
}
