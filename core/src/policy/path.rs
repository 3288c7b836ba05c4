//! The one path normalizer every route decision uses (endpoints, rules, `public`).
//!
//! A proxy and the app behind it must agree on which resource a path names, or a rule written
//! for `/admin` is bypassed by a spelling the app folds into `/admin` and the proxy does not
//! (`/static/..;/admin` on Tomcat and Jetty, `/admin;jsessionid=x`, `/%2e%2e/`, `%2f`, `\` on
//! Windows servers, double decoding of `%252f`, overlong UTF-8). The normalizer settles the
//! spellings every server reads alike (percent-escapes of unreserved characters, the case of
//! other escapes, repeated slashes, query and fragment) and refuses the others, so a decision
//! is never a guess about what the app will do.
//!
//! It never allocates: validation is one pass over the bytes, and comparisons walk the
//! canonical form on the fly; a path without `%` or `//` (nearly all of them) is compared as
//! the raw bytes it is.

use std::fmt;

/// Why a path is refused rather than normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Empty, or not starting with `/` (`*`, an absolute URI the proxy did not rewrite).
    NotAbsolute,
    /// `%2F`: an app that decodes it sees a different path than its router.
    EncodedSlash,
    /// `\` or `%5C`: a separator on some servers, a plain byte on others.
    Backslash,
    /// `;` or `%3B`: path parameters, which Tomcat and Jetty strip (`/static/..;/admin`).
    Semicolon,
    /// `.` or `..` as a segment, in any spelling (`%2e%2e`).
    DotSegment,
    /// `%25` followed by hex digits: an escape that a second decoding turns into another.
    DoubleEncoding,
    /// A control character, raw or escaped (NUL, CR, LF...): servers truncate or split there.
    ControlCharacter,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8 (overlong forms like `%C0%AF` for `/` included).
    NotUtf8,
}

impl PathError {
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::EncodedSlash => "the path has an encoded / (%2F)",
            PathError::Backslash => "the path has a \\ or %5C",
            PathError::Semicolon => "the path has a ; or %3B (path parameters)",
            PathError::DotSegment => "the path has a . or .. segment",
            PathError::DoubleEncoding => "the path has a double-encoded escape (%25XX)",
            PathError::ControlCharacter => "the path has a control character",
            PathError::BadEscape => "the path has a % not followed by two hex digits",
            PathError::NotUtf8 => "the path does not decode to UTF-8",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request path that passed validation; compared through its canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalPath<'a> {
    raw: &'a [u8],
    /// No escape and no repeated slash: the raw bytes are the canonical form.
    plain: bool,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved characters: their escapes mean the same as the character itself.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The value of the escape at `at` (which holds `%`).
fn escape_at(path: &[u8], at: usize) -> Result<u8, PathError> {
    match (
        path.get(at + 1).and_then(|&b| hex(b)),
        path.get(at + 2).and_then(|&b| hex(b)),
    ) {
        (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
        _ => Err(PathError::BadEscape),
    }
}

/// Whether the two characters at `at`, each raw or an escape of an unreserved character (as
/// the canonical form decodes them), are hex digits: after `%25`, an escape that a second
/// decoding would turn into another character (`%252f`, `%25%32f`).
fn double_encoded(path: &[u8], at: usize) -> bool {
    let mut at = at;
    for _ in 0..2 {
        let (value, len) = match path.get(at) {
            Some(b'%') => match escape_at(path, at) {
                Ok(v) if unreserved(v) => (v, 3),
                _ => return false,
            },
            Some(&b) => (b, 1),
            None => return false,
        };
        if hex(value).is_none() {
            return false;
        }
        at += len;
    }
    true
}

/// The path without its query string or fragment.
pub fn path_only(path: &[u8]) -> &[u8] {
    let end = path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    &path[..end]
}

/// RFC 3629 UTF-8, checked one decoded byte at a time (so escapes need no buffer).
#[derive(Default)]
struct Utf8 {
    /// Continuation bytes still expected.
    left: u8,
    /// The range the next continuation byte must be in (narrower after E0, ED, F0, F4).
    lo: u8,
    hi: u8,
}

impl Utf8 {
    fn push(&mut self, b: u8) -> bool {
        if self.left > 0 {
            if b < self.lo || b > self.hi {
                return false;
            }
            self.left -= 1;
            (self.lo, self.hi) = (0x80, 0xBF);
            return true;
        }
        let (left, lo, hi) = match b {
            0x00..=0x7F => return true,
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            // C0 and C1 only start overlong forms; F5 and up are beyond Unicode.
            _ => return false,
        };
        (self.left, self.lo, self.hi) = (left, lo, hi);
        true
    }
}

/// Validates a request's `:path` (query and fragment ignored) and returns it ready for
/// comparisons, or says why it cannot be settled.
pub fn normalize(raw_path: &[u8]) -> Result<NormalPath<'_>, PathError> {
    let raw = path_only(raw_path);
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut plain = true;
    let mut utf8 = Utf8::default();
    // Decoded length and dot count of the current segment, to spot `.` and `..` however
    // they are spelt.
    let mut segment_len = 0usize;
    let mut segment_dots = 0usize;
    let mut at = 0;
    while at < raw.len() {
        let byte = raw[at];
        let decoded = if byte == b'%' {
            plain = false;
            let value = escape_at(raw, at)?;
            match value {
                b'/' => return Err(PathError::EncodedSlash),
                b'\\' => return Err(PathError::Backslash),
                b';' => return Err(PathError::Semicolon),
                b'%' if double_encoded(raw, at + 3) => return Err(PathError::DoubleEncoding),
                _ => {}
            }
            at += 3;
            value
        } else {
            match byte {
                b'\\' => return Err(PathError::Backslash),
                b';' => return Err(PathError::Semicolon),
                b'/' if at > 0 && raw[at - 1] == b'/' => plain = false,
                _ => {}
            }
            at += 1;
            byte
        };
        if decoded < 0x20 || decoded == 0x7F {
            return Err(PathError::ControlCharacter);
        }
        if !utf8.push(decoded) {
            return Err(PathError::NotUtf8);
        }
        // A raw `/` ends a segment (escaped ones were refused above).
        if decoded == b'/' {
            if segment_len > 0 && segment_len == segment_dots && segment_len <= 2 {
                return Err(PathError::DotSegment);
            }
            segment_len = 0;
            segment_dots = 0;
        } else {
            segment_len += 1;
            segment_dots += usize::from(decoded == b'.');
        }
    }
    if segment_len > 0 && segment_len == segment_dots && segment_len <= 2 {
        return Err(PathError::DotSegment);
    }
    if utf8.left > 0 {
        return Err(PathError::NotUtf8);
    }
    Ok(NormalPath { raw, plain })
}

impl<'a> NormalPath<'a> {
    /// The path as received, without query or fragment.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The canonical form, byte by byte: escapes of unreserved characters decoded, other
    /// escapes in upper case, runs of `/` merged into one.
    pub fn canonical(&self) -> Canonical<'a> {
        Canonical {
            raw: self.raw,
            at: 0,
            pending: [0; 2],
            pending_len: 0,
            last: 0,
        }
    }

