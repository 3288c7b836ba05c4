//! `profile`: identity APIs asked about the user at login (README: "Identity APIs"). The
//! public values, the document's shapes and their checks, in one place: this is one use
//! case's configuration, and nothing else reads these shapes.

use std::fmt;

use super::raw::{AbsPath, Count, RawMapping, RawProfile, Text};
use super::{error, ConfigError};
use crate::duration::Duration;

/// One identity API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Required, unique: names the API in logs and its cached token.
    pub name: String,
    /// Required. The Envoy cluster that reaches the API.
    pub cluster: String,
    /// Required. `scheme://host[:port]` of `url`: the `:authority` of calls from Envoy, and
    /// what the auth service connects to.
    pub origin: String,
    pub authority: String,
    /// `url`'s path and then `path`, with `{sub}` where the user's id goes (URL-encoded).
    pub path: String,
    /// A client-credentials token asked of Auth0 for the call. Default: none (no bearer).
    pub token: Option<ClientCredentials>,
    /// Default: 3 s.
    pub timeout_ms: u64,
    /// The most of an answer read (`max_answer_bytes`, at most 1,000,000); larger is a
    /// failure. Default: 64 KiB.
    pub max_answer: usize,
    /// Session fields taken from the answer (in the order of their names).
    pub map: Vec<Mapping>,
    /// Conditions the answer must meet, else the login is refused 403.
    pub confirm: Vec<Confirm>,
    /// Default: refuse.
    pub on_failure: OnFailure,
}

/// A client-credentials grant at Auth0's token endpoint. Its Debug never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
    /// Space-separated. Default: none (Auth0 grants what the client may have).
    pub scope: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Where a mapped value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Added to the token's roles.
    Roles,
    /// Added to the groups of earlier APIs.
    Groups,
    EmailVerified,
    /// Replaces the token's name.
    Name,
    /// A named extra claim.
    Claim(String),
}

/// How the value at the pointer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// A string (a number or boolean as its JSON text).
    Value,
    /// An array of strings (or, with `each`, of objects holding one).
    Values,
    /// An object's keys (the Person API's groups: keys with null values).
    Keys,
    /// `true` or `false`.
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub target: Target,
    pub transform: Transform,
    /// RFC 6901, into the answer.
    pub pointer: String,
    /// With `values`: a pointer into each item of the array.
    pub each: Option<String>,
    /// Put before each item (or the value).
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// The value at the pointer is `true`.
    True(String),
    /// The value at the pointer is a string equal (ASCII case aside) to the token's email.
    SameEmail(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// 503: no session without this API's answer.
    Refuse,
    /// Log in without it; counted in `auth0_session.profile.skipped`.
    Continue,
}

/// Claims a named mapping may not take: the session's own fields and the JWT's.
const RESERVED: &[&str] = &[
    "sub",
    "email",
    "permissions",
    "sid",
    "iss",
    "aud",
    "iat",
    "exp",
    "nbf",
    "jti",
];

/// A name of an API or claim: letters, digits, `-`, `_`, `.`; at most 64 bytes.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// An RFC 6901 pointer: empty (the whole answer) or `/`-separated tokens where `~` is only
/// ever `~0` or `~1`.
fn check_pointer(key: &str, pointer: &str) -> Result<(), ConfigError> {
    let bad_tilde = pointer
        .split('~')
        .skip(1)
        .any(|rest| !(rest.starts_with('0') || rest.starts_with('1')));
    if !(pointer.is_empty() || pointer.starts_with('/')) || bad_tilde {
        return Err(error(
            key,
            format!("{pointer:?} is not a JSON Pointer (RFC 6901: \"/a/b\", ~0 for ~, ~1 for /)"),
        ));
    }
    Ok(())
}

fn parse_mapping(key: &str, name: &str, m: RawMapping) -> Result<Mapping, ConfigError> {
    let (transform, pointer) = match (m.value, m.values, m.keys, m.boolean) {
        (Some(p), None, None, None) => (Transform::Value, p),
        (None, Some(p), None, None) => (Transform::Values, p),
        (None, None, Some(p), None) => (Transform::Keys, p),
        (None, None, None, Some(p)) => (Transform::Boolean, p),
        _ => {
            return Err(error(
                key,
                "needs exactly one of value, values, keys, boolean (each a JSON Pointer)",
            ))
        }
    };
    let which = match transform {
        Transform::Value => "value",
        Transform::Values => "values",
        Transform::Keys => "keys",
        Transform::Boolean => "boolean",
    };
    check_pointer(&format!("{key}.{which}"), &pointer)?;
    if let Some(each) = &m.each {
        if transform != Transform::Values {
            return Err(error(&format!("{key}.each"), "goes with values only"));
        }
        check_pointer(&format!("{key}.each"), each)?;
    }
    let target = match name {
        "roles" => Target::Roles,
        "groups" => Target::Groups,
        "email_verified" => Target::EmailVerified,
        "name" => Target::Name,
        claim if RESERVED.contains(&claim) => {
            return Err(error(key, "is a field no identity API may set"))
        }
        claim if !is_name(claim) => {
            return Err(error(
                key,
                "a claim name is letters, digits, - _ . (at most 64 bytes)",
            ))
        }
        claim => Target::Claim(claim.to_string()),
    };
    let fits = match target {
        Target::Roles | Target::Groups => transform != Transform::Boolean,
        Target::EmailVerified => transform == Transform::Boolean,
        Target::Name => transform == Transform::Value,
        Target::Claim(_) => true,
    };
    if !fits {
        return Err(error(
            &format!("{key}.{which}"),
            format!("cannot fill {name} (roles and groups: value, values or keys; email_verified: boolean; name: value)"),
        ));
    }
    if m.prefix.is_some() && transform == Transform::Boolean {
        return Err(error(
            &format!("{key}.prefix"),
            "has nothing to prefix on a boolean",
        ));
    }
    Ok(Mapping {
        target,
        transform,
        pointer,
        each: m.each,
        prefix: m.prefix.map(|Text(t)| t),
    })
}

