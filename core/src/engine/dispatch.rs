//! A request arrives: the routing table picks its flow, and the flow decides. What waits on a
//! call continues in [`crate::engine::continuation`].

use crate::assertion;
use crate::engine::{lock, with_stripped, Engine, Outcome, Waiting};
use crate::idp::{self, Callout, Purpose};
use crate::login::code_flow::{CallbackRequest, CodeLogin};
use crate::login::device::{self, Poll};
use crate::login::flow::Flow;
use crate::login::key_cache;
use crate::login::{Login, LoginEnv};
use crate::ports::{Host, Request};
use crate::reply::Reply;
use crate::request::filter::{text_header, Credentials, Filter};
use crate::request::routing::Route;
use crate::time::Millis;

impl Engine {
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
                let credentials = Credentials::read_for(filter, req);
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
            Route::AssertionKeys => Outcome::Reply(assertion::jwks_reply(
                filter.config.assertion.as_ref(),
                &req.header(":method").unwrap_or_default(),
            )),
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
                        let answer = filter.logout_request(host, req, now);
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

    /// A token login: at the login endpoint, or once a device login is approved.
    pub(crate) fn token_login<'a>(
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
        self.login_step(host, req, Flow::Token(Box::new(login)), step, now)
    }

    /// A user's own sessions: asked of the sidecar on behalf of the presented session.
    fn own_sessions<'a>(&'a self, host: &dyn Host, req: &dyn Request, now: Millis) -> Outcome<'a> {
        let call = {
            let misses = lock(&self.misses);
            self.filter.own_sessions_request(host, req, now, &misses)
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
}
