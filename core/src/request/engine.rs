//! The driver every host runs (docs/ARCHITECTURE.md §2, "core drives, hosts carry out").
//! A host hands a request's headers to [`Engine::on_request`] and carries out the
//! [`Outcome`]: forward with header edits, send a local reply, or make a [`Call`] and, once
//! it is answered, hand the answer and the [`Pending`] continuation to
//! [`Engine::on_response`]. Every decision (route, method, credentials, session lookup,
//! login steps, what a callout's answer means) is made here.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::config::Config;
use crate::idp::{self, Purpose};
use crate::login::code_flow::{self, CallbackRequest, CodeLogin, START_RANDOM_BYTES};
use crate::login::device::{self, Poll, Polled};
use crate::login::flow::{CalloutAnswer, Flow};
use crate::login::key_cache::{self, KeyCache};
use crate::login::{Callout, Login, LoginEnv, LoginStep};
use crate::metrics::Metric;
use crate::ports::{Call, Host, Request, Response, Upstream};
use crate::reply::Reply;
use crate::request::filter::{
    Answer, Decision, Filter, HeaderEdit, Navigation, OwnSessionsRequest, PendingOwnSessions,
    PendingRestore, Presented, WriteThrough,
};
use crate::request::routing::Route;
use crate::session::sync::{RecentMisses, MAX_ANSWER_BYTES, SIDECAR_TIMEOUT_MS};
use crate::session::{SessionHash, SECRET_BYTES};
use crate::time::Millis;

/// What the host does with a request (or with a paused request once a call is answered).
#[derive(Debug)]
pub enum Outcome<'a> {
    /// Let the request go upstream after applying these edits (resuming it if paused).
    Forward(Vec<HeaderEdit<'a>>),
    /// Answer locally.
    Reply(Reply),
    /// Pause the request, make this call, and hand its answer and the continuation back to
    /// [`Engine::on_response`] (or to [`Engine::on_dispatch_failed`] if it cannot be made).
    Call(Call, Pending),
}

/// What a paused request waits for. Opaque to hosts: they keep it and give it back.
#[derive(Debug)]
pub struct Pending {
    // Boxed: a login in flight is large, and an outcome is moved around on every request.
    waiting: Box<Waiting>,
    max_answer: usize,
    /// Client-sent identity headers under other spellings, removed whenever the request is
    /// finally forwarded.
    strip: Vec<HeaderEdit<'static>>,
}

impl Pending {
    /// The most of the answer's body the host need read (see [`Call::max_answer`]).
    pub fn max_answer(&self) -> usize {
        self.max_answer
    }
}

enum Waiting {
    Login { callout: Callout, flow: Box<Flow> },
    DeviceStart([u8; 32]),
    DevicePoll(SessionHash),
    Restore(PendingRestore),
    WriteThrough(WriteThrough),
    OwnSessions(PendingOwnSessions),
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the flow's contents: they hold tokens.
        let name = match self {
            Waiting::Login { .. } => "Login",
            Waiting::DeviceStart(_) => "DeviceStart",
            Waiting::DevicePoll(_) => "DevicePoll",
            Waiting::Restore(_) => "Restore",
            Waiting::WriteThrough(_) => "WriteThrough",
            Waiting::OwnSessions(_) => "OwnSessions",
        };
        f.write_str(name)
    }
}

/// Adds the removal of other spellings of the identity headers to whatever forwards the
/// request, now or once its call is answered.
fn with_stripped<'a>(outcome: Outcome<'a>, strip: Vec<HeaderEdit<'static>>) -> Outcome<'a> {
    if strip.is_empty() {
        return outcome;
    }
    match outcome {
        Outcome::Forward(mut edits) => {
            edits.extend(strip);
            Outcome::Forward(edits)
        }
        Outcome::Call(call, mut pending) => {
            pending.strip = strip;
            Outcome::Call(call, pending)
        }
        reply => reply,
    }
}

