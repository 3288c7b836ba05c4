//! Device login (RFC 8628, Auth0's `/oauth/device/code`): a CLI or a device without a browser
//! starts a login, shows the user a code, and polls until the person has approved it on
//! another device; it then gets the same server-side session as every other login.
//!
//! Pending logins live in shared data, in 256 fixed bucket keys (shared data never frees a
//! key), each holding at most 32 of them: 8,192 at once at most, each dropped when it
//! expires, succeeds or is denied. They are not synced to the sidecar: a restart forgets them,
//! and the device starts again. The IdP's `device_code` never leaves the proxy; the client
//! polls with a random handle, stored only as a hash.

use serde_json::{json, Value};

use crate::code_flow::percent_encode;
use crate::config::Device;
use crate::jwks::b64url;
use crate::reply::Reply;
use crate::session::SessionHash;
use crate::store::{SharedData, CAS_MISSING, CAS_RETRIES};
use crate::time::Millis;

pub const DEVICE_CODE_PATH: &str = "/oauth/device/code";
const BUCKETS: usize = 256;
const PER_BUCKET: usize = 32;
/// Largest IdP answer read.
pub const MAX_ANSWER: usize = 16 * 1024;

fn bucket_key(hash: &SessionHash) -> String {
    format!("auth0_session/device/{:02x}", hash.0[0] as usize % BUCKETS)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    hash: String,
    device_code: String,
    expires: Millis,
    next_poll: Millis,
    interval: u64,
}

impl Pending {
    fn to_json(&self) -> Value {
        json!({"h": self.hash, "d": self.device_code, "e": self.expires, "n": self.next_poll, "i": self.interval})
    }

    fn from_json(v: &Value) -> Option<Pending> {
        Some(Pending {
            hash: v.get("h")?.as_str()?.to_string(),
            device_code: v.get("d")?.as_str()?.to_string(),
            expires: v.get("e")?.as_u64()?,
            next_poll: v.get("n")?.as_u64()?,
            interval: v.get("i")?.as_u64()?,
        })
    }
}

/// Reads, edits and writes back one bucket under CAS, dropping expired entries on the way.
/// `edit` sees the live entries and returns its result; `None` from it means "no write".
fn update<T>(
    host: &dyn SharedData,
    key: &str,
    now: Millis,
    mut edit: impl FnMut(&mut Vec<Pending>) -> Option<T>,
) -> Option<T> {
    for _ in 0..CAS_RETRIES {
        let (value, cas) = host.get(key);
        let stored: Vec<Pending> = value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<Vec<Value>>(v).ok())
            .unwrap_or_default()
            .iter()
            .filter_map(Pending::from_json)
            .collect();
        let mut entries: Vec<Pending> =
            stored.iter().filter(|p| now < p.expires).cloned().collect();
        let pruned = entries.len() != stored.len();
        let result = edit(&mut entries);
        if result.is_none() && !pruned {
            return None;
        }
        let body = Value::Array(entries.iter().map(Pending::to_json).collect()).to_string();
        if host
            .set(key, body.as_bytes(), Some(cas.unwrap_or(CAS_MISSING)))
            .is_ok()
        {
            return result;
        }
    }
    None
}

