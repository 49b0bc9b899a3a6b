//! Login sessions: random ids in an `HttpOnly` cookie, stored server-side
//! (only their SHA-256) with an idle timeout and an absolute lifetime.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use crate::{clock::duration_ms, store::admins::SessionRow};

/// The session cookie's name over plain HTTP.
pub const COOKIE: &str = "pulse_session";
/// Its name over HTTPS: the `__Host-` prefix makes browsers accept it only
/// `Secure`, for this host alone (no `Domain`) and the whole site.
pub const SECURE_COOKIE: &str = "__Host-pulse_session";

/// How long sessions last and how their cookie is marked.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused for this long is over.
    pub idle_timeout: Duration,
    /// A session this old is over, however busy.
    pub lifetime: Duration,
    /// Mark the cookie `Secure` and name it [`SECURE_COOKIE`] (served over HTTPS).
    pub secure_cookies: bool,
    /// Streams one session may hold open at once.
    pub max_streams: usize,
    /// How often this node checks the sessions of its open streams (a
    /// logout on another node ends them within this time).
    pub stream_check_interval: Duration,
}

impl SessionPolicy {
    /// When `row` stops being valid (Unix ms): the earlier of its idle
    /// deadline and the end of its lifetime.
    pub fn expires_at_ms(&self, row: &SessionRow) -> i64 {
        let idle = row.last_seen_at_ms + duration_ms(self.idle_timeout);
        let absolute = row.created_at_ms + duration_ms(self.lifetime);
        idle.min(absolute)
    }

    /// When the session ends at the latest, however busy (Unix ms).
    pub fn lifetime_ends_at_ms(&self, row: &SessionRow) -> i64 {
        row.created_at_ms + duration_ms(self.lifetime)
    }

    /// The cookie's name: [`SECURE_COOKIE`] over HTTPS, [`COOKIE`] otherwise.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_COOKIE
        } else {
            COOKIE
        }
    }

    /// The `Set-Cookie` value that stores `token` in the browser.
    pub fn cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let value = format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(),
            self.lifetime.as_secs()
        );
        HeaderValue::from_str(&value).expect("a hex token makes a valid header")
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn cleared_cookie(&self) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let value = format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&value).expect("a valid header")
    }
}

/// A new session id: 256 random bits, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// What the database stores for a session id.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session id the request carries in the cookie `name`, if any (never logged).
pub fn token_from<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, token)| token)
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(secure_cookies: bool) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(1800),
            lifetime: Duration::from_secs(8 * 3600),
            secure_cookies,
            max_streams: 16,
            stream_check_interval: Duration::from_secs(30),
        }
    }

    #[test]
    fn tokens_are_256_random_bits_and_only_their_hash_is_stored() {
        let (one, two) = (new_token(), new_token());
        assert_eq!(one.len(), 64);
        assert_ne!(one, two);
        assert_ne!(token_hash(&one), one);
        assert_eq!(token_hash(&one), token_hash(&one));
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_when_asked() {
        let plain = policy(false).cookie("ab");
        assert_eq!(
            plain,
            "pulse_session=ab; Path=/; HttpOnly; SameSite=Lax; Max-Age=28800"
        );
        let secure = policy(true).cookie("ab");
        let secure = secure.to_str().unwrap();
        assert!(secure.ends_with("; Secure"), "{secure}");
        assert!(
            secure.starts_with("__Host-pulse_session=ab; Path=/;"),
            "{secure}"
        );
        assert!(!secure.contains("Domain"), "{secure}");
        assert!(policy(false)
            .cleared_cookie()
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }

    #[test]
    fn the_token_is_read_from_any_cookie_header_and_must_look_like_one() {
        let token = new_token();
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={token}")).unwrap(),
        );
        assert_eq!(token_from(&headers, COOKIE), Some(token.as_str()));

        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_static("pulse_session=' OR 1=1"),
        );
        assert_eq!(token_from(&forged, COOKIE), None);
    }

    #[test]
    fn a_session_ends_at_its_idle_deadline_or_its_lifetime_whichever_first() {
        let row = SessionRow {
            admin_id: 1,
            email: "a@b.c".into(),
            created_at_ms: 0,
            last_seen_at_ms: 1_000,
        };
        assert_eq!(policy(false).expires_at_ms(&row), 1_000 + 1_800_000);
        let old = SessionRow {
            last_seen_at_ms: 8 * 3_600_000 - 10,
            ..row
        };
        assert_eq!(policy(false).expires_at_ms(&old), 8 * 3_600_000);
    }
}
