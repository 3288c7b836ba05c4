//! Puts the API on a listener, and prunes the store once a minute.
//!
//! A small HTTP/1.1 server of its own rather than tiny_http, which offers no timeouts: every
//! connection here serves one request with a deadline (a client that sends nothing, or drips
//! its headers or body, is dropped when it passes), the headers are bounded, a route that
//! needs a token is refused on the headers alone before any body is read (docs/ARCHITECTURE.md §8 rule 8),
//! connections wait in a bounded queue for a fixed pool of workers, and one that finds the
//! queue full is answered 503 at once.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::{body_limit, Api, Request, Response};
use crate::http;

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a request may take to arrive whole, from the connection's start.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request line plus headers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Requests served on one connection before it is closed.
const MAX_REQUESTS_PER_CONNECTION: usize = 1_000;
/// Connections waiting for a worker, per worker.
const QUEUE_PER_WORKER: usize = 16;

pub struct Server {
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Serves `api` on `listen` with `threads` workers.
    pub fn start(api: Arc<Api>, listen: &str, threads: usize) -> Result<Server, String> {
        Server::start_with_timeout(api, listen, threads, REQUEST_TIMEOUT)
    }

    /// The same, with another request timeout (the tests use a short one).
    pub fn start_with_timeout(
        api: Arc<Api>,
        listen: &str,
        threads: usize,
        timeout: Duration,
    ) -> Result<Server, String> {
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let threads = threads.max(1);
        let (queue, waiting) = sync_channel::<TcpStream>(threads * QUEUE_PER_WORKER);
        let waiting = Arc::new(Mutex::new(waiting));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..threads)
            .map(|_| {
                let (api, waiting) = (Arc::clone(&api), Arc::clone(&waiting));
                std::thread::spawn(move || work(&api, &waiting, timeout))
            })
            .collect();
        let acceptor = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept(&listener, &queue, &stop, timeout))
        };
        let pruner = Arc::clone(&api);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(60));
            if let Err(e) = pruner.store.prune(now_millis(), pruner.keep_ended()) {
                log::error!("prune failed: {e}");
            }
        });
        Ok(Server {
            stop,
            acceptor: Some(acceptor),
            workers,
            addr,
        })
    }

    /// Blocks until the server stops (it does not, unless `stop` is called elsewhere).
    pub fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor; it then drops the queue, and the workers end.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        self.wait();
    }
}

fn accept(
    listener: &TcpListener,
    queue: &SyncSender<TcpStream>,
    stop: &AtomicBool,
    timeout: Duration,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(timeout));
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = write_response(&mut stream, &busy(), false);
                let _ = stream.shutdown(Shutdown::Both);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn work(api: &Api, waiting: &Mutex<Receiver<TcpStream>>, timeout: Duration) {
    loop {
        let next = match waiting.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(stream) = next else {
            return;
        };
        serve_connection(api, stream, timeout);
    }
}

fn busy() -> Response {
    Response {
        status: 503,
        content_type: "application/json",
        body: r#"{"error":"busy","message":"too many connections; try again"}"#.into(),
        headers: Vec::new(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: serde_json::json!({"error": code, "message": message}).to_string(),
        headers: Vec::new(),
    }
}

/// A reader whose every read must finish before `deadline`.
struct Deadline<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "request too slow"));
        }
        self.stream.set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}

struct Head {
    method: String,
    url: String,
    authorization: Option<String>,
    content_length: usize,
    keep_alive: bool,
}

enum HeadRead {
    Head(Head),
    /// The client closed the connection (or sent nothing in time) between requests.
    Closed,
    /// A malformed or oversized head: answer this and close.
    Bad(Response),
}

