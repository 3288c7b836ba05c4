//! The sidecar's outbound calls to the identity provider (docs/ARCHITECTURE.md §4): where an
//! Envoy host names a cluster, a native host reaches the IdP at `auth0.issuer` itself.
//! HTTPS with webpki roots and host-name checks (rustls); plain HTTP only for a loopback
//! issuer (the tests' and the demo's local providers). Redirects are never followed.

use std::io::Read;
use std::net::IpAddr;
use std::time::Duration;

use session_core::ports::{Call, Response};

pub struct IdpClient {
    agent: ureq::Agent,
    /// The issuer without its trailing `/`; a call's `:path` is appended.
    base: String,
}

/// Whether `authority` (`host`, `host:port`, `[v6]:port`) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl IdpClient {
    /// A client for `issuer`; refuses plain HTTP to anything but loopback.
    pub fn new(issuer: &str, timeout: Duration) -> Result<IdpClient, String> {
        let base = issuer.trim_end_matches('/').to_string();
        let authority = if let Some(rest) = base.strip_prefix("https://") {
            rest
        } else if let Some(rest) = base.strip_prefix("http://") {
            if !is_loopback(rest.split('/').next().unwrap_or("")) {
                return Err(format!(
                    "auth0.issuer {issuer:?}: plain http is only allowed for a loopback provider; use https"
                ));
            }
            rest
        } else {
            return Err(format!("auth0.issuer {issuer:?} must be an http(s) URL"));
        };
        if authority.split('/').next().unwrap_or("").is_empty() {
            return Err(format!("auth0.issuer {issuer:?} has no host"));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Ok(IdpClient { agent, base })
    }

    /// Makes `call` and reads at most `call.max_answer` bytes of its answer. No answer
    /// (refused, reset, timed out, TLS failure) is `status: None`, which the core reads as
    /// "the IdP is unavailable"; a larger body is `body: None`.
    pub fn call(&self, call: &Call) -> Response {
        let header = |name: &str| {
            call.headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        let url = format!("{}{}", self.base, header(":path").unwrap_or("/"));
        let extra = call.headers.iter().filter(|(k, _)| !k.starts_with(':'));
        let answer = match header(":method").unwrap_or("GET") {
            "POST" => {
                let mut request = self.agent.post(&url);
                for (k, v) in extra {
                    request = request.header(*k, v.as_str());
                }
                request.send(call.body.as_deref().unwrap_or_default())
            }
            _ => {
                let mut request = self.agent.get(&url);
                for (k, v) in extra {
                    request = request.header(*k, v.as_str());
                }
                request.call()
            }
        };
        let Ok(mut answer) = answer else {
            return Response::none();
        };
        let status = Some(u32::from(answer.status().as_u16()));
        let mut body = Vec::new();
        let read = answer
            .body_mut()
            .as_reader()
            .take(call.max_answer as u64 + 1)
            .read_to_end(&mut body);
        match read {
            Ok(n) if n <= call.max_answer => Response {
                status,
                body: Some(body),
            },
            // Too large, or cut off: either way not an answer to act on.
            _ => Response { status, body: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_issuers() {
        let t = Duration::from_secs(1);
        assert!(IdpClient::new("https://tenant.auth0.com/", t).is_ok());
        assert!(IdpClient::new("http://127.0.0.1:8443/", t).is_ok());
        assert!(IdpClient::new("http://localhost:3000/", t).is_ok());
        assert!(IdpClient::new("http://[::1]:3000/", t).is_ok());
        let refused = IdpClient::new("http://tenant.auth0.com/", t)
            .err()
            .unwrap_or_default();
        assert!(refused.contains("loopback"), "{refused}");
        assert!(IdpClient::new("http://127.0.0.1.evil.com/", t).is_err());
        assert!(IdpClient::new("ftp://x/", t).is_err());
    }
}
