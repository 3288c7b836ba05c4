//! Any `Cookie` header and request path through the per-request parsing: cookie splitting and
//! stripping, signed-cookie decoding, routing, the code flow's return-path and query parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::config::Config;
use session_core::login::code_flow::safe_return_path;
use session_core::request::routing::route;
use session_core::session::cookie::take_session_cookies;
use session_core::session::cookie_mac::CookieCodec;
use session_core::session::SessionHash;
use session_core::url::percent_decode;

fuzz_target!(|data: &[u8]| {
    let config = Config::parse(
        br#"{"auth0": {"domain": "t", "api": {"identifier": "i"}, "cluster": "c"}, "public": ["/static/", "/healthz"]}"#,
    )
    .unwrap_or_else(|_| unreachable!());
    let codec = CookieCodec::new(&["a-signing-key-of-at-least-32-chars!".to_string()]);
    let (candidates, _) = take_session_cookies(data, "session");
    for value in candidates {
        let _ = codec.decode(value);
        let _ = SessionHash::of_cookie(value);
    }
    let _ = route(&config, data, || b"GET".to_vec());
    let path = safe_return_path(data);
    assert!(path.starts_with('/') && !path.starts_with("//") && !path.contains('\\'));
    let _ = percent_decode(data);
});
