//! A private Debian `nginx` on free loopback ports, running the project's
//! recipe (`deploy/nginx/pulse.conf`) rewritten only for ports and paths, and
//! stopped however its owner ends (the same shell supervisor as Redis). The
//! system nginx the package starts on port 80 is left alone.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{free_port, Supervised};

/// An nginx of our own in front of some upstream ports, stopped when dropped.
pub struct Nginx {
    /// The HTTPS port (the recipe's `listen 443`).
    pub https_port: u16,
    /// The plain HTTP port (the recipe's `listen 80`, which redirects).
    pub http_port: u16,
    dir: tempfile::TempDir,
    /// Dropped, it stops nginx.
    _running: Supervised,
}

impl Nginx {
    /// Starts nginx with `recipe` (an `http` block fragment) in front of
    /// `upstreams` (loopback ports, in the order of the recipe's `server`
    /// lines), serving `certificate` and `key`.
    pub fn start(recipe: &str, upstreams: &[u16], certificate: &Path, key: &Path) -> Self {
        let dir = tempfile::tempdir().expect("nginx directory");
        let (https_port, http_port) = (free_port(), free_port());
        let fragment = rewrite(recipe, upstreams, https_port, http_port, certificate, key);
        let root = dir.path().display().to_string();
        let config = format!(
            "worker_processes 1;\n\
             error_log {root}/error.log info;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             access_log {root}/access.log;\n\
             client_body_temp_path {root}/body;\n\
             proxy_temp_path {root}/proxy;\n\
             fastcgi_temp_path {root}/fastcgi;\n\
             uwsgi_temp_path {root}/uwsgi;\n\
             scgi_temp_path {root}/scgi;\n\
             {fragment}\n\
             }}\n"
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        crate::run_ok(
            Command::new("nginx")
                .args(["-t", "-p", &root, "-c"])
                .arg(&config_path)
                .args(["-g", &format!("pid {root}/nginx.pid;")]),
            "nginx checks the recipe (`make test` installs nginx-light)",
        );
        let running = Supervised::start(
            &format!(
                "nginx -p '{root}' -c '{}' -g 'daemon off; pid {root}/nginx.pid;'",
                config_path.display()
            ),
            "TERM",
            "nginx",
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", https_port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            https_port,
            http_port,
            dir,
            _running: running,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.https_port)
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Where nginx keeps its files.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// The recipe with its listen ports, upstream addresses and certificate
/// paths replaced; every other line as written.
fn rewrite(
    recipe: &str,
    upstreams: &[u16],
    https_port: u16,
    http_port: u16,
    certificate: &Path,
    key: &Path,
) -> String {
    // Each node's address, in order of first appearance, becomes the next
    // port; an address named again (in a second upstream block) gets the same.
    let mut nodes: Vec<&str> = Vec::new();
    let mut lines = Vec::new();
    for line in recipe.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let rewritten = if trimmed.starts_with("listen [::]") {
            // Loopback IPv4 only.
            continue;
        } else if let Some(rest) = trimmed.strip_prefix("listen 443") {
            format!("{indent}listen 127.0.0.1:{https_port}{rest}")
        } else if let Some(rest) = trimmed.strip_prefix("listen 80") {
            format!("{indent}listen 127.0.0.1:{http_port}{rest}")
        } else if let Some(rest) = trimmed.strip_prefix("server 10.") {
            // The address, then the server's parameters as written.
            let (address, parameters) = rest
                .trim_end_matches(';')
                .split_once(' ')
                .unwrap_or((rest.trim_end_matches(';'), ""));
            let index = match nodes.iter().position(|node| *node == address) {
                Some(index) => index,
                None => {
                    nodes.push(address);
                    nodes.len() - 1
                }
            };
            let port = upstreams.get(index).expect("a port per node in the recipe");
            format!("{indent}server 127.0.0.1:{port} {parameters};")
        } else if trimmed.starts_with("ssl_certificate_key ") {
            format!("{indent}ssl_certificate_key {};", key.display())
        } else if trimmed.starts_with("ssl_certificate ") {
            format!("{indent}ssl_certificate {};", certificate.display())
        } else {
            line.to_string()
        };
        lines.push(rewritten);
    }
    assert_eq!(
        nodes.len(),
        upstreams.len(),
        "the recipe names as many nodes as the test starts"
    );
    lines.join("\n")
}
