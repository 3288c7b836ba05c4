use super::*;

#[test]
fn browsers_and_systems_are_named() {
    let cases = [
        ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "Firefox 120 on Linux"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36", "Chrome 119 on Windows"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.58", "Edge 119 on Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari 17 on macOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36", "Chrome 119 on Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Headless Chrome 131 on Linux"),
        ("curl/8.5.0", "curl 8.5.0"),
        ("python-requests/2.31.0", "python-requests 2.31.0"),
        ("Python-urllib/3.11", "Python-urllib 3.11"),
    ];
    for (header, expected) in cases {
        assert_eq!(
            summarize(header.as_bytes()).as_deref(),
            Some(expected),
            "{header}"
        );
    }
}

#[test]
fn hostile_headers_give_a_short_printable_summary_or_none() {
    assert_eq!(summarize(b""), None);
    assert_eq!(summarize(b" \t\r\n "), None);
    let long = "x".repeat(10_000);
    let s = summarize(long.as_bytes()).unwrap();
    assert_eq!(s.len(), MAX_USER_AGENT_BYTES);
    let s = summarize(b"evil\r\nSet-Cookie: a=b\x00\x7f\xff").unwrap();
    assert_eq!(s, "evil");
    assert!(summarize("naïve/1 ünïcode".as_bytes())
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_graphic() || c == ' '));
}
