//! The IdP client (docs/ARCHITECTURE.md §2): the one place that knows every Auth0 call a
//! login makes: its method, path and headers, and how much of its answer is ever read. Like
//! Envoy's oauth2 filter's `OAuth2Client`, the flows ask for a [`Callout`]; this module turns
//! it into the [`Call`] a host dispatches.

use crate::config::Config;
use crate::ports::{Call, Upstream};

/// Largest JWKS document accepted from the IdP.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// A callout the glue must make to the IdP cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callout {
    Jwks,
    Userinfo,
    /// The code flow's and the device flow's `POST /oauth/token`.
    TokenExchange,
    /// The device flow's `POST /oauth/device/code`.
    DeviceCode,
    /// A client-credentials `POST /oauth/token` for an identity API (`profile[i].token`).
    ClientCredentials(usize),
}

/// Auth0's token endpoint (code exchange, device polls).
pub const TOKEN_PATH: &str = "/oauth/token";
/// Auth0's device-authorization endpoint (RFC 8628).
pub const DEVICE_CODE_PATH: &str = "/oauth/device/code";

/// Largest `/userinfo` answer read.
pub const MAX_USERINFO_BYTES: usize = 16 * 1024;
/// Largest token-endpoint answer read in the code flow (it carries an ID token).
pub const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;
/// Largest answer read in the device flow (codes; a token without an ID token).
pub const MAX_DEVICE_ANSWER: usize = 16 * 1024;

/// Which flow a callout belongs to, for its answer limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Login,
    Device,
}

/// The most of a callout's answer that is read; anything larger counts as no usable answer.
pub fn answer_limit(callout: &Callout, purpose: Purpose) -> usize {
    match (callout, purpose) {
        (Callout::Jwks, _) => MAX_JWKS_BYTES,
        (Callout::Userinfo | Callout::ClientCredentials(_), _) => MAX_USERINFO_BYTES,
        (Callout::TokenExchange | Callout::DeviceCode, Purpose::Device) => MAX_DEVICE_ANSWER,
        (Callout::TokenExchange | Callout::DeviceCode, Purpose::Login) => MAX_TOKEN_ANSWER_BYTES,
    }
}

/// The request headers of an IdP callout; `token` is the bearer of a `/userinfo` call.
pub fn headers(config: &Config, callout: &Callout, token: &str) -> Vec<(&'static str, String)> {
    let a = &config.auth0;
    let (method, path) = match callout {
        Callout::Jwks => ("GET", a.jwks_path.as_str()),
        Callout::Userinfo => ("GET", a.userinfo_path.as_str()),
        Callout::TokenExchange | Callout::ClientCredentials(_) => ("POST", TOKEN_PATH),
        Callout::DeviceCode => ("POST", DEVICE_CODE_PATH),
    };
    let mut headers = vec![
        (":method", method.to_string()),
        (":path", path.to_string()),
        (":authority", a.domain.clone()),
        ("accept", "application/json".to_string()),
    ];
    match callout {
        Callout::Userinfo => headers.push(("authorization", format!("Bearer {token}"))),
        Callout::TokenExchange | Callout::DeviceCode | Callout::ClientCredentials(_) => headers
            .push((
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )),
        Callout::Jwks => {}
    }
    headers
}

/// The whole call: to the configured IdP cluster, with the configured timeout.
pub fn call(
    config: &Config,
    callout: &Callout,
    purpose: Purpose,
    token: &str,
    body: Option<Vec<u8>>,
) -> Call {
    Call {
        upstream: Upstream::Idp,
        cluster: config.auth0.cluster.clone(),
        headers: headers(config, callout, token),
        body,
        timeout_ms: config.auth0.timeout_secs.saturating_mul(1_000),
        max_answer: answer_limit(callout, purpose),
    }
}

/// The client-credentials call for identity API `index`, if it has a token source: its
/// body holds the client secret, which is never logged.
pub fn client_credentials(config: &Config, index: usize) -> Option<Call> {
    let creds = config.profile.get(index)?.token.as_ref()?;
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", creds.client_id.as_str()),
        ("client_secret", creds.client_secret.as_str()),
        ("audience", creds.audience.as_str()),
    ];
    if let Some(scope) = &creds.scope {
        pairs.push(("scope", scope.as_str()));
    }
    let body = crate::url::form(pairs).into_bytes();
    Some(call(
        config,
        &Callout::ClientCredentials(index),
        Purpose::Login,
        "",
        Some(body),
    ))
}

#[cfg(test)]
#[path = "tests/idp.rs"]
mod tests;
