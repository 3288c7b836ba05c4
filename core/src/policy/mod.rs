//! Authorization per route (docs/configuration.md, "Rules"): ordered rules, the first that
//! matches a request's method and normalized path decides; `public` entries are shorthands
//! appended after `rules`; an unmatched path needs a session.
//!
//! Checking a session against a rule reads its permissions and roles in place from the
//! stored record: no host call and no allocation on the allowed path.

pub mod path;

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::identity::{is_list_item, list_items};
use crate::reply::Reply;
use crate::syntax::is_token;
use path::{check_config_path, NormalPath};

/// More would make every request slow to route; no policy needs that many.
pub const MAX_RULES: usize = 1_000;

/// A rule's path: exact, or every path under a prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulePath {
    Exact(String),
    Prefix(String),
}

impl RulePath {
    fn text(&self) -> &str {
        match self {
            RulePath::Exact(p) | RulePath::Prefix(p) => p,
        }
    }

    pub fn matches(&self, path: &NormalPath<'_>) -> bool {
        match self {
            RulePath::Exact(p) => path.is(p.as_bytes()),
            RulePath::Prefix(p) => path.starts_with(p.as_bytes()),
        }
    }

    /// Whether every path this one matches is also matched by `self`.
    fn covers(&self, other: &RulePath) -> bool {
        match self {
            RulePath::Exact(p) => matches!(other, RulePath::Exact(o) if o == p),
            RulePath::Prefix(p) => other.text().starts_with(p.as_str()),
        }
    }
}

/// What a rule lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// No session needed; the session cookie and identity headers are stripped.
    Public,
    /// Any live session.
    Session,
    /// Nobody: 403 before any session lookup.
    Deny,
    /// A session holding every one of these permissions.
    Permissions(Vec<String>),
    /// A session holding at least one of these roles.
    Roles(Vec<String>),
    /// A session in at least one of these groups (from an identity API, `profile`).
    Groups(Vec<String>),
}

/// One rule, with the configuration key it came from (`rules[2]`, `public[0]`) so that
/// errors and `session-sidecar policy check` can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub key: String,
    pub path: RulePath,
    /// Empty: every method.
    pub methods: Vec<String>,
    pub allow: Allow,
    /// `relay`: the session's token this route's requests carry to the app (issue 23).
    pub relay: Option<Relay>,
}

/// A token a route relays to the app (`"relay": "access_token"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// The access token the session was created with (or its refreshed successor).
    AccessToken,
}

const KNOWN_RELAY: &str = r#""access_token""#;

impl<'de> Deserialize<'de> for Relay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "access_token" => Ok(Relay::AccessToken),
            other => Err(de::Error::custom(format!(
                "unknown relay {other:?} (known: {KNOWN_RELAY})"
            ))),
        }
    }
}

impl Rule {
    fn covers(&self, other: &Rule) -> bool {
        let methods = self.methods.is_empty()
            || (!other.methods.is_empty()
                && other.methods.iter().all(|m| self.methods.contains(m)));
        methods && self.path.covers(&other.path)
    }
}

