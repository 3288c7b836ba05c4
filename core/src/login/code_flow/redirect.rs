//! The start of a login: the redirect to the IdP's `/authorize`, and the page to come back to.

use sha2::{Digest, Sha256};

use super::cookie::{
    b64, login_cookie, login_cookie_name, LoginCookie, LoginMac, LOGIN_TTL_MS, START_RANDOM_BYTES,
};
use crate::config::{CodeFlow, Config};
use crate::reply::Reply;
use crate::session::store::SharedData;
use crate::time::Millis;
use crate::url;

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
