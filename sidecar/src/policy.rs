//! `session-sidecar policy check --config FILE METHOD PATH [--permissions a,b] [--roles r]
//! [--groups g] [--anonymous]`: what the filter would answer, computed by the filter's own code.

use session_core::config::Config;
use session_core::request::explain::explain;

pub const USAGE: &str = "\
       session-sidecar policy check --config FILE METHOD PATH [--permissions A,B] [--roles R,S] [--groups G,H] [--anonymous]
                           (which rule a request matches and what it gets; exit 0 if let through)";

/// Runs a policy command; the JSON to print and whether the request would be let through.
pub fn run(args: &[String]) -> Result<(String, bool), String> {
    let mut config_path = None;
    let (mut permissions, mut roles, mut groups) = (String::new(), String::new(), String::new());
    let mut anonymous = false;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--config" => config_path = Some(value("--config")?),
            "--permissions" => permissions = value("--permissions")?.replace(',', " "),
            "--roles" => roles = value("--roles")?.replace(',', " "),
            "--groups" => groups = value("--groups")?.replace(',', " "),
            "--anonymous" => anonymous = true,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => words.push(arg.as_str()),
        }
    }
    let ["check", method, path] = words.as_slice() else {
        return Err("expected: policy check --config FILE METHOD PATH".into());
    };
    let file = config_path.ok_or("policy check needs --config FILE (the filter's JSON)")?;
    let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let config = Config::parse(&bytes).map_err(|e| format!("{file}: {e}"))?;
    if anonymous && !(permissions.is_empty() && roles.is_empty() && groups.is_empty()) {
        return Err("--anonymous has no session, so no permissions, roles or groups".into());
    }
    let grants = (!anonymous).then_some((permissions.as_str(), roles.as_str(), groups.as_str()));
    let (answer, passes) = explain(&config, method, path, grants);
    let text = serde_json::to_string(&answer).map_err(|e| e.to_string())?;
    Ok((text, passes))
}
