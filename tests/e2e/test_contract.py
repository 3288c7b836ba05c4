"""Every row of the HTTP contract (docs/http-contract.md), against a real Envoy running the built filter."""

import json

from helpers import bearer, error_code, login, with_session


# --- login ----------------------------------------------------------------------------------

def test_login_with_jwt_answers_the_session_body_and_cookie(envoy, idp):
    r = envoy.request("/authorize", headers=bearer(idp.jwt()))
    assert r.status == 200, r
    body = r.json()
    assert set(body) == {"name", "value", "domain", "path", "secure", "httponly", "expires", "inactive_lifetime"}
    assert body["name"] == "session" and body["path"] == "/" and body["domain"] is None
    assert body["httponly"] is True and body["secure"] is False  # the test config sets secure: false
    assert body["inactive_lifetime"] == 3600
    assert body["expires"].endswith("Z") and "T" in body["expires"]
    assert len(body["value"]) == 43
    cookie = r.header("set-cookie")
    assert cookie.startswith(f"session={body['value']}; ")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=2592000" in cookie
    assert r.header("cache-control") == "no-store"


def test_every_login_gets_a_new_secret(envoy, idp):
    token = idp.jwt()
    assert login(envoy, token) != login(envoy, token)


def test_login_accepts_post_and_the_bare_token(envoy, idp):
    token = idp.jwt()
    assert envoy.request("/authorize", method="POST", headers=bearer(token), body=b"{}").status == 200
    assert envoy.request("/authorize", headers={"Authorization": token}).status == 200
    assert envoy.request("/authorize?next=/x", headers=bearer(token)).status == 200


def test_login_refuses_other_methods(envoy, idp):
    r = envoy.request("/authorize", method="PUT", headers=bearer(idp.jwt()))
    assert r.status == 405 and error_code(r) == "method_not_allowed"


def test_login_refusals_are_401_with_a_stable_code(envoy, idp):
    other_key_same_kid = __import__("idp").SigningKey(idp.key.kid)
    cases = {
        "missing": {},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed": bearer("not.a.jwt.at"),
        "bad signature": bearer(idp.jwt(key=other_key_same_kid)),
        "expired": bearer(idp.jwt(exp=1_000_000)),
        "wrong iss": bearer(idp.jwt(iss="https://tenant.test")),
        "wrong aud": bearer(idp.jwt(aud="https://someone-else/")),
        "no exp": bearer(idp.jwt(exp=None)),
    }
    for name, headers in cases.items():
        r = envoy.request("/authorize", headers=headers)
        assert r.status == 401, (name, r)
        assert error_code(r) == "invalid_token", name
        assert r.header("www-authenticate") == 'Bearer error="invalid_token"', name
        assert "set-cookie" not in [k.lower() for k, _ in r.headers], name
        token = headers.get("Authorization", "")[7:]
        if len(token) > 20:
            assert token not in r.body.decode(), "error bodies never echo tokens"


def test_login_without_the_required_scope_is_403(envoy, idp):
    r = envoy.request("/authorize", headers=bearer(idp.jwt(scope="openid profile")))
    assert r.status == 403
    assert error_code(r) == "insufficient_scope"
    assert r.header("www-authenticate") == 'Bearer error="insufficient_scope"'


# Opaque tokens log in only with auth0.accept_opaque and no auth0.scope (issue 11 item 1).
OPAQUE_OK = {"auth0__scope": None, "auth0__accept_opaque": True}


def test_opaque_token_is_checked_with_userinfo_once(make_envoy, idp, app):
    envoy = make_envoy(**OPAQUE_OK)
    before = idp.hits["userinfo"]
    secret = login(envoy, idp.opaque(sub="auth0|olivia", email="olivia@example.com"))
    assert idp.hits["userinfo"] == before + 1
    seen = envoy.request("/whoami", headers=with_session(secret)).json()["headers"]
    assert seen["x-auth-user"] == ["auth0|olivia"]
    assert seen["x-auth-email"] == ["olivia@example.com"]
    for _ in range(5):
        envoy.request("/whoami", headers=with_session(secret))
    assert idp.hits["userinfo"] == before + 1, "never per request"
    r = envoy.request("/authorize", headers=bearer("unknownOpaqueToken"))
    assert r.status == 401 and error_code(r) == "invalid_token"


def test_opaque_tokens_are_refused_without_accept_opaque_or_with_a_scope(make_envoy, idp):
    """Any openid token of the tenant passes /userinfo, whatever it was issued for: without
    accept_opaque it is refused (401), and with a scope required always (403), unasked."""
    default = make_envoy(auth0__scope=None)
    scoped = make_envoy(auth0__accept_opaque=True)  # and the tests' scope, read:data
    before = idp.hits["userinfo"]
    r = default.request("/authorize", headers=bearer(idp.opaque()))
    assert r.status == 401 and error_code(r) == "invalid_token", r
    r = scoped.request("/authorize", headers=bearer(idp.opaque()))
    assert r.status == 403 and error_code(r) == "insufficient_scope", r
    assert r.header("www-authenticate") == 'Bearer error="insufficient_scope"'
    assert idp.hits["userinfo"] == before, "refused without asking /userinfo"


