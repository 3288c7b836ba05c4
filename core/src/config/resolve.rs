//! From the document as read to the public [`Config`]: what is required, every default, and
//! the checks that span several keys (distinct endpoint paths, signing keys with a sidecar,
//! rules that can be reached).

use super::profile::parse_profiles;
use super::raw::{
    read, AbsPath, Count, Flag, HeaderList, PathList, RawAssertion, RawAuth0, RawCookie,
    RawEndpoints, Scopes, SigningKeys, Text,
};
use super::{
    error, AssertionSettings, Auth0, Claim, CodeFlow, Config, ConfigError, CookieSettings, Device,
    Endpoints, IdentityHeader, Limits, PublicPath, SameSite, Sidecar, ASSERTION_KEYS_MAX,
    ASSERTION_LIFETIME_MAX, ASSERTION_LIFETIME_MIN,
};
use crate::assertion::keys::{jwks, AssertionKey};
use crate::duration::Duration;
use crate::policy::parse_rules;
use crate::syntax::is_token;

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
        let raw = read(bytes)?;

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
        // The paths the filter serves itself, which a rule's exact path must not name.
        let mut endpoint_paths: Vec<&str> =
            vec![&endpoints.login, &endpoints.logout, &endpoints.keep_alive];
        if let Some(cf) = &code_flow {
            endpoint_paths.push(&cf.callback);
        }
        if let Some(d) = &device {
            endpoint_paths.extend([d.start.as_str(), d.poll.as_str()]);
        }
        let assertion = match raw.assertion {
            Some(a) => Some(parse_assertion(a, &headers, &endpoint_paths)?),
            None => None,
        };
        if let Some(a) = &assertion {
            endpoint_paths.push(&a.jwks_path);
        }
        let public_paths: Vec<&str> = public
            .iter()
            .map(|p| match p {
                PublicPath::Exact(t) | PublicPath::Prefix(t) => t.as_str(),
            })
            .collect();
        let rules = parse_rules(raw.rules, &public_paths, &endpoint_paths)?;
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
        let identity_names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
        let relay = super::relay::parse_relay(raw.relay, &identity_names)?;
        if rules.iter().any(|r| r.relay.is_some())
            && assertion.as_ref().is_some_and(|a| a.header == relay.header)
        {
            return Err(error(
                "relay.header",
                "is also assertion.header; the token and the assertion need headers of their own",
            ));
        }
        let profile = parse_profiles(raw.profile)?;
        Ok(Config {
            relay,
            assertion,
            profile,
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
    let mut cookie = CookieSettings::default();
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
        if reserved_header(&lower) {
            return Err(error(&key, "cannot be used as an identity header"));
        }
        out.push(IdentityHeader { name: lower, claim });
    }
    Ok(out)
}

/// Header names the proxy sets or relies on itself: never an identity or assertion header.
fn reserved_header(lower: &str) -> bool {
    matches!(
        lower,
        "cookie" | "authorization" | "host" | "content-length" | "transfer-encoding"
    )
}

fn parse_assertion(
    a: RawAssertion,
    headers: &[IdentityHeader],
    endpoint_paths: &[&str],
) -> Result<AssertionSettings, ConfigError> {
    let issuer = required(a.issuer, "assertion.issuer")?;
    let audience = text(a.audience);
    for (key, value) in [
        ("assertion.issuer", Some(&issuer)),
        ("assertion.audience", audience.as_ref()),
    ] {
        if value.is_some_and(|v| v.len() > 1024 || v.chars().any(char::is_control)) {
            return Err(error(
                key,
                "must be at most 1024 characters, without control characters",
            ));
        }
    }
    let header = text(a.header).map_or_else(
        || "x-auth-assertion".to_string(),
        |h| h.to_ascii_lowercase(),
    );
    if !is_token(&header) || reserved_header(&header) || header.starts_with(':') {
        return Err(error(
            "assertion.header",
            format!("{header:?} cannot be the assertion's header"),
        ));
    }
    if headers.iter().any(|h| h.name == header) {
        return Err(error(
            "assertion.header",
            format!("{header:?} is already an identity header (`headers`)"),
        ));
    }
    let lifetime = a.lifetime.map_or(300, |Duration(secs)| secs);
    if !(ASSERTION_LIFETIME_MIN..=ASSERTION_LIFETIME_MAX).contains(&lifetime) {
        return Err(error(
            "assertion.lifetime",
            format!(
                "{lifetime} seconds is out of range: from {ASSERTION_LIFETIME_MIN} seconds to {ASSERTION_LIFETIME_MAX} (it bounds how long an assertion outlives a logout)"
            ),
        ));
    }
    let pems = a.keys.ok_or_else(|| {
        error(
            "assertion.keys",
            "is required: a list of PEM EC P-256 private keys (the first signs)",
        )
    })?;
    if pems.is_empty() || pems.len() > ASSERTION_KEYS_MAX {
        return Err(error(
            "assertion.keys",
            format!("must list from 1 to {ASSERTION_KEYS_MAX} keys"),
        ));
    }
    let mut keys: Vec<AssertionKey> = Vec::with_capacity(pems.len());
    for (i, pem) in pems.iter().enumerate() {
        let key_name = format!("assertion.keys[{i}]");
        let key = AssertionKey::from_pem(pem).map_err(|why| error(&key_name, why))?;
        if keys.contains(&key) {
            return Err(error(&key_name, "is the same key as an earlier one"));
        }
        keys.push(key);
    }
    let jwks_path = path(a.jwks_path, "/.well-known/auth0-session/jwks.json");
    if endpoint_paths.contains(&jwks_path.as_str()) {
        return Err(error(
            "assertion.jwks_path",
            "must differ from the filter's other endpoints",
        ));
    }
    Ok(AssertionSettings {
        jwks: jwks(&keys),
        issuer,
        audience,
        header,
        lifetime,
        keys,
        jwks_path,
    })
}
