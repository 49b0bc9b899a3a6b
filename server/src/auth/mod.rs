//! Who may see the stats: admin accounts, login, sessions, and the guards
//! every request passes.
//!
//! - [`password`]: argon2id hashing.
//! - [`session`]: session ids, the cookie, the expiry policy.
//! - [`throttle`]: failed logins are counted before the password is checked,
//!   shared by every node; slowed per account, refused per account and address.
//! - [`streamed`]: the sessions with open streams, checked together.
//!
//! The HTTP side (the login and logout handlers, the guard every request
//! passes) is in [`crate::routes`].

pub mod password;
pub mod remembered;
pub mod session;
pub mod streamed;
pub mod throttle;

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    clock::{duration_ms, now_ms},
    metrics::metrics,
    store::{admins::CreateAdminError, Store, StoreError},
};
use password::PasswordChecks;
use remembered::Remembered;
use session::{token_hash, SessionPolicy};
use streamed::{StreamedSessions, TooManyStreams, Watching};
use throttle::{AttemptKeys, LoginThrottle, Verdict};

/// Why a session a stream follows ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// Its lifetime (or idle time) ran out.
    Expired,
    /// The admin logged out (on this node or another).
    LoggedOut,
}

/// A session is written back as "last seen" at most this often (or every
/// quarter of the idle timeout, when that is shorter: with the streamed-
/// sessions check at most every half idle timeout, a watched session is then
/// never older than three quarters of it).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A logged-in admin's session, as the guard found it.
#[derive(Clone, Debug)]
pub struct Session {
    /// SHA-256 of the session id (the id itself is never kept).
    pub token_hash: String,
    /// Who is logged in.
    pub email: String,
    /// The end of the session's lifetime (Unix ms), however busy it is.
    pub lifetime_ends_at_ms: i64,
}

/// Why a login failed. One message for a wrong password and an unknown
/// email, so the answer does not tell which accounts exist.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong email or password.
    #[error("wrong email or password")]
    Credentials,
    /// Too many recent failures for this account from this address, or
    /// for this address.
    #[error("too many failed logins; try again in {} minutes", .0.as_secs().div_ceil(60))]
    Locked(std::time::Duration),
    /// Every password check this node can run at once is taken.
    #[error("too many logins at once; try again in a second")]
    Busy,
    /// The database failed.
    #[error("the login could not be checked")]
    Store(#[from] StoreError),
}

/// Why an admin could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewAdminError {
    /// Not an email address.
    #[error("{0:?} is not an email address")]
    Email(String),
    /// The password is too short or too long.
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    /// The email is taken, or the database failed.
    #[error(transparent)]
    Create(#[from] CreateAdminError),
}

/// Logins and sessions for one node; cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    store: Store,
    policy: SessionPolicy,
    throttle: Arc<LoginThrottle>,
    /// The node-wide limit on password checks (one per core).
    passwords: Arc<PasswordChecks>,
    /// Hashes of sessions logged out on this node, or found gone by the
    /// streamed-sessions check, so their open streams end.
    ended: broadcast::Sender<String>,
    /// Sessions with open streams on this node.
    streamed: Arc<StreamedSessions>,
    /// Hashes of session ids looked up and not found in the last
    /// [`UNKNOWN_FOR`] (at most [`REMEMBERED_AT_MOST`]).
    unknown: Arc<Remembered>,
    /// Addresses (throttle prefixes) an admin logged in from in the last
    /// [`TRUSTED_FOR`] (at most [`REMEMBERED_AT_MOST`]): they may take the
    /// kept password check.
    trusted: Arc<Remembered>,
}

/// How long a session id found unknown is not looked up again.
const UNKNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// How long an address stays trusted after an admin's successful login.
const TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// Unknown session ids, and trusted addresses, remembered at most.
const REMEMBERED_AT_MOST: usize = 10_000;

/// Trims and lower-cases an email address; `None` when it is not one.
pub fn normalise_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then_some(email)
}

/// Creates an admin with a checked email and password.
pub async fn create_admin(
    store: &Store,
    email: &str,
    password: &SecretString,
) -> Result<String, NewAdminError> {
    let email = normalise_email(email).ok_or_else(|| NewAdminError::Email(email.to_string()))?;
    let hash = password::hash(password)?;
    store
        .accounts()
        .create_admin(&email, &hash, now_ms())
        .await?;
    Ok(email)
}