/// What a session lacks for a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing<'a> {
    /// The required permissions the session does not hold.
    Permissions(Vec<&'a str>),
    /// The session holds none of these roles.
    AnyRole(&'a [String]),
    /// The session is in none of these groups.
    AnyGroup(&'a [String]),
}

impl Missing<'_> {
    /// 403 `insufficient_permissions`, naming what the session lacks.
    pub fn reply(&self) -> Reply {
        let (message, missing) = match self {
            Missing::Permissions(names) => (
                format!("missing permissions: {}", names.join(" ")),
                json!({ "permissions": names }),
            ),
            Missing::AnyRole(names) => (
                format!("needs one of the roles: {}", names.join(" ")),
                json!({ "one_of_roles": names }),
            ),
            Missing::AnyGroup(names) => (
                format!("needs one of the groups: {}", names.join(" ")),
                json!({ "one_of_groups": names }),
            ),
        };
        Reply::json(
            403,
            &json!({ "error": "insufficient_permissions", "message": message, "missing": missing }),
        )
    }
}

fn holds(list: &[u8], name: &str) -> bool {
    list_items(list).any(|item| item == name.as_bytes())
}

impl Allow {
    /// Whether a session holding these space-separated permissions, roles and groups passes.
    /// Allocates only to say what is missing.
    pub fn check<'a>(
        &'a self,
        permissions: &[u8],
        roles: &[u8],
        groups: &[u8],
    ) -> Result<(), Missing<'a>> {
        match self {
            Allow::Public | Allow::Session => Ok(()),
            // Deny never reaches a session check; refuse anyway rather than assume.
            Allow::Deny => Err(Missing::AnyRole(&[])),
            Allow::Permissions(needed) => {
                if needed.iter().all(|p| holds(permissions, p)) {
                    return Ok(());
                }
                Err(Missing::Permissions(
                    needed
                        .iter()
                        .filter(|p| !holds(permissions, p))
                        .map(String::as_str)
                        .collect(),
                ))
            }
            Allow::Roles(any) => {
                if any.iter().any(|r| holds(roles, r)) {
                    Ok(())
                } else {
                    Err(Missing::AnyRole(any))
                }
            }
            Allow::Groups(any) => {
                if any.iter().any(|g| holds(groups, g)) {
                    Ok(())
                } else {
                    Err(Missing::AnyGroup(any))
                }
            }
        }
    }
}

/// The index of the first rule matching the request. The method is read (through `method`)
/// only when a rule that names methods matches the path, and at most once.
pub fn first_match(
    rules: &[Rule],
    path: &NormalPath<'_>,
    method: impl FnOnce() -> Vec<u8>,
) -> Option<usize> {
    let mut method = Some(method);
    let mut read: Vec<u8> = Vec::new();
    rules.iter().position(|rule| {
        if !rule.path.matches(path) {
            return false;
        }
        if rule.methods.is_empty() {
            return true;
        }
        if let Some(get) = method.take() {
            read = get();
        }
        rule.methods.iter().any(|m| m.as_bytes() == read.as_slice())
    })
}

/// A rule the configuration cannot hold: which key (`rules[2].methods`, `public[0]`), and
/// why. Its own type, not the configuration's error, so that this module needs nothing from
/// `config` (which holds the rules and wraps this error with the key and reason unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for RuleError {}

fn error(key: &str, reason: impl Into<String>) -> RuleError {
    RuleError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

// ---- the rules as written ------------------------------------------------------------------
// Read by serde with the rest of the configuration (`serde_path_to_error` names the key of a
// type error: `rules[2].allow.roles`); what needs the whole list (reachability, endpoints)
// is checked by `parse_rules`.

/// `rules`: an array of rules.
pub struct RuleList(Vec<RawRule>);

impl<'de> Deserialize<'de> for RuleList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RuleList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of rules")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RuleList, A::Error> {
                let mut rules = Vec::new();
                while let Some(rule) = seq.next_element()? {
                    if rules.len() == MAX_RULES {
                        return Err(de::Error::custom(format!("at most {MAX_RULES} rules")));
                    }
                    rules.push(rule);
                }
                Ok(RuleList(rules))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One rule as written. `path` and `allow` are optional here only so that their absence gets
/// a message of ours, with the forms `allow` takes.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object {path, methods?, allow, relay?}"
)]
pub struct RawRule {
    path: Option<String>,
    methods: Option<Names>,
    allow: Option<Allow>,
    relay: Option<Relay>,
}

/// Names of permissions, roles or methods: a non-empty array. They are stored
/// space-separated in sessions, so a name with a space or a control character could never
/// match: it is a configuration error.
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty array of names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    match item {
                        Value::String(name) if is_list_item(&name) => names.push(name),
                        other => {
                            return Err(de::Error::custom(format!(
                                "{other} is not a name (non-empty, no spaces, at most 255 bytes)"
                            )))
                        }
                    }
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "expected a non-empty array of names, found an empty array",
                    ));
                }
                Ok(Names(names))
            }
        }
        d.deserialize_seq(V)
    }
}

const KNOWN_ALLOW: &str =
    r#""public", "session", "deny", {"permissions": [...]}, {"roles": [...]} or {"groups": [...]}"#;

