//! The sidecar's one outbound client to the identity provider (docs/logins.md: "Back-channel
//! logout"; meant for the auth service too): where the wasm filter names an Envoy cluster,
//! the sidecar reaches the tenant at the origin of `auth0.issuer`. HTTPS with rustls, the
//! webpki roots and host-name checks; plain HTTP only for a loopback issuer (a local test
//! provider), never for a remote one. No redirects are followed and answers are read up to a
//! cap, so a hostile or broken IdP costs at most one bounded read per call.

use std::net::IpAddr;
use std::time::Duration;

/// An answer: status and body (at most the cap asked for).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct IdpClient {
    origin: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for IdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpClient")
            .field("origin", &self.origin)
            .finish()
    }
}

/// `scheme://authority` of an issuer URL, refusing what the sidecar must not talk to.
pub fn origin_of(issuer: &str) -> Result<String, String> {
    let (scheme, rest) = issuer
        .split_once("://")
        .ok_or_else(|| format!("issuer {issuer:?} is not an absolute URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("issuer {issuer:?} has no usable host"));
    }
    match scheme {
        "https" => Ok(format!("https://{authority}")),
        "http" if is_loopback(authority) => Ok(format!("http://{authority}")),
        "http" => Err(format!(
            "issuer {issuer:?} is plain HTTP to a host that is not loopback: use https"
        )),
        _ => Err(format!("issuer {issuer:?} is neither https nor http")),
    }
}

fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl IdpClient {
    /// A client for the tenant at `issuer`; every call gives up after `timeout`.
    pub fn new(issuer: &str, timeout: Duration) -> Result<IdpClient, String> {
        let origin = origin_of(issuer)?;
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("session-sidecar");
        if origin.starts_with("http://") {
            // A loopback provider is never reached through a proxy from the environment.
            config = config.proxy(None);
        }
        Ok(IdpClient {
            origin,
            agent: config.build().into(),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `GET {origin}{path}`, reading at most `max` bytes of the answer (more is an error).
    pub fn get(&self, path: &str, bearer: Option<&str>, max: usize) -> Result<Answer, String> {
        let mut request = self
            .agent
            .get(format!("{}{path}", self.origin))
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        read(request.call(), max)
    }

    /// `POST {origin}{path}` with a form-encoded body (token exchanges), read as [`get`].
    pub fn post_form(&self, path: &str, form: &[u8], max: usize) -> Result<Answer, String> {
        let request = self
            .agent
            .post(format!("{}{path}", self.origin))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded");
        read(request.send(form), max)
    }
}

fn read(
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    max: usize,
) -> Result<Answer, String> {
    let mut answer = answer.map_err(|e| format!("no answer: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(max as u64)
        .read_to_vec()
        .map_err(|e| format!("answer unreadable or larger than {max} bytes: {e}"))?;
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_https_or_loopback_http() {
        assert_eq!(
            origin_of("https://tenant.eu.auth0.com/").unwrap(),
            "https://tenant.eu.auth0.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(origin_of("http://[::1]:9/x").unwrap(), "http://[::1]:9");
        assert_eq!(
            origin_of("http://localhost:9000/").unwrap(),
            "http://localhost:9000"
        );
        for bad in [
            "http://tenant.auth0.com/",
            "http://127.0.0.1.evil.com/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "tenant.auth0.com",
            "https:///",
            "https://user@tenant.auth0.com/",
        ] {
            assert!(origin_of(bad).is_err(), "{bad}");
        }
    }
}
