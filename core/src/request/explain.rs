//! What a request would get, for `session-sidecar policy check`: the same normalizer, rule
//! matching and session check the filter runs, with the session described by hand.

use serde_json::{json, Value};

use crate::config::Config;
use crate::policy::path::normalize;
use crate::policy::{first_match, Allow, RulePath};
use crate::request::routing::{route, Refusal, Route};

/// The session a check assumes: its permissions, roles and groups as stored
/// (space-separated), or `None` for a request without a session.
pub type Grants<'a> = Option<(&'a str, &'a str, &'a str)>;

fn allow_json(allow: &Allow) -> Value {
    match allow {
        Allow::Public => json!("public"),
        Allow::Session => json!("session"),
        Allow::Deny => json!("deny"),
        Allow::Permissions(p) => json!({ "permissions": p }),
        Allow::Roles(r) => json!({ "roles": r }),
        Allow::Groups(g) => json!({ "groups": g }),
    }
}

/// The route taken, the rule that matched (if any) and the answer, as JSON; and whether the
/// request would be let through (forwarded, or served by one of the filter's endpoints).
pub fn explain(config: &Config, method: &str, path: &str, grants: Grants<'_>) -> (Value, bool) {
    let route = route(config, path.as_bytes(), || method.as_bytes().to_vec());
    let mut out = json!({ "request": format!("{method} {path}") });
    if let Ok(normal) = normalize(path.as_bytes()) {
        let canonical: Vec<u8> = normal.canonical().collect();
        out["path"] = json!(String::from_utf8_lossy(&canonical));
        let index = first_match(&config.rules, &normal, || method.as_bytes().to_vec());
        out["rule"] = match index.and_then(|i| config.rules.get(i)) {
            Some(rule) => {
                let path = match &rule.path {
                    RulePath::Exact(p) | RulePath::Prefix(p) => p,
                };
                let mut r =
                    json!({ "key": rule.key, "path": path, "allow": allow_json(&rule.allow) });
                if !rule.methods.is_empty() {
                    r["methods"] = json!(rule.methods);
                }
                r
            }
            None => Value::Null,
        };
    }
    let (status, decision, passes) = match route {
        Route::Refused(Refusal::Path(e)) => {
            out["reason"] = json!(e.as_str());
            (400, "invalid_path", false)
        }
        Route::Refused(Refusal::Denied(_)) => (403, "forbidden", false),
        Route::Public => (200, "public", true),
        Route::Protected(access) => match grants {
            None => (401, "unauthenticated", false),
            Some((permissions, roles, groups)) => {
                let rule = access.0.and_then(|i| config.rules.get(usize::from(i)));
                let (p, r, g) = (permissions.as_bytes(), roles.as_bytes(), groups.as_bytes());
                match rule.map(|rule| rule.allow.check(p, r, g)) {
                    None | Some(Ok(())) => (200, "session", true),
                    Some(Err(missing)) => {
                        let reply: Value =
                            serde_json::from_str(&missing.reply().body).unwrap_or(Value::Null);
                        out["missing"] = reply["missing"].clone();
                        (403, "insufficient_permissions", false)
                    }
                }
            }
        },
        endpoint => {
            out["endpoint"] = json!(format!("{endpoint:?}").to_ascii_lowercase());
            (0, "endpoint", true)
        }
    };
    out["decision"] = json!(decision);
    if status != 0 {
        out["status"] = json!(status);
    }
    (out, passes)
}
