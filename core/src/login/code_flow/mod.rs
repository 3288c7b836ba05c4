//! Browser login at the proxy (the classic Auth0 web-app flow, issue "code flow"): an
//! unauthenticated navigation is sent to `/authorize` with `state`, `nonce` and a PKCE
//! challenge; the callback checks `state` against a short-lived per-login cookie, exchanges
//! the code at `/oauth/token`, verifies the ID token, and ends in the same server-side
//! session as the token login.

mod callback;
mod cookie;
mod redirect;

use serde_json::Value;

use crate::config::{CodeFlow, Config};
use crate::identity::Identity;
use crate::login::token::{parse_jwt, Expected, TokenErrorKind, VerifyError};
use crate::login::{Callout, Login, LoginStep};
use crate::metrics::Metric;
use crate::reply::Reply;
use crate::shared_data::SharedData;
use crate::time::Millis;
use crate::url;
use callback::{check_id_token, refusal};
pub use callback::{CallbackRequest, IdTokenEnv};
use cookie::{login_cookie, LoginCookie};
pub use cookie::{LoginMac, LOGIN_TTL_MS, START_RANDOM_BYTES};
pub use redirect::{redirect_uri, safe_return_path, start};

pub use crate::idp::MAX_TOKEN_ANSWER_BYTES;

/// Whether a request is a browser navigating to a page (which gets a redirect to the login
/// page) rather than an API call (which gets the 401 JSON, never a redirect).
pub fn is_navigation(
    method: &[u8],
    accept: Option<&[u8]>,
    sec_fetch_mode: Option<&[u8]>,
    requested_with: Option<&[u8]>,
) -> bool {
    let contains = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    method == b"GET"
        && accept.is_some_and(|a| contains(a, b"text/html"))
        && sec_fetch_mode.is_none_or(|m| m.eq_ignore_ascii_case(b"navigate"))
        && requested_with.is_none_or(|x| !x.eq_ignore_ascii_case(b"XMLHttpRequest"))
}

/// What the callback waits for next.
#[derive(Debug)]
enum Stage {
    Token,
    Jwks {
        id_token: String,
        access_token: Option<String>,
    },
    /// The ID token is good; the access token is being checked exactly as the login
    /// endpoint checks one (docs/ARCHITECTURE.md §8 rule 2), so that the code flow cannot grant a session
    /// the token login would refuse (another API's token, a missing scope).
    Access {
        login: Box<Login>,
        claims: Box<Identity>,
    },
}

/// A callback in progress.
#[derive(Debug)]
pub struct CodeLogin {
    code: String,
    cookie: LoginCookie,
    cookie_name: String,
    redirect_uri: String,
    html: bool,
    stage: Stage,
    /// The verified access token and its `exp` (seconds), kept for routes that relay it.
    relayable: Option<(String, u64)>,
}

impl CodeLogin {
    /// Checks the callback's `state` against its login cookie ([`callback::check`]);
    /// the login then exchanges the code.
    pub fn begin(
        config: &Config,
        cf: &CodeFlow,
        host: &dyn SharedData,
        request: &CallbackRequest<'_>,
        now: Millis,
    ) -> Result<CodeLogin, (Reply, Metric)> {
        let checked = callback::check(config, cf, host, request, now)?;
        Ok(CodeLogin {
            code: checked.code,
            cookie: checked.cookie,
            cookie_name: checked.cookie_name,
            redirect_uri: checked.redirect_uri,
            html: checked.html,
            stage: Stage::Token,
            relayable: None,
        })
    }

    /// The first step: exchange the code.
    pub fn first_step(&self) -> LoginStep {
        LoginStep::Call(Callout::TokenExchange)
    }

