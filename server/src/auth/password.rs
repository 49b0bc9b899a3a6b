//! Password hashing: argon2id with at least OWASP's minimum parameters
//! (19 MiB of memory, 2 passes, 1 lane), stored as PHC strings.

use std::sync::OnceLock;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};

/// Memory cost in KiB (19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
const ITERATIONS: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;
/// Shortest password accepted for a new admin.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (hashing cost does not depend on it, but a
/// megabyte-long "password" is a mistake or an attack).
pub const MAX_LENGTH: usize = 1024;

/// Why a new password was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Too short to resist guessing.
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    /// Unreasonably long.
    #[error("the password must be at most {MAX_LENGTH} characters long")]
    TooLong,
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the argon2 parameters are valid constants");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password and hashes it with a fresh random salt.
pub fn hash(password: &SecretString) -> Result<String, PasswordError> {
    let length = password.expose_secret().chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    Ok(hash_unchecked(password.expose_secret()))
}

fn hash_unchecked(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with valid parameters")
        .to_string()
}

/// Whether `password` matches `phc` (an unreadable hash never matches).
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the stored string, so older hashes still verify.
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the same time as checking a real password, for unknown emails, so
/// response times do not reveal which accounts exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_unchecked("not the password of any account"));
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash(&SecretString::from("correct horse battery".to_string())).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("correct horse battery", "not a hash"));
        let again = hash(&SecretString::from("correct horse battery".to_string())).unwrap();
        assert_ne!(phc, again, "a fresh salt every time");
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        let short = SecretString::from("a".repeat(MIN_LENGTH - 1));
        assert_eq!(hash(&short), Err(PasswordError::TooShort));
        let huge = SecretString::from("a".repeat(MAX_LENGTH + 1));
        assert_eq!(hash(&huge), Err(PasswordError::TooLong));
    }
}