impl Auth {
    /// Logins and sessions over `store`.
    pub fn new(store: Store, policy: SessionPolicy) -> Self {
        Auth {
            throttle: Arc::new(LoginThrottle::new(&store)),
            store,
            policy,
            passwords: PasswordChecks::per_core(),
            ended: broadcast::channel(64).0,
            streamed: Arc::default(),
            unknown: Arc::new(Remembered::new(UNKNOWN_FOR, REMEMBERED_AT_MOST)),
            trusted: Arc::new(Remembered::new(TRUSTED_FOR, REMEMBERED_AT_MOST)),
        }
    }

    /// The session policy in force.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Checks credentials and, when they are right, starts a new session and
    /// returns its id (for the cookie). `replacing` is a session id the
    /// browser already had: it is ended, never reused.
    ///
    /// The attempt needs a place among the node's password checks first
    /// ([`LoginError::Busy`] at once when none is free), is counted as a
    /// failure before the password is checked, and is refunded when it is
    /// right (see [`throttle`]).
    #[tracing::instrument(skip_all, fields(%address))]
    pub async fn log_in(
        &self,
        email: &str,
        password: &SecretString,
        address: IpAddr,
        replacing: Option<&str>,
    ) -> Result<String, LoginError> {
        let outcome = self.check_credentials(email, password, address).await;
        metrics()
            .login_attempts
            .with_label_values(&[match &outcome {
                Ok(_) => "success",
                Err(LoginError::Credentials) => "failure",
                Err(LoginError::Locked(_)) => "locked",
                Err(LoginError::Busy) => "busy",
                Err(LoginError::Store(_)) => "error",
            }])
            .inc();
        let admin_id = outcome?;
        if let Some(old) = replacing {
            self.end_session(&token_hash(old)).await?;
        }
        let now = now_ms();
        let accounts = self.store.accounts();
        accounts
            .purge_sessions(
                now - duration_ms(self.policy.idle_timeout),
                now - duration_ms(self.policy.lifetime),
            )
            .await?;
        let token = session::new_token();
        accounts
            .create_session(&token_hash(&token), admin_id, now)
            .await?;
        tracing::info!("admin logged in");
        Ok(token)
    }

    /// The admin whose credentials these are, within the throttle and the
    /// node's limit on password checks.
    async fn check_credentials(
        &self,
        email: &str,
        password: &SecretString,
        address: IpAddr,
    ) -> Result<i64, LoginError> {
        // Not an email address: no account can match, and nothing is worth counting.
        let email = normalise_email(email).ok_or(LoginError::Credentials)?;
        let keys = AttemptKeys::new(&email, address);
        let prefix = crate::serve::strangers::throttle_prefix(address);
        let trusted = self.trusted.contains(&prefix);
        let mut check = self
            .passwords
            .try_reserve(trusted)
            .ok_or(LoginError::Busy)?;
        match self.throttle.count_attempt(&keys, now_ms()).await? {
            Verdict::Allow => {}
            Verdict::Locked(remaining) => return Err(LoginError::Locked(remaining)),
            // An address an admin logged in from is not held to the pace
            // of a slowed account (a flood must not keep the admin out).
            Verdict::Slowed if trusted => {}
            Verdict::Slowed => {
                let Some(wait) = self.throttle.take_check(&keys, now_ms()).await? else {
                    // Never checked: not a failure (or a flood would make
                    // the admin's own tries count against them).
                    self.throttle.take_back(&keys).await?;
                    return Err(LoginError::Busy);
                };
                if !wait.is_zero() {
                    // The place is not held while waiting: a slowed account
                    // must not keep others' logins out.
                    drop(check);
                    tokio::time::sleep(wait).await;
                    check = match self.passwords.try_reserve(trusted) {
                        Some(check) => check,
                        None => {
                            self.throttle.take_back(&keys).await?;
                            return Err(LoginError::Busy);
                        }
                    };
                }
            }
        }
        let credentials = self.store.accounts().credentials(&email).await?;
        let password = password.clone();
        // Hashing takes tens of milliseconds of CPU: off the async workers.
        let admin_id = tokio::task::spawn_blocking(move || {
            let password = password.expose_secret();
            match credentials {
                Some((id, hash)) => check.verify(password, &hash).then_some(id),
                None => {
                    check.verify_nothing(password);
                    None
                }
            }
        })
        .await
        .expect("password check does not panic");
        match admin_id {
            Some(admin_id) => {
                self.throttle.refund(&keys).await?;
                self.trusted.note(&prefix);
                Ok(admin_id)
            }
            None => {
                // One line per failure would let a guesser fill the log; bursts
                // are logged by the throttle, and every failure is counted.
                tracing::debug!("failed admin login");
                Err(LoginError::Credentials)
            }
        }
    }

