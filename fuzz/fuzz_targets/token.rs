//! Any `Authorization` header value through the whole token login path: shape, JWS parsing,
//! signature check against a real key set, claim rules. It may refuse; it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::login::jwks::KeySet;
use session_core::login::token::{
    check_claims, parse_jwt, token_from_header, ClaimRules, TokenShape,
};

// A real RS256 key (2048-bit), so that signature checking runs on fuzzed signatures.
const JWKS: &str = include_str!("../seeds/jwks.json");

fuzz_target!(|data: &[u8]| {
    let Ok(TokenShape::Jwt(token)) = token_from_header(data) else {
        return;
    };
    let Ok(jwt) = parse_jwt(token) else {
        return;
    };
    let keys = KeySet::parse(JWKS.as_bytes()).unwrap_or_default();
    let scopes = vec!["read:data".to_string()];
    let rules = ClaimRules {
        issuer: "https://tenant.test/",
        audience: "https://api/",
        scopes: &scopes,
        now_secs: 1_800_000_000,
        roles_claim: Some("https://app.example/roles"),
    };
    if let Ok(payload) = jwt.verify(&keys) {
        let _ = check_claims(&payload, &rules);
    }
});
