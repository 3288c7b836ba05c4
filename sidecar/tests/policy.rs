// A test crate: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! `session-sidecar policy check`: the binary, on a configuration file, as an operator runs it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn config_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("filter.json");
    std::fs::write(&path, text).unwrap();
    path
}

const CONFIG: &str = r#"{
  "auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0",
            "roles_claim": "https://app.example/roles"},
  "rules": [
    {"path": "/admin/", "allow": {"roles": ["admin"]}},
    {"path": "/api/internal/", "allow": "deny"},
    {"path": "/api/", "methods": ["POST", "PUT", "PATCH", "DELETE"], "allow": {"permissions": ["write:data"]}},
    {"path": "/api/", "allow": {"permissions": ["read:data"]}}
  ],
  "public": ["/healthz", "/static/"]
}"#;

fn check(config: &PathBuf, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_session-sidecar"))
        .args(["policy", "check", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_says_which_rule_matched_and_what_the_request_gets() {
    let config = config_file("table", CONFIG);
    let table: &[(&[&str], i32, &str, Value, i64)] = &[
        (
            &["GET", "/api/data", "--permissions", "read:data"],
            0,
            "session",
            "rules[3]".into(),
            200,
        ),
        (
            &["POST", "/api/data", "--permissions", "read:data"],
            1,
            "insufficient_permissions",
            "rules[2]".into(),
            403,
        ),
        (
            &["POST", "/api/data", "--permissions", "read:data,write:data"],
            0,
            "session",
            "rules[2]".into(),
            200,
        ),
        (
            &["GET", "/admin/users", "--roles", "viewer,admin"],
            0,
            "session",
            "rules[0]".into(),
            200,
        ),
        (
            &["GET", "/admin/users"],
            1,
            "insufficient_permissions",
            "rules[0]".into(),
            403,
        ),
        (
            &["GET", "/admin/users", "--anonymous"],
            1,
            "unauthenticated",
            "rules[0]".into(),
            401,
        ),
        (
            &["GET", "/api/internal/x", "--roles", "admin"],
            1,
            "forbidden",
            "rules[1]".into(),
            403,
        ),
        (
            &["GET", "/static/app.js", "--anonymous"],
            0,
            "public",
            "public[1]".into(),
            200,
        ),
        (&["GET", "/elsewhere"], 0, "session", Value::Null, 200),
        (
            &["GET", "/static/..;/admin/", "--anonymous"],
            1,
            "invalid_path",
            Value::Null,
            400,
        ),
    ];
    for (args, code, decision, rule, status) in table {
        let (got, json, stderr) = check(&config, args);
        assert_eq!(got, *code, "{args:?}: {json} {stderr}");
        assert_eq!(json["decision"], *decision, "{args:?}: {json}");
        assert_eq!(json["rule"]["key"], *rule, "{args:?}: {json}");
        assert_eq!(json["status"], *status, "{args:?}: {json}");
    }
    let (_, json, _) = check(
        &config,
        &["POST", "/api/data", "--permissions", "read:data"],
    );
    assert_eq!(
        json["missing"]["permissions"],
        serde_json::json!(["write:data"])
    );
    assert_eq!(json["rule"]["methods"][0], "POST");
    let (_, json, _) = check(
        &config,
        &["GET", "/%61pi//data?x=1", "--permissions", "read:data"],
    );
    assert_eq!(json["path"], "/api/data", "the normalized path is shown");
    let (_, json, _) = check(&config, &["GET", "/static/%2e%2e/x", "--anonymous"]);
    assert_eq!(json["reason"], "the path has a . or .. segment");
    let (code, json, _) = check(&config, &["GET", "/authorize"]);
    assert_eq!((code, json["endpoint"].as_str()), (0, Some("login")));
}

#[test]
fn a_bad_configuration_or_command_is_a_clear_error() {
    let bad = config_file(
        "bad",
        r#"{"auth0": {"domain": "t", "api": {"identifier": "a"}, "cluster": "c"},
            "rules": [{"path": "/api/", "allow": "session"}, {"path": "/api/x", "allow": "admin"}]}"#,
    );
    let (code, _, stderr) = check(&bad, &["GET", "/"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("rules[1]") && stderr.contains("unknown allow \"admin\""),
        "{stderr}"
    );
    let good = config_file("good", CONFIG);
    let (code, _, stderr) = check(&good, &["GET"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("METHOD PATH"), "{stderr}");
    let (code, _, stderr) = check(&good, &["GET", "/x", "--anonymous", "--roles", "a"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = check(&PathBuf::from("/nonexistent/filter.json"), &["GET", "/"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read /nonexistent/filter.json"),
        "{stderr}"
    );
}

/// The example commands of docs/configuration.md, run on its example rules, print what it shows.
#[test]
fn the_documented_policy_checks_print_what_the_docs_show() {
    let readme = include_str!("../../docs/configuration.md");
    let section = &readme[readme.find("## Rules: authorization per route").unwrap()..];
    let start = section.find("```json\n").unwrap() + 8;
    let end = start + section[start..].find("```").unwrap();
    let config = config_file(
        "readme",
        &format!(
            r#"{{"auth0": {{"domain": "t.example", "api": {{"identifier": "https://api"}}, "cluster": "auth0"}}, {}}}"#,
            &section[start..end]
        ),
    );
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with("$ session-sidecar policy check"));
    let mut seen = 0;
    while let (Some(command), Some(output)) = (lines.next(), lines.next()) {
        let Some(rest) =
            command.strip_prefix("$ session-sidecar policy check --config filter.json ")
        else {
            break;
        };
        let args: Vec<String> = rest
            .split(' ')
            .map(|a| a.trim_matches('\'').to_string())
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, got, stderr) = check(&config, &args);
        let expected: Value = serde_json::from_str(output).unwrap();
        assert_eq!(got, expected, "{command}\n{stderr}");
        seen += 1;
    }
    assert_eq!(seen, 2);
}
