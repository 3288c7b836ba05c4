//! Identity enrichment at login (README: "Identity APIs"; docs/DESIGN.md §4): once a login
//! knows who the user is and before its session exists, each configured identity API is
//! asked about the user, in order: its client-credentials token (cached for every worker,
//! `token`), then `GET` its path with the user's `sub`. The answer fills session fields and
//! must meet the confirmations (`map`). Asked at login only, never per request.
//!
//! Every login path comes here: the engine hands the identity of a finished login
//! ([`crate::login::LoginStep::Create`]) to [`Enrichment::start`] and carries out the steps.

pub mod map;
pub mod token;

use serde_json::Value;

use crate::config::{Config, OnFailure, Profile};
use crate::identity::Identity;
use crate::idp;
use crate::login::flow::Flow;
use crate::metrics::Metric;
use crate::ports::{Call, Host, Upstream};
use crate::reply::Reply;
use crate::session::MAX_LIST_BYTES;
use crate::time::Millis;
use crate::url::percent_encode;

use token::Cached;

/// What the engine does next.
#[derive(Debug)]
pub enum Step {
    /// Make this call and hand its answer to [`Enrichment::on_answer`].
    Call(Call),
    /// Every API answered (or was skipped by its policy): create the session.
    Done,
    /// Answer now; the login failed, counted under this metric.
    Fail(Reply, Metric),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Waiting for a token of the current API; `retry` after the API refused the last one.
    Token { retry: bool },
    /// Waiting for the API's answer to a call made with this token.
    Api {
        token: Option<String>,
        retried: bool,
    },
}

