//! Human-readable numbers and times, identical on the server and in the browser
//! so that hydration finds the text it expects.

/// `1234567` → `"1,234,567"`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes in decimal units with one decimal past the first: `"950 B"`,
/// `"12.3 MB"`, `"1.2 GB"` (integer arithmetic only: no float formatting in
/// the browser's bundle).
pub fn bytes(value: i64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    let magnitude = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    if magnitude < 1000 {
        return format!("{sign}{magnitude} B");
    }
    let mut unit = 0;
    let mut scale: u64 = 1000;
    while unit + 1 < UNITS.len() && magnitude / scale >= 1000 {
        unit += 1;
        scale *= 1000;
    }
    let tenths = magnitude / (scale / 10);
    format!("{sign}{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `part / whole` as a whole percentage, capped at 100 (`"–"` when `whole` is 0).
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "–".to_string();
    }
    format!("{}%", (part.max(0) * 100 / whole).min(100))
}

/// Unix milliseconds → `"2026-11-25 18:30:05 UTC"`.
pub fn utc_timestamp(unix_ms: i64) -> String {
    format!("{} UTC", date_and_time(unix_ms))
}

/// Unix milliseconds → `"2026-11-25 18:30:05"` (UTC).
fn date_and_time(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The time zone the live view shows times in: its name and its offset from
/// UTC now, which the snapshot carries (the browser has no zone database).
/// The last hour is shown at today's offset, also in the hour after a
/// daylight-saving change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    /// The zone's IANA name.
    pub zone: String,
    /// Its offset from UTC now, in seconds.
    pub offset_s: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            zone: "UTC".to_string(),
            offset_s: 0,
        }
    }
}

impl Clock {
    /// `"18:30"` on this clock.
    pub fn time(&self, unix_ms: i64) -> String {
        utc_clock(unix_ms + self.offset_s * 1000)
    }

    /// `"2026-11-25 18:30:05 Asia/Kolkata"` on this clock.
    pub fn timestamp(&self, unix_ms: i64) -> String {
        format!(
            "{} {}",
            date_and_time(unix_ms + self.offset_s * 1000),
            self.zone
        )
    }
}

/// `unix_ms` as a date and time in the time zone `zone` (an IANA name), with
/// the zone's abbreviation (`2026-11-25 15:30:05 -03`); in UTC when the zone
/// is not known. Only on the server (the browser carries no zone database):
/// in the browser, always in UTC.
pub fn zoned_timestamp(unix_ms: i64, zone: &str) -> String {
    #[cfg(feature = "ssr")]
    {
        let zoned = jiff::tz::TimeZone::get(zone).ok().and_then(|tz| {
            jiff::Timestamp::from_millisecond(unix_ms)
                .ok()
                .map(|at| at.to_zoned_datetime(tz))
        });
        if let Some(zoned) = zoned {
            return zoned.strftime("%Y-%m-%d %H:%M:%S %Z").to_string();
        }
    }
    let _ = zone;
    utc_timestamp(unix_ms)
}

/// Unix milliseconds → `"18:30"` (UTC), for chart labels.
pub fn utc_clock(unix_ms: i64) -> String {
    let minute_of_day = unix_ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

/// A duration in milliseconds as the dashboard shows ages: `"just now"`,
/// `"42 s ago"`, `"5 min ago"`, `"3 h ago"`, `"4 d ago"`.
pub fn age(elapsed_ms: i64) -> String {
    let seconds = elapsed_ms.max(0) / 1000;
    match seconds {
        0 => "just now".to_string(),
        1..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        7200..=172_799 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// A duration in milliseconds as reply times are shown: `"30 s"`,
/// `"5 min"`, `"1 h 30 min"`, `"2 d 4 h"`; `"–"` for none.
pub fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "–".to_string();
    };
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=3599 => format!("{} min", seconds / 60),
        3600..=86_399 => match seconds % 3600 / 60 {
            0 => format!("{} h", seconds / 3600),
            minutes => format!("{} h {minutes} min", seconds / 3600),
        },
        _ => match seconds % 86_400 / 3600 {
            0 => format!("{} d", seconds / 86_400),
            hours => format!("{} d {hours} h", seconds / 86_400),
        },
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Howard Hinnant's algorithm: shift the epoch to 0000-03-01 so that leap
    // days fall at the end of each 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-45_000), "-45,000");
    }

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(950), "950 B");
        assert_eq!(bytes(1_000), "1.0 kB");
        assert_eq!(bytes(12_345_678), "12.3 MB");
        assert_eq!(bytes(1_250_000_000), "1.2 GB");
        assert_eq!(bytes(-45_000_000), "-45.0 MB");
        assert_eq!(bytes(i64::MAX), "9223.3 PB");
    }

    #[test]
    fn percent_is_capped_and_safe_on_zero() {
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(5, 4), "100%");
        assert_eq!(percent(3, 0), "–");
    }

    #[test]
    #[cfg(feature = "ssr")]
    fn zoned_timestamps_follow_the_zone_to_the_minute() {
        assert_eq!(
            zoned_timestamp(1_795_631_405_000, "America/Sao_Paulo"),
            "2026-11-25 15:30:05 -03"
        );
        assert_eq!(
            zoned_timestamp(1_795_631_405_000, "Asia/Kathmandu"),
            "2026-11-26 00:15:05 +0545"
        );
        assert_eq!(
            zoned_timestamp(1_795_631_405_000, "UTC"),
            "2026-11-25 18:30:05 UTC"
        );
        assert_eq!(
            zoned_timestamp(1_795_631_405_000, "Not/AZone"),
            "2026-11-25 18:30:05 UTC"
        );
    }

    #[test]
    fn utc_timestamp_matches_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_timestamp(1_795_631_405_000), "2026-11-25 18:30:05 UTC");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(30_000)), "30 s");
        assert_eq!(duration(Some(90_000)), "90 s");
        assert_eq!(duration(Some(300_000)), "5 min");
        assert_eq!(duration(Some(3_600_000)), "1 h");
        assert_eq!(duration(Some(5_400_000)), "1 h 30 min");
        assert_eq!(duration(Some(86_400_000)), "1 d");
        assert_eq!(duration(Some(187_200_000)), "2 d 4 h");
    }

    #[test]
    fn clock_and_age_read_naturally() {
        assert_eq!(utc_clock(1_795_631_405_000), "18:30");
        let kathmandu = Clock {
            zone: "Asia/Kathmandu".to_string(),
            offset_s: 20_700,
        };
        assert_eq!(kathmandu.time(1_795_631_405_000), "00:15");
        assert_eq!(
            kathmandu.timestamp(1_795_631_405_000),
            "2026-11-26 00:15:05 Asia/Kathmandu"
        );
        assert_eq!(
            Clock::default().timestamp(1_795_631_405_000),
            utc_timestamp(1_795_631_405_000)
        );
        assert_eq!(age(400), "just now");
        assert_eq!(age(42_000), "42 s ago");
        assert_eq!(age(300_000), "5 min ago");
        assert_eq!(age(3 * 3_600_000), "3 h ago");
        assert_eq!(age(47 * 3_600_000), "47 h ago");
        assert_eq!(age(100 * 3_600_000), "4 d ago");
    }
}