/// `scheme://authority` and the path of an API's base URL.
fn split_url(key: &str, url: &str) -> Result<(String, String, String), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| error(key, format!("{url:?} must be an http(s) URL")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty()
        || authority.contains(['@', '?', '#'])
        || url.contains(char::is_whitespace)
        || path.contains(['?', '#'])
    {
        return Err(error(
            key,
            format!("{url:?} must be scheme://host[:port][/path], without user, query or fragment"),
        ));
    }
    let scheme_len = url.len() - rest.len();
    Ok((
        url[..scheme_len + authority.len()].to_string(),
        authority.to_string(),
        path.trim_end_matches('/').to_string(),
    ))
}

fn parse_one(i: usize, raw: RawProfile) -> Result<Profile, ConfigError> {
    let key = |k: &str| format!("profile[{i}].{k}");
    let need = |v: Option<Text>, k: &str| {
        v.map(|Text(t)| t)
            .ok_or_else(|| error(&key(k), "is required"))
    };
    let name = need(raw.name, "name")?;
    if !is_name(&name) {
        return Err(error(
            &key("name"),
            format!("{name:?} must be letters, digits, - _ . (at most 64 bytes)"),
        ));
    }
    let cluster = need(raw.cluster, "cluster")?;
    let (origin, authority, base) = split_url(&key("url"), &need(raw.url, "url")?)?;
    let AbsPath(template) = raw.path.ok_or_else(|| error(&key("path"), "is required"))?;
    if !template.contains("{sub}") {
        return Err(error(
            &key("path"),
            "must hold {sub}, where the user's id goes",
        ));
    }
    let token = match raw.token {
        Some(t) => Some(ClientCredentials {
            client_id: need(t.client_id, "token.client_id")?,
            client_secret: need(t.client_secret, "token.client_secret")?,
            audience: need(t.audience, "token.audience")?,
            scope: t.scope.map(|Text(s)| s),
        }),
        None => None,
    };
    let mut map = Vec::new();
    for (name, value) in raw.map.unwrap_or_default() {
        map.push(parse_mapping(&key(&format!("map.{name}")), &name, value)?);
    }
    let mut confirm = Vec::new();
    for (j, c) in raw.confirm.unwrap_or_default().into_iter().enumerate() {
        let k = key(&format!("confirm[{j}]"));
        let condition = match (c.is_true, c.same_email) {
            (Some(p), None) => Confirm::True(p),
            (None, Some(p)) => Confirm::SameEmail(p),
            _ => return Err(error(&k, r#"needs exactly one of "true", "same_email""#)),
        };
        let (Confirm::True(p) | Confirm::SameEmail(p)) = &condition;
        check_pointer(&k, p)?;
        confirm.push(condition);
    }
    if map.is_empty() && confirm.is_empty() {
        return Err(error(
            &key("map"),
            "is required (or confirm): what is the API asked for?",
        ));
    }
    let on_failure = match raw.on_failure.map(|Text(t)| t).as_deref() {
        None | Some("refuse") => OnFailure::Refuse,
        Some("continue") => OnFailure::Continue,
        Some(other) => {
            return Err(error(
                &key("on_failure"),
                format!("{other:?} is not one of refuse, continue"),
            ))
        }
    };
    let max_answer = raw
        .max_answer_bytes
        .map_or(64 * 1024, |Count(n)| n as usize);
    Ok(Profile {
        path: format!("{base}{template}"),
        timeout_ms: raw.timeout.map_or(3, |Duration(s)| s).saturating_mul(1_000),
        name,
        cluster,
        origin,
        authority,
        token,
        max_answer,
        map,
        confirm,
        on_failure,
    })
}

/// The `profile` list, checked: names unique.
pub(super) fn parse_profiles(raw: Option<Vec<RawProfile>>) -> Result<Vec<Profile>, ConfigError> {
    let mut out: Vec<Profile> = Vec::new();
    for (i, r) in raw.unwrap_or_default().into_iter().enumerate() {
        let p = parse_one(i, r)?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(error(
                &format!("profile[{i}].name"),
                format!("{:?} is used twice", p.name),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "../tests/config/profile.rs"]
mod tests;
