"""A user's own sessions (`endpoints.sessions`): list them, end one, end all but this one.
Real Envoys, the real sidecar on a SQLite file, the test IdP."""

import re
import time

from helpers import bearer, with_session

BOUND_S = 5.0


def login_as(envoy, idp, sub, user_agent):
    r = envoy.request("/authorize", headers={**bearer(idp.jwt(sub=sub)), "User-Agent": user_agent})
    assert r.status == 200, r
    return r.json()["value"]


def sessions(envoy, secret, **headers):
    return envoy.request("/sessions", headers=with_session(secret, **headers))


def refused_within_bound(envoy, secret):
    deadline = time.time() + BOUND_S
    while time.time() < deadline:
        if envoy.request("/x", headers=with_session(secret)).status == 401:
            return
        time.sleep(0.1)
    raise AssertionError(f"session still accepted after {BOUND_S}s")


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def test_a_user_lists_their_live_sessions_and_nobody_elses(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    laptop = login_as(e, idp, "auth0|hana", FIREFOX)
    cli = login_as(e, idp, "auth0|hana", "curl/8.5.0")
    login_as(e, idp, "auth0|ivan", "curl/8.5.0")
    r = sessions(e, cli)
    assert r.status == 200, r
    assert r.header("cache-control") == "no-store"
    listed = r.json()
    assert len(listed) == 2, listed
    assert [s["current"] for s in listed] == [False, True]
    assert [s["user_agent"] for s in listed] == ["Firefox 120 on Linux", "curl 8.5.0"]
    for s in listed:
        assert set(s) == {"id", "created", "last_seen", "expires", "user_agent", "current"}
        assert re.fullmatch(r"[0-9a-f]{24}", s["id"])
        for field in ("created", "last_seen", "expires"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s[field])
        assert s["created"] <= s["last_seen"] < s["expires"]
    assert cli not in r.body.decode() and laptop not in r.body.decode(), "no secret in the list"
    # The query string is ignored, like on every endpoint.
    assert e.request("/sessions?x=1", headers=with_session(cli)).json() == listed
    assert e.request("/sessions").status == 401
    assert e.request("/sessions", headers=with_session("E" * 43)).status == 401


def test_ending_one_of_your_sessions_is_seen_by_every_proxy_and_others_are_404(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    other_proxy = make_envoy(sidecar=sidecar)
    phone = login_as(e, idp, "auth0|jane", FIREFOX)
    laptop = login_as(e, idp, "auth0|jane", "curl/8.5.0")
    kim = login_as(e, idp, "auth0|kim", "curl/8.5.0")
    assert other_proxy.request("/x", headers=with_session(phone)).status == 200  # restored there
    kims_id = sessions(e, kim).json()[0]["id"]
    phone_id = next(s["id"] for s in sessions(e, laptop).json() if not s["current"])

    r = e.request(f"/sessions/{kims_id}", method="DELETE", headers=with_session(laptop))
    assert r.status == 404 and r.json()["error"] == "not_found", r
    unknown = e.request("/sessions/00ff00ff00ff00ff00ff00ff", method="DELETE", headers=with_session(laptop))
    assert (unknown.status, unknown.body) == (r.status, r.body), "no oracle: the same answer"
    assert e.request("/x", headers=with_session(kim)).status == 200

    r = e.request(f"/sessions/{phone_id}", method="DELETE", headers=with_session(laptop))
    assert r.status == 200 and r.json() == {"ended": 1}, r
    assert e.request("/x", headers=with_session(phone)).status == 401, "dropped here at once"
    refused_within_bound(other_proxy, phone)
    assert e.request("/x", headers=with_session(laptop)).status == 200
    assert e.request(f"/sessions/{phone_id}", method="DELETE", headers=with_session(laptop)).status == 404


def test_logout_others_keeps_only_this_session(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    others = [login_as(e, idp, "auth0|lena", "curl/8.5.0") for _ in range(3)]
    this = login_as(e, idp, "auth0|lena", FIREFOX)
    r = e.request("/sessions/logout-others", method="POST", headers=with_session(this, **{"Sec-Fetch-Site": "same-origin"}))
    assert r.status == 200 and r.json() == {"ended": 3}, r
    for secret in others:
        assert e.request("/x", headers=with_session(secret)).status == 401
    assert [s["current"] for s in sessions(e, this).json()] == [True]


def test_ending_your_own_current_session_clears_its_cookie(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    secret = login_as(e, idp, "auth0|mira", FIREFOX)
    own_id = sessions(e, secret).json()[0]["id"]
    r = e.request(f"/sessions/{own_id}", method="DELETE", headers=with_session(secret))
    assert r.status == 200, r
    assert any("Max-Age=0" in c for c in r.all("set-cookie")), r.headers
    assert e.request("/x", headers=with_session(secret)).status == 401


def test_no_cross_site_request_can_end_sessions(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    victim = login_as(e, idp, "auth0|nora", FIREFOX)
    other = login_as(e, idp, "auth0|nora", "curl/8.5.0")
    other_id = next(s["id"] for s in sessions(e, victim).json() if not s["current"])
    origin = f"http://127.0.0.1:{e.port}"
    attempts = [
        ("POST", "/sessions/logout-others", {"Sec-Fetch-Site": "cross-site"}),
        ("POST", "/sessions/logout-others", {"Sec-Fetch-Site": "same-site"}),
        ("POST", "/sessions/logout-others", {"Origin": "https://evil.example"}),
        ("POST", "/sessions/logout-others", {"Origin": "null"}),
        ("DELETE", f"/sessions/{other_id}", {"Sec-Fetch-Site": "cross-site", "Origin": origin}),
        ("DELETE", f"/sessions/{other_id}", {"Origin": "https://evil.example"}),
    ]
    for method, path, headers in attempts:
        r = e.request(path, method=method, headers=with_session(victim, **headers))
        assert r.status == 403 and r.json()["error"] == "cross_site_request", (method, headers, r)
    assert len(sessions(e, victim).json()) == 2, "nothing ended"
    ok = e.request("/sessions/logout-others", method="POST", headers=with_session(victim, Origin=origin))
    assert ok.status == 200 and ok.json() == {"ended": 1}, ok
    assert e.request("/x", headers=with_session(other)).status == 401


def test_wrong_methods_and_paths(make_envoy, sidecar, idp):
    e = make_envoy(sidecar=sidecar)
    secret = login_as(e, idp, "auth0|olga", FIREFOX)
    for method, path, allow in [("POST", "/sessions", "GET"), ("DELETE", "/sessions", "GET"),
                                ("GET", "/sessions/logout-others", "POST"), ("GET", "/sessions/abcdef", "DELETE")]:
        r = e.request(path, method=method, headers=with_session(secret))
        assert r.status == 405 and r.header("allow") == allow, (method, path, r)
    for path in ("/sessions/not-an-id", "/sessions/ab/cd"):
        assert e.request(path, method="DELETE", headers=with_session(secret)).status == 404


def test_without_a_sidecar_the_path_is_the_apps(make_envoy, idp):
    e = make_envoy()
    secret = login_as(e, idp, "auth0|pia", FIREFOX)
    r = e.request("/sessions", headers=with_session(secret))
    assert r.status == 200 and r.json()["path"] == "/sessions", "forwarded to the app"
