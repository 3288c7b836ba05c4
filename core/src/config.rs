//! The plugin configuration (docs/ARCHITECTURE.md §3): JSON in the filter's `configuration`, with
//! mo-auth's names. Read by `serde` into the private `Raw*` shapes below, which mirror the
//! document and refuse unknown keys; `serde_path_to_error` names the key of a type error.
//! The public [`Config`] is then built from them, with the defaults and the checks that
//! span several keys. Every error names its key, so Envoy refuses the config instead of
//! running half-configured.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::duration::{kind_of, Duration};
use crate::policy::{self, Rule};

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

// ---- the document as written ---------------------------------------------------------------
// Every member is optional (an explicit `null` counts as absent): what is required, and every
// default, is decided in `Config::parse`, where an error can name the key it is about.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawConfig {
    auth0: Option<RawAuth0>,
    endpoints: Option<RawEndpoints>,
    session: Option<RawSession>,
    public: Option<PathList>,
    headers: Option<HeaderList>,
    sidecar: Option<RawSidecar>,
    code_flow: Option<RawCodeFlow>,
    device: Option<RawDevice>,
    limits: Option<RawLimits>,
    /// The rules' own shapes live with them, in the policy module.
    rules: Option<policy::RuleList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawLimits {
    idp_calls_per_second: Option<Count>,
    sessions_per_user: Option<Count>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawAuth0 {
    domain: Option<Text>,
    api: Option<RawApi>,
    /// mo-auth spells the identifier as one dotted key.
    #[serde(rename = "api.identifier")]
    api_identifier: Option<Text>,
    scope: Option<Scopes>,
    cluster: Option<Text>,
    issuer: Option<Text>,
    jwks_path: Option<AbsPath>,
    userinfo_path: Option<AbsPath>,
    timeout: Option<Duration>,
    accept_opaque: Option<Flag>,
    roles_claim: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawApi {
    identifier: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawEndpoints {
    login: Option<AbsPath>,
    logout: Option<AbsPath>,
    keep_alive: Option<AbsPath>,
    sessions: Option<AbsPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawSession {
    cookie: Option<RawCookie>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawCookie {
    name: Option<Text>,
    domain: Option<Text>,
    path: Option<AbsPath>,
    secure: Option<Flag>,
    httponly: Option<Flag>,
    samesite: Option<Text>,
    inactive_lifetime: Option<Duration>,
    max_lifetime: Option<Duration>,
    signing_keys: Option<SigningKeys>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawSidecar {
    cluster: Option<Text>,
    token: Option<Text>,
    login_requires_store: Option<Flag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawCodeFlow {
    client_id: Option<Text>,
    client_secret: Option<Text>,
    callback: Option<AbsPath>,
    scope: Option<Text>,
    audience: Option<Text>,
    logout_redirect: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct RawDevice {
    start: Option<AbsPath>,
    poll: Option<AbsPath>,
    client_id: Option<Text>,
    scope: Option<Text>,
    audience: Option<Text>,
}

/// A string that is not blank.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Text(text))
    }
}

/// An absolute path without query, fragment or spaces.
struct AbsPath(String);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(path) = Text::deserialize(d)?;
        check_absolute_path(&path).map_err(de::Error::custom)?;
        Ok(AbsPath(path))
    }
}

/// A boolean, with an error that says which words are meant.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
        }
        d.deserialize_bool(V)
    }
}

/// A whole number from 1 to 1,000,000.
struct Count(u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                match u32::try_from(v) {
                    Ok(n) if (1..=1_000_000).contains(&n) => Ok(Count(n)),
                    _ => Err(E::custom(format!(
                        "{v} is not a whole number from 1 to 1000000"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number from 1 to 1000000"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number from 1 to 1000000"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// `auth0.scope`: a space-separated string, or an array of scope names.
struct Scopes(Vec<String>);

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scopes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated string of scopes or an array of scope names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scopes, E> {
                Ok(Scopes(v.split_whitespace().map(str::to_string).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scopes, A::Error> {
                let mut scopes = Vec::new();
                while let Some(item) = seq.next_element::<serde_json::Value>()? {
                    match item.as_str().map(str::trim) {
                        Some(name) if !name.is_empty() => scopes.push(name.to_string()),
                        _ => {
                            return Err(de::Error::custom(format!(
                                "expected scope names, found {}",
                                kind_of(&item)
                            )))
                        }
                    }
                }
                Ok(Scopes(scopes))
            }
        }
        d.deserialize_any(V)
    }
}

/// `public`: paths, each exact or (ending in `/`) a prefix.
struct PathList(Vec<PublicPath>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Item(String);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Item;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a path")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
                        check_absolute_path(v).map_err(E::custom)?;
                        Ok(Item(v.to_string()))
                    }
                }
                d.deserialize_str(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of paths")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathList, A::Error> {
                let mut paths = Vec::new();
                while let Some(Item(path)) = seq.next_element()? {
                    paths.push(if path.ends_with('/') {
                        PublicPath::Prefix(path)
                    } else {
                        PublicPath::Exact(path)
                    });
                }
                Ok(PathList(paths))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `session.cookie.signing_keys`: a non-empty array of long enough strings.
struct SigningKeys(Vec<String>);

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SigningKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty array of keys")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SigningKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = seq.next_element::<serde_json::Value>()? {
                    match key {
                        serde_json::Value::String(k) if k.len() >= 32 => keys.push(k),
                        serde_json::Value::String(_) => return Err(de::Error::custom(
                            "each key must be at least 32 characters (use 32 random bytes, base64)",
                        )),
                        other => {
                            return Err(de::Error::custom(format!(
                                "expected strings, found {}",
                                kind_of(&other)
                            )))
                        }
                    }
                }
                if keys.is_empty() {
                    return Err(de::Error::custom(
                        "expected a non-empty array of keys, found an empty array",
                    ));
                }
                Ok(SigningKeys(keys))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `headers`: header name to claim, in document order.
struct HeaderList(Vec<(String, Claim)>);

impl<'de> Deserialize<'de> for Claim {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Claim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"one of "sub", "email", "name", "permissions", "roles""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Claim, E> {
                match v {
                    "sub" => Ok(Claim::Sub),
                    "email" => Ok(Claim::Email),
                    "name" => Ok(Claim::Name),
                    "permissions" => Ok(Claim::Permissions),
                    "roles" => Ok(Claim::Roles),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header: claim")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderList, A::Error> {
                let mut headers = Vec::new();
                while let Some((name, claim)) = map.next_entry::<String, Claim>()? {
                    headers.push((name, claim));
                }
                Ok(HeaderList(headers))
            }
        }
        d.deserialize_map(V)
    }
}

/// Turns serde's error into ours: the key path as the user writes it (`a.b[2].c`), and for
/// an unknown key, that key itself and the ones that are known there.
fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.into_inner();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return error("", format!("not valid JSON: {inner}"));
    }
    let message = inner.to_string();
    // serde_json appends " at line L column C": the key says where, in words.
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message.as_str(),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, known) = rest.split_once('`').unwrap_or((rest, ""));
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        let key = if path.ends_with(field) || path.is_empty() && field.is_empty() {
            path.clone()
        } else if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return error(&key, format!("unknown key (known here: {known})"));
    }
    error(
        &path,
        message
            .replace("invalid type: ", "")
            .replace("invalid value: ", ""),
    )
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

fn text(value: Option<Text>) -> Option<String> {
    value.map(|Text(t)| t)
}

fn path(value: Option<AbsPath>, default: &str) -> String {
    value.map_or_else(|| default.to_string(), |AbsPath(p)| p)
}

fn required(value: Option<Text>, key: &str) -> Result<String, ConfigError> {
    text(value).ok_or_else(|| error(key, "is required"))
}

impl Config {
    /// Parses the plugin configuration bytes. Every error names the offending key.
    pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut json).map_err(from_serde)?;
        json.end()
            .map_err(|e| error("", format!("not valid JSON: {e}")))?;

        let auth0 = parse_auth0(raw.auth0.ok_or_else(|| error("auth0", "is required"))?)?;

        let e = raw.endpoints.unwrap_or(RawEndpoints {
            login: None,
            logout: None,
            keep_alive: None,
            sessions: None,
        });
        let endpoints = Endpoints {
            login: path(e.login, "/authorize"),
            logout: path(e.logout, "/logout"),
            keep_alive: path(e.keep_alive, "/ping"),
            sessions: path(e.sessions, "/sessions"),
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

        let cookie = parse_cookie(raw.session.and_then(|s| s.cookie))?;
        let public = raw.public.map(|PathList(p)| p).unwrap_or_default();
        let headers = parse_headers(raw.headers)?;
        let sidecar = match raw.sidecar {
            Some(s) => Some(Sidecar {
                cluster: required(s.cluster, "sidecar.cluster")?,
                token: required(s.token, "sidecar.token")?,
                login_requires_store: s.login_requires_store.is_some_and(|Flag(b)| b),
            }),
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
        let code_flow = match raw.code_flow {
            Some(s) => {
                let cf = CodeFlow {
                    client_id: required(s.client_id, "code_flow.client_id")?,
                    client_secret: text(s.client_secret),
                    callback: path(s.callback, "/callback"),
                    scope: text(s.scope).unwrap_or_else(|| "openid profile email".into()),
                    audience: text(s.audience).unwrap_or_else(|| auth0.api_identifier.clone()),
                    logout_redirect: text(s.logout_redirect),
                };
                if !cf.scope.split_whitespace().any(|sc| sc == "openid") {
                    return Err(error(
                        "code_flow.scope",
                        "must include openid (the callback verifies an ID token)",
                    ));
                }
                if let Some(url) = &cf.logout_redirect {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        return Err(error(
                            "code_flow.logout_redirect",
                            format!("{url:?} must be an absolute http(s) URL"),
                        ));
                    }
                }
                if [&endpoints.login, &endpoints.logout, &endpoints.keep_alive]
                    .contains(&&cf.callback)
                {
                    return Err(error(
                        "code_flow.callback",
                        "must differ from the login, logout and keep_alive endpoints",
                    ));
                }
                Some(cf)
            }
            None => None,
        };
        let device = match raw.device {
            Some(s) => {
                let d = Device {
                    start: path(s.start, "/device/start"),
                    poll: path(s.poll, "/device/poll"),
                    client_id: required(s.client_id, "device.client_id")?,
                    scope: text(s.scope).unwrap_or_else(|| "openid profile email".into()),
                    audience: text(s.audience).unwrap_or_else(|| auth0.api_identifier.clone()),
                };
                let taken = [&endpoints.login, &endpoints.logout, &endpoints.keep_alive];
                if d.start == d.poll || taken.contains(&&d.start) || taken.contains(&&d.poll) {
                    return Err(error(
                        "device",
                        "start and poll must be distinct from each other and from the endpoints",
                    ));
                }
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
        let rules = policy::parse_rules(raw.rules, &public, &endpoint_paths)?;
        let limits = match raw.limits {
            Some(l) => {
                let defaults = Limits::default();
                Limits {
                    idp_calls_per_second: l
                        .idp_calls_per_second
                        .map_or(defaults.idp_calls_per_second, |Count(n)| n),
                    sessions_per_user: l
                        .sessions_per_user
                        .map_or(defaults.sessions_per_user, |Count(n)| n),
                }
            }
            None => Limits::default(),
        };
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

fn parse_auth0(s: RawAuth0) -> Result<Auth0, ConfigError> {
    let domain = required(s.domain, "auth0.domain")?;
    if domain.contains("://") || domain.contains('/') || domain.contains(char::is_whitespace) {
        return Err(error(
            "auth0.domain",
            format!("{domain:?} must be a host name only, like example.auth0.com"),
        ));
    }
    let nested = match s.api {
        Some(api) => Some(required(api.identifier, "auth0.api.identifier")?),
        None => None,
    };
    let api_identifier = match (nested, text(s.api_identifier)) {
        (Some(id), None) | (None, Some(id)) => id,
        (Some(_), Some(_)) => {
            return Err(error(
                "auth0.api.identifier",
                "given twice (as api.identifier and \"api.identifier\"); keep one",
            ))
        }
        (None, None) => return Err(error("auth0.api.identifier", "is required")),
    };
    let cluster = required(s.cluster, "auth0.cluster")?;
    let issuer = text(s.issuer).unwrap_or_else(|| format!("https://{domain}/"));
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(error(
            "auth0.issuer",
            format!("{issuer:?} must be an http(s) URL"),
        ));
    }
    Ok(Auth0 {
        jwks_path: path(s.jwks_path, "/.well-known/jwks.json"),
        userinfo_path: path(s.userinfo_path, "/userinfo"),
        timeout_secs: s.timeout.map_or(5, |Duration(secs)| secs),
        accept_opaque: s.accept_opaque.is_some_and(|Flag(b)| b),
        roles_claim: text(s.roles_claim),
        scope: s.scope.map(|Scopes(v)| v).unwrap_or_default(),
        domain,
        api_identifier,
        cluster,
        issuer,
    })
}

fn parse_cookie(c: Option<RawCookie>) -> Result<CookieSettings, ConfigError> {
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
    let Some(c) = c else {
        return Ok(cookie);
    };
    if let Some(name) = text(c.name) {
        if !is_token(&name) {
            return Err(error(
                "session.cookie.name",
                format!("{name:?} is not a valid cookie name"),
            ));
        }
        cookie.name = name;
    }
    if let Some(domain) = text(c.domain) {
        if domain.contains([';', ',', ' ', '/']) {
            return Err(error(
                "session.cookie.domain",
                format!("{domain:?} is not a domain"),
            ));
        }
        cookie.domain = Some(domain);
    }
    cookie.path = path(c.path, "/");
    cookie.secure = c.secure.is_none_or(|Flag(b)| b);
    cookie.httponly = c.httponly.is_none_or(|Flag(b)| b);
    if let Some(samesite) = text(c.samesite) {
        cookie.samesite = match samesite.to_ascii_lowercase().as_str() {
            "strict" => SameSite::Strict,
            "lax" => SameSite::Lax,
            "none" => SameSite::None,
            _ => {
                return Err(error(
                    "session.cookie.samesite",
                    format!("{samesite:?} is not one of Strict, Lax, None"),
                ))
            }
        };
    }
    if cookie.samesite == SameSite::None && !cookie.secure {
        return Err(error(
            "session.cookie.samesite",
            "None needs secure: true (browsers drop SameSite=None cookies without Secure)",
        ));
    }
    if let Some(Duration(secs)) = c.inactive_lifetime {
        cookie.inactive_lifetime = secs;
    }
    if let Some(Duration(secs)) = c.max_lifetime {
        cookie.max_lifetime = secs;
    }
    cookie.signing_keys = c.signing_keys.map(|SigningKeys(k)| k).unwrap_or_default();
    Ok(cookie)
}

fn parse_headers(headers: Option<HeaderList>) -> Result<Vec<IdentityHeader>, ConfigError> {
    let Some(HeaderList(list)) = headers else {
        return Ok(vec![
            IdentityHeader {
                name: "x-auth-user".into(),
                claim: Claim::Sub,
            },
            IdentityHeader {
                name: "x-auth-email".into(),
                claim: Claim::Email,
            },
        ]);
    };
    let mut out = Vec::new();
    for (name, claim) in list {
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
        out.push(IdentityHeader { name: lower, claim });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "tests/config.rs"]
mod tests;
