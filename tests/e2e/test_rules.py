"""Authorization per route through a real Envoy: ordered rules on the permissions and roles
that tokens carry (JWT login; code flow and device login in their own tests below), 401/403
answers, forwarding of permissions and roles, restored sessions, and the path spellings the
filter refuses whatever Envoy's own normalization."""

import pytest

from harness import STATS, Envoy, plugin_config
from helpers import bearer, login, with_session

ROLES = "https://app.example/roles"

RULES = [
    {"path": "/admin/", "allow": {"roles": ["admin"]}},
    {"path": "/api/internal/", "allow": "deny"},
    {"path": "/api/", "methods": ["POST", "PUT", "DELETE"], "allow": {"permissions": ["write:data"]}},
    {"path": "/api/", "allow": {"permissions": ["read:data"]}},
    {"path": "/docs/", "methods": ["GET"], "allow": "public"},
]


def rules_config(idp, **extra):
    return plugin_config(
        idp,
        auth0__scope=None,
        auth0__roles_claim=ROLES,
        rules=RULES,
        headers={"x-auth-user": "sub", "x-auth-permissions": "permissions", "x-auth-roles": "roles"},
        **extra,
    )


def start(idp, app, **kw):
    config = rules_config(idp)
    config["auth0"] = {k: v for k, v in config["auth0"].items() if v is not None}
    return Envoy(config, idp.port, app.port, **kw).start()


@pytest.fixture(scope="module")
def ruled(idp, app):
    e = start(idp, app)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def raw(idp, app):
    """Envoy without normalize_path and merge_slashes: the filter alone settles paths."""
    e = start(idp, app, normalize=False)
    yield e
    e.stop()


def token(idp, sub, permissions=None, roles=None, scope="openid profile email"):
    claims = {"scope": scope}
    if permissions is not None:
        claims["permissions"] = permissions
    if roles is not None:
        claims[ROLES] = roles
    return idp.jwt(sub=sub, **claims)


# (who, permissions, roles) -> the status of each request below
USERS = {
    "reader": (["read:data"], []),
    "writer": (["read:data", "write:data"], []),
    "admin": ([], ["admin"]),
    "nobody": ([], ["viewer"]),
}
TABLE = [
    # method, path,                  reader writer admin nobody anonymous
    ("GET", "/api/items", 200, 200, 403, 403, 401),
    ("POST", "/api/items", 403, 200, 403, 403, 401),
    ("DELETE", "/api/items/7", 403, 200, 403, 403, 401),
    ("GET", "/api/internal/x", 403, 403, 403, 403, 403),
    ("GET", "/admin/", 403, 403, 200, 403, 401),
    ("POST", "/admin/users", 403, 403, 200, 403, 401),
    ("GET", "/docs/intro", 200, 200, 200, 200, 200),
    ("POST", "/docs/intro", 200, 200, 200, 200, 401),
    ("GET", "/elsewhere", 200, 200, 200, 200, 401),
    ("GET", "/healthz", 200, 200, 200, 200, 200),
]


def test_each_user_reaches_what_their_token_grants(ruled, idp):
    secrets = {who: login(ruled, token(idp, f"auth0|{who}", p, r)) for who, (p, r) in USERS.items()}
    for method, path, *expected in TABLE:
        for who, want in zip([*USERS, "anonymous"], expected):
            headers = with_session(secrets[who]) if who in secrets else {}
            r = ruled.request(path, method=method, headers=headers)
            assert r.status == want, f"{who} {method} {path}: {r.status} {r.body[:200]}"
            if want == 200 and who in secrets and path != "/healthz" and not path.startswith("/docs/"):
                assert r.json()["headers"]["x-auth-user"] == [f"auth0|{who}"]


def test_a_refusal_names_what_is_missing(ruled, idp):
    secret = login(ruled, token(idp, "auth0|reader2", ["read:data"]))
    r = ruled.request("/api/items", method="POST", headers=with_session(secret))
    assert r.status == 403
    assert r.json()["error"] == "insufficient_permissions"
    assert r.json()["missing"] == {"permissions": ["write:data"]}
    r = ruled.request("/admin/", headers=with_session(secret))
    assert (r.status, r.json()["missing"]) == (403, {"one_of_roles": ["admin"]})
    r = ruled.request("/api/internal/x", headers=with_session(secret))
    assert (r.status, r.json()["error"]) == (403, "forbidden")
    assert ruled.stat(STATS + "forbidden") >= 3


def test_permissions_fall_back_to_scope_and_are_forwarded(ruled, idp):
    secret = login(ruled, token(idp, "auth0|scoped", permissions=None, scope="openid read:data"))
    r = ruled.request("/api/items", headers=with_session(secret, **{"x-auth-roles": "admin"}))
    assert r.status == 200, r.body
    seen = r.json()["headers"]
    assert seen["x-auth-permissions"] == ["openid read:data"]
    assert "x-auth-roles" not in seen, "a client-sent roles header never reaches the app"


def test_a_restored_session_keeps_its_permissions(make_envoy, sidecar, idp):
    config = rules_config(idp)
    envoy = make_envoy(sidecar=sidecar, **{k: v for k, v in config.items() if k != "auth0"},
                       auth0__scope=None, auth0__roles_claim=ROLES)
    secret = login(envoy, token(idp, "auth0|durable", ["read:data"], ["admin"]))
    assert envoy.request("/api/items", headers=with_session(secret)).status == 200
    envoy.restart()
    assert envoy.request("/api/items", method="POST", headers=with_session(secret)).status == 403
    assert envoy.stat(STATS + "sidecar.restored") == 1
    assert envoy.request("/admin/", headers=with_session(secret)).status == 200
    assert envoy.request("/api/items", headers=with_session(secret)).status == 200


