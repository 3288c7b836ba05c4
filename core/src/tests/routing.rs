use super::*;

fn config() -> Config {
    Config::parse(
        br#"{"auth0": {"domain": "t.example", "api": {"identifier": "https://api"}, "cluster": "auth0"},
             "public": ["/healthz", "/static/"]}"#,
    )
    .unwrap()
}

#[test]
fn endpoints_match_exactly_ignoring_query() {
    let c = config();
    assert_eq!(route(&c, b"/authorize"), Route::Login);
    assert_eq!(route(&c, b"/authorize?x=1"), Route::Login);
    assert_eq!(route(&c, b"/logout"), Route::Logout);
    assert_eq!(route(&c, b"/ping#frag"), Route::KeepAlive);
    for near_miss in [
        &b"/authorize/"[..],
        b"/Authorize",
        b"/authorize%2f",
        b"/%61uthorize",
        b"//authorize",
        b"/authorizex",
    ] {
        assert_eq!(route(&c, near_miss), Route::Protected, "{near_miss:?}");
    }
}

#[test]
fn public_exact_and_prefix() {
    let c = config();
    assert_eq!(route(&c, b"/healthz"), Route::Public);
    assert_eq!(route(&c, b"/healthz?full=1"), Route::Public);
    assert_eq!(route(&c, b"/healthz/x"), Route::Protected);
    assert_eq!(route(&c, b"/static/app.js"), Route::Public);
    assert_eq!(route(&c, b"/static/"), Route::Public);
    assert_eq!(route(&c, b"/static"), Route::Protected);
    assert_eq!(route(&c, b"/api/data"), Route::Protected);
}

#[test]
fn traversal_out_of_a_public_prefix_needs_a_session() {
    let c = config();
    for sneaky in [
        &b"/static/../api/data"[..],
        b"/static/./x",
        b"/static/%2e%2e/api",
        b"/static/%2E%2E/api",
        b"/static/..%2fapi",
        b"/static/..%5capi",
        b"/static/..\\api",
        b"/static/..",
    ] {
        assert_eq!(route(&c, sneaky), Route::Protected, "{sneaky:?}");
    }
}
