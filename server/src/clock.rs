//! Wall-clock time in the units the store and the wire use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// A duration in milliseconds, saturating (a configured lifetime of years
/// does not overflow).
pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// When today began in the time zone `zone` (an IANA name) as of `now_ms`,
/// and the zone's offset from UTC now, in seconds; `None` when the zone
/// database does not know the name.
pub fn start_of_day(zone: &str, now_ms: i64) -> Option<(i64, i64)> {
    let zone = jiff::tz::TimeZone::get(zone).ok()?;
    let here = jiff::Timestamp::from_millisecond(now_ms)
        .ok()?
        .to_zoned_datetime(zone);
    let start = here.start_of_day().ok()?;
    Some((
        start.timestamp().as_millisecond(),
        i64::from(here.offset().seconds()),
    ))
}
