//! OpenID Connect Back-Channel Logout 1.0 (docs/logins.md: "Back-channel logout"): the checks a
//! `logout_token` must pass before any session ends, and the answers the endpoint gives.
//! The sidecar serves the endpoint; it carries out what this module decides (fetch the JWKS
//! when [`fetch_due`] says so, remember the `jti`, end the sessions) and nothing else.
//!
//! The token is a JWT signed by the tenant: RS256 pinned (never chosen by the token), `typ`
//! if present `logout+jwt`, `iss` exact, `aud` holding the code flow's client id, `iat`
//! within [`MAX_AGE_SECS`] of now, `exp` (if present) not past, the back-channel logout event,
//! `sid` or `sub`, a `jti`, and no `nonce` (so an ID token can never pass for one).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::identity::MAX_CLAIM_BYTES;
use crate::login::jwks::KeySet;
use crate::login::token::{parse_jwt, VerifyError, LEEWAY_SECS, MAX_TOKEN_BYTES};
use crate::reply::Reply;
use crate::time::Millis;
use crate::url::form_pairs;

/// The event a logout token must carry (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Largest request body read: a logout token is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `iat` may be this far from now, either way.
pub const MAX_AGE_SECS: u64 = 120;
/// Longest `jti` remembered; a longer one is refused rather than truncated into a collision.
pub const MAX_JTI_BYTES: usize = 256;
/// However the tokens come, the JWKS is fetched at most once per this interval.
pub const FETCH_INTERVAL_MS: Millis = 30_000;
/// Keys older than this are refetched (at the fetch interval), so a key the tenant withdrew
/// stops verifying.
pub const REFRESH_AFTER_MS: Millis = 10 * 60_000;

/// The tenant a logout token must come from and be addressed to.
#[derive(Debug, Clone, Copy)]
pub struct Tenant<'a> {
    pub issuer: &'a str,
    /// The code flow's client id: the application Auth0 logs out.
    pub client_id: &'a str,
}

/// A verified logout token: what to end, and how long its `jti` must be remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub iat: u64,
    pub jti: String,
}

/// What ends: one Auth0 session's sessions, or all of a user's issued up to an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    Sid(&'a str),
    /// Sessions created before this instant (milliseconds).
    UserBefore {
        sub: &'a str,
        before: Millis,
    },
}

impl LogoutToken {
    /// With `sid`: that session; with only `sub`: the user's sessions issued before `iat`.
    /// `iat` has whole seconds, so every session created within its second counts as
    /// before: a login in the same second as the logout ends too (fail closed).
    pub fn target(&self) -> Option<Target<'_>> {
        match (&self.sid, &self.sub) {
            (Some(sid), _) => Some(Target::Sid(sid)),
            (None, Some(sub)) => Some(Target::UserBefore {
                sub,
                before: self.iat.saturating_add(1).saturating_mul(1_000),
            }),
            (None, None) => None,
        }
    }

    /// Until when the `jti` must be remembered: after that, the token is refused as too old.
    pub fn remember_until(&self) -> Millis {
        self.iat
            .saturating_add(MAX_AGE_SECS + LEEWAY_SECS)
            .saturating_mul(1_000)
    }
}