/// A login between "who" and "session": the identity so far and which API it waits for.
pub struct Enrichment {
    pub flow: Flow,
    pub identity: Identity,
    /// The login's `User-Agent`, for the session it creates.
    pub user_agent: Option<Vec<u8>>,
    api: usize,
    stage: Stage,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the flow or the stage: they hold tokens.
        f.debug_struct("Enrichment")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// 403 when an API does not confirm the account.
pub fn not_confirmed() -> Reply {
    Reply::error(
        403,
        "identity_not_confirmed",
        "the organisation's identity service does not confirm this account",
    )
}

/// 503 when an API that must answer did not.
pub fn unavailable() -> Reply {
    Reply::error(
        503,
        "identity_unavailable",
        "cannot reach the organisation's identity service; try again",
    )
    .with_header("retry-after", "5")
}

/// The `GET` of an API for a user, with the bearer token if it has one.
pub fn api_call(api: &Profile, index: usize, sub: &str, token: Option<&str>) -> Call {
    let mut headers = vec![
        (":method", "GET".to_string()),
        (":path", api.path.replace("{sub}", &percent_encode(sub))),
        (":authority", api.authority.clone()),
        ("accept", "application/json".to_string()),
    ];
    if let Some(token) = token {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    Call {
        upstream: Upstream::Profile(index),
        cluster: api.cluster.clone(),
        headers,
        body: None,
        timeout_ms: api.timeout_ms,
        max_answer: api.max_answer,
    }
}

/// How long a token fetch holds its claim: its timeout and a little more.
pub fn fetch_hold_ms(config: &Config) -> Millis {
    config
        .auth0
        .timeout_secs
        .saturating_mul(1_000)
        .saturating_add(1_000)
}

impl Enrichment {
    pub fn new(flow: Flow, identity: Identity, user_agent: Option<Vec<u8>>) -> Enrichment {
        Enrichment {
            flow,
            identity,
            user_agent,
            api: 0,
            stage: Stage::Token { retry: false },
        }
    }

    /// The first step: ask the first API (or its token).
    pub fn start(&mut self, host: &dyn Host, config: &Config, now: Millis) -> Step {
        self.ask(host, config, now)
    }

    /// Asks the current API: with the cached token, or for a token first when there is
    /// none (or one is due and this login claimed the refresh).
    fn ask(&mut self, host: &dyn Host, config: &Config, now: Millis) -> Step {
        let Some(api) = config.profile.get(self.api) else {
            return self.done();
        };
        if api.token.is_none() {
            return self.call_api(api, None);
        }
        match token::cached(host, &api.name, now) {
            // A token due for refresh is still good: the timer fetches the next one.
            Cached::Fresh(t) | Cached::Due(t) => self.call_api(api, Some(t)),
            Cached::Missing if token::claim_fetch(host, &api.name, now, fetch_hold_ms(config)) => {
                self.fetch_token(config, false)
            }
            // Another worker is fetching it right now, and a paused request cannot wait for
            // another's answer. The timer fetches ahead of need, so this is a cold start or
            // a token just refused.
            Cached::Missing => self.failed(host, config, now, "its token is being fetched"),
        }
    }

    fn fetch_token(&mut self, config: &Config, retry: bool) -> Step {
        match idp::client_credentials(config, self.api) {
            Some(call) => {
                self.stage = Stage::Token { retry };
                Step::Call(call)
            }
            None => Step::Fail(unavailable(), Metric::ProfileRefused),
        }
    }

    fn call_api(&mut self, api: &Profile, token: Option<String>) -> Step {
        let call = api_call(api, self.api, &self.identity.sub, token.as_deref());
        let retried = matches!(self.stage, Stage::Token { retry: true });
        self.stage = Stage::Api { token, retried };
        Step::Call(call)
    }

    fn done(&mut self) -> Step {
        let groups: usize = self.identity.groups.iter().map(|g| g.len() + 1).sum();
        if groups > MAX_LIST_BYTES + 1 {
            log::warn!(
                "identity APIs name {} groups for a user, more than a session keeps ({MAX_LIST_BYTES} bytes): only the first are kept; narrow the mapping",
                self.identity.groups.len()
            );
        }
        Step::Done
    }

    /// The current API failed: its policy says whether the login goes on without it.
    fn failed(&mut self, host: &dyn Host, config: &Config, now: Millis, why: &str) -> Step {
        let Some(api) = config.profile.get(self.api) else {
            return self.done();
        };
        match api.on_failure {
            OnFailure::Refuse => {
                log::warn!("identity API {}: {why}; login refused", api.name);
                Step::Fail(unavailable(), Metric::ProfileRefused)
            }
            OnFailure::Continue => {
                log::warn!("identity API {}: {why}; login goes on without it", api.name);
                host.count(Metric::ProfileSkipped, 1);
                self.next(host, config, now)
            }
        }
    }

    fn next(&mut self, host: &dyn Host, config: &Config, now: Millis) -> Step {
        self.api += 1;
        self.stage = Stage::Token { retry: false };
        self.ask(host, config, now)
    }

    /// The answer to the last call: `status` `None` when none came, `body` `None` when it
    /// was larger than the call's cap.
    pub fn on_answer(
        &mut self,
        host: &dyn Host,
        config: &Config,
        now: Millis,
        status: Option<u32>,
        body: Option<&[u8]>,
    ) -> Step {
        let Some(api) = config.profile.get(self.api) else {
            return self.done();
        };
        match std::mem::replace(&mut self.stage, Stage::Token { retry: false }) {
            Stage::Token { retry } => {
                let stored = token::store(host, &api.name, now, status, body.unwrap_or_default());
                match stored {
                    Ok(t) => {
                        host.count(Metric::ProfileTokenFetched, 1);
                        self.stage = Stage::Token { retry };
                        self.call_api(api, Some(t))
                    }
                    Err(why) => self.failed(host, config, now, &why),
                }
            }
            Stage::Api { token, retried } => match (status, body) {
                (Some(200), Some(body)) => {
                    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
                        return self.failed(host, config, now, "its answer is not JSON");
                    };
                    if let Some(c) = map::unconfirmed(&api.confirm, &answer, &self.identity) {
                        log::info!(
                            "identity API {}: login refused, unconfirmed: {c:?}",
                            api.name
                        );
                        return Step::Fail(not_confirmed(), Metric::LoginNotConfirmed);
                    }
                    map::apply(&api.map, &answer, &mut self.identity);
                    self.next(host, config, now)
                }
                (Some(200), None) => self.failed(host, config, now, "its answer is too large"),
                (Some(401), _) if !retried => match token {
                    Some(t) => {
                        // Revoked or rotated upstream: fetch anew, once.
                        token::drop_refused(host, &api.name, &t);
                        if token::claim_fetch(host, &api.name, now, fetch_hold_ms(config)) {
                            self.fetch_token(config, true)
                        } else {
                            self.failed(host, config, now, "it refused the token (401)")
                        }
                    }
                    None => self.failed(host, config, now, "it answered 401"),
                },
                (Some(404), _) => self.failed(host, config, now, "it does not know the user (404)"),
                (Some(s), _) => self.failed(host, config, now, &format!("it answered {s}")),
                (None, _) => self.failed(host, config, now, "no answer (down, or timed out)"),
            },
        }
    }
}

#[cfg(test)]
#[path = "../../tests/login/profile.rs"]
mod tests;
