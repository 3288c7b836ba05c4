//! Browser login at the proxy (the classic Auth0 web-app flow, issue "code flow"): an
//! unauthenticated navigation is sent to `/authorize` with `state`, `nonce` and a PKCE
//! challenge; the callback checks `state` against a short-lived per-login cookie, exchanges
//! the code at `/oauth/token`, verifies the ID token, and ends in the same server-side
//! session as the token login.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{CodeFlow, Config};
use crate::login::jwks::KeySet;
use crate::login::token::{
    identity_from, parse_jwt, Expected, Identity, TokenErrorKind, VerifyError, LEEWAY_SECS,
    MAX_CLAIM_BYTES,
};
use crate::login::{Callout, Login, LoginEnv, LoginStep};
use crate::metrics::Metric;
use crate::request::reply::Reply;
use crate::session::cookie::take_session_cookies;
use crate::session::cookie_mac::HmacKey;
use crate::session::same_bytes;
use crate::session::store::{SharedData, CAS_MISSING};
use crate::time::Millis;
use crate::url::{self, query_param};

/// How long a started login may take before its cookie is no good.
pub const LOGIN_TTL_MS: Millis = 10 * 60_000;
/// Random bytes a login start needs: state, PKCE verifier, nonce, and a login-cookie key
/// should none exist yet.
pub const START_RANDOM_BYTES: usize = 128;
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

fn starts_like_another_host(path: &[u8]) -> bool {
    // `//host` and `/\host` are read by browsers as another host.
    matches!(path, [b'/', b'/' | b'\\', ..])
}

/// The page to return to after login: the request's path, only ever a relative path on this
/// host. Absolute URLs, `//host`, backslashes, control characters and percent-encoded (or
/// doubly encoded) forms of them are refused, and the login then lands on `/`.
pub fn safe_return_path(path: &[u8]) -> String {
    let mut candidate = path.to_vec();
    let ok = |p: &[u8]| {
        p.first() == Some(&b'/')
            && !starts_like_another_host(p)
            && !p.contains(&b'\\')
            && !p
                .iter()
                .any(|b| b.is_ascii_control() || *b == b' ' || *b >= 0x80)
    };
    // Every decoding a browser or an app might apply must stay on this host.
    for _ in 0..3 {
        if !ok(&candidate) {
            return "/".into();
        }
        let decoded = url::percent_decode(&candidate);
        if decoded == candidate {
            break;
        }
        candidate = decoded;
    }
    if !ok(&candidate) {
        return "/".into();
    }
    String::from_utf8(path.to_vec()).unwrap_or_else(|_| "/".into())
}

/// What the browser keeps between the redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LoginCookie {
    state: String,
    verifier: String,
    nonce: String,
    return_to: String,
    expires: Millis,
}

/// Shared-data key of the login-cookie key made when no signing keys are configured.
const LOGIN_KEY: &str = "auth0_session/login_cookie_key";
const LOGIN_KEY_BYTES: usize = 32;
const LOGIN_TAG_BYTES: usize = 16;

/// The keys that MAC the per-login cookie (docs/ARCHITECTURE.md §8 rule 4), so that a cookie planted by
/// someone else (login CSRF: the victim ends up in the attacker's account; or a return path
/// of the attacker's choosing) is refused: `session.cookie.signing_keys` when configured,
/// otherwise one random key per Envoy process, kept in shared data because the callback may
/// land on another worker than the redirect.
pub struct LoginMac {
    keys: Vec<HmacKey>,
}

impl LoginMac {
    /// `fresh`: random bytes to make the process key from if it does not exist yet (at the
    /// start of a login); at a callback there is nothing to verify without one.
    pub fn new(config: &Config, host: &dyn SharedData, fresh: Option<&[u8]>) -> Option<LoginMac> {
        let keys = &config.cookie.signing_keys;
        if !keys.is_empty() {
            return Some(LoginMac {
                keys: keys.iter().map(|k| HmacKey::new(k.as_bytes())).collect(),
            });
        }
        let stored = |value: Option<Vec<u8>>| value.filter(|k| k.len() == LOGIN_KEY_BYTES);
        let key = match stored(host.get(LOGIN_KEY).0) {
            Some(key) => key,
            None => {
                let fresh = fresh.filter(|f| f.len() == LOGIN_KEY_BYTES)?;
                // Another worker may create it at the same moment: the first write wins and
                // everyone uses what is stored.
                let _ = host.set(LOGIN_KEY, fresh, Some(CAS_MISSING));
                stored(host.get(LOGIN_KEY).0)?
            }
        };
        Some(LoginMac {
            keys: vec![HmacKey::new(&key)],
        })
    }

