//! HTTPS from `pulse serve`: the certificate chain and private key from PEM
//! files (`PULSE_TLS_CERT`, `PULSE_TLS_KEY`), offered with ALPN `h2` and
//! `http/1.1` on the one address, and read again on `SIGHUP`.
//!
//! Every handshake asks [`CurrentCertificate`] for the certificate, so a
//! reload replaces it for new connections only: open connections (and the
//! dashboards streaming over them) keep theirs. A reload that fails keeps the
//! certificate in use and says why.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use rustls::{
    crypto::ring::{default_provider, sign::any_supported_type},
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    ServerConfig,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The ALPN protocol name of HTTP/2.
pub const H2: &[u8] = b"h2";

/// Where the certificate chain and its private key are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own certificate first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the certificate could not be used. Paths are named; key material never.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no certificate.
    #[error("cannot use the TLS certificate {}: {reason}", .path.display())]
    Certificate {
        /// The file named by `PULSE_TLS_CERT`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file is missing, unreadable or holds no usable key.
    #[error("cannot use the TLS private key {}: {reason}", .path.display())]
    Key {
        /// The file named by `PULSE_TLS_KEY`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the TLS private key {} does not belong to the certificate {}",
        .key.display(),
        .certificate.display()
    )]
    Mismatch {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Config(String),
}

/// The certificate handed to every new handshake.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// The node's TLS side: the acceptor for new connections and the files it
/// reloads from.
#[derive(Clone)]
pub struct Tls {
    files: TlsFiles,
    current: Arc<CurrentCertificate>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads and checks the files; the node does not start without them.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCertificate(RwLock::new(Arc::new(certified_key(
            &files,
        )?))));
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(error.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            files,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Accepts TLS on new connections.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again; new connections get the new certificate.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = certified_key(&self.files)?;
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(())
    }

    /// Reloads on every `SIGHUP` until `shutdown`.
    pub async fn reload_on_hangup(self, shutdown: CancellationToken) {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: the TLS certificate will not be reloaded");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = hangups.recv() => match self.reload() {
                    Ok(()) => tracing::info!(
                        certificate = %self.files.certificate.display(),
                        "SIGHUP: TLS certificate and key read again; new connections use them"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        "SIGHUP: the TLS files could not be used; keeping the certificate in use"
                    ),
                },
            }
        }
    }
}

/// The certificate chain and signing key from `files`, checked to belong together.
fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate {
        path: files.certificate.clone(),
        reason,
    };
    let key_error = |reason: String| TlsError::Key {
        path: files.key.clone(),
        reason,
    };
    readable(&files.certificate).map_err(certificate_error)?;
    readable(&files.key).map_err(key_error)?;
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| certificate_error(format!("not a PEM certificate chain ({error})")))?;
    if chain.is_empty() {
        return Err(certificate_error(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|_| key_error("it holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into()))?;
    let signing_key = any_supported_type(&key).map_err(|_| {
        key_error("the key type is not supported (use RSA, ECDSA or Ed25519)".into())
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        certificate: files.certificate.clone(),
        key: files.key.clone(),
    })?;
    Ok(certified)
}

/// A clear reason when a file cannot be opened at all.
fn readable(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|error| error.to_string())
}