    /// The form body of the code exchange.
    pub fn exchange_body(&self, cf: &CodeFlow) -> Vec<u8> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", cf.client_id.as_str()),
            ("code", self.code.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", self.cookie.verifier.as_str()),
        ];
        if let Some(secret) = &cf.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        url::form(form).into_bytes()
    }

    /// The bearer token of the `/userinfo` call: the access token from the exchange.
    pub fn bearer(&self) -> &str {
        match &self.stage {
            Stage::Access { login, .. } => login.token(),
            _ => "",
        }
    }

    /// The verified access token and its `exp` in seconds, once the login succeeded.
    pub fn relayable(&self) -> Option<(&str, u64)> {
        self.relayable.as_ref().map(|(t, exp)| (t.as_str(), *exp))
    }

    /// Where the browser goes once the session exists, and the login cookie to clear.
    pub fn landing(&self, config: &Config, cf: &CodeFlow) -> (String, String) {
        (
            // Checked again, not trusted: only a relative path on this host, whatever the
            // cookie says (it is MACed; this holds even if a key leaked).
            safe_return_path(self.cookie.return_to.as_bytes()),
            login_cookie(config, cf, &self.cookie_name, "", 0),
        )
    }

    fn fail(&self, status: u32, code: &str, message: &str, metric: Metric) -> LoginStep {
        LoginStep::Fail(refusal(status, code, message, self.html), metric)
    }

    /// After the code exchange.
    pub fn on_token(
        &mut self,
        env: &IdTokenEnv<'_>,
        status: Option<u32>,
        body: &[u8],
        may_fetch: &mut dyn FnMut(bool) -> bool,
    ) -> LoginStep {
        match status {
            Some(200) => {}
            Some(400..=499) => return self.fail(
                401,
                "invalid_grant",
                "the identity provider refused the code (used already, or expired); start again",
                Metric::LoginInvalidToken,
            ),
            _ => {
                return self.fail(
                    503,
                    "idp_unavailable",
                    "the identity provider did not answer the code exchange",
                    Metric::LoginIdpUnavailable,
                )
            }
        }
        let answer: Option<Value> = serde_json::from_slice(body)
            .ok()
            .filter(|_| body.len() <= MAX_TOKEN_ANSWER_BYTES);
        let id_token = answer
            .as_ref()
            .and_then(|a| a.get("id_token"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let access_token = answer
            .as_ref()
            .and_then(|a| a.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(id_token) = id_token else {
            return self.fail(
                503,
                "idp_unavailable",
                "the code exchange returned no ID token",
                Metric::LoginIdpUnavailable,
            );
        };
        self.verify(env, id_token, access_token, may_fetch)
    }

    fn verify(
        &mut self,
        env: &IdTokenEnv<'_>,
        id_token: String,
        access_token: Option<String>,
        may_fetch: &mut dyn FnMut(bool) -> bool,
    ) -> LoginStep {
        let jwt = match parse_jwt(&id_token) {
            Ok(jwt) => jwt,
            Err(e) => return self.fail(401, "invalid_token", e.message, Metric::LoginInvalidToken),
        };
        let expected = Expected {
            issuer: &env.config.auth0.issuer,
            audience: env.client_id,
        };
        let payload = match env.keys.map(|k| jwt.verify_for(k, &expected)) {
            Some(Ok(payload)) => payload,
            Some(Err(VerifyError::Token(e))) if e.kind == TokenErrorKind::WrongAudience => {
                return self.fail(
                    401,
                    "invalid_token",
                    "ID token is not for this application",
                    Metric::LoginWrongAudience,
                )
            }
            Some(Err(VerifyError::Token(e))) => {
                return self.fail(401, "invalid_token", e.message, Metric::LoginInvalidToken)
            }
            None | Some(Err(VerifyError::UnknownKey)) => {
                if may_fetch(env.keys.is_some()) {
                    self.stage = Stage::Jwks {
                        id_token,
                        access_token,
                    };
                    return LoginStep::Call(Callout::Jwks);
                }
                return if env.keys.is_none() {
                    self.fail(
                        503,
                        "idp_unavailable",
                        "the identity provider's signing keys are not available yet",
                        Metric::LoginIdpUnavailable,
                    )
                } else {
                    self.fail(
                        401,
                        "invalid_token",
                        "ID token signed by an unknown key",
                        Metric::LoginInvalidToken,
                    )
                };
            }
        };
        let identity = match check_id_token(&payload, env, &self.cookie.nonce) {
            Ok(identity) => identity,
            Err((message, metric)) => return self.fail(401, "invalid_token", message, metric),
        };
        let Some(access_token) = access_token else {
            return self.fail(
                503,
                "idp_unavailable",
                "the code exchange returned no access token",
                Metric::LoginIdpUnavailable,
            );
        };
        let mut login = match Login::new(Some(access_token.as_bytes())) {
            Ok(login) => login,
            Err((reply, metric)) => return self.refused(reply, metric),
        };
        let step = login.start(&env.login_env(), may_fetch);
        self.stage = Stage::Access {
            login: Box::new(login),
            claims: Box::new(identity),
        };
        self.after_access(step)
    }

    /// A refusal of the access token, as a page for a browser.
    fn refused(&self, reply: Reply, metric: Metric) -> LoginStep {
        if !self.html {
            return LoginStep::Fail(reply, metric);
        }
        let message = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let code = if reply.status == 403 {
            "insufficient_scope"
        } else {
            "invalid_token"
        };
        LoginStep::Fail(refusal(reply.status, code, &message, true), metric)
    }

    /// Carries a step of the access-token check: its callouts are the code login's; its
    /// identity must be the ID token's user, whose profile claims fill what it lacks.
    fn after_access(&mut self, step: LoginStep) -> LoginStep {
        match step {
            LoginStep::Call(callout) => LoginStep::Call(callout),
            LoginStep::Fail(reply, metric) => {
                self.stage = Stage::Token;
                self.refused(reply, metric)
            }
            LoginStep::Create(access) => {
                let Stage::Access { claims, login } =
                    std::mem::replace(&mut self.stage, Stage::Token)
                else {
                    return self.unexpected();
                };
                self.relayable = login.relayable().map(|(t, exp)| (t.to_string(), exp));
                if access.sub != claims.sub {
                    return self.fail(
                        401,
                        "invalid_token",
                        "the access token is for another user than the ID token",
                        Metric::LoginInvalidToken,
                    );
                }
                // Permissions and roles are the access token's (what the API was granted);
                // the profile and Auth0's session id (`sid`, for back-channel logout) the
                // ID token's.
                LoginStep::Create(Identity {
                    email: claims.email.or(access.email),
                    name: claims.name.or(access.name),
                    sid: claims.sid.or(access.sid),
                    roles: if access.roles.is_empty() {
                        claims.roles
                    } else {
                        access.roles
                    },
                    ..access
                })
            }
        }
    }

    fn unexpected(&self) -> LoginStep {
        self.fail(
            503,
            "idp_unavailable",
            "unexpected identity provider answer",
            Metric::LoginIdpUnavailable,
        )
    }

    /// After a JWKS fetch for an ID token signed by a key not cached yet.
    pub fn on_jwks(&mut self, env: &IdTokenEnv<'_>, fetched: bool) -> LoginStep {
        if let Stage::Access { login, .. } = &mut self.stage {
            let step = login.on_jwks(&env.login_env(), fetched);
            return self.after_access(step);
        }
        let Stage::Jwks {
            id_token,
            access_token,
        } = std::mem::replace(&mut self.stage, Stage::Token)
        else {
            return self.fail(
                503,
                "idp_unavailable",
                "unexpected JWKS answer",
                Metric::LoginIdpUnavailable,
            );
        };
        if !fetched {
            return self.fail(
                503,
                "idp_unavailable",
                "could not fetch the identity provider's signing keys",
                Metric::LoginIdpUnavailable,
            );
        }
        self.verify(env, id_token, access_token, &mut |_| false)
    }

    /// After `/userinfo`, asked for by the access-token check.
    pub fn on_userinfo(&mut self, status: Option<u32>, body: &[u8]) -> LoginStep {
        let Stage::Access { login, .. } = &mut self.stage else {
            return self.unexpected();
        };
        let step = login.on_userinfo(status, body);
        self.after_access(step)
    }
}

#[cfg(test)]
#[path = "../../tests/login/code_flow.rs"]
mod tests;