    fn tag(key: &HmacKey, name: &str, payload: &[u8]) -> [u8; 32] {
        let mut message = b"auth0-session login cookie\0".to_vec();
        message.extend_from_slice(name.as_bytes());
        message.push(0);
        message.extend_from_slice(payload);
        key.tag(&message)
    }

    fn sign(&self, name: &str, payload: &str) -> String {
        let tag = self
            .keys
            .first()
            .map(|key| Self::tag(key, name, payload.as_bytes()))
            .unwrap_or_default();
        format!("{payload}.{}", b64(&tag[..LOGIN_TAG_BYTES]))
    }

    /// The payload of a cookie value whose tag one of the keys made.
    fn verify<'v>(&self, name: &str, value: &'v [u8]) -> Option<&'v [u8]> {
        let dot = value.iter().rposition(|&b| b == b'.')?;
        let (payload, tag) = (&value[..dot], &value[dot + 1..]);
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.keys
            .iter()
            .any(|key| same_bytes(&Self::tag(key, name, payload)[..LOGIN_TAG_BYTES], &tag))
            .then_some(payload)
    }
}

impl LoginCookie {
    fn encode(&self) -> String {
        let v = json!({"s": self.state, "v": self.verifier, "n": self.nonce, "r": self.return_to, "e": self.expires});
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn decode(value: &[u8]) -> Option<LoginCookie> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(LoginCookie {
            state: s("s")?,
            verifier: s("v")?,
            nonce: s("n")?,
            return_to: s("r")?,
            expires: v.get("e")?.as_u64()?,
        })
    }
}

/// One cookie per login in progress, named after its state, so that several tabs logging in
/// at once do not overwrite each other. It lives on the callback path only, which a
/// `__Host-` cookie may not (browsers want `Path=/` for those): a `__Host-` session cookie's
/// login cookies are `__Secure-` ones instead.
fn login_cookie_name(config: &Config, state: &str) -> String {
    let name = &config.cookie.name;
    let (prefix, base) = match name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
    {
        Some(base) if config.cookie.secure => ("__Secure-", base),
        Some(base) => ("", base),
        None => ("", name.as_str()),
    };
    format!("{prefix}{base}_login_{}", state.get(..12).unwrap_or(state))
}