    /// Every minute until `shutdown`: forgets failed-login counts whose
    /// window has passed.
    pub async fn forget_old_failures(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.throttle.purge(now_ms()).await {
                tracing::warn!(error = %crate::error_chain(&error), "could not purge old failed-login counts");
            }
        }
    }

    /// The valid session carried by `token`, if any; records the use.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        self.session_by_hash(&token_hash(token)).await
    }

    /// Whether the session is still valid (not logged out, not expired);
    /// an open stream counts as use, so watching the dashboard keeps it alive
    /// until the end of its lifetime.
    pub async fn session_by_hash(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        if self.unknown.contains(hash) {
            return Ok(None);
        }
        let accounts = self.store.accounts();
        let Some(row) = accounts.session(hash).await? else {
            self.unknown.note(hash);
            return Ok(None);
        };
        let now = now_ms();
        if now >= self.policy.expires_at_ms(&row) {
            accounts.delete_session(hash).await?;
            return Ok(None);
        }
        let touch_every = TOUCH_EVERY_MS.min(duration_ms(self.policy.idle_timeout) / 4);
        // Recording the use is not worth refusing the request: while the
        // database refuses writes (a full disk) an open dashboard must stay
        // readable, to say so. (The store's write health logs the failure.)
        if now - row.last_seen_at_ms >= touch_every
            && accounts.touch_session(hash, now).await.is_err()
        {
            tracing::debug!("a session's use was not recorded");
        }
        Ok(Some(Session {
            token_hash: hash.to_string(),
            lifetime_ends_at_ms: self.policy.lifetime_ends_at_ms(&row),
            email: row.email,
        }))
    }

    /// Ends a session (logout) and tells this node's open streams.
    pub async fn end_session(&self, hash: &str) -> Result<(), StoreError> {
        self.store.accounts().delete_session(hash).await?;
        let _ = self.ended.send(hash.to_string());
        Ok(())
    }

    /// Hashes of sessions ended from now on: logged out on this node, or
    /// found gone by [`Auth::check_streamed_sessions`].
    pub fn ended_sessions(&self) -> broadcast::Receiver<String> {
        self.ended.subscribe()
    }

    /// The one place a stream learns that its session is over: counts an
    /// open stream of `session` (refused when the session already holds
    /// [`SessionPolicy::max_streams`]) and returns the future that completes
    /// with the reason: its lifetime runs out, it is logged out on this node
    /// (at once), or the node's check of streamed sessions finds it gone (a
    /// logout on another node). While the future lives, the stream is
    /// counted, so that check covers its session.
    pub fn session_end(
        &self,
        session: &Session,
    ) -> Result<impl Future<Output = SessionEnd> + Send + 'static, TooManyStreams> {
        let watching = self
            .streamed
            .watch(&session.token_hash, self.policy.max_streams)?;
        let mut ended = self.ended_sessions();
        let hash = session.token_hash.clone();
        let lifetime_left = u64::try_from(session.lifetime_ends_at_ms - now_ms()).unwrap_or(0);
        Ok(async move {
            let _watching: Watching = watching;
            let lifetime_over = tokio::time::sleep(Duration::from_millis(lifetime_left));
            tokio::pin!(lifetime_over);
            loop {
                tokio::select! {
                    () = &mut lifetime_over => return SessionEnd::Expired,
                    announced = ended.recv() => match announced {
                        Ok(announced) if announced == hash => return SessionEnd::LoggedOut,
                        // A missed announcement is repeated by the next check.
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await
                        }
                    },
                }
            }
        })
    }

    /// Every `stream_check_interval` until `shutdown`: checks each session
    /// with an open stream on this node once, and announces on
    /// [`Auth::ended_sessions`] those that are gone (logged out elsewhere).
    pub async fn check_streamed_sessions(self, shutdown: CancellationToken) {
        let every = self.policy.stream_check_interval;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            for hash in self.streamed.hashes() {
                match self.session_by_hash(&hash).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let _ = self.ended.send(hash);
                    }
                    // A database hiccup ends no stream; the next check decides.
                    Err(error) => {
                        tracing::warn!(error = %crate::error_chain(&error), "stream session check failed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lower_cased_and_checked() {
        assert_eq!(
            normalise_email("  Admin@Example.COM "),
            Some("admin@example.com".into())
        );
        assert_eq!(normalise_email("no-at-sign"), None);
        assert_eq!(normalise_email("@example.com"), None);
        assert_eq!(normalise_email("a@b@c"), None);
        assert_eq!(normalise_email("a b@c.d"), None);
    }
}