/// The 503 of a host that could not load its configuration: it fails closed.
pub fn unconfigured() -> Reply {
    Reply::error(
        503,
        "not_configured",
        "the auth filter has no configuration",
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it (a host catches
    // that at its boundary); the data is plain caches, still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The configured filter plus the caches a host instance keeps (parsed keys, recent sidecar
/// misses). `Send + Sync`: a native host shares one across its worker threads.
#[derive(Debug)]
pub struct Engine {
    pub filter: Filter,
    keys: Mutex<KeyCache>,
    misses: Mutex<RecentMisses>,
}

/// The headers a request may present its session in.
struct Credentials {
    cookie: Option<Vec<u8>>,
    authorization: Option<Vec<u8>>,
}

impl Credentials {
    fn read(req: &dyn Request) -> Credentials {
        Credentials {
            cookie: req.header("cookie"),
            authorization: req.header("authorization"),
        }
    }

    fn presented(&self) -> Presented<'_> {
        Presented {
            cookie: self.cookie.as_deref(),
            authorization: self.authorization.as_deref(),
        }
    }
}

fn text_header(req: &dyn Request, name: &str, fallback: &str) -> String {
    req.header(name)
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_else(|| fallback.to_string())
}

/// Whether the request is a browser navigating to a page.
fn is_navigation(req: &dyn Request) -> bool {
    code_flow::is_navigation(
        &req.header(":method").unwrap_or_default(),
        req.header("accept").as_deref(),
        req.header("sec-fetch-mode").as_deref(),
        req.header("x-requested-with").as_deref(),
    )
}

fn idp_unreachable() -> Reply {
    Reply::idp_unavailable("cannot reach the identity provider")
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine {
            filter: Filter::new(config),
            keys: Mutex::new(KeyCache::default()),
            misses: Mutex::new(RecentMisses::default()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.filter.config
    }

    /// A request's headers arrived. `now` is the host's cheap clock (see [`Host::clock`]);
    /// only public and protected requests use it.
    pub fn on_request<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        now: Millis,
    ) -> Outcome<'a> {
        let filter = &self.filter;
        // Other spellings of the identity headers go on every path.
        let strip = filter.identity_spellings(req.names());
        let outcome = self.route(host, req, now);
        with_stripped(outcome, strip)
    }

    fn route<'a>(&'a self, host: &dyn Host, req: &dyn Request, now: Millis) -> Outcome<'a> {
        let filter = &self.filter;
        let path = req.header(":path").unwrap_or_default();
        let route = filter.route(&path, || req.header(":method").unwrap_or_default());
        match route {
            // No session, no clock: a public path (static files, health checks) costs the
            // fewest host calls.
            Route::Public => {
                let credentials = Credentials::read(req);
                Outcome::Forward(filter.public(
                    credentials.cookie.as_deref(),
                    credentials.authorization.as_deref(),
                ))
            }
            Route::Refused(refusal) => Outcome::Reply(filter.refuse(host, refusal)),
            Route::Protected(access) => {
                let credentials = Credentials::read(req);
                let decision = {
                    let misses = lock(&self.misses);
                    filter.protected_by(host, credentials.presented(), now, &misses, access)
                };
                self.decide(host, req, decision, now)
            }
            endpoint => self.on_endpoint(host, req, endpoint, host.clock()),
        }
    }

    /// One of the filter's own endpoints: login, logout, keep-alive, callback, device.
    fn on_endpoint<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        route: Route,
        now: Millis,
    ) -> Outcome<'a> {
        let filter = &self.filter;
        match route {
            // Not endpoints (see on_request); fail closed rather than guess.
            Route::Public | Route::Protected(_) | Route::Refused(_) => {
                Outcome::Reply(Reply::unauthorized())
            }
            Route::DeviceStart | Route::DevicePoll => {
                if req.header(":method").unwrap_or_default() != b"POST" {
                    return Outcome::Reply(
                        Reply::error(405, "method_not_allowed", "use POST")
                            .with_header("allow", "POST"),
                    );
                }
                if route == Route::DeviceStart {
                    self.device_start(host, now)
                } else {
                    self.device_poll(host, req.header("authorization").as_deref(), now)
                }
            }
            Route::Sessions => self.own_sessions(host, req, now),
            Route::Callback => {
                if req.header(":method").unwrap_or_default() != b"GET" {
                    return Outcome::Reply(Reply::method_not_allowed());
                }
                self.callback(host, req, now)
            }
            Route::Login | Route::Logout | Route::KeepAlive => {
                let method = req.header(":method").unwrap_or_default();
                if !Filter::endpoint_method_allowed(&method) {
                    return Outcome::Reply(Reply::method_not_allowed());
                }
                match route {
                    Route::Login => {
                        self.token_login(host, req, req.header("authorization").as_deref(), now)
                    }
                    Route::Logout => {
                        let site = req.header("sec-fetch-site");
                        if let Some(reply) = Filter::logout_refusal(&method, site.as_deref()) {
                            return Outcome::Reply(reply);
                        }
                        let credentials = Credentials::read(req);
                        let navigation = filter
                            .config
                            .code_flow
                            .as_ref()
                            .is_some_and(|cf| cf.logout_redirect.is_some())
                            && is_navigation(req);
                        let answer = filter.logout(host, credentials.presented(), now, navigation);
                        self.answer(host, answer, now)
                    }
                    _ => {
                        let credentials = Credentials::read(req);
                        let decision = {
                            let misses = lock(&self.misses);
                            filter.keep_alive(host, credentials.presented(), now, &misses)
                        };
                        self.decide(host, req, decision, now)
                    }
                }
            }
        }
    }

    /// A call made for a paused request was answered (or timed out: `status: None`).
    pub fn on_response<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        pending: Pending,
        response: Response,
    ) -> Outcome<'a> {
        let strip = pending.strip;
        let outcome = self.answered(host, req, *pending.waiting, response);
        with_stripped(outcome, strip)
    }

    fn answered<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        waiting: Waiting,
        response: Response,
    ) -> Outcome<'a> {
        let now = host.clock();
        let status = response.status;
        match waiting {
            Waiting::Login { callout, mut flow } => {
                let jwks_fetched =
                    callout == Callout::Jwks && self.receive_jwks(host, &response, now);
                let body = response.body.unwrap_or_default();
                let keys = lock(&self.keys).current(host);
                let answer = CalloutAnswer {
                    callout,
                    status,
                    body: &body,
                    jwks_fetched,
                };
                let step = flow.on_answer(
                    &self.filter.config,
                    keys.as_deref(),
                    now,
                    &answer,
                    &mut |have_keys| key_cache::claim_login_fetch(host, now, have_keys),
                );
                self.login_step(host, req, *flow, step, now)
            }
            Waiting::DeviceStart(random) => {
                let body = response.body.unwrap_or_default();
                Outcome::Reply(device::started(host, status, &body, &random, now))
            }
            Waiting::DevicePoll(hash) => {
                let body = response.body.unwrap_or_default();
                match device::polled(host, &hash, status, &body, now) {
                    Polled::Reply(reply) => Outcome::Reply(reply),
                    // Approved: the access token is checked exactly as at the login endpoint.
                    Polled::Token(token) => {
                        let bearer = format!("Bearer {token}");
                        self.token_login(host, req, Some(bearer.as_bytes()), now)
                    }
                }
            }
            Waiting::Restore(pending) => {
                let body = response.body.unwrap_or_default();
                let decision = {
                    let mut misses = lock(&self.misses);
                    self.filter
                        .restored(host, pending, status, &body, now, &mut misses)
                };
                self.decide(host, req, decision, now)
            }
            Waiting::OwnSessions(pending) => {
                let body = response.body.unwrap_or_default();
                Outcome::Reply(
                    self.filter
                        .own_sessions_answered(host, pending, status, &body, now),
                )
            }
            Waiting::WriteThrough(wt) => {
                let acknowledged = status == Some(200);
                Outcome::Reply(self.filter.written_through(host, wt, acknowledged, now))
            }
        }
    }

    /// The host could not make the call it was asked for (no such cluster, no healthy host).
    pub fn on_dispatch_failed<'a>(&'a self, host: &dyn Host, pending: Pending) -> Outcome<'a> {
        self.failed(host, *pending.waiting, host.clock())
    }

    fn failed<'a>(&'a self, host: &dyn Host, waiting: Waiting, now: Millis) -> Outcome<'a> {
        Outcome::Reply(match waiting {
            Waiting::Login { .. } => {
                host.count(Metric::LoginIdpUnavailable, 1);
                idp_unreachable()
            }
            Waiting::DeviceStart(_) | Waiting::DevicePoll(_) => idp_unreachable(),
            Waiting::Restore(_) | Waiting::OwnSessions(_) => Reply::store_unavailable(),
            Waiting::WriteThrough(wt) => self.filter.written_through(host, wt, false, now),
        })
    }

    /// A call to the sidecar, or the failure path when none is configured.
    fn sidecar<'a>(
        &'a self,
        host: &dyn Host,
        method: &'static str,
        path: String,
        body: Option<Vec<u8>>,
        waiting: Waiting,
        now: Millis,
    ) -> Outcome<'a> {
        match sidecar_call(&self.filter, method, path, body) {
            Some(call) => Outcome::Call(
                call,
                Pending {
                    waiting: Box::new(waiting),
                    max_answer: MAX_ANSWER_BYTES,
                    strip: Vec::new(),
                },
            ),
            None => self.failed(host, waiting, now),
        }
    }

    fn idp<'a>(&'a self, call: Call, waiting: Waiting) -> Outcome<'a> {
        let max_answer = call.max_answer;
        Outcome::Call(
            call,
            Pending {
                waiting: Box::new(waiting),
                max_answer,
                strip: Vec::new(),
            },
        )
    }

    /// Carries out a decision on a protected path or keep-alive.
    fn decide<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        decision: Decision<'a>,
        now: Millis,
    ) -> Outcome<'a> {
        match decision {
            Decision::Forward(edits) => Outcome::Forward(edits),
            Decision::Reply(reply) => Outcome::Reply(reply),
            Decision::Unauthenticated => Outcome::Reply(self.unauthenticated(host, req, now)),
            Decision::Restore(pending) => {
                let path = Filter::restore_path(&pending);
                self.sidecar(host, "GET", path, None, Waiting::Restore(pending), now)
            }
        }
    }

    /// 401, or for a browser navigation with the code flow on, the redirect to the login page.
    fn unauthenticated(&self, host: &dyn Host, req: &dyn Request, now: Millis) -> Reply {
        let filter = &self.filter;
        if filter.config.code_flow.is_none() || !is_navigation(req) {
            return filter.unauthenticated(host, None, now);
        }
        let mut random = [0u8; START_RANDOM_BYTES];
        if !host.random(&mut random) {
            return filter.unauthenticated(host, None, now);
        }
        let scheme = text_header(req, ":scheme", "https");
        let authority = text_header(req, ":authority", "");
        let path = req.header(":path").unwrap_or_default();
        filter.unauthenticated(
            host,
            Some(Navigation {
                scheme: &scheme,
                authority: &authority,
                path: &path,
                random: &random,
            }),
            now,
        )
    }

    /// Carries out an answer that may have to be written through to the sidecar first.
    fn answer<'a>(&'a self, host: &dyn Host, answer: Answer, now: Millis) -> Outcome<'a> {
        match answer {
            Answer::Now(reply) => Outcome::Reply(reply),
            Answer::AfterSync(mut wt) => {
                let body = std::mem::take(&mut wt.body);
                let path = "/sync".to_string();
                self.sidecar(
                    host,
                    "POST",
                    path,
                    Some(body),
                    Waiting::WriteThrough(wt),
                    now,
                )
            }
        }
    }

    /// Carries out a login step: answer, create the session, or call the IdP and wait.
    fn login_step<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        flow: Flow,
        step: LoginStep,
        now: Millis,
    ) -> Outcome<'a> {
        let config = &self.filter.config;
        match step {
            LoginStep::Fail(reply, metric) => {
                host.count(metric, 1);
                Outcome::Reply(reply)
            }
            LoginStep::Create(identity) => {
                let mut random = [0u8; SECRET_BYTES];
                if !host.random(&mut random) {
                    log::error!("no randomness for a session secret");
                    return Outcome::Reply(Reply::error(
                        503,
                        "internal_error",
                        "cannot create a session now",
                    ));
                }
                let landing = flow.landing(config);
                let user_agent = req.header("user-agent");
                let answer = self.filter.create_session_from(
                    host,
                    identity,
                    user_agent.as_deref(),
                    &random,
                    now,
                    landing,
                );
                self.answer(host, answer, now)
            }
            LoginStep::Call(callout) => {
                if flow.unauthenticated_call(&callout) {
                    if let Some(reply) = self.filter.admit_idp_call(host, now) {
                        return Outcome::Reply(reply);
                    }
                }
                let body = flow.body(config, &callout);
                let call = idp::call(config, &callout, Purpose::Login, flow.bearer(), body);
                let flow = Box::new(flow);
                self.idp(call, Waiting::Login { callout, flow })
            }
        }
    }

    /// A token login: at the login endpoint, or once a device login is approved.
    fn token_login<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        authorization: Option<&[u8]>,
        now: Millis,
    ) -> Outcome<'a> {
        let mut login = match Login::new(authorization) {
            Ok(login) => login,
            Err((reply, metric)) => {
                host.count(metric, 1);
                return Outcome::Reply(reply);
            }
        };
        let keys = lock(&self.keys).current(host);
        let env = LoginEnv {
            config: &self.filter.config,
            keys: keys.as_deref(),
            now,
        };
        let step = login.start(&env, &mut |have_keys| {
            key_cache::claim_login_fetch(host, now, have_keys)
        });
        self.login_step(host, req, Flow::Token(login), step, now)
    }

    /// A user's own sessions: asked of the sidecar on behalf of the presented session.
    fn own_sessions<'a>(&'a self, host: &dyn Host, req: &dyn Request, now: Millis) -> Outcome<'a> {
        let credentials = Credentials::read(req);
        let method = req.header(":method").unwrap_or_default();
        let path = req.header(":path").unwrap_or_default();
        let site = req.header("sec-fetch-site");
        let origin = req.header("origin");
        let scheme = text_header(req, ":scheme", "https");
        let authority = text_header(req, ":authority", "");
        let request = OwnSessionsRequest {
            method: &method,
            path: &path,
            presented: credentials.presented(),
            sec_fetch_site: site.as_deref(),
            origin: origin.as_deref(),
            scheme: &scheme,
            authority: &authority,
        };
        let call = {
            let misses = lock(&self.misses);
            self.filter.own_sessions(host, &request, now, &misses)
        };
        match call {
            Err(reply) => Outcome::Reply(reply),
            Ok(call) => self.sidecar(
                host,
                call.method,
                call.path,
                None,
                Waiting::OwnSessions(call.pending),
                now,
            ),
        }
    }

    fn device_start<'a>(&'a self, host: &dyn Host, now: Millis) -> Outcome<'a> {
        let config = &self.filter.config;
        let Some(d) = &config.device else {
            return Outcome::Reply(Reply::unauthorized());
        };
        let mut random = [0u8; 32];
        if !host.random(&mut random) {
            return Outcome::Reply(Reply::error(
                503,
                "internal_error",
                "no randomness for a device login",
            ));
        }
        if !device::has_room(host, &random, now) {
            return Outcome::Reply(device::full());
        }
        if let Some(reply) = self.filter.admit_idp_call(host, now) {
            return Outcome::Reply(reply);
        }
        let body = Some(device::start_body(d));
        let call = idp::call(config, &Callout::DeviceCode, Purpose::Device, "", body);
        self.idp(call, Waiting::DeviceStart(random))
    }

    fn device_poll<'a>(
        &'a self,
        host: &dyn Host,
        authorization: Option<&[u8]>,
        now: Millis,
    ) -> Outcome<'a> {
        let config = &self.filter.config;
        let Some(d) = &config.device else {
            return Outcome::Reply(Reply::unauthorized());
        };
        match device::poll(host, d, authorization, now) {
            Poll::Reply(reply) => Outcome::Reply(reply),
            Poll::Exchange { hash, body } => {
                let callout = Callout::TokenExchange;
                let call = idp::call(config, &callout, Purpose::Device, "", Some(body));
                self.idp(call, Waiting::DevicePoll(hash))
            }
        }
    }

    fn callback<'a>(&'a self, host: &dyn Host, req: &dyn Request, now: Millis) -> Outcome<'a> {
        let config = &self.filter.config;
        let Some(cf) = &config.code_flow else {
            return Outcome::Reply(Reply::unauthorized());
        };
        let path = req.header(":path").unwrap_or_default();
        let query = path
            .iter()
            .position(|&b| b == b'?')
            .map_or(&[][..], |i| &path[i + 1..]);
        let cookie = req.header("cookie");
        let scheme = text_header(req, ":scheme", "https");
        let authority = text_header(req, ":authority", "");
        let html = req
            .header("accept")
            .is_some_and(|a| a.windows(9).any(|w| w == b"text/html"));
        let request = CallbackRequest {
            query,
            cookie_header: cookie.as_deref(),
            scheme: &scheme,
            authority: &authority,
            html,
        };
        match CodeLogin::begin(config, cf, host, &request, now) {
            Ok(code) => {
                let step = code.first_step();
                self.login_step(host, req, Flow::Code(Box::new(code)), step, now)
            }
            Err((reply, metric)) => {
                host.count(metric, 1);
                Outcome::Reply(reply)
            }
        }
    }

    /// Stores a JWKS callout answer for every worker. True when a usable JWKS was stored.
    pub(crate) fn receive_jwks(&self, host: &dyn Host, response: &Response, now: Millis) -> bool {
        let result = match (response.status, &response.body) {
            (None, _) => Err("no answer".to_string()),
            (Some(200), Some(body)) => key_cache::store(host, now, body),
            (Some(200), None) => Err("answer too large".to_string()),
            (Some(status), _) => Err(format!("status {status}")),
        };
        match result {
            Ok(keys) => {
                host.count(Metric::JwksFetchOk, 1);
                log::info!("JWKS fetched, {keys} signing key(s)");
                true
            }
            Err(why) => {
                host.count(Metric::JwksFetchFailed, 1);
                log::warn!("JWKS fetch failed: {why}");
                false
            }
        }
    }
}

/// A call to the session sidecar (none when no sidecar is configured).
pub(crate) fn sidecar_call(
    filter: &Filter,
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
) -> Option<Call> {
    let sidecar = filter.config.sidecar.as_ref()?;
    Some(Call {
        upstream: Upstream::Sidecar,
        cluster: sidecar.cluster.clone(),
        headers: filter.sidecar_headers(method, path),
        body,
        timeout_ms: SIDECAR_TIMEOUT_MS,
        max_answer: MAX_ANSWER_BYTES,
    })
}

#[cfg(test)]
#[path = "../tests/engine.rs"]
mod tests;
