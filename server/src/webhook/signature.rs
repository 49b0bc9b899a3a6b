//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body, keyed with the app secret.
//!
//! The signature covers the bytes exactly as Meta sent them (non-ASCII text
//! arrives as `\uXXXX` escapes), so it is checked before any parsing and never
//! against re-serialised JSON.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Header carrying the signature.
pub const HEADER: &str = "x-hub-signature-256";
const PREFIX: &str = "sha256=";

/// Why a delivery's signature was not accepted. The messages are safe to send
/// back: they never include the secret or the expected value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header at all.
    #[error(
        "missing X-Hub-Signature-256 header; every delivery must be signed with the app secret"
    )]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed X-Hub-Signature-256 header; expected sha256=<64 hex digits>")]
    Malformed,
    /// Well-formed but does not match the body.
    #[error("X-Hub-Signature-256 does not match the request body; check the app secret")]
    Mismatch,
}

/// Checks `header` (the raw header value, if any) against `body` in constant time.
pub fn verify(
    app_secret: &SecretString,
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| SignatureError::Malformed)?;
    let hex_digest = header
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    // `verify_slice` compares in constant time.
    mac(app_secret, body)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body`: `sha256=<lowercase hex>`.
pub fn sign(app_secret: &SecretString, body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac(app_secret, body).finalize().into_bytes())
    )
}

fn mac(app_secret: &SecretString, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("test-app-secret".to_string())
    }

    #[test]
    fn accepts_its_own_signature_and_rejects_any_change() {
        let body = br#"{"object":"instagram","entry":[]}"#;
        let header = sign(&secret(), body);
        assert_eq!(verify(&secret(), Some(header.as_bytes()), body), Ok(()));
        assert_eq!(
            verify(
                &secret(),
                Some(header.as_bytes()),
                br#"{"object":"instagram","entry":[ ]}"#
            ),
            Err(SignatureError::Mismatch)
        );
        let other = SecretString::from("another".to_string());
        assert_eq!(
            verify(&other, Some(header.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = SecretString::from("Jefe".to_string());
        assert_eq!(
            sign(&key, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        let body = b"{}";
        assert_eq!(verify(&secret(), None, body), Err(SignatureError::Missing));
        for bad in [
            "",
            "sha1=abc",
            "sha256=zz",
            "sha256=abcd",
            "5bdcc146bf60754e",
        ] {
            assert_eq!(
                verify(&secret(), Some(bad.as_bytes()), body),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
