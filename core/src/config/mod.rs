//! The plugin configuration (docs/ARCHITECTURE.md §3): JSON in the filter's `configuration`, with
//! mo-auth's names. Every error names its key, so Envoy refuses the config instead of
//! running half-configured.
//!
//! In three parts, each depending only on the ones before it: this module holds the public
//! values and the error; `raw` reads the document into private shapes that mirror it and
//! refuse unknown keys (`serde_path_to_error` names the key of a type error); `resolve`
//! builds the public [`Config`] from them (`Config::parse` is there), with the defaults and
//! the checks that span several keys.

mod profile;
mod raw;
mod relay;
mod resolve;

pub use profile::{ClientCredentials, Confirm, Mapping, OnFailure, Profile, Target, Transform};
pub use relay::{RelaySettings, TokenKey};

use std::fmt;

use crate::assertion::keys::AssertionKey;
use crate::policy::{Rule, RuleError};

/// Every field, with its default when the key is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub auth0: Auth0,
    pub endpoints: Endpoints,
    pub cookie: CookieSettings,
    /// Paths forwarded without a session. Default: none.
    pub public: Vec<PublicPath>,
    /// Identity headers added to authenticated requests, and stripped from every request.
    /// Default: `x-auth-user` = `sub`, `x-auth-email` = `email`.
    pub headers: Vec<IdentityHeader>,
    /// Where sessions are synced for durability. Default: none (sessions live in shared data only).
    pub sidecar: Option<Sidecar>,
    /// Browser login at the proxy (authorization code + PKCE). Default: none (unauthenticated
    /// navigations get the 401 JSON like any other request).
    pub code_flow: Option<CodeFlow>,
    /// Device login (RFC 8628) for CLIs and devices without a browser. Default: none.
    pub device: Option<Device>,
    /// Bounds on what one client, or all unauthenticated ones, can make the filter do.
    pub limits: Limits,
    /// Authorization per route: `rules` in order, then `public` as `allow: public` rules.
    /// Default: none (every path but the public ones needs a session).
    pub rules: Vec<Rule>,
    /// How relayed tokens reach the app, and their keys at rest (`config/relay.rs`).
    pub relay: RelaySettings,
    /// A signed identity assertion on every authenticated request forwarded. Default: none.
    pub assertion: Option<AssertionSettings>,
    /// Identity APIs asked about the user at every login, in order. Default: none.
    pub profile: Vec<Profile>,
}

impl Config {
    /// Whether any rule relays a token: without one, nothing of the relay runs.
    pub fn relays(&self) -> bool {
        self.rules.iter().any(|r| r.relay.is_some())
    }
}

/// `assertion`: the JWT the proxy signs for the app (docs/ARCHITECTURE.md §11).
#[derive(Debug, Clone, PartialEq)]
pub struct AssertionSettings {
    /// Required. The `iss` claim: who signs (e.g. the proxy's URL); verifiers pin it.
    pub issuer: String,
    /// The `aud` claim. Default: none (the request's `:authority`, so that an assertion
    /// for one host is refused by an app expecting another).
    pub audience: Option<String>,
    /// The request header it goes in, lower case. Default: `x-auth-assertion`.
    pub header: String,
    /// Seconds from `iat` to `exp` (capped at the session's end); re-signed at half of it.
    /// Default: 300; from [`ASSERTION_LIFETIME_MIN`] to [`ASSERTION_LIFETIME_MAX`].
    pub lifetime: u64,
    /// Required, non-empty. The first signs; all are published in the JWKS.
    pub keys: Vec<AssertionKey>,
    /// Where the proxy serves the JWKS (public). Default: `/.well-known/auth0-session/jwks.json`.
    pub jwks_path: String,
    /// The JWKS document, built once from `keys`.
    pub jwks: String,
}

