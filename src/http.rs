//! One HTTP request: route it, carry out the core's decision, and run its callouts (IdP
//! calls of a login, the sidecar restore of a session, write-throughs of logins and logouts).

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use session_core::filter::{
    Answer, Decision, Filter, HeaderEdit, Host, PendingRestore, WriteThrough,
};
use session_core::key_cache;
use session_core::login::{Callout, Login, LoginEnv, LoginStep, MAX_USERINFO_BYTES};
use session_core::metrics::Metric;
use session_core::reply::Reply;
use session_core::routing::Route;
use session_core::session::SECRET_BYTES;
use session_core::sync::MAX_ANSWER_BYTES;

use crate::host::{callout_body, callout_status, log, now_millis};
use crate::root::Shared;

/// What a paused request is waiting for.
enum Waiting {
    Login { callout: Callout, login: Login },
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
            Decision::Restore(pending) => {
                match shared.dispatch_sidecar("GET", Filter::restore_path(&pending), None) {
                    Some(token_id) => self.wait(token_id, Waiting::Restore(pending)),
                    None => send(&Reply::store_unavailable()),
                }
            }
        }
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
    fn login_step(&mut self, shared: &Shared, login: Login, step: LoginStep, now: u64) -> Action {
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
                let answer = shared.filter.create_session(&host, identity, &random, now);
                self.answer(shared, answer, now)
            }
            LoginStep::Call(callout) => match shared.dispatch_idp(&callout, login.token()) {
                Some(token_id) => self.wait(token_id, Waiting::Login { callout, login }),
                None => {
                    host.count(Metric::LoginIdpUnavailable, 1);
                    send(&Reply::idp_unavailable(
                        "cannot reach the identity provider",
                    ))
                }
            },
        }
    }

    fn login(&mut self, shared: &Shared, now: u64) -> Action {
        let host = shared.host();
        let mut login = match Login::new(header("authorization").as_deref()) {
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
        self.login_step(shared, login, step, now)
    }

    /// A callout answered: continue whatever was waiting for it.
    fn resume(&mut self, shared: &Shared, waiting: Waiting, num_headers: usize, body_size: usize) {
        let now = now_millis();
        let host = shared.host();
        let status = callout_status(num_headers);
        match waiting {
            Waiting::Login { callout, mut login } => {
                let step = match callout {
                    Callout::Jwks => {
                        let fetched = shared.receive_jwks(now, num_headers, body_size);
                        let keys = shared.keys.borrow_mut().current(&host);
                        let env = LoginEnv {
                            config: &shared.filter.config,
                            keys: keys.as_deref(),
                            now,
                        };
                        login.on_jwks(&env, fetched)
                    }
                    Callout::Userinfo => {
                        let body = callout_body(body_size, MAX_USERINFO_BYTES).unwrap_or_default();
                        login.on_userinfo(status, &body)
                    }
                };
                self.login_step(shared, login, step, now);
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
        let now = now_millis();
        let filter = &shared.filter;
        let path = header(":path").unwrap_or_default();
        let route = filter.route(&path);
        let host = shared.host();
        match route {
            Route::Public => forward(filter.public(header("cookie").as_deref())),
            Route::Protected => {
                let misses = shared.misses.borrow();
                let decision = filter.protected(&host, header("cookie").as_deref(), now, &misses);
                drop(misses);
                self.decide(&shared, decision)
            }
            Route::Login | Route::Logout | Route::KeepAlive => {
                let method = header(":method").unwrap_or_default();
                if !Filter::endpoint_method_allowed(&method) {
                    return send(&Reply::method_not_allowed());
                }
                match route {
                    Route::Login => self.login(&shared, now),
                    Route::Logout => {
                        let answer = filter.logout(&host, header("cookie").as_deref(), now);
                        self.answer(&shared, answer, now)
                    }
                    _ => {
                        let misses = shared.misses.borrow();
                        let decision =
                            filter.keep_alive(&host, header("cookie").as_deref(), now, &misses);
                        drop(misses);
                        self.decide(&shared, decision)
                    }
                }
            }
        }
    }
}
