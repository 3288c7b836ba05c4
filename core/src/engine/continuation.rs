//! A call made for a paused request was answered (or could not be made): the flow that made
//! it carries on from its [`Waiting`] continuation.

use crate::engine::{lock, with_stripped, Engine, Outcome, Pending, Waiting};
use crate::identity::Identity;
use crate::idp::{self, Callout, Purpose};
use crate::login::device::{self, Polled};
use crate::login::flow::{CalloutAnswer, Flow};
use crate::login::key_cache;
use crate::login::profile::{Enrichment, Step as ProfileStep};
use crate::login::LoginStep;
use crate::metrics::Metric;
use crate::ports::{Call, Host, Request, Response};
use crate::protected::Decision;
use crate::relay;
use crate::reply::Reply;
use crate::request::filter::{is_navigation, sidecar_call, Filter};
use crate::session::create::Answer;
use crate::session::sync::MAX_ANSWER_BYTES;
use crate::session::SECRET_BYTES;
use crate::time::Millis;

fn idp_unreachable() -> Reply {
    Reply::idp_unavailable("cannot reach the identity provider")
}

impl Engine {
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
            Waiting::Profile(mut enrichment) => {
                let step = enrichment.on_answer(
                    host,
                    &self.filter.config,
                    now,
                    status,
                    response.body.as_deref(),
                );
                self.enrich_step(host, enrichment, step, now)
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
                Outcome::Reply(
                    self.filter
                        .sessions()
                        .written_through(host, wt, acknowledged, now),
                )
            }
        }
    }

    /// The host could not make the call it was asked for (no such cluster, no healthy host).
    pub fn on_dispatch_failed<'a>(&'a self, host: &dyn Host, pending: Pending) -> Outcome<'a> {
        self.failed(host, *pending.waiting, host.clock())
    }

    pub(crate) fn failed<'a>(
        &'a self,
        host: &dyn Host,
        waiting: Waiting,
        now: Millis,
    ) -> Outcome<'a> {
        let waiting = match waiting {
            Waiting::Profile(mut enrichment) => {
                let config = &self.filter.config;
                let step = enrichment.on_answer(host, config, now, None, None);
                return self.enrich_step(host, enrichment, step, now);
            }
            other => other,
        };
        Outcome::Reply(match waiting {
            Waiting::Profile(_) => idp_unreachable(),
            Waiting::Login { .. } => {
                host.count(Metric::LoginIdpUnavailable, 1);
                idp_unreachable()
            }
            Waiting::DeviceStart(_) | Waiting::DevicePoll(_) => idp_unreachable(),
            Waiting::Restore(_) | Waiting::OwnSessions(_) => Reply::store_unavailable(),
            Waiting::WriteThrough(wt) => {
                self.filter.sessions().written_through(host, wt, false, now)
            }
        })
    }

    /// A call to the sidecar, or the failure path when none is configured.
    pub(crate) fn sidecar<'a>(
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

    pub(crate) fn idp<'a>(&'a self, call: Call, waiting: Waiting) -> Outcome<'a> {
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
    pub(crate) fn decide<'a>(
        &'a self,
        host: &dyn Host,
        req: &dyn Request,
        decision: Decision<'a>,
        now: Millis,
    ) -> Outcome<'a> {
        match decision {
            Decision::Forward(edits) => Outcome::Forward(edits),
            Decision::Reply(reply) => Outcome::Reply(reply),
            Decision::Unauthenticated => {
                Outcome::Reply(self.filter.unauthenticated_request(host, req, now))
            }
            // A browser navigation goes to log in again (with the code flow); anything else
            // learns why its session ended.
            Decision::Reauthenticate => Outcome::Reply(
                if self.filter.config.code_flow.is_some() && is_navigation(req) {
                    self.filter.unauthenticated_request(host, req, now)
                } else {
                    relay::reauthentication_required()
                },
            ),
            Decision::Restore(pending) => {
                let path = Filter::restore_path(&pending);
                self.sidecar(host, "GET", path, None, Waiting::Restore(pending), now)
            }
        }
    }

    /// Carries out an answer that may have to be written through to the sidecar first.
    pub(crate) fn answer<'a>(
        &'a self,
        host: &dyn Host,
        answer: Answer,
        now: Millis,
    ) -> Outcome<'a> {
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
    pub(crate) fn login_step<'a>(
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
                let user_agent = req.header("user-agent");
                if config.profile.is_empty() {
                    return self.create(host, &flow, identity, user_agent.as_deref(), now);
                }
                // Who the user is, known; what the organisation says of them, asked now.
                let mut enrichment = Box::new(Enrichment::new(
                    flow,
                    identity,
                    user_agent.map(std::borrow::Cow::into_owned),
                ));
                let step = enrichment.start(host, config, now);
                self.enrich_step(host, enrichment, step, now)
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

    /// Creates the session of a finished login.
    fn create<'a>(
        &'a self,
        host: &dyn Host,
        flow: &Flow,
        identity: Identity,
        user_agent: Option<&[u8]>,
        now: Millis,
    ) -> Outcome<'a> {
        let mut random = [0u8; SECRET_BYTES];
        if !host.random(&mut random) {
            log::error!("no randomness for a session secret");
            return Outcome::Reply(Reply::error(
                503,
                "internal_error",
                "cannot create a session now",
            ));
        }
        relay::keep_login_token(&self.filter, host, &random, flow.relayable(), now);
        let landing = flow.landing(&self.filter.config);
        let answer = self
            .filter
            .sessions()
            .create_session_from(host, identity, user_agent, &random, now, landing);
        self.answer(host, answer, now)
    }

    /// Carries out an enrichment step: call the next identity API (or its token), create the
    /// session, or refuse the login.
    fn enrich_step<'a>(
        &'a self,
        host: &dyn Host,
        enrichment: Box<Enrichment>,
        step: ProfileStep,
        now: Millis,
    ) -> Outcome<'a> {
        match step {
            ProfileStep::Call(call) => self.idp(call, Waiting::Profile(enrichment)),
            ProfileStep::Done => {
                let Enrichment {
                    flow,
                    identity,
                    user_agent,
                    ..
                } = *enrichment;
                self.create(host, &flow, identity, user_agent.as_deref(), now)
            }
            ProfileStep::Fail(reply, metric) => {
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