/// Why a logout token was refused. Each has a stable code, the `reason` of the 400 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `logout_token` form field, or several, or not a JWT whose parts are JSON.
    Malformed(&'static str),
    /// `alg` is not RS256 (`none`, HS256 and the rest).
    UnsupportedAlgorithm,
    /// `typ` is present and not `logout+jwt`.
    WrongType,
    /// No key of the tenant's JWKS has the token's `kid`, even after a refetch.
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    /// `iat` missing, or further than [`MAX_AGE_SECS`] from now; or `exp` past.
    Expired,
    NotLogoutEvent,
    NoSubject,
    NoncePresent,
    NoJti,
    /// This `jti` was seen before.
    Replayed,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UnsupportedAlgorithm => "unsupported_algorithm",
            Refusal::WrongType => "wrong_type",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::Expired => "expired",
            Refusal::NotLogoutEvent => "not_logout_event",
            Refusal::NoSubject => "no_subject",
            Refusal::NoncePresent => "nonce_present",
            Refusal::NoJti => "no_jti",
            Refusal::Replayed => "replayed",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Malformed(why) => why,
            Refusal::UnsupportedAlgorithm => "logout token algorithm is not RS256",
            Refusal::WrongType => "logout token typ is not logout+jwt",
            Refusal::UnknownKey => "logout token is signed by a key the tenant does not publish",
            Refusal::BadSignature => "logout token signature is not valid",
            Refusal::WrongIssuer => "logout token issuer is not the configured issuer",
            Refusal::WrongAudience => "logout token is not for this application",
            Refusal::Expired => "logout token is too old, from the future, or expired",
            Refusal::NotLogoutEvent => "logout token lacks the back-channel logout event",
            Refusal::NoSubject => "logout token has neither a usable sid nor sub",
            Refusal::NoncePresent => "logout token must not have a nonce",
            Refusal::NoJti => "logout token has no usable jti",
            Refusal::Replayed => "logout token was already used",
        }
    }

    /// §2.8: 400, OAuth's error form; `reason` is this project's stable code.
    pub fn reply(&self) -> Reply {
        Reply::json(
            400,
            &json!({
                "error": "invalid_request",
                "error_description": self.message(),
                "reason": self.code(),
            }),
        )
    }
}

/// §2.8: a logout carried out (or naming no session we have) is 200, never cached.
pub fn accepted() -> Reply {
    Reply {
        status: 200,
        headers: vec![("cache-control".into(), "no-store".into())],
        body: String::new(),
    }
}

/// The endpoint takes only POST.
pub fn method_not_allowed() -> Reply {
    Reply::error(405, "method_not_allowed", "use POST").with_header("allow", "POST")
}

/// The tenant's keys could not be had (never fetched, IdP unreachable): nothing could be
/// verified, so nothing is refused as forged either.
pub fn keys_unavailable() -> Reply {
    Reply::json(
        503,
        &json!({
            "error": "temporarily_unavailable",
            "error_description": "the tenant's signing keys cannot be fetched now",
        }),
    )
    .with_header("retry-after", "30")
}

/// The `logout_token` of a form-encoded body. Exactly one is required: two could make two
/// readers disagree about which one was checked.
pub fn token_from_form(body: &[u8]) -> Result<String, Refusal> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Refusal::Malformed("request body too large"));
    }
    let mut found = None;
    for (name, value) in form_pairs(body) {
        if name != b"logout_token" {
            continue;
        }
        if found.is_some() {
            return Err(Refusal::Malformed("more than one logout_token"));
        }
        found = Some(value);
    }
    let token = found.ok_or(Refusal::Malformed("no logout_token in the form"))?;
    String::from_utf8(token).map_err(|_| Refusal::Malformed("logout_token is not text"))
}

/// Why a token could not be accepted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckError {
    /// Its `kid` is not among the keys (or there are none): the caller may refetch the JWKS
    /// (see [`fetch_due`]) and check again.
    UnknownKey,
    Refused(Refusal),
}

impl From<Refusal> for CheckError {
    fn from(r: Refusal) -> Self {
        CheckError::Refused(r)
    }
}

