//! The sidecar's one HTTP stack: hyper 1.x (HTTP/1.1) on tokio, for the store API and
//! `/metrics` (`server.rs`) and for the auth service (`auth.rs`), each on a listener of its
//! own with its own [`Limits`]. What used to be hand-written is hyper's: the exact head limit
//! (`max_header_size`: 431 when a head is one byte over, however it arrives), the deadline
//! for a head (`header_read_timeout`, which starts when a connection is accepted or its
//! previous answer is sent, so it also closes idle connections), keep-alive, and graceful
//! shutdown. What is ours is small: a cap on connections (503 beyond it), an
//! answer from the head alone before any body is read (a wrong token, a body over the
//! limit: 413 on its `Content-Length`, unread), a deadline for the body (408), and handlers
//! that may block (the store, the IdP) run on tokio's blocking pool, a bounded number at a
//! time, so a slow client or a slow database never holds a thread that serves others.

use std::convert::Infallible;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, TRANSFER_ENCODING};
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

/// A request as the handlers see it: the head (lower-case header names, values as sent,
/// in order); the body comes beside it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// The first value of a header, as text (lossy: a token is compared as bytes anyway).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// The one response type of the sidecar: the API's, the auth service's and the server's own
/// refusals. A header whose name or value cannot be sent (a line break) is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.as_bytes().to_vec())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response::new(status, "application/json", body.to_string())
    }

    /// `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error": code, "message": message}),
        )
    }

    /// The value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn closing(mut self) -> Response {
        self.headers.push(("connection".into(), b"close".to_vec()));
        self
    }

    fn into_hyper(self) -> hyper::Response<Full<Bytes>> {
        let mut out = hyper::Response::new(Full::new(Bytes::from(self.body)));
        *out.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = out.headers_mut();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                headers.append(name, value);
            }
        }
        out
    }
}

/// What a listener serves. `respond` may block (store, IdP): it runs on the blocking pool
/// unless `inline` says it never does.
pub trait Handler: Send + Sync + 'static {
    /// An answer from the head alone, before any body is read (a route that needs a token,
    /// without the right one: docs/ARCHITECTURE.md §8 rule 8).
    fn before_body(&self, _head: &Request) -> Option<Response> {
        None
    }
    /// The largest body read for this head; a larger `Content-Length` is refused unread.
    fn body_limit(&self, head: &Request) -> usize;
    /// Whether the answer is computed without blocking (no store, no network).
    fn inline(&self, _head: &Request) -> bool {
        false
    }
    fn respond(&self, head: &Request, body: &[u8]) -> Response;
}

/// One listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is answered 503 and closed.
    pub connections: usize,
    /// The largest request head (request line, headers, the empty line), exactly.
    pub head_bytes: usize,
    /// Most header lines in a head (431 beyond).
    pub headers: usize,
    /// A request head must arrive whole within this of the connection's start or of the
    /// previous answer on it: a connection that sends nothing for this long is closed.
    pub head_timeout: Duration,
    /// A request body must arrive whole within this of its head (408).
    pub body_timeout: Duration,
    /// Several requests per connection.
    pub keep_alive: bool,
    /// Handlers running at once on the blocking pool; more requests wait (holding no
    /// thread) for one to finish.
    pub handlers: usize,
}

/// How long a stop waits for requests in flight before it gives up on them.
pub const DRAIN: Duration = Duration::from_secs(5);