fn read_head(reader: &mut BufReader<Deadline<'_>>) -> HeadRead {
    let mut used = 0;
    let mut line = Vec::new();
    let mut read_line = |line: &mut Vec<u8>, used: &mut usize| -> Result<bool, ()> {
        line.clear();
        let limit = (MAX_HEAD_BYTES - *used) as u64 + 1;
        match reader.by_ref().take(limit).read_until(b'\n', line) {
            Ok(0) => Ok(false),
            Ok(n) => {
                *used += n;
                if *used > MAX_HEAD_BYTES || !line.ends_with(b"\n") {
                    return Err(());
                }
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    };
    // The request line (blank lines before it are tolerated, as RFC 9112 asks).
    loop {
        match read_line(&mut line, &mut used) {
            Ok(true) if line.trim_ascii().is_empty() => continue,
            Ok(true) => break,
            Ok(false) => return HeadRead::Closed,
            Err(()) => return HeadRead::Bad(error(431, "too_large", "request head too large")),
        }
    }
    let text = String::from_utf8_lossy(line.trim_ascii()).into_owned();
    let mut parts = text.split(' ');
    let (Some(method), Some(url), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return HeadRead::Bad(error(400, "bad_request", "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return HeadRead::Bad(error(505, "bad_request", "HTTP/1.x only"));
    }
    let mut head = Head {
        method: method.to_string(),
        url: url.to_string(),
        authorization: None,
        content_length: 0,
        keep_alive: version == "HTTP/1.1",
    };
    loop {
        match read_line(&mut line, &mut used) {
            Ok(true) => {}
            Ok(false) => return HeadRead::Closed,
            Err(()) => return HeadRead::Bad(error(431, "too_large", "request head too large")),
        }
        let header = line.trim_ascii();
        if header.is_empty() {
            return HeadRead::Head(head);
        }
        let Some(colon) = header.iter().position(|&b| b == b':') else {
            return HeadRead::Bad(error(400, "bad_request", "malformed header"));
        };
        let name = String::from_utf8_lossy(&header[..colon]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(header[colon + 1..].trim_ascii()).into_owned();
        match name.as_str() {
            "authorization" => head.authorization = Some(value),
            "content-length" => match value.parse::<usize>() {
                Ok(n) => head.content_length = n,
                Err(_) => return HeadRead::Bad(error(400, "bad_request", "bad content-length")),
            },
            // Only Content-Length bodies: nothing here sends another kind.
            "transfer-encoding" => {
                return HeadRead::Bad(error(411, "length_required", "send a Content-Length"))
            }
            "connection" if value.eq_ignore_ascii_case("close") => head.keep_alive = false,
            "connection" if value.eq_ignore_ascii_case("keep-alive") => head.keep_alive = true,
            _ => {}
        }
    }
}

fn serve_connection(api: &Api, stream: TcpStream, timeout: Duration) {
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        // A fresh deadline per request: it bounds the wait for it as well as its arrival.
        let mut reader = BufReader::new(Deadline {
            stream: &stream,
            deadline: Instant::now() + timeout,
        });
        let head = match read_head(&mut reader) {
            HeadRead::Head(head) => head,
            HeadRead::Closed => break,
            HeadRead::Bad(response) => {
                let _ = write_response(&mut &stream, &response, false);
                break;
            }
        };
        if let Some(response) = api.precheck(&head.method, &head.url, head.authorization.as_deref())
        {
            // Refused on its headers: the body is never read, so the connection cannot be
            // reused.
            let _ = write_response(&mut &stream, &response, false);
            break;
        }
        if head.content_length > body_limit(&head.url) {
            let response = error(413, "too_large", "request body too large");
            let _ = write_response(&mut &stream, &response, false);
            break;
        }
        let mut body = vec![0u8; head.content_length];
        if reader.read_exact(&mut body).is_err() {
            let response = error(408, "timeout", "request body not received in time");
            let _ = write_response(&mut &stream, &response, false);
            break;
        }
        let response = api.handle(
            &Request {
                method: &head.method,
                url: &head.url,
                authorization: head.authorization.as_deref(),
                body: &body,
            },
            now_millis(),
        );
        // One request per connection: a kept-alive connection would hold a worker while it
        // idles (clients here are a few proxies on loopback, for whom a new connection is
        // cheap), and bytes read past this request would be lost with the reader.
        let keep_alive = false;
        let _ = head.keep_alive;
        if write_response(&mut &stream, &response, keep_alive).is_err() || !keep_alive {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn write_response(
    out: &mut impl Write,
    response: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let content_type = [("content-type", response.content_type.as_bytes())];
    let headers = response
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    http::write_response(
        out,
        response.status,
        content_type.into_iter().chain(headers),
        response.body.as_bytes(),
        keep_alive,
    )
}
