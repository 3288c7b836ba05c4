//! One HTTP request: route it, carry out the core's decision, and run a login's callouts.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use session_core::filter::{Decision, Filter, HeaderEdit, Host};
use session_core::key_cache;
use session_core::login::{Callout, Login, LoginEnv, LoginStep, MAX_USERINFO_BYTES};
use session_core::metrics::Metric;
use session_core::reply::Reply;
use session_core::routing::Route;
use session_core::session::SECRET_BYTES;

use crate::host::{callout_body, callout_status, log, now_millis};
use crate::root::Shared;

struct Pending {
    token_id: u32,
    callout: Callout,
    login: Login,
}

pub struct Http {
    shared: Option<Rc<Shared>>,
    pending: Option<Pending>,
}

impl Http {
    pub fn new(shared: Option<Rc<Shared>>) -> Http {
        Http {
            shared,
            pending: None,
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
    /// Carries out a login step: answer, create the session, or dispatch a callout and wait.
    fn carry(&mut self, shared: &Shared, login: Login, step: LoginStep, now: u64) -> Action {
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
                send(&shared.filter.create_session(&host, identity, &random, now))
            }
            LoginStep::Call(callout) => match shared.dispatch(&callout, login.token()) {
                Some(token_id) => {
                    self.pending = Some(Pending {
                        token_id,
                        callout,
                        login,
                    });
                    Action::Pause
                }
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
        self.carry(shared, login, step, now)
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
        let Some(mut pending) = self.pending.take().filter(|p| p.token_id == token_id) else {
            return;
        };
        let now = now_millis();
        let step = match pending.callout {
            Callout::Jwks => {
                let fetched = shared.receive_jwks(now, num_headers, body_size);
                let keys = shared.keys.borrow_mut().current(&shared.host());
                let env = LoginEnv {
                    config: &shared.filter.config,
                    keys: keys.as_deref(),
                    now,
                };
                pending.login.on_jwks(&env, fetched)
            }
            Callout::Userinfo => {
                let status = callout_status(num_headers);
                let body = callout_body(body_size, MAX_USERINFO_BYTES).unwrap_or_default();
                pending.login.on_userinfo(status, &body)
            }
        };
        self.carry(&shared, pending.login, step, now);
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
        match route {
            Route::Public => forward(filter.public(header("cookie").as_deref())),
            Route::Protected => {
                let host = shared.host();
                match filter.protected(&host, header("cookie").as_deref(), now) {
                    Decision::Forward(edits) => forward(edits),
                    Decision::Reply(reply) => send(&reply),
                }
            }
            Route::Login | Route::Logout | Route::KeepAlive => {
                let method = header(":method").unwrap_or_default();
                if !Filter::endpoint_method_allowed(&method) {
                    return send(&Reply::method_not_allowed());
                }
                let host = shared.host();
                match route {
                    Route::Login => self.login(&shared, now),
                    Route::Logout => send(&filter.logout(&host, header("cookie").as_deref(), now)),
                    _ => send(&filter.keep_alive(&host, header("cookie").as_deref(), now)),
                }
            }
        }
    }
}
