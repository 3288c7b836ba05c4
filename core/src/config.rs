//! The plugin configuration (docs/ARCHITECTURE.md §3): JSON in the filter's `configuration`, with
//! mo-auth's names. Parsing is strict: an unknown key, a wrong type or a bad value is an
//! error that names the key, so Envoy refuses the config instead of running half-configured.

use crate::duration::{kind_of, parse_duration};
use crate::policy::{self, Rule};
use serde_json::{Map, Value};
use std::fmt;

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
}

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

fn error(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// One JSON object being read: remembers which keys were consumed, so that whatever is left
/// at the end is an unknown key.
struct Section<'a> {
    path: String,
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'a> Section<'a> {
    fn new(path: &str, value: &'a Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Section {
                path: path.to_string(),
                map,
                known: Vec::new(),
            }),
            other => Err(error(
                path,
                format!("expected an object, found {}", kind_of(other)),
            )),
        }
    }

    fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.path, name)
        }
    }

    /// The value of `name`, treating an explicit `null` like an absent key.
    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(error(&self.key(name), "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(error(
                &self.key(name),
                format!("expected a string, found {}", kind_of(other)),
            )),
        }
    }

    fn required_string(&mut self, name: &'static str) -> Result<String, ConfigError> {
        self.string(name)?
            .ok_or_else(|| error(&self.key(name), "is required"))
    }

    fn bool(&mut self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(error(
                &self.key(name),
                format!("expected true or false, found {}", kind_of(other)),
            )),
        }
    }

    /// A whole number from 1 to 1,000,000.
    fn count(&mut self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|n| (1..=1_000_000).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| {
                    error(
                        &self.key(name),
                        format!("{n} is not a whole number from 1 to 1000000"),
                    )
                }),
            Some(other) => Err(error(
                &self.key(name),
                format!("expected a number, found {}", kind_of(other)),
            )),
        }
    }

    fn duration(&mut self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => parse_duration(value).map_err(|reason| error(&self.key(name), reason)),
        }
    }

    fn path(&mut self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let path = self.string(name)?.unwrap_or_else(|| default.to_string());
        check_absolute_path(&path).map_err(|reason| error(&self.key(name), reason))?;
        Ok(path)
    }

    fn section(&mut self, name: &'static str) -> Result<Option<Section<'a>>, ConfigError> {
        let key = self.key(name);
        self.get(name).map(|v| Section::new(&key, v)).transpose()
    }

    fn finish(self) -> Result<(), ConfigError> {
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(first) => {
                let mut known = self.known.clone();
                known.sort_unstable();
                known.dedup();
                Err(error(
                    &self.key(first),
                    format!("unknown key (known here: {})", known.join(", ")),
                ))
            }
        }
    }
}

fn check_absolute_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} is not an absolute path (it must start with /)"
        ));
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{path:?} must be a plain path, without query, fragment or spaces"
        ));
    }
    Ok(())
}

