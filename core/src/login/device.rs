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

use crate::config::Device;
use crate::login::jwks::b64url;
use crate::reply::Reply;
use crate::session::SessionHash;
use crate::shared_data::{self, SharedData, UpdateError, Write};
use crate::time::Millis;
use crate::url::percent_encode;

pub use crate::idp::DEVICE_CODE_PATH;
const BUCKETS: usize = 256;
const PER_BUCKET: usize = 32;
pub use crate::idp::MAX_DEVICE_ANSWER as MAX_ANSWER;

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
    let updated = shared_data::update(host, key, |value, _| {
        let stored: Vec<Pending> = value
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
            return Ok::<_, UpdateError>(Write::Keep(None));
        }
        let body = Value::Array(entries.iter().map(Pending::to_json).collect()).to_string();
        Ok(Write::Set(body.into_bytes(), result))
    });
    updated.ok().flatten()
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

/// Whether the pending-login bucket the handle made of `random` falls in has room: asked
/// before the IdP is (docs/ARCHITECTURE.md §8 rule 8), so that a full table costs no device-code call.
pub fn has_room(host: &dyn SharedData, random: &[u8; 32], now: Millis) -> bool {
    let hash = SessionHash::of_secret(random);
    let (value, _) = host.get(&bucket_key(&hash));
    let live = value
        .as_deref()
        .and_then(|v| serde_json::from_slice::<Vec<Value>>(v).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(Pending::from_json)
        .filter(|p| now < p.expires)
        .count();
    live < PER_BUCKET
}

/// The answer when the table of pending device logins is full.
pub fn full() -> Reply {
    Reply::error(
        503,
        "too_many_pending",
        "too many device logins in progress; try again soon",
    )
    .with_header("retry-after", "5")
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
        return full();
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
#[path = "../tests/login/device.rs"]
mod tests;
