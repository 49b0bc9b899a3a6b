//! The two webhook secrets: Meta's app secret (signs every POST) and the verify
//! token (answers the subscription handshake).
//!
//! They come from `IG_APP_SECRET` / `IG_VERIFY_TOKEN`. When unset, the server
//! still refuses unsigned traffic: on first start it generates strong random
//! values and keeps them in `<data dir>/webhook-secrets.env` (mode 0600), where
//! `pulse simulate` finds them too. Values are wrapped in [`SecretString`] so
//! they cannot end up in logs or error messages.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};

const APP_SECRET_VAR: &str = "IG_APP_SECRET";
const VERIFY_TOKEN_VAR: &str = "IG_VERIFY_TOKEN";
const FILE_NAME: &str = "webhook-secrets.env";

/// The secrets the webhook endpoint checks requests against.
#[derive(Clone)]
pub struct WebhookSecrets {
    /// Key of the `X-Hub-Signature-256` HMAC.
    pub app_secret: SecretString,
    /// Expected `hub.verify_token` of the GET handshake.
    pub verify_token: SecretString,
}

/// Where each secret came from, for the start-up message.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretsOrigin {
    /// Both set in the environment.
    Environment,
    /// Read from (or partly from) the file in the data directory.
    File(PathBuf),
    /// Generated just now and written to the file in the data directory.
    Generated(PathBuf),
}

/// Why the secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A variable is set but empty: almost certainly a deployment mistake.
    #[error("{0} is set but empty; unset it to use a generated value, or set the real one")]
    Empty(&'static str),
    /// The secrets file could not be read, parsed or written.
    #[error("webhook secrets file {path}: {reason}")]
    File {
        /// The file in question.
        path: PathBuf,
        /// What went wrong (never contains a secret).
        reason: String,
    },
    /// Neither the environment nor the data directory holds the secret.
    #[error(
        "{var} is not set and {path} does not exist; start `pulse serve` once with the same data \
         directory (it generates the file), or set {var}"
    )]
    Missing {
        /// The variable that would have supplied it.
        var: &'static str,
        /// The file that would have supplied it.
        path: PathBuf,
    },
}

impl WebhookSecrets {
    /// Loads the secrets for the server, generating and saving any that are
    /// missing from both the environment and `data_dir`.
    pub fn load_or_generate(data_dir: &Path) -> Result<(Self, SecretsOrigin), SecretsError> {
        let path = data_dir.join(FILE_NAME);
        let from_env = (env_secret(APP_SECRET_VAR)?, env_secret(VERIFY_TOKEN_VAR)?);
        if let (Some(app_secret), Some(verify_token)) = from_env.clone() {
            return Ok((
                WebhookSecrets {
                    app_secret,
                    verify_token,
                },
                SecretsOrigin::Environment,
            ));
        }
        if path.exists() {
            let stored = read_file(&path)?;
            let secrets = WebhookSecrets {
                app_secret: from_env.0.unwrap_or(stored.app_secret),
                verify_token: from_env.1.unwrap_or(stored.verify_token),
            };
            return Ok((secrets, SecretsOrigin::File(path)));
        }
        let generated = WebhookSecrets {
            app_secret: random_secret().map_err(|reason| file_error(&path, reason))?,
            verify_token: random_secret().map_err(|reason| file_error(&path, reason))?,
        };
        write_file(&path, &generated)?;
        let secrets = WebhookSecrets {
            app_secret: from_env.0.unwrap_or(generated.app_secret),
            verify_token: from_env.1.unwrap_or(generated.verify_token),
        };
        Ok((secrets, SecretsOrigin::Generated(path)))
    }

    /// Loads the app secret for a client (`pulse simulate`): the environment
    /// first, then the file a server generated in `data_dir`.
    pub fn load_app_secret(data_dir: &Path) -> Result<SecretString, SecretsError> {
        if let Some(secret) = env_secret(APP_SECRET_VAR)? {
            return Ok(secret);
        }
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            return Err(SecretsError::Missing {
                var: APP_SECRET_VAR,
                path,
            });
        }
        Ok(read_file(&path)?.app_secret)
    }
}

fn env_secret(var: &'static str) -> Result<Option<SecretString>, SecretsError> {
    match std::env::var(var) {
        Ok(value) if value.is_empty() => Err(SecretsError::Empty(var)),
        Ok(value) => Ok(Some(SecretString::from(value))),
        Err(_) => Ok(None),
    }
}

fn file_error(path: &Path, reason: impl ToString) -> SecretsError {
    SecretsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// 32 random bytes from the operating system, hex-encoded (256 bits).
fn random_secret() -> Result<SecretString, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(SecretString::from(hex::encode(bytes)))
}

fn read_file(path: &Path) -> Result<WebhookSecrets, SecretsError> {
    let text = fs::read_to_string(path).map_err(|error| file_error(path, error))?;
    let mut app_secret = None;
    let mut verify_token = None;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.split_once('=') {
            Some((APP_SECRET_VAR, value)) if !value.is_empty() => {
                app_secret = Some(SecretString::from(value.to_string()))
            }
            Some((VERIFY_TOKEN_VAR, value)) if !value.is_empty() => {
                verify_token = Some(SecretString::from(value.to_string()))
            }
            _ => {
                return Err(file_error(
                    path,
                    "expected only IG_APP_SECRET=<value> and IG_VERIFY_TOKEN=<value> lines",
                ))
            }
        }
    }
    match (app_secret, verify_token) {
        (Some(app_secret), Some(verify_token)) => Ok(WebhookSecrets {
            app_secret,
            verify_token,
        }),
        _ => Err(file_error(
            path,
            "IG_APP_SECRET or IG_VERIFY_TOKEN is missing",
        )),
    }
}

fn write_file(path: &Path, secrets: &WebhookSecrets) -> Result<(), SecretsError> {
    let contents = format!(
        "# Generated by pulse for local use. Replace with your Meta app's values in production.\n\
         {APP_SECRET_VAR}={}\n{VERIFY_TOKEN_VAR}={}\n",
        secrets.app_secret.expose_secret(),
        secrets.verify_token.expose_secret()
    );
    if let Some(dir) = path.parent() {
        create_private_dir(dir)
            .map_err(|error| file_error(path, format!("cannot create its directory: {error}")))?;
    }
    create_private(path)
        .and_then(|mut file| {
            file.write_all(contents.as_bytes())
                .and_then(|()| file.sync_all())
        })
        .map_err(|error| file_error(path, error))
}

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates a new file readable and writable by its owner only.
fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_saved_privately_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        // The data directory does not exist yet on a first start.
        let path = dir.path().join("fresh-data-dir").join(FILE_NAME);
        let generated = WebhookSecrets {
            app_secret: random_secret().unwrap(),
            verify_token: random_secret().unwrap(),
        };
        write_file(&path, &generated).unwrap();

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = read_file(&path).unwrap();
        assert_eq!(
            read.app_secret.expose_secret(),
            generated.app_secret.expose_secret()
        );
        assert_eq!(
            read.verify_token.expose_secret(),
            generated.verify_token.expose_secret()
        );
        assert_eq!(generated.app_secret.expose_secret().len(), 64);
        assert_ne!(
            generated.app_secret.expose_secret(),
            generated.verify_token.expose_secret()
        );
    }

    #[test]
    fn a_damaged_file_is_reported_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "IG_APP_SECRET=s3cr3t-value\ngarbage line\n").unwrap();
        let message = read_file(&path).err().unwrap().to_string();
        assert!(message.contains("expected only"), "{message}");
        assert!(!message.contains("s3cr3t-value"), "{message}");
    }
}