/// Checks a logout token. The header is read before anything else so that a token whose
/// algorithm or type is wrong is refused without a key lookup (and never causes a fetch).
/// Replay (`jti` already seen) is the caller's last step, after every check here passed, so
/// that a forged token never occupies the replay memory.
pub fn check(
    token: &str,
    keys: Option<&KeySet>,
    tenant: &Tenant<'_>,
    now: Millis,
) -> Result<LogoutToken, CheckError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed("logout token too long").into());
    }
    // `alg` and `typ` are read here rather than through jsonwebtoken's `Header`: that type can
    // only hold an algorithm the library knows, so `"alg": "none"` would come back as a JSON
    // error, and the refusal could not say `unsupported_algorithm`. Everything else about the
    // token (segments, `kid`, `crit`, the signature) is the library's, through `parse_jwt`.
    let header = token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .ok_or(Refusal::Malformed(
            "logout token header is not base64url JSON",
        ))?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(Refusal::UnsupportedAlgorithm.into());
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("logout+jwt")
                || t.eq_ignore_ascii_case("application/logout+jwt") => {}
        Some(_) => return Err(Refusal::WrongType.into()),
    }
    let jwt = parse_jwt(token).map_err(|e| Refusal::Malformed(e.message))?;
    let keys = keys.ok_or(CheckError::UnknownKey)?;
    let payload = match jwt.verify(keys) {
        Ok(payload) => payload,
        Err(VerifyError::UnknownKey) => return Err(CheckError::UnknownKey),
        Err(VerifyError::Token(_)) => return Err(Refusal::BadSignature.into()),
    };
    check_claims(&payload, tenant, now).map_err(CheckError::from)
}

fn check_claims(payload: &Value, tenant: &Tenant<'_>, now: Millis) -> Result<LogoutToken, Refusal> {
    if payload.get("iss").and_then(Value::as_str) != Some(tenant.issuer) {
        return Err(Refusal::WrongIssuer);
    }
    let for_us = match payload.get("aud") {
        Some(Value::String(a)) => a == tenant.client_id,
        Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(tenant.client_id)),
        _ => false,
    };
    if !for_us {
        return Err(Refusal::WrongAudience);
    }
    let now_secs = now / 1_000;
    let iat = payload
        .get("iat")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or(Refusal::Expired)? as u64;
    if iat.abs_diff(now_secs) > MAX_AGE_SECS {
        return Err(Refusal::Expired);
    }
    match payload.get("exp") {
        None => {}
        Some(exp) => {
            let exp = exp.as_f64().ok_or(Refusal::Expired)?;
            if now_secs as f64 > exp + LEEWAY_SECS as f64 {
                return Err(Refusal::Expired);
            }
        }
    }
    let has_event = payload
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        return Err(Refusal::NotLogoutEvent);
    }
    if payload.get("nonce").is_some() {
        return Err(Refusal::NoncePresent);
    }
    // As stored at login: a claim that could not have been stored names no session.
    let short = |name: &str| -> Result<Option<String>, Refusal> {
        match payload.get(name) {
            None => Ok(None),
            Some(Value::String(v))
                if !v.is_empty() && v.len() <= MAX_CLAIM_BYTES && !v.contains(char::is_control) =>
            {
                Ok(Some(v.clone()))
            }
            Some(_) => Err(Refusal::NoSubject),
        }
    };
    let sid = short("sid")?;
    let sub = short("sub")?;
    if sid.is_none() && sub.is_none() {
        return Err(Refusal::NoSubject);
    }
    let jti = match payload.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_BYTES => j.clone(),
        _ => return Err(Refusal::NoJti),
    };
    Ok(LogoutToken { sid, sub, iat, jti })
}

/// When the endpoint may fetch the tenant's JWKS: at most once per [`FETCH_INTERVAL_MS`]
/// whatever arrives (so a flood of tokens with made-up `kid`s, or of valid-looking tokens,
/// costs one fetch per interval), and only when it would help: no keys yet, a `kid` not
/// among them, or keys older than [`REFRESH_AFTER_MS`].
pub fn fetch_due(
    fetched_at: Option<Millis>,
    last_attempt: Option<Millis>,
    unknown_kid: bool,
    now: Millis,
) -> bool {
    let allowed = last_attempt.is_none_or(|at| now >= at.saturating_add(FETCH_INTERVAL_MS));
    let useful = match fetched_at {
        None => true,
        Some(at) => unknown_kid || now >= at.saturating_add(REFRESH_AFTER_MS),
    };
    allowed && useful
}

#[cfg(test)]
#[path = "../tests/login/backchannel.rs"]
mod tests;
