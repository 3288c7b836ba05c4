//! Trading an access token for a session (docs/ARCHITECTURE.md §5). A login is a small state
//! machine: the glue feeds it the token, carries out the callouts it asks for (JWKS fetch,
//! `/userinfo`), feeds back the answers, and finally creates the session it names.
//!
//! The login group: everything that turns what the IdP issues into a session. This file is
//! the token login; beside it are the tokens' rules (`token`), the IdP's keys (`jwks`,
//! `key_cache`, and the `.wasm`'s RS256 provider), the code flow and the device flow, the
//! state either kind of login is in (`flow`), and back-channel logout (the IdP's own token
//! ending sessions).

pub mod backchannel;
pub mod code_flow;
pub mod device;
pub mod flow;
pub mod jwks;
pub mod key_cache;
pub mod profile;
#[cfg(any(target_arch = "wasm32", test))]
pub mod rs256_provider;
pub mod token;

use serde_json::Value;

use crate::config::Config;
use crate::identity::{identity_from, Identity};
use crate::login::jwks::KeySet;
use crate::login::token::{
    check_claims, parse_jwt, token_from_header, ClaimRules, Expected, TokenError, TokenErrorKind,
    TokenShape, VerifyError,
};
use crate::metrics::Metric;
use crate::reply::Reply;
use crate::time::Millis;

pub use crate::idp::{Callout, MAX_USERINFO_BYTES};

/// What the glue does next.
#[derive(Debug, PartialEq)]
pub enum LoginStep {
    /// Answer now: the login failed, counted under this metric.
    Fail(Reply, Metric),
    /// Make this callout, then call [`Login::on_jwks`] or [`Login::on_userinfo`].
    Call(Callout),
    /// The token is good: create a session for this identity.
    Create(Identity),
}

#[derive(Debug)]
enum Stage {
    Start,
    AwaitJwks,
    /// `from_jwt` is the identity of a verified JWT, `None` for an opaque token.
    AwaitUserinfo {
        from_jwt: Option<Identity>,
    },
}

#[derive(Debug)]
pub struct Login {
    token: String,
    is_jwt: bool,
    stage: Stage,
    /// The verified JWT's `exp` (seconds): how long the token may be relayed.
    expires: Option<u64>,
}

/// What a login step may consult.
pub struct LoginEnv<'a> {
    pub config: &'a Config,
    pub keys: Option<&'a KeySet>,
    pub now: Millis,
}

/// The answer and stats outcome for a refused token.
fn refusal(error: &TokenError) -> (Reply, Metric) {
    match error.kind {
        TokenErrorKind::Invalid => (
            Reply::invalid_token(error.message),
            Metric::LoginInvalidToken,
        ),
        TokenErrorKind::Expired => (Reply::invalid_token(error.message), Metric::LoginExpired),
        TokenErrorKind::WrongAudience => (
            Reply::invalid_token(error.message),
            Metric::LoginWrongAudience,
        ),
        TokenErrorKind::InsufficientScope => (
            Reply::insufficient_scope(error.message),
            Metric::LoginInsufficientScope,
        ),
    }
}

fn fail(error: &TokenError) -> LoginStep {
    let (reply, metric) = refusal(error);
    LoginStep::Fail(reply, metric)
}

fn idp_down(message: &str) -> LoginStep {
    LoginStep::Fail(Reply::idp_unavailable(message), Metric::LoginIdpUnavailable)
}

impl Login {
    /// Reads the token from the `Authorization` header value; refuses what cannot be one.
    pub fn new(authorization: Option<&[u8]>) -> Result<Login, (Reply, Metric)> {
        let header = authorization.ok_or_else(|| {
            refusal(&TokenError {
                kind: TokenErrorKind::Invalid,
                message: "no access token (send Authorization: Bearer <token>)",
            })
        })?;
        let (token, is_jwt) = match token_from_header(header).map_err(|e| refusal(&e))? {
            TokenShape::Jwt(t) => (t, true),
            TokenShape::Opaque(t) => (t, false),
        };
        Ok(Login {
            token: token.to_string(),
            is_jwt,
            stage: Stage::Start,
            expires: None,
        })
    }

    /// The bearer token, for the `/userinfo` callout.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The verified token and its `exp` in seconds, for routes that relay it (an opaque
    /// token, whose expiry nothing states, is never relayed).
    pub fn relayable(&self) -> Option<(&str, u64)> {
        Some((self.token.as_str(), self.expires?))
    }

    /// An opaque token: nothing proves it before `/userinfo` answers.
    pub fn is_opaque(&self) -> bool {
        !self.is_jwt
    }