/// The form body of the device-code request.
pub fn start_body(d: &Device) -> Vec<u8> {
    let mut form = vec![
        ("client_id", d.client_id.as_str()),
        ("scope", d.scope.as_str()),
    ];
    if !d.audience.is_empty() {
        form.push(("audience", d.audience.as_str()));
    }
    form.iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// The IdP's answer to a device-code request, turned into the client's: the codes to show
/// and a handle to poll with.
pub fn started(
    host: &dyn SharedData,
    status: Option<u32>,
    body: &[u8],
    random: &[u8; 32],
    now: Millis,
) -> Reply {
    let answer: Option<Value> = (status == Some(200) && body.len() <= MAX_ANSWER)
        .then(|| serde_json::from_slice(body).ok())
        .flatten();
    let field = |name: &str| answer.as_ref().and_then(|a| a.get(name));
    let (Some(device_code), Some(user_code), Some(uri)) = (
        field("device_code").and_then(Value::as_str),
        field("user_code").and_then(Value::as_str),
        field("verification_uri").and_then(Value::as_str),
    ) else {
        return Reply::idp_unavailable("the identity provider did not start a device login");
    };
    let expires_in = field("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(600)
        .clamp(1, 3_600);
    let interval = field("interval")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .clamp(1, 60);
    let handle = b64url(random);
    let hash = SessionHash::of_secret(random);
    let entry = Pending {
        hash: hash.hex(),
        device_code: device_code.to_string(),
        expires: now + expires_in * 1_000,
        next_poll: now + interval * 1_000,
        interval,
    };
    let stored = update(host, &bucket_key(&hash), now, |entries| {
        if entries.len() >= PER_BUCKET {
            return Some(false);
        }
        entries.push(entry.clone());
        Some(true)
    });
    if stored != Some(true) {
        return Reply::error(
            503,
            "too_many_pending",
            "too many device logins in progress; try again soon",
        )
        .with_header("retry-after", "5");
    }
    Reply::json(
        200,
        &json!({
            "user_code": user_code,
            "verification_uri": uri,
            "verification_uri_complete": field("verification_uri_complete").and_then(Value::as_str).unwrap_or(uri),
            "interval": interval,
            "expires_in": expires_in,
            "handle": handle,
        }),
    )
}

/// What a poll does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Reply(Reply),
    /// Ask the token endpoint with this form body, then call [`polled`].
    Exchange {
        hash: SessionHash,
        body: Vec<u8>,
    },
}

fn status_reply(code: u32, status: &str, interval: Option<u64>) -> Reply {
    let mut body = json!({ "status": status });
    if let Some(i) = interval {
        body["interval"] = json!(i);
    }
    Reply::json(code, &body)
}

/// A poll, `Authorization: Device <handle>`: the handle must name a pending login, and the
/// client must have waited the interval (a poll that comes too soon is refused without asking
/// the IdP). The handle is a credential until the login completes, hence this header rather
/// than the body (Envoy does not let a wasm filter read a body before answering without
/// first starting the request upstream) or the query string (which ends up in access logs).
pub fn poll(host: &dyn SharedData, d: &Device, authorization: Option<&[u8]>, now: Millis) -> Poll {
    let handle = authorization.and_then(|v| {
        let scheme = v.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"Device ")
            .then(|| v[7..].trim_ascii())
    });
    let mut raw = [0u8; 32];
    let decoded = handle.map(|h| {
        base64::Engine::decode_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            h,
            &mut raw,
        )
    });
    let hash = match decoded {
        Some(Ok(32)) => SessionHash::of_secret(&raw),
        Some(_) => {
            return Poll::Reply(Reply::error(
                404,
                "unknown_handle",
                "no device login with this handle",
            ))
        }
        None => {
            return Poll::Reply(Reply::error(
                400,
                "invalid_request",
                "send Authorization: Device <handle>",
            ))
        }
    };
    let hex = hash.hex();
    let mut found = None;
    let outcome = update(host, &bucket_key(&hash), now, |entries| {
        let entry = entries.iter_mut().find(|p| p.hash == hex)?;
        found = Some(entry.clone());
        if now < entry.next_poll {
            return None;
        }
        entry.next_poll = now + entry.interval * 1_000;
        Some(entry.device_code.clone())
    });
    match (found, outcome) {
        (None, _) => Poll::Reply(Reply::error(
            404,
            "unknown_handle",
            "no device login with this handle (it may have expired)",
        )),
        (Some(p), None) if now < p.next_poll => Poll::Reply(
            Reply::json(
                429,
                &json!({"error": "slow_down", "status": "pending", "interval": p.interval}),
            )
            .with_header(
                "retry-after",
                ((p.next_poll - now).div_ceil(1_000)).to_string(),
            ),
        ),
        (Some(_), None) => Poll::Reply(Reply::store_unavailable()),
        (Some(_), Some(device_code)) => {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code.as_str()),
                ("client_id", d.client_id.as_str()),
            ];
            let body = form
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes();
            Poll::Exchange { hash, body }
        }
    }
}

/// What the token endpoint said.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    Reply(Reply),
    /// Approved: verify this access token exactly as the token login does.
    Token(String),
}

