use super::*;
use crate::testing::config;

#[test]
fn callouts_go_to_the_tenant() {
    let c = config();
    let h = headers(&c, &Callout::Userinfo, "TOKEN");
    assert!(h.contains(&(":authority", "tenant.test".to_string())));
    assert!(h.contains(&(":path", "/userinfo".to_string())));
    assert!(h.contains(&("authorization", "Bearer TOKEN".to_string())));
    let h = headers(&c, &Callout::Jwks, "");
    assert!(h.contains(&(":path", "/.well-known/jwks.json".to_string())));
    assert!(!h.iter().any(|(k, _)| *k == "authorization"));
}

#[test]
fn every_call_names_the_cluster_and_a_limit() {
    let c = config();
    let call = call(
        &c,
        &Callout::TokenExchange,
        Purpose::Login,
        "",
        Some(b"x=1".to_vec()),
    );
    assert_eq!(call.cluster, "auth0");
    assert_eq!(call.upstream, Upstream::Idp);
    assert_eq!(call.max_answer, MAX_TOKEN_ANSWER_BYTES);
    assert_eq!(call.timeout_ms, c.auth0.timeout_secs * 1_000);
    assert!(call.headers.contains(&(":method", "POST".to_string())));
    assert!(call.headers.contains(&(":path", TOKEN_PATH.to_string())));
    assert_eq!(
        answer_limit(&Callout::TokenExchange, Purpose::Device),
        MAX_DEVICE_ANSWER
    );
    assert_eq!(answer_limit(&Callout::Jwks, Purpose::Login), MAX_JWKS_BYTES);
}