def test_jwt_profile_from_userinfo_only_when_its_audience_allows(envoy, idp):
    before = idp.hits["userinfo"]
    with_userinfo = idp.jwt(sub="auth0|u1", email="from-userinfo@example.com")
    secret = login(envoy, with_userinfo)
    assert idp.hits["userinfo"] == before + 1
    seen = envoy.request("/x", headers=with_session(secret)).json()["headers"]
    assert seen["x-auth-email"] == ["from-userinfo@example.com"]

    # Claims carry the email when /userinfo is not in the audience.
    api_only = idp.sign_jwt({"alg": "RS256", "kid": idp.key.kid},
                            idp.claims("auth0|u2", aud=idp.audience, email="claims@example.com"))
    secret = login(envoy, api_only)
    assert idp.hits["userinfo"] == before + 1, "no /userinfo call for an API-only token"
    seen = envoy.request("/x", headers=with_session(secret)).json()["headers"]
    assert seen["x-auth-email"] == ["claims@example.com"]


# --- requests with and without a session -----------------------------------------------

def test_protected_request_with_session_gets_identity_and_loses_the_cookie(envoy, idp):
    secret = login(envoy, idp.jwt(sub="auth0|alice", email="alice@example.com"))
    r = envoy.request("/api/data?x=1", headers={
        "Cookie": f"theme=dark; session={secret}; lang=en",
        "X-Auth-User": "auth0|admin",
        "x-auth-email": "admin@example.com",
    })
    assert r.status == 200, r
    seen = r.json()
    assert seen["path"] == "/api/data?x=1"
    assert seen["headers"]["x-auth-user"] == ["auth0|alice"], "client-sent identity replaced"
    assert seen["headers"]["x-auth-email"] == ["alice@example.com"]
    assert seen["headers"]["cookie"] == ["theme=dark; lang=en"]
    assert secret not in json.dumps(seen)


def test_only_cookie_is_removed_entirely(envoy, idp):
    secret = login(envoy, idp.jwt())
    seen = envoy.request("/x", headers=with_session(secret)).json()["headers"]
    assert "cookie" not in seen


def test_protected_request_without_session_is_401(envoy):
    for headers in [{}, {"Cookie": "session=nope"}, {"Cookie": "session=" + "A" * 43},
                    {"Cookie": "other=1"}, {"x-auth-user": "auth0|admin"}]:
        r = envoy.request("/api/data", headers=headers)
        assert r.status == 401, (headers, r)
        assert r.json() == {"error": "unauthorized", "message": "no valid session"}


def test_public_paths_need_no_session_and_strip_identity_headers(envoy, idp):
    secret = login(envoy, idp.jwt())
    for path in ["/healthz", "/healthz?verbose=1", "/static/app.js"]:
        r = envoy.request(path, headers={"x-auth-user": "auth0|admin", "x-auth-email": "a@b"})
        assert r.status == 200, (path, r)
        seen = r.json()["headers"]
        assert "x-auth-user" not in seen and "x-auth-email" not in seen, path
    seen = envoy.request("/static/x", headers=with_session(secret, **{"x-auth-user": "evil"})).json()["headers"]
    assert "x-auth-user" not in seen, "public paths never carry identity, even with a session"
    assert "cookie" not in seen, "the app never sees the session secret"


def test_traversal_out_of_a_public_prefix_is_protected(envoy):
    assert envoy.request("/static/../api/data").status == 401
    assert envoy.request("/static/%2e%2e/api").status == 401


# --- keep-alive and logout -------------------------------------------------------------

def test_keep_alive_reports_and_slides_the_idle_deadline(envoy, idp):
    secret = login(envoy, idp.jwt())
    r = envoy.request("/ping", headers=with_session(secret))
    assert r.status == 200, r
    body = r.json()
    assert set(body) == {"expires", "idle_expires", "inactive_lifetime"}
    assert body["inactive_lifetime"] == 3600
    assert body["idle_expires"] < body["expires"]
    assert envoy.request("/ping", method="POST", headers=with_session(secret)).status == 200


def test_keep_alive_without_session_is_401(envoy):
    r = envoy.request("/ping")
    assert r.status == 401 and error_code(r) == "unauthorized"


def test_logout_ends_the_session_and_clears_the_cookie(envoy, idp):
    secret = login(envoy, idp.jwt())
    assert envoy.request("/x", headers=with_session(secret)).status == 200
    r = envoy.request("/logout", method="POST", headers=with_session(secret))
    assert r.status == 200 and r.json() == {"logged_out": True}
    cleared = r.header("set-cookie")
    assert cleared.startswith("session=; ") and "Max-Age=0" in cleared
    assert envoy.request("/x", headers=with_session(secret)).status == 401
    assert envoy.request("/ping", headers=with_session(secret)).status == 401
    again = envoy.request("/logout", method="POST", headers=with_session(secret))
    assert again.status == 200 and again.json() == {"logged_out": False}


def test_endpoint_paths_match_exactly(envoy, idp):
    token = idp.jwt()
    for path in ["/authorize/", "/Authorize", "/authorizex"]:
        r = envoy.request(path, headers=bearer(token))
        assert r.status == 401 and error_code(r) == "unauthorized", path
