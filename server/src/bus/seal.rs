//! Snapshots sealed for Redis: every snapshot a node shares carries an
//! HMAC-SHA256 of its JSON under a key that lives in the database (the
//! store's relay key), and a node takes a snapshot from Redis only when the
//! seal is right. Whoever can write to Redis but not read the database can
//! publish anything; no node will show it.
//!
//! The form is `v1:<64 hex digits>:<json>`.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// The form's prefix; a later form gets a new one.
const PREFIX: &[u8] = b"v1:";
/// Hex digits of an HMAC-SHA256.
const TAG_HEX: usize = 64;

/// Seals and opens snapshots with the relay key.
pub struct Seal {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Seal { key: [redacted] }")
    }
}

impl Seal {
    /// Seals with `key`.
    pub fn new(key: SecretSlice<u8>) -> Self {
        Seal { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC takes any key length")
    }

    /// `json` sealed.
    pub fn seal(&self, json: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(json);
        let tag = hex::encode(mac.finalize().into_bytes());
        let mut sealed = Vec::with_capacity(PREFIX.len() + TAG_HEX + 1 + json.len());
        sealed.extend_from_slice(PREFIX);
        sealed.extend_from_slice(tag.as_bytes());
        sealed.push(b':');
        sealed.extend_from_slice(json);
        sealed
    }

    /// The JSON `sealed` carries, if its seal is right (checked in constant
    /// time).
    pub fn open<'a>(&self, sealed: &'a [u8]) -> Option<&'a [u8]> {
        let rest = sealed.strip_prefix(PREFIX)?;
        if rest.len() <= TAG_HEX || rest[TAG_HEX] != b':' {
            return None;
        }
        let tag = hex::decode(&rest[..TAG_HEX]).ok()?;
        let json = &rest[TAG_HEX + 1..];
        let mut mac = self.mac();
        mac.update(json);
        mac.verify_slice(&tag).ok()?;
        Some(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &[u8]) -> Seal {
        Seal::new(key.to_vec().into())
    }

    #[test]
    fn a_sealed_snapshot_opens_with_its_key_only_and_unchanged() {
        let json = br#"{"version":7}"#;
        let sealed = seal(b"the key").seal(json);
        assert!(sealed.starts_with(b"v1:"));
        assert_eq!(seal(b"the key").open(&sealed), Some(&json[..]));
        assert_eq!(seal(b"another key").open(&sealed), None);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() = b']';
        assert_eq!(seal(b"the key").open(&tampered), None);
        assert_eq!(seal(b"the key").open(json), None, "bare JSON is not sealed");
        assert_eq!(seal(b"the key").open(b"v1:short:{}"), None);
        assert!(!format!("{:?}", seal(b"the key")).contains("the key"));
    }
}
