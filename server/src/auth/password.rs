//! Password hashing: argon2id with at least OWASP's minimum parameters
//! (19 MiB of memory, 2 passes, 1 lane), stored as PHC strings.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

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

/// The node-wide limit on password checks: at most one per core at a time,
/// plus one kept for attempts from an address an admin logged in from
/// before (so that a flood from elsewhere cannot keep the admin out), each
/// in a 19 MiB working memory that is allocated once and then reused. A
/// check beyond the limit is refused at once (see
/// [`PasswordChecks::try_reserve`]), never queued, so a login flood costs
/// neither memory nor a growing wait.
#[derive(Debug)]
pub struct PasswordChecks {
    state: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// Checks that may start now.
    free: usize,
    /// Of the kept places, those free now.
    kept_free: usize,
    /// Working memories of finished checks, ready for the next ones.
    memories: Vec<Vec<Block>>,
}

/// The right to run one password check, with its working memory; the place
/// is given back when this drops.
#[derive(Debug)]
pub struct PasswordCheck {
    checks: Arc<PasswordChecks>,
    memory: Vec<Block>,
    /// Taken from the kept places.
    kept: bool,
}

impl PasswordChecks {
    /// Room for `slots` checks at once (at least one), and `kept` more for
    /// trusted attempts.
    pub fn new(slots: usize, kept: usize) -> Arc<Self> {
        Arc::new(PasswordChecks {
            state: Mutex::new(Slots {
                free: slots.max(1),
                kept_free: kept,
                memories: Vec::new(),
            }),
        })
    }

    /// One check per core, the most this node can run without queueing, and
    /// one kept for trusted attempts.
    pub fn per_core() -> Arc<Self> {
        Self::new(
            std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            1,
        )
    }

    /// A place for one check (a `trusted` attempt may also take a kept
    /// one), or `None` when every place it may take is taken.
    pub fn try_reserve(self: &Arc<Self>, trusted: bool) -> Option<PasswordCheck> {
        let mut slots = self.lock();
        let kept = if slots.free > 0 {
            slots.free -= 1;
            false
        } else if trusted && slots.kept_free > 0 {
            slots.kept_free -= 1;
            true
        } else {
            return None;
        };
        let memory = slots.memories.pop().unwrap_or_default();
        Some(PasswordCheck {
            checks: Arc::clone(self),
            memory,
            kept,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // Every change under the lock is one step: a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PasswordCheck {
    fn drop(&mut self) {
        let mut slots = self.checks.lock();
        if self.kept {
            slots.kept_free += 1;
        } else {
            slots.free += 1;
        }
        slots.memories.push(std::mem::take(&mut self.memory));
    }
}

impl PasswordCheck {
    /// Whether `password` matches `phc` (an unreadable hash never matches).
    /// Takes tens of milliseconds of CPU: call it off the async workers.
    pub fn verify(&mut self, password: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        // The parameters come from the stored string, so older hashes still verify.
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        if self.memory.len() < params.block_count() {
            self.memory.resize(params.block_count(), Block::default());
        }
        let mut computed = vec![0u8; expected.len()];
        let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut computed,
            &mut self.memory[..],
        );
        hashed.is_ok() && bool::from(computed.as_slice().ct_eq(expected.as_bytes()))
    }

    /// Spends the same time as checking a real password, for unknown emails,
    /// so response times do not reveal which accounts exist.
    pub fn verify_nothing(&mut self, password: &str) {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_unchecked("not the password of any account"));
        let _ = self.verify(password, dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash(&SecretString::from("correct horse battery".to_string())).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let checks = PasswordChecks::new(1, 0);
        let mut check = checks.try_reserve(false).unwrap();
        assert!(check.verify("correct horse battery", &phc));
        assert!(!check.verify("correct horse batterY", &phc));
        assert!(!check.verify("correct horse battery", "not a hash"));
        // The library's own verifier agrees on what our checks compute.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(hasher()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let again = hash(&SecretString::from("correct horse battery".to_string())).unwrap();
        assert_ne!(phc, again, "a fresh salt every time");
    }

    #[test]
    fn checks_beyond_the_limit_are_refused_at_once_and_their_memory_is_reused() {
        let checks = PasswordChecks::new(2, 1);
        let mut first = checks.try_reserve(false).unwrap();
        let second = checks.try_reserve(false).unwrap();
        assert!(checks.try_reserve(false).is_none(), "both places taken");
        let kept = checks
            .try_reserve(true)
            .expect("a trusted attempt takes the kept place");
        assert!(checks.try_reserve(true).is_none(), "and only that one");
        drop(kept);
        first.verify_nothing("a guess");
        assert_eq!(
            first.memory.len(),
            (MEMORY_KIB) as usize,
            "19 MiB of 1 KiB blocks"
        );
        let memory = first.memory.as_ptr();
        drop(first);
        let third = checks
            .try_reserve(false)
            .expect("a finished check frees its place");
        assert_eq!(
            third.memory.as_ptr(),
            memory,
            "the same memory, not a new 19 MiB"
        );
        drop(second);
        drop(third);
        let slots = checks.lock();
        assert_eq!((slots.free, slots.kept_free), (2, 1));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        let short = SecretString::from("a".repeat(MIN_LENGTH - 1));
        assert_eq!(hash(&short), Err(PasswordError::TooShort));
        let huge = SecretString::from("a".repeat(MAX_LENGTH + 1));
        assert_eq!(hash(&huge), Err(PasswordError::TooLong));
    }
}