/// RFC 7230 token characters: what a cookie or header name may be made of.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Config {
    /// Parses the plugin configuration bytes. Every error names the offending key.
    pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
        let root: Value =
            serde_json::from_slice(bytes).map_err(|e| error("", format!("not valid JSON: {e}")))?;
        let mut top = Section::new("", &root)?;

        let mut auth0_section = top
            .section("auth0")?
            .ok_or_else(|| error("auth0", "is required"))?;
        let auth0 = parse_auth0(&mut auth0_section)?;
        auth0_section.finish()?;

        let endpoints = match top.section("endpoints")? {
            Some(mut s) => {
                let e = Endpoints {
                    login: s.path("login", "/authorize")?,
                    logout: s.path("logout", "/logout")?,
                    keep_alive: s.path("keep_alive", "/ping")?,
                    sessions: s.path("sessions", "/sessions")?,
                };
                s.finish()?;
                e
            }
            None => Endpoints {
                login: "/authorize".into(),
                logout: "/logout".into(),
                keep_alive: "/ping".into(),
                sessions: "/sessions".into(),
            },
        };
        if endpoints.login == endpoints.logout
            || endpoints.login == endpoints.keep_alive
            || endpoints.logout == endpoints.keep_alive
        {
            return Err(error(
                "endpoints",
                "login, logout and keep_alive must be different paths",
            ));
        }
        if [&endpoints.login, &endpoints.logout, &endpoints.keep_alive]
            .iter()
            .any(|p| p.starts_with(&endpoints.sessions))
        {
            return Err(error(
                "endpoints.sessions",
                "must not be, nor be a prefix of, the login, logout or keep_alive path",
            ));
        }

        let cookie = parse_session(&mut top)?;
        let public = parse_public(&mut top)?;
        let headers = parse_headers(&mut top)?;
        let sidecar = match top.section("sidecar")? {
            Some(mut s) => {
                let sc = Sidecar {
                    cluster: s.required_string("cluster")?,
                    token: s.required_string("token")?,
                    login_requires_store: s.bool("login_requires_store", false)?,
                };
                s.finish()?;
                Some(sc)
            }
            None => None,
        };
        if sidecar.is_some() && cookie.signing_keys.is_empty() {
            // Without them every well-formed random cookie costs a sidecar lookup: an
            // unauthenticated client could turn its requests into database reads (docs/ARCHITECTURE.md §8).
            return Err(error(
                "session.cookie.signing_keys",
                "is required with sidecar (a forged cookie is then refused without asking the sidecar); use a key of 32 random bytes, base64",
            ));
        }
        let code_flow = match top.section("code_flow")? {
            Some(mut s) => {
                let cf = CodeFlow {
                    client_id: s.required_string("client_id")?,
                    client_secret: s.string("client_secret")?,
                    callback: s.path("callback", "/callback")?,
                    scope: s
                        .string("scope")?
                        .unwrap_or_else(|| "openid profile email".into()),
                    audience: s
                        .string("audience")?
                        .unwrap_or_else(|| auth0.api_identifier.clone()),
                    logout_redirect: s.string("logout_redirect")?,
                };
                if !cf.scope.split_whitespace().any(|sc| sc == "openid") {
                    return Err(error(
                        &s.key("scope"),
                        "must include openid (the callback verifies an ID token)",
                    ));
                }
                if let Some(url) = &cf.logout_redirect {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        return Err(error(
                            &s.key("logout_redirect"),
                            format!("{url:?} must be an absolute http(s) URL"),
                        ));
                    }
                }
                if [&endpoints.login, &endpoints.logout, &endpoints.keep_alive]
                    .contains(&&cf.callback)
                {
                    return Err(error(
                        &s.key("callback"),
                        "must differ from the login, logout and keep_alive endpoints",
                    ));
                }
                s.finish()?;
                Some(cf)
            }
            None => None,
        };
        let device = match top.section("device")? {
            Some(mut s) => {
                let d = Device {
                    start: s.path("start", "/device/start")?,
                    poll: s.path("poll", "/device/poll")?,
                    client_id: s.required_string("client_id")?,
                    scope: s
                        .string("scope")?
                        .unwrap_or_else(|| "openid profile email".into()),
                    audience: s
                        .string("audience")?
                        .unwrap_or_else(|| auth0.api_identifier.clone()),
                };
                let taken = [&endpoints.login, &endpoints.logout, &endpoints.keep_alive];
                if d.start == d.poll || taken.contains(&&d.start) || taken.contains(&&d.poll) {
                    return Err(error(
                        "device",
                        "start and poll must be distinct from each other and from the endpoints",
                    ));
                }
                s.finish()?;
                Some(d)
            }
            None => None,
        };
        let mut endpoint_paths: Vec<&str> = policy::endpoint_paths(&endpoints).to_vec();
        if let Some(cf) = &code_flow {
            endpoint_paths.push(&cf.callback);
        }
        if let Some(d) = &device {
            endpoint_paths.extend([d.start.as_str(), d.poll.as_str()]);
        }
        let rules = policy::parse_rules(top.get("rules"), &public, &endpoint_paths)?;
        let limits = match top.section("limits")? {
            Some(mut s) => {
                let defaults = Limits::default();
                let l = Limits {
                    idp_calls_per_second: s
                        .count("idp_calls_per_second", defaults.idp_calls_per_second)?,
                    sessions_per_user: s.count("sessions_per_user", defaults.sessions_per_user)?,
                };
                s.finish()?;
                l
            }
            None => Limits::default(),
        };
        top.finish()?;
        Ok(Config {
            limits,
            rules,
            device,
            code_flow,
            auth0,
            endpoints,
            cookie,
            public,
            headers,
            sidecar,
        })
    }
}