/// A listener being served; [`Listening::stop`] drains it.
pub struct Listening {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listening {
    /// Stops accepting, lets requests in flight finish (at most [`DRAIN`]), closes idle
    /// connections; returns when that is done.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Connections waiting to be accepted (the kernel caps it at `net.core.somaxconn`): a burst
/// of new connections waits here rather than being dropped and retried a second later.
const BACKLOG: u32 = 4096;

/// Binds `listen`; within a tokio runtime.
pub fn bind(listen: &str) -> Result<TcpListener, String> {
    let fail = |e: std::io::Error| format!("cannot listen on {listen}: {e}");
    let addr = listen
        .to_socket_addrs()
        .map_err(fail)?
        .next()
        .ok_or_else(|| format!("cannot listen on {listen}: no such address"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

/// Serves `handler` on `listener` with `limits`; within a tokio runtime.
pub fn serve<H: Handler>(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<H>,
) -> Result<Listening, String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept(listener, limits, handler, stopped));
    Ok(Listening { addr, stop, task })
}

struct Shared<H> {
    handler: Arc<H>,
    limits: Limits,
    handlers: Semaphore,
}

async fn accept<H: Handler>(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<H>,
    mut stopped: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        handler,
        limits,
        handlers: Semaphore::new(limits.handlers.max(1)),
    });
    let open = Arc::new(Semaphore::new(limits.connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_header_size(limits.head_bytes)
        .max_headers(limits.headers)
        .keep_alive(limits.keep_alive)
        // A client that shuts its side after sending a request still gets the answer.
        .half_close(true)
        .auto_date_header(false);
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: the connection waits in the
                // backlog; try again shortly rather than spin.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let started = Arc::new(AtomicBool::new(false));
        let service = {
            let (shared, started) = (Arc::clone(&shared), Arc::clone(&started));
            service_fn(move |request| {
                started.store(true, Ordering::Relaxed);
                answer(Arc::clone(&shared), request)
            })
        };
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut stopping = stopped.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // A connection's end (closed, timed out, malformed) is not worth a log line.
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopping.changed() => {
                    // Draining: a connection that never got a request whole (idle, or
                    // dripping a head) is closed now; a request in flight is answered
                    // (`Connection: close`), then its connection closes; hyper closes
                    // kept-alive connections between requests.
                    if started.load(Ordering::Relaxed) {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    // Every connection's permit back: all of them answered and closed.
    let all = u32::try_from(limits.connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, open.acquire_many(all))
        .await
        .is_err()
    {
        log::warn!("requests still in flight after {DRAIN:?}: given up");
    }
}

/// Over the connection cap: 503 at once, and closed.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"busy","message":"too many connections; try again"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

fn head_of(request: &hyper::Request<Incoming>) -> Request {
    Request {
        method: request.method().as_str().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().to_string(), |p| p.as_str().to_string()),
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
    }
}

async fn answer<H: Handler>(
    shared: Arc<Shared<H>>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    Ok(respond(shared, request).await.into_hyper())
}

async fn respond<H: Handler>(
    shared: Arc<Shared<H>>,
    request: hyper::Request<Incoming>,
) -> Response {
    let head = head_of(&request);
    // Answered on the head: the body is never read, so the connection cannot be reused.
    if let Some(early) = shared.handler.before_body(&head) {
        return early.closing();
    }
    // Only Content-Length bodies: nothing that calls the sidecar sends another kind.
    if request.headers().contains_key(TRANSFER_ENCODING) {
        return Response::error(411, "length_required", "send a Content-Length").closing();
    }
    let length = hyper::body::Body::size_hint(request.body())
        .exact()
        .unwrap_or(0);
    if length > shared.handler.body_limit(&head) as u64 {
        return Response::error(413, "too_large", "request body too large").closing();
    }
    let body = if length == 0 {
        Bytes::new()
    } else {
        match tokio::time::timeout(shared.limits.body_timeout, request.into_body().collect()).await
        {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(_)) => {
                return Response::error(400, "bad_request", "request body unreadable").closing()
            }
            Err(_) => {
                return Response::error(408, "timeout", "request body not received in time")
                    .closing()
            }
        }
    };
    if shared.handler.inline(&head) {
        return shared.handler.respond(&head, &body);
    }
    let Ok(_permit) = shared.handlers.acquire().await else {
        return Response::error(503, "busy", "shutting down");
    };
    let handler = Arc::clone(&shared.handler);
    match tokio::task::spawn_blocking(move || handler.respond(&head, &body)).await {
        Ok(response) => response,
        Err(e) => {
            log::error!("a request handler failed: {e}");
            Response::error(500, "internal", "the request could not be handled")
        }
    }
}
