//! Percent-encoding and `application/x-www-form-urlencoded` (query strings, form bodies), the
//! one codec the filter and the sidecar share. The escaping itself is the `percent-encoding`
//! crate's; this module only fixes which characters are escaped and how a form splits.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters: safe in any URL component and in a form
/// value, so one encoder serves the authorize query, the logout URL and token request bodies.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters, with upper-case hex.
pub fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// Percent-decodes once; a `%` not followed by two hex digits stays as it is, and so does `+`
/// (a path segment, or a `sub`, may hold one).
pub fn percent_decode(text: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(text).collect()
}

/// Decodes one form or query component, where `+` is a space.
fn form_decode(text: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = text
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
}

/// The decoded `(name, value)` pairs of a query string or form body, in order, duplicates
/// kept. Bytes, not text: a caller that needs text decides what invalid UTF-8 means.
pub fn form_pairs(form: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    form.split(|&b| b == b'&').map(|pair| {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (form_decode(name), form_decode(value))
    })
}

/// The first value named `name` in a query string or form body, invalid UTF-8 replaced.
pub fn query_param(query: &[u8], name: &str) -> Option<String> {
    form_pairs(query)
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
}

/// `name=value&…` with both percent-encoded, for a query string or a form body.
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
#[path = "tests/url.rs"]
mod tests;
