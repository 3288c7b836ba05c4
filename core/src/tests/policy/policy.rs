use serde_json::json;

use super::path::{check_config_path, normalize};
use super::*;
use crate::config::{Config, ConfigError};

fn parse(extra: serde_json::Value) -> Result<Config, ConfigError> {
    let mut doc = json!({"auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0"}});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Config::parse(doc.to_string().as_bytes())
}

fn canonical(path: &str) -> String {
    String::from_utf8(normalize(path.as_bytes()).unwrap().canonical().collect()).unwrap()
}

#[test]
fn canonical_form_decodes_unreserved_uppercases_the_rest_and_merges_slashes() {
    for (raw, expected) in [
        ("/", "/"),
        ("/a/b/", "/a/b/"),
        ("/%61%2d%2E%5f%7E", "/a-._~"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a%20b%2a", "/a%20b%2A"),
        ("//a///b//", "/a/b/"),
        ("/a?b=%2f..", "/a"),
        ("/%25", "/%25"),
    ] {
        assert_eq!(canonical(raw), expected, "{raw}");
    }
    assert!(normalize(b"/caf%c3%a9").unwrap().is(b"/caf%C3%A9"));
    assert!(!normalize(b"/caf%c3%a9").unwrap().is(b"/caf%C3%A"));
    assert!(!normalize(b"/caf%c3%a9x").unwrap().is(b"/caf%C3%A9"));
    assert!(normalize(b"//%61pi/x").unwrap().starts_with(b"/api/"));
    assert!(!normalize(b"/ap").unwrap().starts_with(b"/api/"));
}

#[test]
fn configured_paths_must_be_canonical() {
    assert!(check_config_path("/api/").is_ok());
    assert!(check_config_path("/caf%C3%A9").is_ok());
    for (path, says) in [
        ("/%61pi/", "write it as \"/api/\""),
        ("/caf%c3%a9", "write it as \"/caf%C3%A9\""),
        ("/a//b", "write it as \"/a/b\""),
        ("/a/../b", "segment"),
        ("/a;b", "; or %3B"),
        ("api/", "does not start with /"),
        ("/a?x", "without query"),
    ] {
        let e = check_config_path(path).unwrap_err();
        assert!(e.contains(says), "{path}: {e}");
    }
}

#[test]
fn public_is_a_shorthand_appended_after_the_rules() {
    let c = parse(json!({
        "rules": [{"path": "/static/admin/", "allow": "deny"}],
        "public": ["/healthz", "/static/"]
    }))
    .unwrap();
    let keys: Vec<&str> = c.rules.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["rules[0]", "public[0]", "public[1]"]);
    assert_eq!(c.rules[2].path, RulePath::Prefix("/static/".into()));
    assert_eq!(c.rules[2].allow, Allow::Public);
    assert_eq!(c.rules[1].path, RulePath::Exact("/healthz".into()));
}