impl<'de> Deserialize<'de> for Allow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Allow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(KNOWN_ALLOW)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Allow, E> {
                match v {
                    "public" => Ok(Allow::Public),
                    "session" => Ok(Allow::Session),
                    "deny" => Ok(Allow::Deny),
                    _ => Err(E::custom(format!(
                        "unknown allow {v:?} (known: {KNOWN_ALLOW})"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Allow, A::Error> {
                let allow = match map.next_key::<String>()?.as_deref() {
                    Some("permissions") => Allow::Permissions(map.next_value::<Names>()?.0),
                    Some("roles") => Allow::Roles(map.next_value::<Names>()?.0),
                    Some("groups") => Allow::Groups(map.next_value::<Names>()?.0),
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "unknown allow {other:?} (known: {KNOWN_ALLOW})"
                        )))
                    }
                    None => {
                        return Err(de::Error::custom(format!(
                            "unknown allow {{}} (known: {KNOWN_ALLOW})"
                        )))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "an allow object has one key (known: {KNOWN_ALLOW})"
                    )));
                }
                Ok(allow)
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_rule(index: usize, raw: RawRule) -> Result<Rule, RuleError> {
    let key = format!("rules[{index}]");
    let path = raw.path.ok_or_else(|| error(&key, "path is required"))?;
    check_config_path(&path).map_err(|reason| error(&format!("{key}.path"), reason))?;
    let methods = raw.methods.map_or_else(Vec::new, |Names(m)| m);
    if let Some(m) = methods
        .iter()
        .find(|m| !is_token(m) || m.bytes().any(|b| b.is_ascii_lowercase()))
    {
        return Err(error(
            &format!("{key}.methods"),
            format!("{m:?} is not an upper-case HTTP method"),
        ));
    }
    let allow = raw
        .allow
        .ok_or_else(|| error(&key, format!("allow is required (known: {KNOWN_ALLOW})")))?;
    if raw.relay.is_some() && matches!(allow, Allow::Public | Allow::Deny) {
        // A public request has no session whose token could go; a denied one goes nowhere.
        return Err(error(
            &format!("{key}.relay"),
            "needs a rule that requires a session (allow \"session\", permissions or roles)",
        ));
    }
    Ok(Rule {
        path: rule_path(&path),
        key,
        methods,
        allow,
        relay: raw.relay,
    })
}

fn rule_path(path: &str) -> RulePath {
    if path.ends_with('/') {
        RulePath::Prefix(path.to_string())
    } else {
        RulePath::Exact(path.to_string())
    }
}

/// The effective ordered rules: `rules` as written, then each `public` entry (its path as
/// written) as `{"path": ..., "allow": "public"}`. Refuses a rule that can never match (an
/// earlier one covers every request it would) or whose exact path is an endpoint (matched
/// before rules).
pub fn parse_rules(
    rules: Option<RuleList>,
    public: &[&str],
    endpoints: &[&str],
) -> Result<Vec<Rule>, RuleError> {
    let rules = rules.map_or_else(Vec::new, |RuleList(list)| list);
    let mut out = Vec::with_capacity(rules.len() + public.len());
    for (i, raw) in rules.into_iter().enumerate() {
        out.push(parse_rule(i, raw)?);
    }
    for (i, text) in public.iter().enumerate() {
        let key = format!("public[{i}]");
        check_config_path(text).map_err(|reason| error(&key, reason))?;
        out.push(Rule {
            key,
            path: rule_path(text),
            methods: Vec::new(),
            allow: Allow::Public,
            relay: None,
        });
    }
    for (j, rule) in out.iter().enumerate() {
        if let Some(earlier) = out[..j].iter().find(|earlier| earlier.covers(rule)) {
            return Err(error(
                &rule.key,
                format!(
                    "unreachable: {} ({}) matches every request it would",
                    earlier.key,
                    earlier.path.text()
                ),
            ));
        }
        if let RulePath::Exact(p) = &rule.path {
            if endpoints.contains(&p.as_str()) {
                return Err(error(
                    &rule.key,
                    format!("{p:?} is an endpoint of the filter; rules apply to the app's paths"),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "../tests/policy/policy.rs"]
mod tests;

#[cfg(test)]
#[path = "../tests/policy/authorize.rs"]
mod authorize_tests;