fn parse_auth0(s: &mut Section<'_>) -> Result<Auth0, ConfigError> {
    let domain = s.required_string("domain")?;
    if domain.contains("://") || domain.contains('/') || domain.contains(char::is_whitespace) {
        return Err(error(
            &s.key("domain"),
            format!("{domain:?} must be a host name only, like example.auth0.com"),
        ));
    }
    let nested = match s.section("api")? {
        Some(mut api) => {
            let id = api.required_string("identifier")?;
            api.finish()?;
            Some(id)
        }
        None => None,
    };
    let dotted = s.string("api.identifier")?;
    let api_identifier = match (nested, dotted) {
        (Some(id), None) | (None, Some(id)) => id,
        (Some(_), Some(_)) => {
            return Err(error(
                &s.key("api.identifier"),
                "given twice (as api.identifier and \"api.identifier\"); keep one",
            ))
        }
        (None, None) => return Err(error(&s.key("api.identifier"), "is required")),
    };
    let scope = match s.get("scope") {
        None => Vec::new(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
                other => Err(error(
                    &s.key("scope"),
                    format!("expected scope names, found {}", kind_of(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(error(
                &s.key("scope"),
                format!(
                    "expected a space-separated string, found {}",
                    kind_of(other)
                ),
            ))
        }
    };
    let cluster = s.required_string("cluster")?;
    let issuer = s
        .string("issuer")?
        .unwrap_or_else(|| format!("https://{domain}/"));
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(error(
            &s.key("issuer"),
            format!("{issuer:?} must be an http(s) URL"),
        ));
    }
    Ok(Auth0 {
        jwks_path: s.path("jwks_path", "/.well-known/jwks.json")?,
        userinfo_path: s.path("userinfo_path", "/userinfo")?,
        timeout_secs: s.duration("timeout", 5)?,
        accept_opaque: s.bool("accept_opaque", false)?,
        roles_claim: s.string("roles_claim")?,
        domain,
        api_identifier,
        scope,
        cluster,
        issuer,
    })
}

fn parse_session(top: &mut Section<'_>) -> Result<CookieSettings, ConfigError> {
    let mut cookie = CookieSettings {
        name: "session".into(),
        domain: None,
        path: "/".into(),
        secure: true,
        httponly: true,
        samesite: SameSite::Lax,
        inactive_lifetime: 3_600,
        max_lifetime: 30 * 86_400,
        signing_keys: Vec::new(),
    };
    let Some(mut session) = top.section("session")? else {
        return Ok(cookie);
    };
    if let Some(mut c) = session.section("cookie")? {
        if let Some(name) = c.string("name")? {
            if !is_token(&name) {
                return Err(error(
                    &c.key("name"),
                    format!("{name:?} is not a valid cookie name"),
                ));
            }
            cookie.name = name;
        }
        if let Some(domain) = c.string("domain")? {
            if domain.contains([';', ',', ' ', '/']) {
                return Err(error(
                    &c.key("domain"),
                    format!("{domain:?} is not a domain"),
                ));
            }
            cookie.domain = Some(domain);
        }
        cookie.path = c.path("path", "/")?;
        cookie.secure = c.bool("secure", true)?;
        cookie.httponly = c.bool("httponly", true)?;
        if let Some(samesite) = c.string("samesite")? {
            cookie.samesite = match samesite.to_ascii_lowercase().as_str() {
                "strict" => SameSite::Strict,
                "lax" => SameSite::Lax,
                "none" => SameSite::None,
                _ => {
                    return Err(error(
                        &c.key("samesite"),
                        format!("{samesite:?} is not one of Strict, Lax, None"),
                    ))
                }
            };
        }
        if cookie.samesite == SameSite::None && !cookie.secure {
            return Err(error(
                &c.key("samesite"),
                "None needs secure: true (browsers drop SameSite=None cookies without Secure)",
            ));
        }
        cookie.inactive_lifetime = c.duration("inactive_lifetime", cookie.inactive_lifetime)?;
        cookie.max_lifetime = c.duration("max_lifetime", cookie.max_lifetime)?;
        let key = c.key("signing_keys");
        cookie.signing_keys = match c.get("signing_keys") {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|k| match k {
                    Value::String(k) if k.len() >= 32 => Ok(k.clone()),
                    Value::String(_) => Err(error(
                        &key,
                        "each key must be at least 32 characters (use 32 random bytes, base64)",
                    )),
                    other => Err(error(
                        &key,
                        format!("expected strings, found {}", kind_of(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(error(
                    &key,
                    format!(
                        "expected a non-empty array of keys, found {}",
                        kind_of(other)
                    ),
                ))
            }
        };
        c.finish()?;
    }
    session.finish()?;
    Ok(cookie)
}

fn parse_public(top: &mut Section<'_>) -> Result<Vec<PublicPath>, ConfigError> {
    match top.get("public") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = format!("public[{i}]");
                match item {
                    Value::String(path) => {
                        check_absolute_path(path).map_err(|r| error(&key, r))?;
                        Ok(if path.ends_with('/') {
                            PublicPath::Prefix(path.clone())
                        } else {
                            PublicPath::Exact(path.clone())
                        })
                    }
                    other => Err(error(
                        &key,
                        format!("expected a path, found {}", kind_of(other)),
                    )),
                }
            })
            .collect(),
        Some(other) => Err(error(
            "public",
            format!("expected an array of paths, found {}", kind_of(other)),
        )),
    }
}

fn parse_headers(top: &mut Section<'_>) -> Result<Vec<IdentityHeader>, ConfigError> {
    let map = match top.get("headers") {
        None => {
            return Ok(vec![
                IdentityHeader {
                    name: "x-auth-user".into(),
                    claim: Claim::Sub,
                },
                IdentityHeader {
                    name: "x-auth-email".into(),
                    claim: Claim::Email,
                },
            ])
        }
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(error(
                "headers",
                format!(
                    "expected an object of header: claim, found {}",
                    kind_of(other)
                ),
            ))
        }
    };
    let mut headers = Vec::new();
    for (name, claim) in map {
        let key = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(&lower) {
            return Err(error(&key, "is not a valid header name"));
        }
        if matches!(
            lower.as_str(),
            "cookie" | "authorization" | "host" | "content-length" | "transfer-encoding"
        ) {
            return Err(error(&key, "cannot be used as an identity header"));
        }
        let claim = match claim {
            Value::String(c) if c == "sub" => Claim::Sub,
            Value::String(c) if c == "email" => Claim::Email,
            Value::String(c) if c == "name" => Claim::Name,
            Value::String(c) if c == "permissions" => Claim::Permissions,
            Value::String(c) if c == "roles" => Claim::Roles,
            other => {
                return Err(error(
                    &key,
                    format!("expected one of \"sub\", \"email\", \"name\", \"permissions\", \"roles\", found {other}"),
                ))
            }
        };
        headers.push(IdentityHeader { name: lower, claim });
    }
    Ok(headers)
}

#[cfg(test)]
#[path = "tests/config.rs"]
mod tests;
