//! HTTPS from `pulse serve`: HTTP/2 and HTTP/1.1 over rustls on one address,
//! `__Host-` Secure cookies, HSTS, clear refusals of bad files, and a
//! certificate read again on SIGHUP without dropping open streams. curl is
//! the client (`-k`: the certificates are the test's own).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use pulse::webhook::signature;
use secrecy::SecretString;

use crate::helpers::{
    dm_batch, free_port, spawn_app_with, ADMIN_EMAIL, ADMIN_PASSWORD, APP_SECRET, VERIFY_TOKEN,
};
use crate::process::refused_start;

/// A self-signed certificate for 127.0.0.1 named `name`, and its key.
pub(crate) fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    testkit::run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .arg("-subj")
            .arg(format!("/CN={name}"))
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        "openssl makes a certificate",
    );
    (cert, key)
}

/// curl with `args`; returns stdout and stderr together.
pub(crate) fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-sS", "-k", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn https_speaks_http2_and_http1_on_one_address_with_secure_cookies_and_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "pulse-test");
    let app = spawn_app_with(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
    })
    .await;
    let base = app.address.replace("http://", "https://");
    let healthz = format!("{base}/healthz");
    let h2 = tokio::task::spawn_blocking({
        let url = healthz.clone();
        move || curl(&["--http2", "-o", "/dev/null", "-w", "%{http_version}", &url])
    });
    assert_eq!(h2.await.unwrap(), "2");
    let h1 = tokio::task::spawn_blocking({
        let url = healthz.clone();
        move || {
            curl(&[
                "--http1.1",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                &url,
            ])
        }
    });
    assert_eq!(h1.await.unwrap(), "1.1");

    let login = tokio::task::spawn_blocking({
        let url = format!("{base}/api/auth/login");
        move || {
            curl(&[
                "-i",
                "--data-urlencode",
                &format!("email={ADMIN_EMAIL}"),
                "--data-urlencode",
                &format!("password={ADMIN_PASSWORD}"),
                &url,
            ])
        }
    })
    .await
    .unwrap();
    let lower = login.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age=31536000"),
        "{login}"
    );
    let cookie = lower
        .lines()
        .find(|line| line.starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {login}"));
    assert!(
        cookie.starts_with("set-cookie: __host-pulse_session="),
        "{cookie}"
    );
    assert!(cookie.contains("; secure"), "{cookie}");

    // Plain HTTP on the TLS port gets no answer it could mistake for one.
    let plain = tokio::task::spawn_blocking({
        let url = app.address.clone() + "/healthz";
        move || curl(&["-o", "/dev/null", "-w", "%{http_code}", &url])
    });
    assert!(plain.await.unwrap().starts_with("000"));
}

/// What `pulse serve` says when it refuses to start with these TLS files
/// (`key` unset when `None`).
fn refused_tls(cert: &Path, key: Option<&Path>) -> String {
    let text = |path: &Path| path.to_str().expect("a UTF-8 path").to_string();
    let cert = text(cert);
    match key.map(text) {
        Some(key) => refused_start(&[("PULSE_TLS_CERT", &cert), ("PULSE_TLS_KEY", &key)], &[]),
        None => refused_start(&[("PULSE_TLS_CERT", &cert)], &["PULSE_TLS_KEY"]),
    }
}

#[test]
fn missing_or_mismatched_tls_files_stop_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "one");
    let (_, other_key) = certificate(dir.path(), "two");
    let missing = dir.path().join("missing.crt");

    let said = refused_tls(&missing, Some(&key));
    assert!(
        said.contains("cannot use the TLS certificate") && said.contains("missing.crt"),
        "{said}"
    );
    let said = refused_tls(&key, Some(&key));
    assert!(said.contains("holds no PEM certificate"), "{said}");
    let said = refused_tls(&cert, Some(&cert));
    assert!(said.contains("holds no PEM private key"), "{said}");
    let said = refused_tls(&cert, Some(&other_key));
    assert!(
        said.contains("does not belong to the certificate"),
        "{said}"
    );
    let said = refused_tls(&cert, None);
    assert!(said.contains("PULSE_TLS_KEY is not"), "{said}");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let secret_line = key_text.lines().nth(1).unwrap();
    assert!(!said.contains(secret_line), "key material in the message");
}

