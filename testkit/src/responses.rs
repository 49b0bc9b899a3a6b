//! Reading Pulse's answers the way its clients must: the session cookie a
//! login sets, and one sample of the `/metrics` text.

/// The `pulse_session=…` (or, over HTTPS, `__Host-pulse_session=…`) pair
/// among a response's `Set-Cookie` values.
pub fn session_cookie<'a>(set_cookies: impl IntoIterator<Item = &'a str>) -> Option<String> {
    set_cookies
        .into_iter()
        .find(|value| {
            value.starts_with("pulse_session=") || value.starts_with("__Host-pulse_session=")
        })
        .and_then(|value| value.split(';').next())
        .map(str::to_string)
}

/// The value of the sample `name` (with its labels, as printed) in a
/// Prometheus text exposition; 0 when absent.
pub fn metric_sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
