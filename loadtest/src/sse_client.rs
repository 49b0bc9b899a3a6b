//! Many light SSE clients: raw HTTP/1.1 over TCP, recording when each
//! snapshot version arrives. Light on purpose, so that 10,000 of them fit on
//! the same 2-core machine as the server.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
};

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientRecord {
    /// `(version, arrival)` of every snapshot frame, in arrival order.
    pub receipts: Vec<(i64, Instant)>,
    /// Bytes read after the response head.
    pub bytes: u64,
    /// Set when the connection failed or ended early.
    pub error: Option<String>,
}

/// Opens the stream and records snapshots until `stop` turns true.
pub async fn run(port: u16, cookie: String, mut stop: watch::Receiver<bool>) -> ClientRecord {
    let mut record = ClientRecord::default();
    if let Err(error) = read_stream(port, &cookie, &mut stop, &mut record).await {
        record.error = Some(format!("{error:#}"));
    }
    record
}

async fn read_stream(
    port: u16,
    cookie: &str,
    stop: &mut watch::Receiver<bool>,
    record: &mut ClientRecord,
) -> Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("connect")?;
    let request = format!(
        "GET /api/admin/stats/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 8192];
    let mut head_done = false;
    loop {
        let read = tokio::select! {
            read = stream.read(&mut chunk) => read?,
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
        };
        if read == 0 {
            if *stop.borrow() {
                return Ok(());
            }
            bail!("the server closed the stream");
        }
        buffer.extend_from_slice(&chunk[..read]);
        if !head_done {
            let Some(end) = find(&buffer, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            if !head.starts_with("HTTP/1.1 200") {
                bail!("stream refused: {}", head.lines().next().unwrap_or(""));
            }
            buffer.drain(..end + 4);
            head_done = true;
        }
        record.bytes += read as u64;
        // Whole lines only; chunk-size lines of the chunked encoding are ignored.
        let now = Instant::now();
        let mut consumed = 0;
        while let Some(newline) = buffer[consumed..].iter().position(|b| *b == b'\n') {
            let line = &buffer[consumed..consumed + newline];
            if let Some(version) = line.strip_prefix(b"id: ") {
                if let Some(version) = std::str::from_utf8(version)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    record.receipts.push((version, now));
                }
            }
            consumed += newline + 1;
        }
        buffer.drain(..consumed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
