//! Any request path through the normalizer every route decision uses: it never panics, what it
//! accepts has a canonical form that is stable (normalizing it again changes nothing) and free
//! of every spelling it refuses, and routing under a policy with rules never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::config::Config;
use session_core::policy::path::normalize;
use session_core::request::routing::route;

fuzz_target!(|data: &[u8]| {
    let config = Config::parse(
        br#"{"auth0": {"domain": "t", "api": {"identifier": "i"}, "cluster": "c"},
             "rules": [{"path": "/admin/", "allow": {"roles": ["admin"]}},
                       {"path": "/api/", "methods": ["POST"], "allow": {"permissions": ["w"]}},
                       {"path": "/x", "allow": "deny"}],
             "public": ["/static/"]}"#,
    )
    .unwrap_or_else(|_| unreachable!());
    let _ = route(&config, data, || data.to_vec());
    let Ok(path) = normalize(data) else {
        return;
    };
    let canonical: Vec<u8> = path.canonical().collect();
    assert!(path.is(&canonical));
    assert!(path.starts_with(&canonical[..canonical.len() / 2]));
    let again = normalize(&canonical).unwrap_or_else(|e| panic!("canonical form refused: {e}"));
    assert_eq!(again.canonical().collect::<Vec<u8>>(), canonical);
    assert!(!canonical.windows(2).any(|w| w == b"//"));
    assert!(!canonical
        .iter()
        .any(|b| matches!(b, b';' | b'\\' | b'?' | b'#') || *b < 0x20));
    assert!(std::str::from_utf8(&canonical).is_ok() || canonical.contains(&b'%'));
});