    /// The first step. `may_fetch` is asked only when the token's `kid` is not cached; it is
    /// told whether any keys are cached at all.
    pub fn start(
        &mut self,
        env: &LoginEnv<'_>,
        may_fetch: &mut dyn FnMut(bool) -> bool,
    ) -> LoginStep {
        if !self.is_jwt {
            // `/userinfo` accepts any token of the tenant, whatever application or API it
            // was issued for: it proves a user, not a grant for this API (docs/ARCHITECTURE.md §3).
            if !env.config.auth0.scope.is_empty() {
                return fail(&TokenError {
                    kind: TokenErrorKind::InsufficientScope,
                    message: "an opaque token's scopes cannot be checked; ask for a token with audience set to this API",
                });
            }
            if !env.config.auth0.accept_opaque {
                return fail(&TokenError {
                    kind: TokenErrorKind::WrongAudience,
                    message: "opaque access tokens are not accepted; ask for a token with audience set to this API",
                });
            }
            self.stage = Stage::AwaitUserinfo { from_jwt: None };
            return LoginStep::Call(Callout::Userinfo);
        }
        match self.verify(env) {
            Err(VerifyError::UnknownKey) if may_fetch(env.keys.is_some()) => {
                self.stage = Stage::AwaitJwks;
                LoginStep::Call(Callout::Jwks)
            }
            Err(VerifyError::UnknownKey) if env.keys.is_none() => {
                idp_down("the identity provider's signing keys are not available yet")
            }
            result => self.after_verify(env, result),
        }
    }

    /// After the JWKS callout: `fetched` says whether a usable JWKS was stored.
    pub fn on_jwks(&mut self, env: &LoginEnv<'_>, fetched: bool) -> LoginStep {
        if !matches!(self.stage, Stage::AwaitJwks) {
            return idp_down("unexpected JWKS answer");
        }
        if !fetched {
            return idp_down("could not fetch the identity provider's signing keys");
        }
        let result = self.verify(env);
        self.after_verify(env, result)
    }

    fn verify(&self, env: &LoginEnv<'_>) -> Result<Value, VerifyError> {
        let jwt = parse_jwt(&self.token).map_err(VerifyError::Token)?;
        let expected = Expected {
            issuer: &env.config.auth0.issuer,
            audience: &env.config.auth0.api_identifier,
        };
        match env.keys {
            Some(keys) => jwt.verify_for(keys, &expected),
            None => Err(VerifyError::UnknownKey),
        }
    }

    fn after_verify(
        &mut self,
        env: &LoginEnv<'_>,
        result: Result<Value, VerifyError>,
    ) -> LoginStep {
        let payload = match result {
            Ok(payload) => payload,
            Err(VerifyError::UnknownKey) => {
                return fail(&TokenError {
                    kind: TokenErrorKind::Invalid,
                    message: "token is signed by an unknown key",
                })
            }
            Err(VerifyError::Token(e)) => return fail(&e),
        };
        let a = &env.config.auth0;
        let rules = ClaimRules {
            issuer: &a.issuer,
            audience: &a.api_identifier,
            scopes: &a.scope,
            now_secs: env.now / 1_000,
            roles_claim: a.roles_claim.as_deref(),
        };
        let (identity, audiences) = match check_claims(&payload, &rules) {
            Ok(ok) => ok,
            Err(e) => return fail(&e),
        };
        self.expires = payload.get("exp").and_then(Value::as_u64);
        if audiences
            .iter()
            .any(|aud| is_userinfo_audience(env.config, aud))
        {
            self.stage = Stage::AwaitUserinfo {
                from_jwt: Some(identity),
            };
            LoginStep::Call(Callout::Userinfo)
        } else {
            LoginStep::Create(identity)
        }
    }

    /// After the `/userinfo` callout: `status` is `None` when no answer came (timeout,
    /// connection refused, reset).
    pub fn on_userinfo(&mut self, status: Option<u32>, body: &[u8]) -> LoginStep {
        let Stage::AwaitUserinfo { from_jwt } = std::mem::replace(&mut self.stage, Stage::Start)
        else {
            return idp_down("unexpected userinfo answer");
        };
        match status {
            Some(200) => {}
            Some(401) | Some(403) => {
                return fail(&TokenError {
                    kind: TokenErrorKind::Invalid,
                    message: "the identity provider rejected the token",
                })
            }
            _ => return idp_down("the identity provider did not answer /userinfo"),
        }
        let profile = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(|_| body.len() <= MAX_USERINFO_BYTES)
            .and_then(|v| identity_from(&v));
        let Some(profile) = profile else {
            return idp_down("the identity provider's /userinfo answer has no sub");
        };
        match from_jwt {
            None => LoginStep::Create(profile),
            Some(claims) if claims.sub != profile.sub => fail(&TokenError {
                kind: TokenErrorKind::Invalid,
                message: "userinfo is for another subject than the token",
            }),
            Some(claims) => LoginStep::Create(Identity {
                email: profile.email.or(claims.email),
                name: profile.name.or(claims.name),
                ..claims
            }),
        }
    }
}

/// Auth0 adds its userinfo URL to `aud` when the token was asked with `openid`; such a token
/// can fetch the profile. The URL is the tenant's (`https://{domain}`) or the issuer's.
fn is_userinfo_audience(config: &Config, aud: &str) -> bool {
    let a = &config.auth0;
    let path = a.userinfo_path.as_str();
    aud.strip_suffix(path).is_some_and(|base| {
        base == format!("https://{}", a.domain) || base == a.issuer.trim_end_matches('/')
    })
}

#[cfg(test)]
#[path = "../tests/login/login.rs"]
mod tests;
