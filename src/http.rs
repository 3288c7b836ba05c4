//! One HTTP request: route it, carry out the core's decision, and run its callouts (IdP
//! calls of a login, the sidecar restore of a session, write-throughs of logins and logouts).

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use session_core::code_flow::{self, CallbackRequest, CodeLogin, START_RANDOM_BYTES};
use session_core::device::{self, Poll, Polled};
use session_core::filter::Presented;
use session_core::filter::{
    Answer, Decision, Filter, HeaderEdit, Host, Navigation, PendingRestore, WriteThrough,
};
use session_core::flow::{CalloutAnswer, Flow};
use session_core::key_cache;
use session_core::login::{Callout, Login, LoginEnv, LoginStep, MAX_USERINFO_BYTES};
use session_core::metrics::Metric;
use session_core::reply::Reply;
use session_core::routing::Route;
use session_core::session::{SessionHash, SECRET_BYTES};
use session_core::sync::MAX_ANSWER_BYTES;

use crate::host::{callout_body, callout_status, log, now_millis};
use crate::root::Shared;

/// What a paused request is waiting for.
enum Waiting {
    Login { callout: Callout, flow: Box<Flow> },
    DeviceStart,
    DevicePoll(SessionHash),
    Restore(PendingRestore),
    WriteThrough(WriteThrough),
}

pub struct Http {
    shared: Option<Rc<Shared>>,
    waiting: Option<(u32, Waiting)>,
}

impl Http {
    pub fn new(shared: Option<Rc<Shared>>) -> Http {
        Http {
            shared,
            waiting: None,
        }
    }
}

fn header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

fn send(reply: &Reply) -> Action {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(reply.status, headers, Some(reply.body.as_bytes()))
    {
        log(
            LogLevel::Error,
            &format!("could not send a reply: {status:?}"),
        );
    }
    Action::Pause
}

/// Whether the request is a browser navigating to a page.
fn is_navigation() -> bool {
    code_flow::is_navigation(
        &header(":method").unwrap_or_default(),
        header("accept").as_deref(),
        header("sec-fetch-mode").as_deref(),
        header("x-requested-with").as_deref(),
    )
}

/// The headers a request may present its session in.
struct Credentials {
    cookie: Option<Vec<u8>>,
    authorization: Option<Vec<u8>>,
}

impl Credentials {
    /// `Authorization` is read only when the `Cookie` header does not name our cookie: a
    /// browser's request (the common case) then costs one host call less.
    fn read(filter: &Filter) -> Credentials {
        let cookie = header("cookie");
        let authorization = if cookie
            .as_deref()
            .is_some_and(|c| filter.names_session_cookie(c))
        {
            None
        } else {
            header("authorization")
        };
        Credentials {
            cookie,
            authorization,
        }
    }

    fn presented(&self) -> Presented<'_> {
        Presented {
            cookie: self.cookie.as_deref(),
            authorization: self.authorization.as_deref(),
        }
    }
}

fn text_header(name: &str, fallback: &str) -> String {
    header(name)
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_else(|| fallback.to_string())
}

fn forward(edits: Vec<HeaderEdit<'_>>) -> Action {
    for edit in edits {
        let _ = match edit {
            HeaderEdit::Set(name, value) => {
                hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(&value))
            }
            HeaderEdit::Remove(name) => {
                hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, None)
            }
        };
    }
    Action::Continue
}

impl Http {
    fn wait(&mut self, token_id: u32, waiting: Waiting) -> Action {
        self.waiting = Some((token_id, waiting));
        Action::Pause
    }

    /// Carries out a decision on a protected path or keep-alive.
    fn decide(&mut self, shared: &Shared, decision: Decision<'_>) -> Action {
        match decision {
            Decision::Forward(edits) => forward(edits),
            Decision::Reply(reply) => send(&reply),
            Decision::Unauthenticated => send(&self.unauthenticated(shared)),
            Decision::Restore(pending) => {
                match shared.dispatch_sidecar("GET", Filter::restore_path(&pending), None) {
                    Some(token_id) => self.wait(token_id, Waiting::Restore(pending)),
                    None => send(&Reply::store_unavailable()),
                }
            }
        }
    }

