//! What the filter does with each request (DESIGN §5), as values the glue carries out: a
//! local reply, or forwarding with header edits. All host access goes through [`Host`].

use serde_json::json;

use crate::config::{Claim, Config};
use crate::cookie::{clear_cookie, set_cookie, take_session_cookies, CookieEdit};
use crate::login::Callout;
use crate::metrics::Metric;
use crate::reply::Reply;
use crate::routing::{route, Route};
use crate::session::{new_secret, RecordView, Session, SessionHash, SECRET_BYTES};
use crate::store::{self, SharedData};
use crate::time::{rfc3339, Millis};
use crate::token::Identity;

/// Everything the filter needs from Envoy besides headers: shared data and stats.
pub trait Host: SharedData {
    fn count(&self, metric: Metric, delta: i64);
}

/// A change to the request before it is forwarded.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderEdit<'a> {
    Set(&'a str, Vec<u8>),
    Remove(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    Forward(Vec<HeaderEdit<'a>>),
    Reply(Reply),
}

/// The configured filter, shared by every request of a VM.
#[derive(Debug)]
pub struct Filter {
    pub config: Config,
    inactive_ms: u64,
    max_ms: u64,
}

fn push_cookie_edit(edits: &mut Vec<HeaderEdit<'_>>, edit: CookieEdit) {
    match edit {
        CookieEdit::Unchanged => {}
        CookieEdit::Remove => edits.push(HeaderEdit::Remove("cookie")),
        CookieEdit::Replace(rest) => edits.push(HeaderEdit::Set("cookie", rest)),
    }
}

fn millis(secs: u64) -> u64 {
    secs.saturating_mul(1_000)
}

impl Filter {
    pub fn new(config: Config) -> Filter {
        Filter {
            inactive_ms: millis(config.cookie.inactive_lifetime),
            max_ms: millis(config.cookie.max_lifetime),
            config,
        }
    }

    pub fn route(&self, path: &[u8]) -> Route {
        route(&self.config, path)
    }

    /// Login, logout and keep-alive accept GET and POST (mo-auth's clients use GET).
    pub fn endpoint_method_allowed(method: &[u8]) -> bool {
        method == b"GET" || method == b"POST"
    }

    /// A public path: forwarded without a session; client-sent identity headers and our
    /// cookie are removed, so the app never sees a session secret on any path.
    pub fn public(&self, cookie_header: Option<&[u8]>) -> Vec<HeaderEdit<'_>> {
        let mut edits: Vec<HeaderEdit<'_>> = self
            .config
            .headers
            .iter()
            .map(|h| HeaderEdit::Remove(h.name.as_str()))
            .collect();
        if let Some(header) = cookie_header {
            push_cookie_edit(
                &mut edits,
                take_session_cookies(header, &self.config.cookie.name).1,
            );
        }
        edits
    }

    /// The first live session among the request's session cookies, and the cookie edit.
    fn find_session(
        &self,
        host: &dyn Host,
        cookie_header: Option<&[u8]>,
        now: Millis,
    ) -> (Option<(SessionHash, store::Found)>, CookieEdit) {
        let Some(header) = cookie_header else {
            return (None, CookieEdit::Unchanged);
        };
        let (candidates, edit) = take_session_cookies(header, &self.config.cookie.name);
        let found = candidates
            .iter()
            .filter_map(|value| SessionHash::of_cookie(value))
            .find_map(|hash| store::lookup(host, &hash, now).map(|found| (hash, found)));
        (found, edit)
    }

    /// Any other path: forwarded with identity headers when the session is live (sliding its
    /// idle window), otherwise 401.
    pub fn protected(
        &self,
        host: &dyn Host,
        cookie_header: Option<&[u8]>,
        now: Millis,
    ) -> Decision<'_> {
        let (found, cookie_edit) = self.find_session(host, cookie_header, now);
        let Some((hash, found)) = found else {
            host.count(Metric::Rejected, 1);
            return Decision::Reply(Reply::unauthorized());
        };
        let record = found.record();
        if store::needs_slide(&record, now, self.inactive_ms) {
            // A failed slide does not make this request unauthenticated: the session is live
            // now. The next request tries again.
            if let Ok((_, delta)) = store::touch(host, &hash, now, self.inactive_ms) {
                host.count(Metric::SessionsLive, delta);
            }
        }
        let mut edits = self.identity_edits(&record);
        push_cookie_edit(&mut edits, cookie_edit);
        Decision::Forward(edits)
    }

    /// Sets every configured identity header from the session; one the session has no value
    /// for is removed, so a client can never supply it.
    fn identity_edits(&self, record: &RecordView<'_>) -> Vec<HeaderEdit<'_>> {
        let [sub, email, name] = record.strings();
        self.config
            .headers
            .iter()
            .map(|h| {
                let value = match h.claim {
                    Claim::Sub => sub,
                    Claim::Email => email,
                    Claim::Name => name,
                };
                if value.is_empty() {
                    HeaderEdit::Remove(h.name.as_str())
                } else {
                    HeaderEdit::Set(h.name.as_str(), value.to_vec())
                }
            })
            .collect()
    }

    /// Keep-alive: slides the idle window of a live session and says the new deadlines.
    pub fn keep_alive(&self, host: &dyn Host, cookie_header: Option<&[u8]>, now: Millis) -> Reply {
        let (found, _) = self.find_session(host, cookie_header, now);
        let Some((hash, _)) = found else {
            host.count(Metric::Rejected, 1);
            return Reply::unauthorized();
        };
        match store::touch(host, &hash, now, self.inactive_ms) {
            Ok((Some(session), delta)) => {
                host.count(Metric::SessionsLive, delta);
                host.count(Metric::KeepAlive, 1);
                Reply::json(
                    200,
                    &json!({
                        "expires": rfc3339(session.max_deadline),
                        "idle_expires": rfc3339(session.idle_deadline),
                        "inactive_lifetime": self.config.cookie.inactive_lifetime,
                    }),
                )
            }
            Ok((None, delta)) => {
                // Expired or ended between the lookup and the write.
                host.count(Metric::SessionsLive, delta);
                host.count(Metric::Rejected, 1);
                Reply::unauthorized()
            }
            Err(_) => Reply::store_unavailable(),
        }
    }

    /// Logout: ends every session the request's cookies name and clears the cookie. Answers
    /// 200 even without a session, so logging out twice is harmless.
    pub fn logout(&self, host: &dyn Host, cookie_header: Option<&[u8]>, now: Millis) -> Reply {
        let mut ended = false;
        if let Some(header) = cookie_header {
            let (candidates, _) = take_session_cookies(header, &self.config.cookie.name);
            for hash in candidates.iter().filter_map(|v| SessionHash::of_cookie(v)) {
                match store::remove(host, &hash, now) {
                    Ok(written) => {
                        host.count(Metric::SessionsLive, written.live_delta);
                        ended |= written.before.is_some();
                    }
                    // Fail closed: the session may still be live, so do not claim otherwise.
                    Err(_) => return Reply::store_unavailable(),
                }
            }
        }
        host.count(Metric::Logout, 1);
        Reply::json(200, &json!({ "logged_out": ended }))
            .with_header("set-cookie", clear_cookie(&self.config.cookie))
    }

    /// The end of a successful login: a new session under a new secret, and the answer that
    /// hands the secret to the client (JSON body and `Set-Cookie`).
    pub fn create_session(
        &self,
        host: &dyn Host,
        identity: Identity,
        random: &[u8; SECRET_BYTES],
        now: Millis,
    ) -> Reply {
        let (secret, hash) = new_secret(random);
        let session = Session::new(hash, identity, now, self.inactive_ms, self.max_ms);
        match store::insert(host, &session, now) {
            Ok(written) => {
                host.count(Metric::SessionsLive, written.live_delta);
                host.count(Metric::LoginOk, 1);
            }
            Err(_) => return Reply::store_unavailable(),
        }
        let c = &self.config.cookie;
        Reply::json(
            200,
            &json!({
                "name": c.name,
                "value": secret,
                "domain": c.domain,
                "path": c.path,
                "secure": c.secure,
                "httponly": c.httponly,
                "expires": rfc3339(session.max_deadline),
                "inactive_lifetime": c.inactive_lifetime,
            }),
        )
        .with_header(
            "set-cookie",
            set_cookie(c, &secret, now, session.max_deadline),
        )
    }

    /// The request headers of an IdP callout.
    pub fn callout_headers(&self, callout: &Callout, token: &str) -> Vec<(&'static str, String)> {
        let a = &self.config.auth0;
        let path = match callout {
            Callout::Jwks => &a.jwks_path,
            Callout::Userinfo => &a.userinfo_path,
        };
        let mut headers = vec![
            (":method", "GET".to_string()),
            (":path", path.clone()),
            (":authority", a.domain.clone()),
            ("accept", "application/json".to_string()),
        ];
        if *callout == Callout::Userinfo {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        headers
    }

    /// Drops expired sessions from one bucket (the timer walks all of them in turn).
    pub fn sweep(&self, host: &dyn Host, bucket: usize, now: Millis) {
        if let Ok(delta) = store::sweep(host, bucket, now) {
            host.count(Metric::SessionsLive, delta);
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