fn forget(host: &dyn SharedData, hash: &SessionHash, now: Millis) {
    let hex = hash.hex();
    update(host, &bucket_key(hash), now, |entries| {
        let before = entries.len();
        entries.retain(|p| p.hash != hex);
        (entries.len() != before).then_some(())
    });
}

pub fn polled(
    host: &dyn SharedData,
    hash: &SessionHash,
    status: Option<u32>,
    body: &[u8],
    now: Millis,
) -> Polled {
    let answer: Option<Value> = (body.len() <= MAX_ANSWER)
        .then(|| serde_json::from_slice(body).ok())
        .flatten();
    let text = |name: &str| {
        answer
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (status, text("access_token"), text("error").as_deref()) {
        (Some(200), Some(token), _) => {
            forget(host, hash, now);
            Polled::Token(token)
        }
        (Some(400..=499), _, Some("authorization_pending")) => {
            let interval = interval_of(host, hash, now);
            Polled::Reply(status_reply(200, "pending", interval))
        }
        (Some(400..=499), _, Some("slow_down")) => {
            // RFC 8628 §3.5: every later poll waits 5 s more.
            let hex = hash.hex();
            let interval = update(host, &bucket_key(hash), now, |entries| {
                let p = entries.iter_mut().find(|p| p.hash == hex)?;
                p.interval += 5;
                p.next_poll = now + p.interval * 1_000;
                Some(p.interval)
            });
            Polled::Reply(status_reply(200, "pending", interval))
        }
        (Some(400..=499), _, Some("access_denied")) => {
            forget(host, hash, now);
            Polled::Reply(status_reply(403, "denied", None))
        }
        (Some(400..=499), _, Some("expired_token")) => {
            forget(host, hash, now);
            Polled::Reply(status_reply(410, "expired", None))
        }
        (Some(400..=499), _, _) => {
            forget(host, hash, now);
            Polled::Reply(Reply::error(
                401,
                "invalid_grant",
                "the identity provider refused this device login",
            ))
        }
        _ => Polled::Reply(Reply::idp_unavailable(
            "the identity provider did not answer the poll",
        )),
    }
}

fn interval_of(host: &dyn SharedData, hash: &SessionHash, now: Millis) -> Option<u64> {
    let (value, _) = host.get(&bucket_key(hash));
    let hex = hash.hex();
    serde_json::from_slice::<Vec<Value>>(&value?)
        .ok()?
        .iter()
        .filter_map(Pending::from_json)
        .find(|p| p.hash == hex && now < p.expires)
        .map(|p| p.interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemHost;

    fn device() -> Device {
        Device {
            start: "/device/start".into(),
            poll: "/device/poll".into(),
            client_id: "cli".into(),
            scope: "openid profile email".into(),
            audience: "https://api/".into(),
        }
    }

    const IDP_ANSWER: &[u8] = br#"{"device_code":"DEV-SECRET","user_code":"ABCD-EFGH","verification_uri":"https://t/activate","expires_in":600,"interval":5}"#;

    fn start(host: &MemHost, seed: u8, now: Millis) -> String {
        let reply = started(host, Some(200), IDP_ANSWER, &[seed; 32], now);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            !reply.body.contains("DEV-SECRET"),
            "the device_code stays in the proxy"
        );
        let v: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(v["verification_uri_complete"], "https://t/activate");
        v["handle"].as_str().unwrap().to_string()
    }

    fn header(handle: &str) -> Vec<u8> {
        format!("Device {handle}").into_bytes()
    }

    #[test]
    fn the_start_body_names_client_scope_and_audience() {
        assert_eq!(
            String::from_utf8(start_body(&device())).unwrap(),
            "client_id=cli&scope=openid%20profile%20email&audience=https%3A%2F%2Fapi%2F"
        );
    }

    #[test]
    fn polls_wait_the_interval_and_exchange_the_device_code() {
        let host = MemHost::default();
        let handle = start(&host, 1, 0);
        let stored: Vec<String> = host
            .data
            .borrow()
            .values()
            .map(|(v, _)| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert!(
            stored.iter().all(|v| !v.contains(&handle)),
            "only the handle's hash is stored"
        );
        assert!(
            matches!(poll(&host, &device(), Some(&header(&handle)), 1_000), Poll::Reply(r) if r.status == 429)
        );
        match poll(&host, &device(), Some(&header(&handle)), 5_000) {
            Poll::Exchange { body, .. } => {
                let body = String::from_utf8(body).unwrap();
                assert!(body.contains("device_code=DEV-SECRET") && body.contains("client_id=cli"));
                assert!(body
                    .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(poll(&host, &device(), Some(&header(&handle)), 6_000), Poll::Reply(r) if r.status == 429),
            "the next poll waits again"
        );
    }

    #[test]
    fn every_idp_answer_maps_to_a_status() {
        let host = MemHost::default();
        let handle = start(&host, 2, 0);
        let Poll::Exchange { hash, .. } = poll(&host, &device(), Some(&header(&handle)), 5_000)
        else {
            panic!()
        };
        let reply = |p: Polled| match p {
            Polled::Reply(r) => (r.status, r.body),
            Polled::Token(t) => (0, t),
        };
        assert_eq!(
            reply(polled(
                &host,
                &hash,
                Some(400),
                br#"{"error":"authorization_pending"}"#,
                5_000
            )),
            (200, r#"{"interval":5,"status":"pending"}"#.into())
        );
        assert_eq!(
            reply(polled(
                &host,
                &hash,
                Some(400),
                br#"{"error":"slow_down"}"#,
                5_000
            )),
            (200, r#"{"interval":10,"status":"pending"}"#.into())
        );
        assert_eq!(reply(polled(&host, &hash, None, b"", 5_000)).0, 503);
        assert_eq!(
            reply(polled(
                &host,
                &hash,
                Some(200),
                br#"{"access_token":"AT"}"#,
                5_000
            )),
            (0, "AT".into())
        );
        assert!(
            matches!(poll(&host, &device(), Some(&header(&handle)), 60_000), Poll::Reply(r) if r.status == 404),
            "used once"
        );
        for (status, body, code) in [
            (403, &br#"{"error":"access_denied"}"#[..], 403),
            (400, br#"{"error":"expired_token"}"#, 410),
            (400, br#"{"error":"invalid_grant"}"#, 401),
        ] {
            let handle = start(&host, code as u8, 0);
            let Poll::Exchange { hash, .. } = poll(&host, &device(), Some(&header(&handle)), 5_000)
            else {
                panic!()
            };
            assert_eq!(
                reply(polled(&host, &hash, Some(status), body, 5_000)).0,
                code
            );
            assert!(
                matches!(poll(&host, &device(), Some(&header(&handle)), 60_000), Poll::Reply(r) if r.status == 404)
            );
        }
    }

    #[test]
    fn pending_logins_are_bounded_and_expire() {
        let host = MemHost::default();
        let mut stored = 0;
        for i in 0..(BUCKETS * PER_BUCKET + 500) {
            let mut random = [0u8; 32];
            random[..4].copy_from_slice(&(i as u32).to_le_bytes());
            if started(&host, Some(200), IDP_ANSWER, &random, 0).status == 200 {
                stored += 1;
            }
        }
        assert!(stored <= BUCKETS * PER_BUCKET, "{stored}");
        assert!(host.data.borrow().len() <= BUCKETS);
        // Expired entries are dropped on the next write to their bucket: room again.
        let again = started(&host, Some(200), IDP_ANSWER, &[7; 32], 700_000);
        assert_eq!(again.status, 200);
    }

    #[test]
    fn bad_handles_and_idp_failures() {
        let host = MemHost::default();
        assert!(matches!(poll(&host, &device(), None, 0), Poll::Reply(r) if r.status == 400));
        assert!(
            matches!(poll(&host, &device(), Some(b"Bearer x"), 0), Poll::Reply(r) if r.status == 400)
        );
        assert!(
            matches!(poll(&host, &device(), Some(b"Device nope"), 0), Poll::Reply(r) if r.status == 404)
        );
        assert!(
            matches!(poll(&host, &device(), Some(&header(&"E".repeat(43))), 0), Poll::Reply(r) if r.status == 404)
        );
        for (status, body) in [
            (Some(500), &b""[..]),
            (None, b""),
            (Some(200), b"{}"),
            (Some(200), b"junk"),
        ] {
            assert_eq!(started(&host, status, body, &[1; 32], 0).status, 503);
        }
    }
}