/// Shortest assertion lifetime: it is re-signed at half of it, so shorter would approach a
/// signature per request, and verifiers allow clock skew of about this much.
pub const ASSERTION_LIFETIME_MIN: u64 = 60;
/// Longest: an assertion outlives a revocation by at most this (the app cannot ask whether
/// the session still exists).
pub const ASSERTION_LIFETIME_MAX: u64 = 600;
/// Most keys in `assertion.keys` (one signing, the rest kept through rotations).
pub const ASSERTION_KEYS_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// IdP calls that unauthenticated requests cause (an opaque login's `/userinfo`, a
    /// device start, a code-flow callback's exchange), per second for the whole Envoy;
    /// twice as many may come at once. More get 429 with `Retry-After`. Default: 20.
    pub idp_calls_per_second: u32,
    /// Live sessions one user may hold; a login beyond ends the oldest. Default: 50.
    pub sessions_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idp_calls_per_second: 20,
            sessions_per_user: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Default: `/device/start`.
    pub start: String,
    /// Default: `/device/poll`.
    pub poll: String,
    /// Required. The client id of an Auth0 Native application with the Device Code grant.
    pub client_id: String,
    /// Default: `openid profile email`.
    pub scope: String,
    /// Default: `auth0.api.identifier`.
    pub audience: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeFlow {
    /// Required. The Auth0 application's client id.
    pub client_id: String,
    /// For a Regular Web Application; PKCE (S256) is used either way. Default: none.
    pub client_secret: Option<String>,
    /// The redirect URI's path, registered in Auth0 as `https://{your host}{callback}`.
    /// Default: `/callback`.
    pub callback: String,
    /// Default: `openid profile email`.
    pub scope: String,
    /// Asked for at `/authorize`. Default: `auth0.api.identifier`.
    pub audience: String,
    /// Where Auth0's `/v2/logout` sends the browser after a logout. Default: none (logout
    /// answers JSON and does not go through Auth0).
    pub logout_redirect: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Auth0 {
    /// Required. The tenant's host name, e.g. `example.auth0.com`; the `:authority` of callouts.
    pub domain: String,
    /// Required (`api.identifier` or mo-auth's `"api.identifier"`). Must be in every JWT's `aud`.
    pub api_identifier: String,
    /// Scopes every token must carry (in `scope` or Auth0's `permissions`). Default: none.
    pub scope: Vec<String>,
    /// Required. The Envoy cluster that reaches the IdP.
    pub cluster: String,
    /// Exact `iss` of tokens. Default: `https://{domain}/`.
    pub issuer: String,
    /// Default: `/.well-known/jwks.json`.
    pub jwks_path: String,
    /// Default: `/userinfo`.
    pub userinfo_path: String,
    /// Timeout of every IdP callout, in seconds. Default: 5.
    pub timeout_secs: u64,
    /// Whether opaque access tokens (checked only by `/userinfo`, which says nothing of
    /// their audience or scopes) may log in; never while `scope` is set. Default: false.
    pub accept_opaque: bool,
    /// The access-token claim holding the user's roles (Auth0 puts them in a namespaced
    /// claim set by an Action). Default: none (sessions carry no roles).
    pub roles_claim: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    /// Default: `/authorize`.
    pub login: String,
    /// Default: `/logout`.
    pub logout: String,
    /// Default: `/ping`.
    pub keep_alive: String,
    /// A user's own sessions, served with a sidecar only. Default: `/sessions`.
    pub sessions: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CookieSettings {
    /// Default: `session`.
    pub name: String,
    /// Default: none (host-only cookie).
    pub domain: Option<String>,
    /// Default: `/`.
    pub path: String,
    /// Default: true.
    pub secure: bool,
    /// Default: true.
    pub httponly: bool,
    /// Default: Lax.
    pub samesite: SameSite,
    /// Idle window in seconds; slides with use. Default: one hour.
    pub inactive_lifetime: u64,
    /// Absolute lifetime from login in seconds; never extended. Default: one month (30 days).
    pub max_lifetime: u64,
    /// Keys that sign session cookies, so forged ones are refused without any lookup; the
    /// first signs, all verify. Default: none (the cookie is the bare secret).
    pub signing_keys: Vec<String>,
}

/// The documented defaults (docs/configuration.md).
impl Default for CookieSettings {
    fn default() -> CookieSettings {
        CookieSettings {
            name: "session".into(),
            domain: None,
            path: "/".into(),
            secure: true,
            httponly: true,
            samesite: SameSite::Lax,
            inactive_lifetime: 3_600,
            max_lifetime: 30 * 86_400,
            signing_keys: Vec::new(),
        }
    }
}

/// A public path: an exact path, or every path under a prefix when it ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicPath {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Sub,
    Email,
    Name,
    /// The session's permissions, space-separated (for apps that decide finer than rules).
    Permissions,
    /// The session's roles, space-separated.
    Roles,
    /// The session's groups (from identity APIs), space-separated.
    Groups,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeader {
    pub name: String,
    pub claim: Claim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// Required. The Envoy cluster that reaches `session-sidecar`.
    pub cluster: String,
    /// Required. Equals the sidecar's `SIDECAR_TOKEN`.
    pub token: String,
    /// Answer a login only once the sidecar has stored its session; when it cannot, 503
    /// (default false: the login is answered and the session reaches the sidecar when it
    /// is back, unless this Envoy crashes first).
    pub login_requires_store: bool,
}

/// A configuration error: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "configuration: {}", self.reason)
        } else {
            write!(f, "configuration key `{}`: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The rules are checked by the policy module, with an error of its own (so that it needs
/// nothing from here); its key is already the configuration key (`rules[2].allow`).
impl From<RuleError> for ConfigError {
    fn from(e: RuleError) -> Self {
        ConfigError {
            key: e.key,
            reason: e.reason,
        }
    }
}

fn error(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
#[path = "../tests/config/config.rs"]
mod tests;
