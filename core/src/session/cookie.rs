//! The session cookie: finding it in a `Cookie` header (bytes: the header may hold anything
//! a client sends), taking it out before the request is forwarded, and the `Set-Cookie`
//! values that set and clear it.

use smallvec::SmallVec;

use crate::config::CookieSettings;
use crate::ports::HeaderValue;
use crate::time::{http_date, Millis};

/// At most this many cookies of our name are tried; more are dropped unread. Duplicates are
/// legitimate (a parent-domain cookie beside a host cookie) but a flood of them is not.
pub const MAX_CANDIDATES: usize = 4;

/// What to do with the request's `Cookie` header before forwarding it.
#[derive(Debug, PartialEq, Eq)]
pub enum CookieEdit {
    /// Our cookie was not there: leave the header alone.
    Unchanged,
    /// Only our cookie was there: remove the header.
    Remove,
    /// Forward these remaining cookies instead.
    Replace(HeaderValue),
}

/// The values of our cookie in a `Cookie` header, borrowed from it.
pub type Candidates<'h> = SmallVec<[&'h [u8]; MAX_CANDIDATES]>;

/// The values of every cookie named `name` (up to [`MAX_CANDIDATES`]) and the edit that
/// removes all of them from the header.
pub fn take_session_cookies<'h>(header: &'h [u8], name: &str) -> (Candidates<'h>, CookieEdit) {
    let mut found = Candidates::new();
    // The other cookies, joined as they come (a browser's few hundred bytes go to the heap;
    // a request with only our cookie allocates nothing).
    let mut rest = HeaderValue::new();
    let mut matched = false;
    for pair in header.split(|&b| b == b';') {
        let pair = pair.trim_ascii();
        if pair.is_empty() {
            continue;
        }
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (pair[..i].trim_ascii(), pair[i + 1..].trim_ascii()),
            None => (pair, &pair[pair.len()..]),
        };
        if key == name.as_bytes() {
            matched = true;
            if found.len() < MAX_CANDIDATES {
                found.push(unquote(value));
            }
        } else {
            if rest.len() + pair.len() + 2 > rest.inline_size() && !rest.spilled() {
                // One allocation, the size of the whole header at most, rather than growing.
                rest.reserve(header.len());
            }
            if !rest.is_empty() {
                rest.extend_from_slice(b"; ");
            }
            rest.extend_from_slice(pair);
        }
    }
    let edit = if !matched {
        CookieEdit::Unchanged
    } else if rest.is_empty() {
        CookieEdit::Remove
    } else {
        CookieEdit::Replace(rest)
    };
    (found, edit)
}

fn unquote(value: &[u8]) -> &[u8] {
    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
        &value[1..value.len() - 1]
    } else {
        value
    }
}

fn attributes(settings: &CookieSettings, out: &mut String) {
    out.push_str("; Path=");
    out.push_str(&settings.path);
    if let Some(domain) = &settings.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if settings.secure {
        out.push_str("; Secure");
    }
    if settings.httponly {
        out.push_str("; HttpOnly");
    }
    out.push_str("; SameSite=");
    out.push_str(settings.samesite.as_str());
}

/// `Set-Cookie` for a new session that the browser keeps until `expires`.
pub fn set_cookie(settings: &CookieSettings, value: &str, now: Millis, expires: Millis) -> String {
    let max_age = expires.saturating_sub(now) / 1_000;
    let mut out = format!(
        "{}={}; Expires={}; Max-Age={}",
        settings.name,
        value,
        http_date(expires),
        max_age
    );
    attributes(settings, &mut out);
    out
}

/// `Set-Cookie` that makes the browser drop the session cookie.
pub fn clear_cookie(settings: &CookieSettings) -> String {
    let mut out = format!("{}=; Expires={}; Max-Age=0", settings.name, http_date(0));
    attributes(settings, &mut out);
    out
}

#[cfg(test)]
#[path = "../tests/session/cookie.rs"]
mod tests;