    /// Whether the canonical form equals `other` (itself canonical, e.g. a configured path).
    pub fn is(&self, other: &[u8]) -> bool {
        if self.plain {
            return self.raw == other;
        }
        let mut mine = self.canonical();
        other.iter().all(|b| mine.next() == Some(*b)) && mine.next().is_none()
    }

    /// Whether the canonical form starts with `prefix` (itself canonical).
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        if self.plain {
            return self.raw.starts_with(prefix);
        }
        let mut mine = self.canonical();
        prefix.iter().all(|b| mine.next() == Some(*b))
    }
}

/// Iterator over a [`NormalPath`]'s canonical bytes.
pub struct Canonical<'a> {
    raw: &'a [u8],
    at: usize,
    pending: [u8; 2],
    pending_len: u8,
    last: u8,
}

impl Iterator for Canonical<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.pending_len > 0 {
            let b = self.pending[2 - usize::from(self.pending_len)];
            self.pending_len -= 1;
            self.last = b;
            return Some(b);
        }
        loop {
            let byte = *self.raw.get(self.at)?;
            if byte == b'%' {
                // Validated: two hex digits follow.
                let (hi, lo) = (self.raw[self.at + 1], self.raw[self.at + 2]);
                self.at += 3;
                let value = hex(hi).unwrap_or(0) << 4 | hex(lo).unwrap_or(0);
                if unreserved(value) {
                    self.last = value;
                    return Some(value);
                }
                self.pending = [hi.to_ascii_uppercase(), lo.to_ascii_uppercase()];
                self.pending_len = 2;
                self.last = b'%';
                return Some(b'%');
            }
            self.at += 1;
            if byte == b'/' && self.last == b'/' {
                continue;
            }
            self.last = byte;
            return Some(byte);
        }
    }
}

/// A configured path in canonical form, or why it is not: route paths in the configuration
/// are compared with requests' canonical forms, so they must be written canonically.
pub fn check_config_path(path: &str) -> Result<(), String> {
    let normal = normalize(path.as_bytes()).map_err(|e| format!("{path:?}: {e}"))?;
    if normal.raw().len() != path.len() {
        return Err(format!(
            "{path:?} must be a plain path, without query or fragment"
        ));
    }
    if !normal.is(path.as_bytes()) {
        let canonical: Vec<u8> = normal.canonical().collect();
        return Err(format!(
            "{path:?} is not in canonical form; write it as {:?}",
            String::from_utf8_lossy(&canonical)
        ));
    }
    Ok(())
}