#[test]
fn config_errors_name_the_rule_and_the_reason() {
    let cases = [
        (json!({"rules": {}}), "rules", "expected an array of rules"),
        (
            json!({"rules": ["/x"]}),
            "rules[0]",
            "expected an object {path, methods?, allow, relay?}",
        ),
        (
            json!({"rules": [{"path": "/x"}]}),
            "rules[0]",
            "allow is required (known: \"public\"",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": "admin"}]}),
            "rules[0].allow",
            "unknown allow \"admin\" (known: \"public\", \"session\", \"deny\"",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"teams": ["a"]}}]}),
            "rules[0].allow",
            "unknown allow \"teams\"",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {}}]}),
            "rules[0].allow",
            "unknown allow {}",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"roles": ["a"], "permissions": ["b"]}}]}),
            "rules[0].allow",
            "an allow object has one key",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": true}]}),
            "rules[0].allow",
            "boolean `true`, expected \"public\", \"session\", \"deny\", {\"permissions\": [...]}, {\"roles\": [...]} or {\"groups\": [...]}",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"permissions": []}}]}),
            "rules[0].allow.permissions",
            "expected a non-empty array of names, found an empty array",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"roles": []}}]}),
            "rules[0].allow.roles",
            "expected a non-empty array of names, found an empty array",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"roles": "admin"}}]}),
            "rules[0].allow.roles",
            "string \"admin\", expected a non-empty array of names",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"permissions": ["read data"]}}]}),
            "rules[0].allow.permissions",
            "\"read data\" is not a name",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"permissions": [""]}}]}),
            "rules[0].allow.permissions",
            "is not a name",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": {"permissions": [7]}}]}),
            "rules[0].allow.permissions",
            "7 is not a name",
        ),
        (
            json!({"rules": [{"path": "/x", "methods": [], "allow": "session"}]}),
            "rules[0].methods",
            "expected a non-empty array of names, found an empty array",
        ),
        (
            json!({"rules": [{"path": "/x", "methods": ["get"], "allow": "session"}]}),
            "rules[0].methods",
            "not an upper-case HTTP method",
        ),
        (
            json!({"rules": [{"path": "/x", "methods": ["GE T"], "allow": "session"}]}),
            "rules[0].methods",
            "is not a name",
        ),
        (
            json!({"rules": [{"allow": "session"}]}),
            "rules[0]",
            "path is required",
        ),
        (
            json!({"rules": [{"path": 3, "allow": "session"}]}),
            "rules[0].path",
            "integer `3`, expected a string",
        ),
        (
            json!({"rules": [{"path": "x/", "allow": "session"}]}),
            "rules[0].path",
            "does not start with /",
        ),
        (
            json!({"rules": [{"path": "/%7ex/", "allow": "session"}]}),
            "rules[0].path",
            "write it as \"/~x/\"",
        ),
        (
            json!({"rules": [{"path": "/x", "allow": "session", "roles": ["a"]}]}),
            "rules[0].roles",
            "unknown key (known here: path, methods, allow, relay)",
        ),
        (
            json!({"rules": [{"path": "/api/", "allow": "session"}, {"path": "/api/admin/", "allow": "deny"}]}),
            "rules[1]",
            "unreachable: rules[0] (/api/)",
        ),
        (
            json!({"rules": [{"path": "/a", "allow": "deny"}, {"path": "/a", "methods": ["GET"], "allow": "session"}]}),
            "rules[1]",
            "unreachable: rules[0]",
        ),
        (
            json!({"rules": [{"path": "/a/", "methods": ["GET", "POST"], "allow": "deny"},
                             {"path": "/a/b", "methods": ["POST"], "allow": "session"}]}),
            "rules[1]",
            "unreachable: rules[0]",
        ),
        (
            json!({"rules": [{"path": "/static/", "allow": "session"}], "public": ["/static/app.js"]}),
            "public[0]",
            "unreachable: rules[0]",
        ),
        (
            json!({"public": ["/static/", "/static/js/"]}),
            "public[1]",
            "unreachable: public[0]",
        ),
        (json!({"public": ["/static/..;/"]}), "public[0]", "; or %3B"),
        (
            json!({"rules": [{"path": "/logout", "allow": "public"}]}),
            "rules[0]",
            "is an endpoint",
        ),
        (
            json!({"code_flow": {"client_id": "c"}, "rules": [{"path": "/callback", "allow": "deny"}]}),
            "rules[0]",
            "is an endpoint",
        ),
    ];
    for (doc, key, says) in cases {
        let e = parse(doc.clone()).unwrap_err();
        assert_eq!(e.key, key, "{doc}: {e}");
        assert!(e.reason.contains(says), "{doc}: {e}");
    }
}

#[test]
fn rules_that_an_earlier_rule_only_partly_covers_are_kept() {
    let c = parse(json!({"rules": [
        {"path": "/a/", "methods": ["GET"], "allow": "session"},
        {"path": "/a", "allow": "public"},
        {"path": "/a/b", "methods": ["GET", "PUT"], "allow": "deny"},
        {"path": "/b/", "methods": ["PUT"], "allow": "deny"},
        {"path": "/b/c/", "allow": "session"}
    ]}))
    .unwrap();
    assert_eq!(c.rules.len(), 5);
}

#[test]
fn too_many_rules_is_an_error() {
    let rules: Vec<_> = (0..=MAX_RULES)
        .map(|i| json!({"path": format!("/r{i}"), "allow": "session"}))
        .collect();
    let e = parse(json!({ "rules": rules })).unwrap_err();
    assert_eq!(e.key, "rules");
}

