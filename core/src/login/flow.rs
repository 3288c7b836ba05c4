//! A login in progress, of either kind: the token login (an SPA hands us an access token) or
//! the code flow (we send the browser to the IdP and take the code at the callback). The
//! glue runs both the same way: dispatch the callout asked for, feed back the answer.

use crate::config::Config;
use crate::login::code_flow::{CodeLogin, IdTokenEnv};
use crate::login::jwks::KeySet;
use crate::login::{Callout, Login, LoginEnv, LoginStep};
use crate::metrics::Metric;
use crate::reply::Reply;
use crate::session::create::Landing;
use crate::time::Millis;

pub enum Flow {
    Token(Box<Login>),
    Code(Box<CodeLogin>),
}

/// A callout's answer: `status` is `None` when none came; `jwks_fetched` says, for a JWKS
/// callout, whether the glue stored a usable JWKS from it.
pub struct CalloutAnswer<'a> {
    pub callout: Callout,
    pub status: Option<u32>,
    pub body: &'a [u8],
    pub jwks_fetched: bool,
}

fn unexpected() -> LoginStep {
    LoginStep::Fail(
        Reply::idp_unavailable("unexpected identity provider answer"),
        Metric::LoginIdpUnavailable,
    )
}

impl Flow {
    /// The bearer token of a `/userinfo` call.
    pub fn bearer(&self) -> &str {
        match self {
            Flow::Token(login) => login.token(),
            Flow::Code(code) => code.bearer(),
        }
    }

    /// The verified access token and its `exp` (seconds), once the login succeeded: what
    /// routes with `relay` carry to the app.
    pub fn relayable(&self) -> Option<(&str, u64)> {
        match self {
            Flow::Token(login) => login.relayable(),
            Flow::Code(code) => code.relayable(),
        }
    }

    /// Whether this callout is one that anyone, unauthenticated, can cause: an opaque
    /// token's `/userinfo` call, a callback's code exchange. These spend the process-wide
    /// IdP budget (`Filter::admit_idp_call`); calls made for a verified
    /// token do not.
    pub fn unauthenticated_call(&self, callout: &Callout) -> bool {
        match (self, callout) {
            (Flow::Token(login), Callout::Userinfo) => login.is_opaque(),
            (Flow::Code(_), Callout::TokenExchange) => true,
            _ => false,
        }
    }

    /// The body of a callout, if it has one (the code exchange).
    pub fn body(&self, config: &Config, callout: &Callout) -> Option<Vec<u8>> {
        match (self, callout, &config.code_flow) {
            (Flow::Code(code), Callout::TokenExchange, Some(cf)) => Some(code.exchange_body(cf)),
            _ => None,
        }
    }

    pub fn on_answer(
        &mut self,
        config: &Config,
        keys: Option<&KeySet>,
        now: Millis,
        answer: &CalloutAnswer<'_>,
        may_fetch: &mut dyn FnMut(bool) -> bool,
    ) -> LoginStep {
        match self {
            Flow::Token(login) => {
                let env = LoginEnv { config, keys, now };
                match answer.callout {
                    Callout::Jwks => login.on_jwks(&env, answer.jwks_fetched),
                    Callout::Userinfo => login.on_userinfo(answer.status, answer.body),
                    Callout::TokenExchange
                    | Callout::DeviceCode
                    | Callout::ClientCredentials(_) => unexpected(),
                }
            }
            Flow::Code(code) => {
                let Some(cf) = &config.code_flow else {
                    return unexpected();
                };
                let env = IdTokenEnv {
                    config,
                    client_id: &cf.client_id,
                    keys,
                    now,
                };
                match answer.callout {
                    Callout::Jwks => code.on_jwks(&env, answer.jwks_fetched),
                    Callout::Userinfo => code.on_userinfo(answer.status, answer.body),
                    Callout::TokenExchange => {
                        code.on_token(&env, answer.status, answer.body, may_fetch)
                    }
                    Callout::DeviceCode | Callout::ClientCredentials(_) => unexpected(),
                }
            }
        }
    }

    /// Where the client goes once its session exists.
    pub fn landing(&self, config: &Config) -> Landing {
        match (self, &config.code_flow) {
            (Flow::Code(code), Some(cf)) => {
                let (location, clear_login_cookie) = code.landing(config, cf);
                Landing::Redirect {
                    location,
                    clear_login_cookie,
                }
            }
            _ => Landing::Json,
        }
    }
}