#[test]
fn sighup_reads_the_certificate_again_without_dropping_open_streams() {
    let dir = tempfile::tempdir().unwrap();
    let (first_cert, first_key) = certificate(dir.path(), "first");
    let (cert, key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(&first_cert, &cert).unwrap();
    std::fs::copy(&first_key, &key).unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = data_dir.path().join("pulse.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .arg("serve")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("PULSE_DATA_DIR", data_dir.path())
        .env("PULSE_TLS_CERT", &cert)
        .env("PULSE_TLS_KEY", &key)
        .env("IG_APP_SECRET", APP_SECRET)
        .env("IG_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("PULSE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("PULSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start pulse");
    let base = format!("https://127.0.0.1:{port}");
    let subject = || curl(&["-v", "-o", "/dev/null", &format!("{base}/healthz")]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !subject().contains("CN=first") {
        assert!(Instant::now() < deadline, "pulse did not serve HTTPS");
        std::thread::sleep(Duration::from_millis(100));
    }
    let jar = dir.path().join("cookies");
    let jar = jar.to_str().unwrap();
    curl(&[
        "-c",
        jar,
        "--data-urlencode",
        &format!("email={ADMIN_EMAIL}"),
        "--data-urlencode",
        &format!("password={ADMIN_PASSWORD}"),
        &format!("{base}/api/auth/login"),
    ]);
    let mut stream = Command::new("curl")
        .args(["-sS", "-k", "-N", "--http2", "-b", jar])
        .arg(format!("{base}/api/admin/stats/stream"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut frames = BufReader::new(stream.stdout.take().unwrap()).lines();
    let mut next_sync = move || {
        frames
            .by_ref()
            .map_while(Result::ok)
            .find(|line| line.starts_with("event: sync"))
    };
    assert!(next_sync().is_some(), "the stream opens with a snapshot");

    let (second_cert, second_key) = certificate(dir.path(), "second");
    std::fs::copy(&second_cert, &cert).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !subject().contains("CN=second") {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The stream opened under the first certificate still carries updates.
    let body = dm_batch(&[("after-reload", false)]);
    let signed = signature::sign(&SecretString::from(APP_SECRET.to_string()), body.as_bytes());
    let posted = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("x-hub-signature-256: {signed}"),
        "-H",
        "content-type: application/json",
        "--data-binary",
        &body,
        &format!("{base}/api/webhooks/instagram"),
    ]);
    assert_eq!(posted, "200");
    assert!(
        next_sync().is_some(),
        "the open stream got the new snapshot"
    );

    let _ = stream.kill();
    let _ = stream.wait();
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("TLS certificate and key read again"), "{log}");
}

/// Accepts any certificate: the test's own, made a moment ago.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &rustls::pki_types::CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTP/2 connection over TLS to `address` that sends no request and
/// answers the node's pings for as long as it lives: what a stranger holds
/// for nothing. `None` when the node closed it at once.
async fn idle_http2_connection(address: &str) -> Option<h2::client::SendRequest<bytes::Bytes>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(address).await.ok()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .ok()?;
    let (client, connection) = h2::client::handshake(tls).await.ok()?;
    tokio::spawn(connection);
    Some(client)
}

/// HTTP/2 connections that hold every place of the node and never ask for
/// anything: a delivery still gets in (the longest-idle gives way).
#[tokio::test]
async fn idle_http2_connections_at_the_limit_make_room_for_a_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "pulse-test");
    let app = spawn_app_with(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        config.max_connections = Some(8);
        config.max_connections_per_address = Some(0);
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(
            idle_http2_connection(&address)
                .await
                .expect("a place was free"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = dm_batch(&[("over-held-http2", false)]);
    let signature = signature::sign(&SecretString::from(APP_SECRET.to_owned()), body.as_bytes());
    let url = format!(
        "{}/api/webhooks/instagram",
        app.address.replace("http://", "https://")
    );
    let delivered = tokio::task::spawn_blocking(move || {
        curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "content-type: application/json",
            "-H",
            &format!("x-hub-signature-256: {signature}"),
            "--data-binary",
            &body,
            &url,
        ])
    })
    .await
    .unwrap();
    assert_eq!(delivered, "200", "the delivery got in");
    assert_eq!(app.event_count().await, 1, "stored");
    // The longest-idle held connection was told to go (GOAWAY).
    let mut told_to_go = 0;
    for client in held {
        let ready = tokio::time::timeout(Duration::from_secs(2), client.ready()).await;
        if !matches!(ready, Ok(Ok(_))) {
            told_to_go += 1;
        }
    }
    assert!(told_to_go >= 1, "no held connection gave way");
}
