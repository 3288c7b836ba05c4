//! A user-agent summary for a user's list of their sessions ("Firefox 120 on Linux"): short,
//! printable, and never the raw header (which can be kilobytes, and is the client's to fake:
//! it is a hint for the person, never a security signal).

use crate::session::MAX_USER_AGENT_BYTES;

/// Browsers by the product token that names them, most specific first (Edge and Opera also
/// say Chrome and Safari; Chrome also says Safari).
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Version/", "Safari"),
];

/// Systems, most specific first (Android says Linux; iOS says Mac OS X).
const SYSTEMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

fn major(after: &str) -> &str {
    let end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    &after[..end]
}

/// The summary of a `User-Agent` header; `None` when there is nothing printable to show.
pub fn summarize(header: &[u8]) -> Option<String> {
    let text: String = String::from_utf8_lossy(&header[..header.len().min(1024)])
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let browser = BROWSERS.iter().find_map(|(token, name)| {
        let at = text.find(token)?;
        let version = major(&text[at + token.len()..]);
        Some(if version.is_empty() {
            (*name).to_string()
        } else {
            format!("{name} {version}")
        })
    });
    let system = SYSTEMS
        .iter()
        .find(|(token, _)| text.contains(token))
        .map(|(_, name)| *name);
    let mut summary = match (browser, system) {
        (Some(b), Some(s)) if text.starts_with("Mozilla/") => format!("{b} on {s}"),
        (Some(b), None) if text.starts_with("Mozilla/") => b,
        // Not a browser: its first product token, e.g. `curl/8.5.0`.
        _ => text.split(' ').next().unwrap_or(text).replace('/', " "),
    };
    if summary.len() > MAX_USER_AGENT_BYTES {
        let mut end = MAX_USER_AGENT_BYTES;
        while !summary.is_char_boundary(end) {
            end -= 1;
        }
        summary.truncate(end);
    }
    Some(summary)
}

#[cfg(test)]
#[path = "../tests/session/user_agent.rs"]
mod tests;