#[test]
fn permissions_are_all_required_roles_any_of() {
    let all = Allow::Permissions(vec!["read:data".into(), "write:data".into()]);
    let any = Allow::Roles(vec!["admin".into(), "ops".into()]);
    let table: &[(&Allow, &str, &str, Result<(), Missing<'_>>)] = &[
        (&all, "read:data write:data", "", Ok(())),
        (&all, "write:data  other read:data", "", Ok(())),
        (
            &all,
            "read:data",
            "admin",
            Err(Missing::Permissions(vec!["write:data"])),
        ),
        (
            &all,
            "",
            "",
            Err(Missing::Permissions(vec!["read:data", "write:data"])),
        ),
        (
            &all,
            "read:data:x write",
            "",
            Err(Missing::Permissions(vec!["read:data", "write:data"])),
        ),
        (&any, "", "ops", Ok(())),
        (&any, "", "user admin", Ok(())),
        (
            &any,
            "admin",
            "",
            Err(Missing::AnyRole(
                &["admin".to_string(), "ops".to_string()][..],
            )),
        ),
        (
            &any,
            "",
            "administrator",
            Err(Missing::AnyRole(
                &["admin".to_string(), "ops".to_string()][..],
            )),
        ),
        (&Allow::Session, "", "", Ok(())),
        (&Allow::Public, "", "", Ok(())),
    ];
    for (allow, permissions, roles, expected) in table {
        assert_eq!(
            &allow.check(permissions.as_bytes(), roles.as_bytes(), b""),
            expected,
            "{allow:?} with {permissions:?} / {roles:?}"
        );
    }
    assert!(Allow::Deny.check(b"", b"", b"").is_err());
}

#[test]
fn a_groups_rule_admits_a_member_of_any_named_group() {
    let allow = Allow::Groups(vec!["team_moco".into(), "admins".into()]);
    assert_eq!(allow.check(b"", b"", b"staff admins"), Ok(()));
    // Roles and permissions of the same name are not groups.
    let missing = allow.check(b"admins", b"admins", b"team_mofo").unwrap_err();
    assert_eq!(
        missing,
        Missing::AnyGroup(&["team_moco".to_string(), "admins".to_string()][..])
    );
    assert!(missing.reply().body.contains("one_of_groups"));
    let rules: RuleList =
        serde_json::from_str(r#"[{"path": "/admin/", "allow": {"groups": ["admins"]}}]"#).unwrap();
    let parsed = parse_rules(Some(rules), &[], &[]).unwrap();
    assert_eq!(parsed[0].allow, Allow::Groups(vec!["admins".into()]));
}

#[test]
fn insufficient_permissions_names_what_is_missing() {
    let reply = Missing::Permissions(vec!["write:data"]).reply();
    assert_eq!(reply.status, 403);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "insufficient_permissions");
    assert_eq!(body["missing"]["permissions"], json!(["write:data"]));
    let roles = ["admin".to_string()];
    let body: serde_json::Value =
        serde_json::from_str(&Missing::AnyRole(&roles).reply().body).unwrap();
    assert_eq!(body["missing"]["one_of_roles"], json!(["admin"]));
    assert!(body["message"].as_str().unwrap().contains("admin"));
}

/// The example policy of docs/configuration.md is the one users copy: it must parse and mean what it says.
#[test]
fn the_documented_example_policy_parses_and_routes_as_shown() {
    let readme = include_str!("../../../../docs/configuration.md");
    let section = &readme[readme.find("## Rules: authorization per route").unwrap()..];
    let start = section.find("```json\n").unwrap() + 8;
    let end = start + section[start..].find("```").unwrap();
    let fragment: serde_json::Value =
        serde_json::from_str(&format!("{{{}}}", &section[start..end])).unwrap();
    let c = parse(fragment).unwrap();
    let route = |method: &str, path: &str| {
        crate::request::routing::route(&c, path.as_bytes(), || method.as_bytes().to_vec())
    };
    use crate::request::routing::{Access, Refusal, Route};
    assert_eq!(
        route("GET", "/admin/users"),
        Route::Protected(Access(Some(0)))
    );
    assert_eq!(
        route("GET", "/api/internal/x"),
        Route::Refused(Refusal::Denied(1))
    );
    assert_eq!(
        route("DELETE", "/api/items/1"),
        Route::Protected(Access(Some(2)))
    );
    assert_eq!(
        route("GET", "/api/items/1"),
        Route::Protected(Access(Some(3)))
    );
    assert_eq!(route("GET", "/docs/intro"), Route::Public);
    assert_eq!(
        route("POST", "/docs/intro"),
        Route::Protected(Access::SESSION)
    );
    assert_eq!(route("GET", "/static/app.js"), Route::Public);
    assert_eq!(
        route("GET", "/elsewhere"),
        Route::Protected(Access::SESSION)
    );
    assert_eq!(
        c.rules[3].allow,
        Allow::Permissions(vec!["read:data".into()])
    );
}
