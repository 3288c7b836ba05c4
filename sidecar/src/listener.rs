//! The auth service's HTTP/1.1 listener (docs/ARCHITECTURE.md §6, limits): a thread per
//! connection up to a fixed number of connections (the proxy keeps a few alive and reuses
//! them), a deadline on every request head, an idle timeout between requests, a cap on head
//! and body sizes, and header values taken as bytes (a client's non-UTF-8 cookie is the
//! core's to refuse, not a reason to drop the connection).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered 503 and closed.
    pub connections: usize,
    /// The whole request head must arrive within this.
    pub head_deadline: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    pub idle: Duration,
    pub head_bytes: usize,
    /// Larger bodies are refused unread (413); no endpoint reads one.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 512,
            head_deadline: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            head_bytes: 96 * 1024,
            body_bytes: 16 * 1024,
        }
    }
}

pub struct HttpRequest {
    pub method: String,
    pub target: String,
    /// Lower-case names, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn plain(status: u16, text: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body: format!(r#"{{"error":"bad_request","message":"{text}"}}"#).into_bytes(),
        }
    }
}

pub struct Listener {
    pub addr: SocketAddr,
    accept: std::thread::JoinHandle<()>,
}

impl Listener {
    /// Blocks for as long as the listener serves.
    pub fn wait(self) {
        let _ = self.accept.join();
    }
}

/// Serves `handler` on `listen`.
pub fn serve<F>(listen: &str, limits: Limits, handler: Arc<F>) -> Result<Listener, String>
where
    F: Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
{
    let socket =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = socket
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let open = Arc::new(AtomicUsize::new(0));
    let accept = std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut stream) = stream else { continue };
            if open.fetch_add(1, Ordering::AcqRel) >= limits.connections {
                open.fetch_sub(1, Ordering::AcqRel);
                let _ = write_response(
                    &mut stream,
                    &HttpResponse::plain(503, "too many connections"),
                    false,
                );
                continue;
            }
            let (count, handler) = (Arc::clone(&open), Arc::clone(&handler));
            let spawned = std::thread::Builder::new().spawn(move || {
                connection(stream, limits, &*handler);
                count.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                open.fetch_sub(1, Ordering::AcqRel);
            }
        }
    });
    Ok(Listener { addr, accept })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads more of the stream into `buf`; false when the peer closed or a deadline passed.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, until: Instant) -> bool {
    let Some(left) = until.checked_duration_since(Instant::now()) else {
        return false;
    };
    if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
        return false;
    }
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn connection<F>(mut stream: TcpStream, limits: Limits, handler: &F)
where
    F: Fn(&HttpRequest) -> HttpResponse,
{
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.head_deadline));
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Idle until the first byte of the next request, then the head's deadline.
        let mut until = Instant::now() + limits.idle;
        let mut started = !buf.is_empty();
        if started {
            until = Instant::now() + limits.head_deadline;
        }
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > limits.head_bytes {
                let _ = write_response(
                    &mut stream,
                    &HttpResponse::plain(431, "request head too large"),
                    false,
                );
                return;
            }
            if !fill(&mut stream, &mut buf, until) {
                return;
            }
            if !started {
                started = true;
                until = Instant::now() + limits.head_deadline;
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Request::new(&mut headers);
        let (request, keep_alive, body_len) = match parsed.parse(&buf[..head_end]) {
            Ok(httparse::Status::Complete(_)) => {
                let http10 = parsed.version == Some(0);
                let headers: Vec<(String, Vec<u8>)> = parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect();
                let value = |name: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
                };
                let close = value("connection").is_some_and(|c| c.contains("close"));
                let keep_alive = if http10 {
                    value("connection").is_some_and(|c| c.contains("keep-alive"))
                } else {
                    !close
                };
                if headers.iter().any(|(k, _)| k == "transfer-encoding") {
                    let _ = write_response(
                        &mut stream,
                        &HttpResponse::plain(411, "send a Content-Length"),
                        false,
                    );
                    return;
                }
                let body_len = match value("content-length").map(|v| v.parse::<usize>()) {
                    None => 0,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        let _ = write_response(
                            &mut stream,
                            &HttpResponse::plain(400, "bad Content-Length"),
                            false,
                        );
                        return;
                    }
                };
                let request = HttpRequest {
                    method: parsed.method.unwrap_or("GET").to_string(),
                    target: parsed.path.unwrap_or("/").to_string(),
                    headers,
                };
                (request, keep_alive, body_len)
            }
            Ok(httparse::Status::Partial) | Err(_) => {
                let _ = write_response(
                    &mut stream,
                    &HttpResponse::plain(400, "malformed request"),
                    false,
                );
                return;
            }
        };
        if body_len > limits.body_bytes {
            let _ = write_response(
                &mut stream,
                &HttpResponse::plain(413, "request body too large"),
                false,
            );
            return;
        }
        // The body is never used (credentials are headers): read past it, within the deadline.
        while buf.len() < head_end + body_len {
            if !fill(&mut stream, &mut buf, until) {
                return;
            }
        }
        buf.drain(..head_end + body_len);
        let response = handler(&request);
        if write_response(&mut stream, &response, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

fn write_response(
    stream: &mut TcpStream,
    r: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let headers = r
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()));
    http::write_response(stream, r.status, headers, &r.body, keep_alive)
}