    /// 401, or for a browser navigation with the code flow on, the redirect to the login page.
    fn unauthenticated(&self, shared: &Shared) -> Reply {
        let now = now_millis();
        if shared.filter.config.code_flow.is_none() || !is_navigation() {
            return shared.filter.unauthenticated(None, now);
        }
        let mut random = [0u8; START_RANDOM_BYTES];
        if getrandom::getrandom(&mut random).is_err() {
            return shared.filter.unauthenticated(None, now);
        }
        let scheme = text_header(":scheme", "https");
        let authority = text_header(":authority", "");
        let path = header(":path").unwrap_or_default();
        shared.filter.unauthenticated(
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
    fn answer(&mut self, shared: &Shared, answer: Answer, now: u64) -> Action {
        match answer {
            Answer::Now(reply) => send(&reply),
            Answer::AfterSync(wt) => {
                match shared.dispatch_sidecar("POST", "/sync".to_string(), Some(&wt.body)) {
                    Some(token_id) => self.wait(token_id, Waiting::WriteThrough(wt)),
                    None => send(
                        &shared
                            .filter
                            .written_through(&shared.host(), wt, false, now),
                    ),
                }
            }
        }
    }

    /// Carries out a login step: answer, create the session, or dispatch a callout and wait.
    fn login_step(&mut self, shared: &Shared, flow: Flow, step: LoginStep, now: u64) -> Action {
        let host = shared.host();
        match step {
            LoginStep::Fail(reply, metric) => {
                host.count(metric, 1);
                send(&reply)
            }
            LoginStep::Create(identity) => {
                let mut random = [0u8; SECRET_BYTES];
                if getrandom::getrandom(&mut random).is_err() {
                    log(LogLevel::Error, "no randomness for a session secret");
                    return send(&Reply::error(
                        503,
                        "internal_error",
                        "cannot create a session now",
                    ));
                }
                let landing = flow.landing(&shared.filter.config);
                let answer = shared
                    .filter
                    .create_session(&host, identity, &random, now, landing);
                self.answer(shared, answer, now)
            }
            LoginStep::Call(callout) => {
                let body = flow.body(&shared.filter.config, &callout);
                match shared.dispatch_idp(&callout, flow.bearer(), body.as_deref()) {
                    Some(token_id) => self.wait(
                        token_id,
                        Waiting::Login {
                            callout,
                            flow: Box::new(flow),
                        },
                    ),
                    None => {
                        host.count(Metric::LoginIdpUnavailable, 1);
                        send(&Reply::idp_unavailable(
                            "cannot reach the identity provider",
                        ))
                    }
                }
            }
        }
    }

    fn login(&mut self, shared: &Shared, now: u64) -> Action {
        self.token_login(shared, header("authorization").as_deref(), now)
    }

    /// A token login: at the login endpoint, or once a device login is approved.
    fn token_login(&mut self, shared: &Shared, authorization: Option<&[u8]>, now: u64) -> Action {
        let host = shared.host();
        let mut login = match Login::new(authorization) {
            Ok(login) => login,
            Err((reply, metric)) => {
                host.count(metric, 1);
                return send(&reply);
            }
        };
        let keys = shared.keys.borrow_mut().current(&host);
        let env = LoginEnv {
            config: &shared.filter.config,
            keys: keys.as_deref(),
            now,
        };
        let step = login.start(&env, &mut |have_keys| {
            key_cache::claim_login_fetch(&host, now, have_keys)
        });
        self.login_step(shared, Flow::Token(login), step, now)
    }

    fn device_start(&mut self, shared: &Shared) -> Action {
        let Some(d) = &shared.filter.config.device else {
            return send(&Reply::unauthorized());
        };
        match shared.dispatch_idp(&Callout::DeviceCode, "", Some(&device::start_body(d))) {
            Some(token_id) => self.wait(token_id, Waiting::DeviceStart),
            None => send(&Reply::idp_unavailable(
                "cannot reach the identity provider",
            )),
        }
    }

    fn device_poll(&mut self, shared: &Shared, authorization: Option<&[u8]>, now: u64) -> Action {
        let Some(d) = &shared.filter.config.device else {
            return send(&Reply::unauthorized());
        };
        match device::poll(&shared.host(), d, authorization, now) {
            Poll::Reply(reply) => send(&reply),
            Poll::Exchange { hash, body } => {
                match shared.dispatch_idp(&Callout::TokenExchange, "", Some(&body)) {
                    Some(token_id) => self.wait(token_id, Waiting::DevicePoll(hash)),
                    None => send(&Reply::idp_unavailable(
                        "cannot reach the identity provider",
                    )),
                }
            }
        }
    }

    fn callback(&mut self, shared: &Shared, now: u64) -> Action {
        let config = &shared.filter.config;
        let Some(cf) = &config.code_flow else {
            return send(&Reply::unauthorized());
        };
        let path = header(":path").unwrap_or_default();
        let query = path
            .iter()
            .position(|&b| b == b'?')
            .map_or(&[][..], |i| &path[i + 1..]);
        let cookie = header("cookie");
        let scheme = text_header(":scheme", "https");
        let authority = text_header(":authority", "");
        let html = header("accept").is_some_and(|a| a.windows(9).any(|w| w == b"text/html"));
        let request = CallbackRequest {
            query,
            cookie_header: cookie.as_deref(),
            scheme: &scheme,
            authority: &authority,
            html,
        };
        match CodeLogin::begin(config, cf, &request, now) {
            Ok(code) => {
                let step = code.first_step();
                self.login_step(shared, Flow::Code(code), step, now)
            }
            Err((reply, metric)) => {
                shared.host().count(metric, 1);
                send(&reply)
            }
        }
    }

    /// A callout answered: continue whatever was waiting for it.
    fn resume(&mut self, shared: &Shared, waiting: Waiting, num_headers: usize, body_size: usize) {
        let now = now_millis();
        let host = shared.host();
        let status = callout_status(num_headers);
        match waiting {
            Waiting::Login { callout, mut flow } => {
                let (jwks_fetched, max) = match callout {
                    Callout::Jwks => (shared.receive_jwks(now, num_headers, body_size), 0),
                    Callout::Userinfo => (false, MAX_USERINFO_BYTES),
                    Callout::TokenExchange | Callout::DeviceCode => {
                        (false, code_flow::MAX_TOKEN_ANSWER_BYTES)
                    }
                };
                let body = callout_body(body_size, max).unwrap_or_default();
                let keys = shared.keys.borrow_mut().current(&host);
                let answer = CalloutAnswer {
                    callout,
                    status,
                    body: &body,
                    jwks_fetched,
                };
                let step = flow.on_answer(
                    &shared.filter.config,
                    keys.as_deref(),
                    now,
                    &answer,
                    &mut |have_keys| key_cache::claim_login_fetch(&host, now, have_keys),
                );
                self.login_step(shared, *flow, step, now);
            }
            Waiting::DeviceStart => {
                let body = callout_body(body_size, device::MAX_ANSWER).unwrap_or_default();
                let mut random = [0u8; 32];
                let reply = if getrandom::getrandom(&mut random).is_ok() {
                    device::started(&host, status, &body, &random, now)
                } else {
                    Reply::error(503, "internal_error", "no randomness for a device login")
                };
                send(&reply);
            }
            Waiting::DevicePoll(hash) => {
                let body = callout_body(body_size, device::MAX_ANSWER).unwrap_or_default();
                match device::polled(&host, &hash, status, &body, now) {
                    Polled::Reply(reply) => {
                        send(&reply);
                    }
                    Polled::Token(token) => {
                        // Approved: the access token is checked exactly as at the login endpoint.
                        let bearer = format!("Bearer {token}");
                        self.token_login(shared, Some(bearer.as_bytes()), now);
                    }
                }
            }
            Waiting::Restore(pending) => {
                let body = callout_body(body_size, MAX_ANSWER_BYTES).unwrap_or_default();
                let mut misses = shared.misses.borrow_mut();
                let decision =
                    shared
                        .filter
                        .restored(&host, pending, status, &body, now, &mut misses);
                drop(misses);
                if let Action::Continue = self.decide(shared, decision) {
                    let _ = hostcalls::resume_http_request();
                }
            }
            Waiting::WriteThrough(wt) => {
                let acknowledged = status == Some(200);
                send(&shared.filter.written_through(&host, wt, acknowledged, now));
            }
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        match self.waiting.take() {
            Some((id, waiting)) if id == token_id => {
                self.resume(&shared, waiting, num_headers, body_size)
            }
            other => self.waiting = other,
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return send(&Reply::error(
                503,
                "not_configured",
                "the auth filter has no configuration",
            ));
        };
        let filter = &shared.filter;
        let path = header(":path").unwrap_or_default();
        let route = filter.route(&path, || header(":method").unwrap_or_default());
        if route == Route::Public {
            // No session, no clock: a public path (static files, health checks) costs the
            // fewest host calls.
            return forward(filter.public(header("cookie").as_deref()));
        }
        if let Route::Refused(refusal) = route {
            return send(&filter.refuse(&shared.host(), refusal));
        }
        let now = now_millis();
        let host = shared.host();
        match route {
            Route::Public | Route::Refused(_) => Action::Continue, // answered above
            Route::Protected(access) => {
                let credentials = Credentials::read(filter);
                let presented = credentials.presented();
                let misses = shared.misses.borrow();
                let decision = filter.protected_by(&host, presented, now, &misses, access);
                drop(misses);
                self.decide(&shared, decision)
            }
            Route::DeviceStart | Route::DevicePoll => {
                if header(":method").unwrap_or_default() != b"POST" {
                    return send(
                        &Reply::error(405, "method_not_allowed", "use POST")
                            .with_header("allow", "POST"),
                    );
                }
                if route == Route::DeviceStart {
                    return self.device_start(&shared);
                }
                self.device_poll(&shared, header("authorization").as_deref(), now)
            }
            Route::Callback => {
                if header(":method").unwrap_or_default() != b"GET" {
                    return send(&Reply::method_not_allowed());
                }
                self.callback(&shared, now)
            }
            Route::Login | Route::Logout | Route::KeepAlive => {
                let method = header(":method").unwrap_or_default();
                if !Filter::endpoint_method_allowed(&method) {
                    return send(&Reply::method_not_allowed());
                }
                match route {
                    Route::Login => self.login(&shared, now),
                    Route::Logout => {
                        let credentials = Credentials::read(filter);
                        let presented = credentials.presented();
                        let navigation = filter
                            .config
                            .code_flow
                            .as_ref()
                            .is_some_and(|cf| cf.logout_redirect.is_some())
                            && is_navigation();
                        let answer = filter.logout(&host, presented, now, navigation);
                        self.answer(&shared, answer, now)
                    }
                    _ => {
                        let credentials = Credentials::read(filter);
                        let misses = shared.misses.borrow();
                        let decision =
                            filter.keep_alive(&host, credentials.presented(), now, &misses);
                        drop(misses);
                        self.decide(&shared, decision)
                    }
                }
            }
        }
    }
}
