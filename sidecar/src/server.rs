//! Puts the API (and `/metrics`) on a listener, and the auth service on another when there is
//! one, both served by the stack in `http.rs` on one tokio runtime; prunes the store once a
//! minute; on SIGTERM (or SIGINT) stops accepting, lets requests in flight finish, and
//! returns once every answer sent has been committed.
//!
//! The API serves one request per connection (the filters' calls are short, and a new
//! connection on loopback is cheap), refuses a call without the right token on its head
//! before any body is read (docs/ARCHITECTURE.md §8 rule 8), and runs store calls on tokio's
//! blocking pool, at most `workers` at a time: a connection that idles or drips its head
//! holds no thread and no store connection, only a few kilobytes, so thousands of them
//! starve nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use session_core::engine::timer::TICK_MS;

use crate::api::{body_limit, Api};
use crate::auth::{self, AuthService};
use crate::http::{self, Handler, Limits, Listening, Request, Response};

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a request head may take to arrive whole, from the connection's start (a
/// connection that sends nothing is closed then), and its body from its head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request line plus headers, exactly.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Connections open at once on the API's listener (503 beyond).
pub const MAX_CONNECTIONS: usize = 16_384;
/// Most header lines in a request head.
const MAX_HEADERS: usize = 128;

impl Handler for Api {
    fn before_body(&self, head: &Request) -> Option<Response> {
        let authorization = head.header("authorization");
        self.precheck(&head.method, &head.target, authorization.as_deref())
    }

    fn body_limit(&self, head: &Request) -> usize {
        body_limit(&head.target)
    }

    fn inline(&self, head: &Request) -> bool {
        head.path() == "/healthz"
    }

    fn respond(&self, head: &Request, body: &[u8]) -> Response {
        let authorization = head.header("authorization");
        self.handle(
            &crate::api::Request {
                method: &head.method,
                url: &head.target,
                authorization: authorization.as_deref(),
                body,
            },
            now_millis(),
        )
    }
}

/// The API's limits: `workers` store calls at once, `timeout` for a head and for a body.
pub fn api_limits(workers: usize, timeout: Duration) -> Limits {
    Limits {
        connections: MAX_CONNECTIONS,
        head_bytes: MAX_HEAD_BYTES,
        headers: MAX_HEADERS,
        head_timeout: timeout,
        body_timeout: timeout,
        keep_alive: false,
        handlers: workers,
    }
}

pub struct Server {
    pub addr: SocketAddr,
    /// Where the auth service listens, when it runs.
    pub auth_addr: Option<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
    api: Option<Listening>,
    auth: Option<Listening>,
    service: Option<Arc<AuthService>>,
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    /// Held until the runtime is gone: the store is closed here, never on one of its
    /// threads (the blocking PostgreSQL client cannot be dropped inside a runtime).
    _store: Arc<Api>,
}

impl Server {
    /// Serves `api` on `listen`, at most `workers` store calls at a time.
    pub fn start(api: Arc<Api>, listen: &str, workers: usize) -> Result<Server, String> {
        Server::start_with_timeout(api, listen, workers, REQUEST_TIMEOUT)
    }

    /// The same, with another request timeout (the tests use a short one).
    pub fn start_with_timeout(
        api: Arc<Api>,
        listen: &str,
        workers: usize,
        timeout: Duration,
    ) -> Result<Server, String> {
        Server::serve(api, api_limits(workers, timeout), listen, None)
    }

    /// Serves `api` on `listen` and, when given, the auth service on its own listener.
    pub fn serve(
        api: Arc<Api>,
        limits: Limits,
        listen: &str,
        auth: Option<(Arc<AuthService>, &str)>,
    ) -> Result<Server, String> {
        Server::build(api, limits, listen, auth, false)
    }

    /// The same, for the process itself: SIGTERM and SIGINT are caught from before the first
    /// connection is accepted, for [`Server::wait`].
    pub fn serve_until_signalled(
        api: Arc<Api>,
        limits: Limits,
        listen: &str,
        auth: Option<(Arc<AuthService>, &str)>,
    ) -> Result<Server, String> {
        Server::build(api, limits, listen, auth, true)
    }

    fn build(
        api: Arc<Api>,
        limits: Limits,
        listen: &str,
        auth: Option<(Arc<AuthService>, &str)>,
        signals: bool,
    ) -> Result<Server, String> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sidecar")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
        let entered = runtime.enter();
        let signals = if signals {
            use tokio::signal::unix::{signal, SignalKind};
            let caught = |kind: SignalKind| {
                signal(kind).map_err(|e| format!("cannot catch SIGTERM and SIGINT: {e}"))
            };
            Some((
                caught(SignalKind::terminate())?,
                caught(SignalKind::interrupt())?,
            ))
        } else {
            None
        };
        // Both sockets first: a taken port is an error before anything runs.
        let api_socket = http::bind(listen)?;
        let auth_socket = auth
            .as_ref()
            .map(|(_, listen)| http::bind(listen))
            .transpose()?;
        let api_listening = http::serve(api_socket, limits, Arc::clone(&api))?;
        let pruner = Arc::clone(&api);
        runtime.spawn(async move {
            let every = Duration::from_secs(60);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticks.tick().await;
                let pruner = Arc::clone(&pruner);
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = pruner.store.prune(now_millis(), pruner.keep_ended()) {
                        log::error!("prune failed: {e}");
                    }
                })
                .await;
            }
        });
        let (auth_listening, service) = match (auth, auth_socket) {
            (Some((service, _)), Some(socket)) => {
                let listening = http::serve(socket, auth::limits(), Arc::clone(&service))?;
                let ticking = Arc::clone(&service);
                runtime.spawn(async move {
                    let mut ticks = tokio::time::interval(Duration::from_millis(TICK_MS));
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        ticks.tick().await;
                        let service = Arc::clone(&ticking);
                        let _ = tokio::task::spawn_blocking(move || service.tick()).await;
                    }
                });
                (Some(listening), Some(service))
            }
            _ => (None, None),
        };
        drop(entered);
        Ok(Server {
            addr: api_listening.addr,
            auth_addr: auth_listening.as_ref().map(|l| l.addr),
            runtime: Some(runtime),
            api: Some(api_listening),
            auth: auth_listening,
            service,
            signals,
            _store: api,
        })
    }

    /// Serves until SIGTERM or SIGINT (caught since [`Server::serve_until_signalled`]), then
    /// drains as [`Server::stop`] does.
    pub fn wait(mut self) {
        if let (Some(runtime), Some((term, interrupt))) = (&self.runtime, &mut self.signals) {
            runtime.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
            log::info!("stopping: draining requests in flight");
        }
        self.shut_down();
    }

    /// Stops accepting on every listener, lets requests in flight finish (at most
    /// [`http::DRAIN`]), sends the auth service's last sync, and returns.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let (api, auth) = (self.api.take(), self.auth.take());
        runtime.block_on(async {
            let api = async {
                if let Some(l) = api {
                    l.stop().await;
                }
            };
            let auth = async {
                if let Some(l) = auth {
                    l.stop().await;
                }
            };
            tokio::join!(api, auth);
        });
        if let Some(service) = self.service.clone() {
            // Deadlines slid since the last tick reach the store before the process ends.
            let flush = runtime.spawn_blocking(move || service.tick());
            let _ = runtime.block_on(async { tokio::time::timeout(http::DRAIN, flush).await });
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Raises this process's soft limit on open files to its hard limit: each connection is
/// one, and the default soft limit (often 1,024) is far below the connections served.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