fn login_cookie(
    config: &Config,
    cf: &CodeFlow,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> String {
    let mut c = format!(
        "{name}={value}; Max-Age={max_age_secs}; Path={}; HttpOnly; SameSite=Lax",
        cf.callback
    );
    if config.cookie.secure {
        c.push_str("; Secure");
    }
    c
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The redirect URI of this host: `{scheme}://{authority}{callback}`.
pub fn redirect_uri(cf: &CodeFlow, scheme: &str, authority: &str) -> String {
    format!("{scheme}://{authority}{}", cf.callback)
}

/// Sends an unauthenticated navigation to the IdP's login page.
#[allow(clippy::too_many_arguments)]
pub fn start(
    config: &Config,
    cf: &CodeFlow,
    host: &dyn SharedData,
    scheme: &str,
    authority: &str,
    path: &[u8],
    random: &[u8; START_RANDOM_BYTES],
    now: Millis,
) -> Reply {
    let Some(mac) = LoginMac::new(config, host, Some(&random[96..])) else {
        return Reply::error(503, "internal_error", "cannot start a login now");
    };
    let state = b64(&random[..32]);
    let verifier = b64(&random[32..64]);
    let nonce = b64(&random[64..96]);
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let mut params = vec![
        ("response_type", "code".to_string()),
        ("client_id", cf.client_id.clone()),
        ("redirect_uri", redirect_uri(cf, scheme, authority)),
        ("scope", cf.scope.clone()),
        ("state", state.clone()),
        ("nonce", nonce.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_string()),
    ];
    if !cf.audience.is_empty() {
        params.push(("audience", cf.audience.clone()));
    }
    let query = url::form(params.iter().map(|(k, v)| (*k, v.as_str())));
    let location = format!("{}authorize?{query}", config.auth0.issuer);
    let cookie = LoginCookie {
        state: state.clone(),
        verifier,
        nonce,
        return_to: safe_return_path(path),
        expires: now + LOGIN_TTL_MS,
    };
    let name = login_cookie_name(config, &state);
    let value = mac.sign(&name, &cookie.encode());
    Reply::redirect(&location).with_header(
        "set-cookie",
        login_cookie(config, cf, &name, &value, LOGIN_TTL_MS / 1_000),
    )
}

/// A callback refused: JSON, or a small page for a browser.
fn refusal(status: u32, code: &str, message: &str, html: bool) -> Reply {
    if !html {
        return Reply::error(status, code, message);
    }
    let escaped: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect();
    Reply {
        status,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: format!(
            "<!doctype html><meta charset=utf-8><title>Login failed</title><h1>Login failed</h1><p>{escaped}</p><p><a href=\"/\">Start again</a></p>\n"
        ),
    }
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
}

/// The request details a callback needs.
pub struct CallbackRequest<'a> {
    pub query: &'a [u8],
    pub cookie_header: Option<&'a [u8]>,
    pub scheme: &'a str,
    pub authority: &'a str,
    pub html: bool,
}

impl CodeLogin {
    /// Checks the callback's `state` against its login cookie. Anything wrong is refused
    /// before any call to the IdP: an `error` from it, no or another state, a missing,
    /// expired or already used cookie.
    pub fn begin(
        config: &Config,
        cf: &CodeFlow,
        host: &dyn SharedData,
        request: &CallbackRequest<'_>,
        now: Millis,
    ) -> Result<CodeLogin, (Reply, Metric)> {
        let fail = |status, code, message: &str| {
            (
                refusal(status, code, message, request.html),
                Metric::LoginInvalidToken,
            )
        };
        if let Some(error) = query_param(request.query, "error") {
            let detail = query_param(request.query, "error_description").unwrap_or_default();
            let message = format!(
                "the identity provider refused the login: {} {}",
                error.chars().take(100).collect::<String>(),
                detail.chars().take(200).collect::<String>()
            );
            return Err(fail(401, "login_refused", message.trim()));
        }
        let (Some(code), Some(state)) = (
            query_param(request.query, "code"),
            query_param(request.query, "state"),
        ) else {
            return Err(fail(
                400,
                "invalid_request",
                "the callback needs code and state",
            ));
        };
        let name = login_cookie_name(config, &state);
        let mac = LoginMac::new(config, host, None);
        let cookie = request
            .cookie_header
            .map(|h| take_session_cookies(h, &name).0)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|value| mac.as_ref()?.verify(&name, value))
            .filter_map(LoginCookie::decode)
            .find(|c| same_bytes(c.state.as_bytes(), state.as_bytes()));
        let Some(cookie) = cookie else {
            return Err(fail(
                400,
                "invalid_state",
                "unknown or already used login state; start again",
            ));
        };
        if now >= cookie.expires {
            return Err(fail(
                400,
                "invalid_state",
                "the login took too long; start again",
            ));
        }
        Ok(CodeLogin {
            code,
            cookie,
            cookie_name: name,
            redirect_uri: redirect_uri(cf, request.scheme, request.authority),
            html: request.html,
            stage: Stage::Token,
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
                let Stage::Access { claims, .. } = std::mem::replace(&mut self.stage, Stage::Token)
                else {
                    return self.unexpected();
                };
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

/// What verifying an ID token consults.
pub struct IdTokenEnv<'a> {
    pub config: &'a Config,
    pub client_id: &'a str,
    pub keys: Option<&'a KeySet>,
    pub now: Millis,
}

impl IdTokenEnv<'_> {
    fn login_env(&self) -> LoginEnv<'_> {
        LoginEnv {
            config: self.config,
            keys: self.keys,
            now: self.now,
        }
    }
}

/// OpenID Connect Core §3.1.3.7: `iss` exact, `aud` holds our client id (and `azp` names us
/// when there are several audiences), `exp` in the future, `nonce` the one we sent.
fn check_id_token(
    payload: &Value,
    env: &IdTokenEnv<'_>,
    nonce: &str,
) -> Result<Identity, (&'static str, Metric)> {
    let invalid = |m| (m, Metric::LoginInvalidToken);
    if payload.get("iss").and_then(Value::as_str) != Some(env.config.auth0.issuer.as_str()) {
        return Err(invalid("ID token issuer is not the configured issuer"));
    }
    let audiences: Vec<&str> = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&env.client_id) {
        return Err((
            "ID token is not for this application",
            Metric::LoginWrongAudience,
        ));
    }
    if audiences.len() > 1 && payload.get("azp").and_then(Value::as_str) != Some(env.client_id) {
        return Err((
            "ID token is not for this application",
            Metric::LoginWrongAudience,
        ));
    }
    let exp = payload
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(invalid("ID token has no exp"))?;
    if (env.now / 1_000) as f64 > exp + LEEWAY_SECS as f64 {
        return Err(("ID token has expired", Metric::LoginExpired));
    }
    let got = payload.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !same_bytes(got.as_bytes(), nonce.as_bytes()) {
        return Err(invalid("ID token nonce does not match this login"));
    }
    let mut identity = identity_from(payload).ok_or(invalid("ID token has no usable sub"))?;
    // Auth0's session id: a back-channel logout names the session it ends by it.
    identity.sid = payload
        .get("sid")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty() && v.len() <= MAX_CLAIM_BYTES && !v.contains(char::is_control))
        .map(str::to_string);
    Ok(identity)
}

#[cfg(test)]
#[path = "../tests/code_flow.rs"]
mod tests;
