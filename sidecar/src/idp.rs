//! The sidecar's one outbound client to the identity provider (docs/logins.md: "Back-channel
//! logout"; meant for the auth service too): where the wasm filter names an Envoy cluster,
//! the sidecar reaches the tenant at the origin of `auth0.issuer`. HTTPS with rustls, the
//! webpki roots and host-name checks; plain HTTP only for a loopback issuer (a local test
//! provider), never for a remote one. No redirects are followed and answers are read up to a
//! cap, so a hostile or broken IdP costs at most one bounded read per call.
//!
//! On reqwest (hyper and rustls underneath, already in the tree), async on the outbound
//! runtime (crate::outbound); the calls here are synchronous and are made from blocking
//! threads, which drive each one with `Handle::block_on`.

use std::net::IpAddr;
use std::time::Duration;

use tokio::runtime::Handle;

/// An answer: status and body (at most the cap asked for).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct IdpClient {
    origin: String,
    http: reqwest::Client,
    rt: Handle,
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
        let rt = crate::outbound::handle()?;
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("session-sidecar");
        if origin.starts_with("http://") {
            // A loopback provider is never reached through a proxy from the environment.
            builder = builder.no_proxy();
        }
        let http = {
            let _runtime = rt.enter();
            builder
                .build()
                .map_err(|e| format!("cannot build the IdP client: {e}"))?
        };
        Ok(IdpClient { origin, http, rt })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `GET {origin}{path}`, reading at most `max` bytes of the answer (more is an error).
    pub fn get(&self, path: &str, bearer: Option<&str>, max: usize) -> Result<Answer, String> {
        let mut request = self
            .http
            .get(format!("{}{path}", self.origin))
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.rt.block_on(read(request, max))
    }

    /// `POST {origin}{path}` with a form-encoded body (token exchanges), read as [`get`].
    pub fn post_form(&self, path: &str, form: &[u8], max: usize) -> Result<Answer, String> {
        let request = self
            .http
            .post(format!("{}{path}", self.origin))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_vec());
        self.rt.block_on(read(request, max))
    }
}

/// Sends `request` and reads its answer chunk by chunk, giving up as soon as more than
/// `max` bytes came (the rest is never read). The client's timeout covers the whole call.
async fn read(request: reqwest::RequestBuilder, max: usize) -> Result<Answer, String> {
    let mut answer = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = answer.status().as_u16();
    let too_large = || format!("answer unreadable or larger than {max} bytes: over the cap");
    if answer.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| format!("answer unreadable or larger than {max} bytes: {e}"))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
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

    /// A one-connection HTTP server on loopback writing `answer` after the request's head.
    fn serve_once(answer: Vec<u8>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = socket.write_all(&answer);
            std::thread::sleep(Duration::from_secs(2));
        });
        format!("http://{addr}")
    }

    fn sized(body: &[u8]) -> Vec<u8> {
        let mut answer =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        answer.extend_from_slice(body);
        answer
    }

    #[test]
    fn answers_are_read_up_to_the_cap() {
        let client = IdpClient::new(&serve_once(sized(b"0123456789")), Duration::from_secs(5));
        let answer = client.unwrap().get("/x", None, 10).unwrap();
        assert_eq!(
            (answer.status, answer.body.as_slice()),
            (200, &b"0123456789"[..])
        );

        let client = IdpClient::new(&serve_once(sized(b"0123456789")), Duration::from_secs(5));
        assert!(client.unwrap().get("/x", None, 9).is_err());

        // No length announced: the read stops once the cap is passed, not at the end.
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..64 {
            chunked.extend_from_slice(b"400\r\n");
            chunked.extend_from_slice(&[b'a'; 1024]);
            chunked.extend_from_slice(b"\r\n");
        }
        let client = IdpClient::new(&serve_once(chunked), Duration::from_secs(5));
        let err = client.unwrap().post_form("/t", b"a=b", 4096).unwrap_err();
        assert!(err.contains("larger than 4096"), "{err}");
    }

    #[test]
    fn a_silent_provider_times_out() {
        let client = IdpClient::new(&serve_once(Vec::new()), Duration::from_millis(300));
        let started = std::time::Instant::now();
        assert!(client.unwrap().get("/x", None, 100).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