# Spellings that name a resource behind a rule on some server; the filter refuses each with
# 400 invalid_path, with or without Envoy's normalize_path / merge_slashes in front of it.
BYPASSES = [
    "/docs/..;/admin/",
    "/docs/..;/api/internal/x",
    "/api/internal;jsessionid=0123/x",
    "/admin;/users",
    "/docs/%2e%2e/admin/",
    "/docs/%2E%2E/admin/",
    "/docs/.%2e/admin/",
    "/docs/..%2fadmin/",
    "/docs/..%2Fadmin/",
    "/docs/..%5cadmin/",
    "/docs/..%5Cadmin/",
    "/docs/%252e%252e/admin/",
    "/docs/..%252fadmin/",
    "/api/internal%00.json",
    "/docs/%c0%ae%c0%ae/admin/",
    "/docs/..%c0%afadmin/",
    "/docs/%zz",
]
# Only without Envoy's normalization: with it, Envoy settles these itself first.
RAW_ONLY = ["/docs/../admin/", "/docs/./x", "/docs/x/..", "/docs\\..\\admin/"]


@pytest.mark.parametrize("path", BYPASSES + RAW_ONLY)
def test_bypass_spellings_are_refused_by_the_filter_itself(raw, path):
    for method in ["GET", "POST"]:
        r = raw.request(path, method=method)
        assert r.status == 400, f"{method} {path}: {r.status} {r.body[:200]}"
        assert r.json()["error"] == "invalid_path", r.body


@pytest.mark.parametrize("path", BYPASSES)
def test_bypass_spellings_never_reach_a_resource_behind_a_rule_with_envoys_normalization(ruled, idp, path):
    """With normalize_path on, Envoy settles some spellings itself (`..;` and `%2e%2e` resolve to
    `/admin/`, whose rule then applies: 403); the filter refuses the rest (400). A reader of
    `/docs/` never gets through to `/admin/` or `/api/internal/`."""
    secret = login(ruled, token(idp, "auth0|reader3", ["read:data"]))
    r = ruled.request(path, headers=with_session(secret))
    assert r.status in (400, 403), f"{path}: {r.status} {r.body[:200]}"


def test_settled_spellings_meet_the_rule_of_the_path_they_name(raw, idp):
    secret = login(raw, token(idp, "auth0|reader4", ["read:data"]))
    for path, want in [
        ("/%61dmin/", 403),
        ("//admin/", 403),
        ("/api//internal/x", 403),
        ("/api/%69nternal/x", 403),
        ("/api/items?x=/../;", 200),
        ("/docs/%69ntro", 200),
    ]:
        r = raw.request(path, headers=with_session(secret))
        assert r.status == want, f"{path}: {r.status} {r.body[:200]}"
    anonymous = raw.request("/%64ocs/intro")
    assert anonymous.status == 200 and anonymous.json()["path"] == "/%64ocs/intro", "forwarded as received"


# -- the code flow and the device login take permissions and roles from their access token ----

@pytest.fixture(scope="module")
def ruled_web(idp, app):
    config = rules_config(idp, code_flow={"client_id": "web-app"}, device={"client_id": "cli-app"})
    e = Envoy(config, idp.port, app.port).start()
    yield e
    e.stop()


@pytest.mark.parametrize("permissions, roles, expected", [
    (["read:data"], [], {"/api/items": 200, "/admin/": 403}),
    ([], ["admin"], {"/api/items": 403, "/admin/": 200}),
    (["read:data", "write:data"], ["admin"], {"/api/items": 200, "/admin/": 200}),
])
def test_a_code_flow_session_gets_its_access_tokens_permissions_and_roles(ruled_web, idp, permissions, roles, expected):
    from test_code_flow import Browser
    idp.login_as = "auth0|browser-user"
    idp.access_token_overrides = {"permissions": permissions, ROLES: roles}
    b = Browser(ruled_web, idp)
    first = b.get("/admin/")
    assert first.status == 302, "a navigation without a session is sent to log in, whatever the rule"
    r = b.callback(b.authorize(first.header("location")))
    assert (r.status, r.header("location")) == (302, "/admin/")
    for path, status in expected.items():
        page = b.get(path)
        assert page.status == status, f"{path}: {page.status} {page.body[:200]}"
    seen = b.get("/elsewhere").json()["headers"]
    if permissions:
        assert seen["x-auth-permissions"] == [" ".join(permissions)]
    else:
        assert "x-auth-permissions" not in seen


def test_a_device_session_gets_its_access_tokens_permissions(ruled_web, idp):
    import time
    idp.login_as = "auth0|device-user"
    idp.access_token_overrides = {"permissions": ["read:data"], ROLES: ["viewer"]}
    s = ruled_web.request("/device/start", method="POST", body=b"").json()
    idp.device_state(s["user_code"], "approved")
    time.sleep(1.05)
    r = ruled_web.request("/device/poll", method="POST", body=b"", headers={"Authorization": f"Device {s['handle']}"})
    assert r.status == 200, r.body
    auth = {"Authorization": f"Session {r.json()['value']}"}
    assert ruled_web.request("/api/items", headers=auth).status == 200
    assert ruled_web.request("/api/items", method="POST", headers=auth).status == 403
    assert ruled_web.request("/admin/", headers=auth).json()["missing"] == {"one_of_roles": ["admin"]}
