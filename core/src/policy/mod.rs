//! Authorization per route (README, "Rules"): ordered rules, the first that matches a
//! request's method and normalized path decides; `public` entries are shorthands appended
//! after `rules`; an unmatched path needs a session.
//!
//! Checking a session against a rule reads its permissions and roles in place from the
//! stored record: no host call and no allocation on the allowed path.

pub mod explain;
pub mod path;

use serde_json::{json, Value};

use crate::config::{ConfigError, Endpoints, PublicPath};
use crate::duration::kind_of;
use crate::reply::Reply;
use crate::session::{is_list_item, list_items};
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
    /// Whether a session holding these space-separated permissions and roles passes. Allocates
    /// only to say what is missing.
    pub fn check<'a>(&'a self, permissions: &[u8], roles: &[u8]) -> Result<(), Missing<'a>> {
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

fn error(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Names of permissions and roles are stored space-separated in sessions: a name with a space
/// or a control character could never match, so it is a configuration error.
fn names(key: &str, what: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let Value::Array(list) = value else {
        return Err(error(
            key,
            format!("{what} must be an array of names, found {}", kind_of(value)),
        ));
    };
    if list.is_empty() {
        return Err(error(key, format!("{what} must not be empty")));
    }
    // Plain loops rather than collecting Results: each such iterator adapter costs the
    // `.wasm` its own copy of the adapter code (the 500 KB budget).
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::String(name) if is_list_item(name) => out.push(name.clone()),
            other => {
                return Err(error(
                    key,
                    format!(
                        "{what}: {other} is not a name (non-empty, no spaces, at most 255 bytes)"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn parse_allow(key: &str, value: Option<&Value>) -> Result<Allow, ConfigError> {
    let unknown = |v: &Value| Err(error(key, format!("unknown allow {v} ({KNOWN})")));
    const KNOWN: &str =
        "known: \"public\", \"session\", \"deny\", {\"permissions\": [...]}, {\"roles\": [...]}";
    match value {
        None => Err(error(key, format!("allow is required ({KNOWN})"))),
        Some(Value::String(s)) => match s.as_str() {
            "public" => Ok(Allow::Public),
            "session" => Ok(Allow::Session),
            "deny" => Ok(Allow::Deny),
            _ => unknown(value.unwrap_or(&Value::Null)),
        },
        Some(Value::Object(map)) if map.len() == 1 => match map.iter().next() {
            Some((k, v)) if k == "permissions" => {
                Ok(Allow::Permissions(names(key, "permissions", v)?))
            }
            Some((k, v)) if k == "roles" => Ok(Allow::Roles(names(key, "roles", v)?)),
            _ => unknown(value.unwrap_or(&Value::Null)),
        },
        Some(other) => unknown(other),
    }
}

fn parse_rule(key: &str, value: &Value) -> Result<Rule, ConfigError> {
    let Value::Object(map) = value else {
        return Err(error(
            key,
            format!(
                "expected an object {{path, methods?, allow}}, found {}",
                kind_of(value)
            ),
        ));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "path" | "methods" | "allow"))
    {
        return Err(error(
            key,
            format!("unknown key {unknown:?} (known here: allow, methods, path)"),
        ));
    }
    let path = match map.get("path") {
        Some(Value::String(p)) => p,
        Some(other) => {
            return Err(error(
                key,
                format!("path must be a string, found {}", kind_of(other)),
            ))
        }
        None => return Err(error(key, "path is required")),
    };
    check_config_path(path).map_err(|reason| error(key, reason))?;
    let methods = match map.get("methods") {
        None => Vec::new(),
        Some(value) => names(key, "methods", value)?,
    };
    if let Some(m) = methods
        .iter()
        .find(|m| !crate::config::is_token(m) || m.bytes().any(|b| b.is_ascii_lowercase()))
    {
        return Err(error(
            key,
            format!("methods: {m:?} is not an upper-case HTTP method"),
        ));
    }
    Ok(Rule {
        key: key.to_string(),
        path: rule_path(path),
        methods,
        allow: parse_allow(key, map.get("allow"))?,
    })
}

fn rule_path(path: &str) -> RulePath {
    if path.ends_with('/') {
        RulePath::Prefix(path.to_string())
    } else {
        RulePath::Exact(path.to_string())
    }
}

/// The effective ordered rules: `rules` as written, then each `public` entry as
/// `{"path": ..., "allow": "public"}`. Refuses a rule that can never match (an earlier one
/// covers every request it would) or whose exact path is an endpoint (matched before rules).
pub fn parse_rules(
    rules: Option<&Value>,
    public: &[PublicPath],
    endpoints: &[&str],
) -> Result<Vec<Rule>, ConfigError> {
    let mut out: Vec<Rule> = match rules {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(parse_rule(&format!("rules[{i}]"), item)?);
            }
            out
        }
        Some(other) => {
            return Err(error(
                "rules",
                format!("expected an array of rules, found {}", kind_of(other)),
            ))
        }
    };
    if out.len() > MAX_RULES {
        return Err(error("rules", format!("at most {MAX_RULES} rules")));
    }
    for (i, p) in public.iter().enumerate() {
        let key = format!("public[{i}]");
        let text = match p {
            PublicPath::Exact(t) | PublicPath::Prefix(t) => t,
        };
        check_config_path(text).map_err(|reason| error(&key, reason))?;
        out.push(Rule {
            key,
            path: rule_path(text),
            methods: Vec::new(),
            allow: Allow::Public,
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

/// The endpoint paths rules cannot apply to.
pub fn endpoint_paths(endpoints: &Endpoints) -> [&str; 3] {
    [&endpoints.login, &endpoints.logout, &endpoints.keep_alive]
}

#[cfg(test)]
#[path = "../tests/policy.rs"]
mod tests;

#[cfg(test)]
#[path = "../tests/authorize.rs"]
mod authorize_tests;
