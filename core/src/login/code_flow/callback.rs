//! The callback's checks before any call to the IdP (`state` against the login cookie), and
//! the checks of the ID token the code exchange returns.

use serde_json::Value;

use super::cookie::{login_cookie_name, LoginCookie, LoginMac};
use super::redirect::redirect_uri;
use crate::config::{CodeFlow, Config};
use crate::identity::{identity_from, Identity, MAX_CLAIM_BYTES};
use crate::login::jwks::KeySet;
use crate::login::token::LEEWAY_SECS;
use crate::login::LoginEnv;
use crate::metrics::Metric;
use crate::reply::Reply;
use crate::session::cookie::take_session_cookies;
use crate::session::same_bytes;
use crate::session::store::SharedData;
use crate::time::Millis;
use crate::url::query_param;

/// A callback refused: JSON, or a small page for a browser.
pub(super) fn refusal(status: u32, code: &str, message: &str, html: bool) -> Reply {
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

/// The request details a callback needs.
pub struct CallbackRequest<'a> {
    pub query: &'a [u8],
    pub cookie_header: Option<&'a [u8]>,
    pub scheme: &'a str,
    pub authority: &'a str,
    pub html: bool,
}

/// A callback that passed [`check`]: what the code exchange needs.
pub(super) struct Checked {
    pub code: String,
    pub cookie: LoginCookie,
    pub cookie_name: String,
    pub redirect_uri: String,
    pub html: bool,
}

/// Checks the callback's `state` against its login cookie. Anything wrong is refused
/// before any call to the IdP: an `error` from it, no or another state, a missing,
/// expired or already used cookie.
pub(super) fn check(
    config: &Config,
    cf: &CodeFlow,
    host: &dyn SharedData,
    request: &CallbackRequest<'_>,
    now: Millis,
) -> Result<Checked, (Reply, Metric)> {
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
    Ok(Checked {
        code,
        cookie,
        cookie_name: name,
        redirect_uri: redirect_uri(cf, request.scheme, request.authority),
        html: request.html,
    })
}

/// What verifying an ID token consults.
pub struct IdTokenEnv<'a> {
    pub config: &'a Config,
    pub client_id: &'a str,
    pub keys: Option<&'a KeySet>,
    pub now: Millis,
}

impl IdTokenEnv<'_> {
    pub(super) fn login_env(&self) -> LoginEnv<'_> {
        LoginEnv {
            config: self.config,
            keys: self.keys,
            now: self.now,
        }
    }
}

/// OpenID Connect Core §3.1.3.7: `iss` exact, `aud` holds our client id (and `azp` names us
/// when there are several audiences), `exp` in the future, `nonce` the one we sent.
pub(super) fn check_id_token(
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
