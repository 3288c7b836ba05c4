"""NGINX (Debian's, with nginx/nginx.conf) in front of the app, every request checked by the
auth service of session-sidecar through auth_request: the same logins, sessions, logout,
revocation and headers as the wasm filter."""

import json
import subprocess
import time
import urllib.parse

import pytest

from helpers import bearer, error_code, login, with_session
from native import EXT_AUTHZ_YAML, NGINX, Nginx
from harness import ENVOY

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(params=["nginx", "ext_authz"])
def stack(request, make_native):
    """(service, proxy) for each proxy kind: what holds for one holds for the other."""
    return make_native(request.param)


def test_the_users_configs_are_valid():
    n = Nginx(auth_port=9701, app_port=3000)
    out = n.check_config()
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    out = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(EXT_AUTHZ_YAML), "-l", "warning"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deprecated" not in (out.stdout + out.stderr).lower(), "no deprecated option in the users' file"


def test_a_broken_nginx_conf_is_refused():
    """The validity test can fail: a config NGINX refuses is reported as refused."""
    n = Nginx(auth_port=9701, app_port=3000)
    n.conf.write_text(n.conf.read_text().replace("auth_request /_auth/nginx;", "auth_request;"))
    assert n.check_config().returncode != 0


def test_token_login_then_the_app_sees_the_identity_and_never_the_cookie(stack, loopback_idp):
    service, proxy = stack
    secret = login(proxy, loopback_idp.jwt(sub="auth0|ngx", email="ngx@example.com"))
    r = proxy.request("/reports?q=1", headers={"Cookie": f"theme=dark; session={secret}; lang=en"})
    assert r.status == 200, r
    seen = r.json()
    assert seen["path"] == "/reports?q=1"
    assert seen["headers"]["x-auth-user"] == ["auth0|ngx"]
    assert seen["headers"]["x-auth-email"] == ["ngx@example.com"]
    assert seen["headers"]["cookie"] == ["theme=dark; lang=en"], "only the session cookie is taken out"
    # The only cookie: no Cookie header at all.
    seen = proxy.request("/x", headers=with_session(secret)).json()["headers"]
    assert "cookie" not in seen and seen["x-auth-user"] == ["auth0|ngx"]


def test_no_session_is_the_cores_401_json(stack):
    _, proxy = stack
    for headers in [{}, with_session("E" * 43), {"Authorization": "Session nope"}]:
        r = proxy.request("/x", headers=headers)
        assert r.status == 401, r
        assert error_code(r) == "unauthorized"
        assert r.header("cache-control") == "no-store"


def test_authorization_session_is_accepted_and_never_forwarded(stack, loopback_idp):
    _, proxy = stack
    secret = login(proxy, loopback_idp.jwt(sub="auth0|cli"))
    seen = proxy.request("/x", headers={"Authorization": f"Session {secret}"}).json()["headers"]
    assert seen["x-auth-user"] == ["auth0|cli"]
    assert "authorization" not in seen
    # Another scheme is the app's business: it passes.
    seen = proxy.request("/x", headers={"Authorization": f"Session {secret}", "Cookie": f"session={secret}"}).json()
    assert seen["headers"]["x-auth-user"] == ["auth0|cli"]


def test_keep_alive_then_logout_ends_the_session(stack, loopback_idp):
    _, proxy = stack
    secret = login(proxy, loopback_idp.jwt(sub="auth0|bye"))
    r = proxy.request("/ping", headers=with_session(secret))
    assert r.status == 200, r
    assert set(r.json()) >= {"expires", "idle_expires", "inactive_lifetime"}
    r = proxy.request("/logout", method="POST", headers=with_session(secret))
    assert r.status == 200 and r.json()["logged_out"] is True, r
    assert "Max-Age=0" in r.header("set-cookie")
    assert proxy.request("/x", headers=with_session(secret)).status == 401
    assert proxy.request("/ping", headers=with_session(secret)).status == 401


def test_a_users_own_sessions_through_the_proxy(stack, loopback_idp):
    _, proxy = stack
    first = login(proxy, loopback_idp.jwt(sub="auth0|many"))
    second = login(proxy, loopback_idp.jwt(sub="auth0|many"))
    r = proxy.request("/sessions", headers=with_session(second))
    assert r.status == 200, r
    listed = r.json()
    listed = listed["sessions"] if isinstance(listed, dict) else listed
    assert len(listed) == 2 and sum(1 for s in listed if s["current"]) == 1, listed
    assert proxy.request("/sessions/logout-others", method="POST", headers=with_session(second)).status == 200
    assert proxy.request("/x", headers=with_session(first)).status == 401
    assert proxy.request("/x", headers=with_session(second)).status == 200


def test_public_paths_pass_without_a_session_and_without_the_cookie(stack, loopback_idp):
    _, proxy = stack
    secret = login(proxy, loopback_idp.jwt())
    seen = proxy.request("/static/app.js", headers={"Cookie": f"session={secret}; a=1",
                                                    "X-Auth-User": "auth0|admin"}).json()["headers"]
    assert seen["cookie"] == ["a=1"]
    assert "x-auth-user" not in seen


def test_client_sent_identity_headers_never_reach_the_app(stack, loopback_idp):
    _, proxy = stack
    secret = login(proxy, loopback_idp.jwt(sub="auth0|real"))
    conn = proxy.connect()
    conn.putrequest("GET", "/x")
    for name, value in [("x-auth-user", "a"), ("X-AUTH-USER", "b"), ("x-auth-email", "root@example.com"),
                        ("Cookie", f"session={secret}")]:
        conn.putheader(name, value)
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 200, body
    seen = json.loads(body)["headers"]
    assert seen["x-auth-user"] == ["auth0|real"]
    assert seen.get("x-auth-email") != ["root@example.com"]
    # The underscore spelling: dropped (NGINX) or refused (Envoy), never forwarded.
    r = proxy.request("/x", headers={"x_auth_user": "auth0|admin", "Cookie": f"session={secret}"})
    assert r.status in (200, 400), r
    if r.status == 200:
        assert "x_auth_user" not in r.json()["headers"]


def test_endpoints_refuse_other_methods(stack):
    _, proxy = stack
    for path in ["/authorize", "/logout", "/ping"]:
        r = proxy.request(path, method="DELETE")
        assert r.status == 405, (path, r)


def test_admin_revocation_is_seen_within_seconds(stack, loopback_idp):
    service, proxy = stack
    secret = login(proxy, loopback_idp.jwt(sub="auth0|revoked"))
    assert proxy.request("/x", headers=with_session(secret)).status == 200
    status, _ = service.admin("DELETE", "/admin/users/auth0%7Crevoked/sessions")
    assert status == 200
    deadline = time.time() + 5
    while proxy.request("/x", headers=with_session(secret)).status != 401:
        assert time.time() < deadline, "revocation not seen within 5 s"
        time.sleep(0.2)


def service_metrics(service) -> dict:
    import urllib.request
    from harness import ADMIN_TOKEN
    req = urllib.request.Request(f"http://127.0.0.1:{service.port}/metrics",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        lines = r.read().decode().splitlines()
    return {l.split()[0]: int(l.split()[1]) for l in lines if l and not l.startswith("#")}


def test_the_services_stats_are_on_the_sidecars_metrics(stack, loopback_idp):
    """The service counts what the filter counts (logins, refusals, keys), listed on the
    sidecar's /metrics beside the store's rows."""
    service, proxy = stack
    before = service_metrics(service)
    assert before["session_sidecar_auth_jwks_fetch_ok_total"] >= 1, before
    login(proxy, loopback_idp.jwt(sub="auth0|counted"))
    assert proxy.request("/x").status == 401
    after = service_metrics(service)
    assert after["session_sidecar_auth_login_ok_total"] == before["session_sidecar_auth_login_ok_total"] + 1
    assert after["session_sidecar_auth_rejected_total"] > before["session_sidecar_auth_rejected_total"]
    assert "session_sidecar_auth_sessions_live" in after, "gauges keep their name"
    assert after["session_sidecar_logins_total"] >= 1, "the store's own rows are still there"


def test_sessions_outlive_a_restart_of_the_service(make_native, loopback_idp):
    service, proxy = make_native("nginx")
    secret = login(proxy, loopback_idp.jwt(sub="auth0|durable"))
    service.stop()
    service.start()
    r = proxy.request("/x", headers=with_session(secret))
    assert r.status == 200, r
    assert r.json()["headers"]["x-auth-user"] == ["auth0|durable"]


def test_code_flow_round_trip_through_the_proxy(make_native, loopback_idp):
    idp = loopback_idp
    for kind in ["nginx", "ext_authz"]:
        _, proxy = make_native(kind, code_flow={"client_id": "web-app"})
        jar = {}

        def get(path, accept=HTML):
            h = {"Accept": accept}
            if jar:
                h["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            r = proxy.request(path, headers=h)
            for value in r.all("set-cookie"):
                name, _, v = value.split(";")[0].partition("=")
                if "Max-Age=0" in value:
                    jar.pop(name, None)
                else:
                    jar[name] = v
            return r

        r = get("/reports/2026?tab=q3")
        assert r.status == 302, (kind, r)
        location = r.header("location")
        assert location.startswith(f"{idp.issuer}authorize?"), location
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        assert query["redirect_uri"] == f"http://127.0.0.1:{proxy.port}/callback", kind
        assert any(name.startswith("session_login_") for name in jar), "the per-login cookie"
        # An API call without a session is still a 401, not a redirect.
        assert proxy.request("/api/x", headers={"Accept": "application/json"}).status == 401

        import http.client
        url = urllib.parse.urlsplit(location)
        conn = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
        conn.request("GET", f"{url.path}?{url.query}")
        back = conn.getresponse()
        back.read()
        conn.close()
        back = urllib.parse.urlsplit(back.getheader("location"))
        r = get(f"{back.path}?{back.query}")
        assert r.status == 302, (kind, r)
        assert r.header("location") == "/reports/2026?tab=q3"
        assert "session" in jar
        r = get("/reports/2026?tab=q3")
        assert r.status == 200, (kind, r)
        assert r.json()["headers"]["x-auth-user"] == [idp.login_as]


def test_device_login_through_the_proxy(make_native, loopback_idp):
    idp = loopback_idp
    idp.login_as = "auth0|device-user"
    _, proxy = make_native("nginx", device={"client_id": "cli-app"})
    r = proxy.request("/device/start", method="POST", body=b"")
    assert r.status == 200, r
    started = r.json()
    poll = {"Authorization": f"Device {started['handle']}"}
    time.sleep(1.05)
    r = proxy.request("/device/poll", method="POST", body=b"", headers=poll)
    assert (r.status, r.json()) == (200, {"status": "pending", "interval": 1})
    idp.device_state(started["user_code"], "approved")
    time.sleep(1.05)
    r = proxy.request("/device/poll", method="POST", body=b"", headers=poll)
    assert r.status == 200, r
    secret = r.json()["value"]
    seen = proxy.request("/x", headers={"Authorization": f"Session {secret}"}).json()["headers"]
    assert seen["x-auth-user"] == ["auth0|device-user"]
    assert "authorization" not in seen


def test_a_check_about_an_endpoint_path_is_refused_not_run(make_native, loopback_idp):
    """A proxy that checks an endpoint path instead of routing it to the service would let
    the app answer after a login or logout ran: the service refuses such a check."""
    import http.client
    service, _ = make_native("nginx")
    conn = http.client.HTTPConnection("127.0.0.1", service.auth_port, timeout=10)
    conn.request("GET", "/_auth/nginx", headers={"X-Original-Method": "GET", "X-Original-URI": "/logout"})
    r = conn.getresponse()
    assert r.status == 500 and b"misconfigured" in r.read()
    conn.request("GET", "/_auth/nginx", headers={"X-Original-URI": "/x"})
    r = conn.getresponse()
    assert r.status == 500 and b"X-Original-Method" in r.read()
    conn.close()


def test_one_session_across_nginx_and_a_wasm_envoy_on_the_same_store(make_native, loopback_idp, app):
    """A session made through NGINX works through an Envoy running the wasm filter on the
    same store, and the other way round; a logout on either is seen on the other within 5 s."""
    from harness import SIDECAR_TOKEN, Envoy
    from conftest import native_config
    keys = ["cross-host-signing-key-0123456789abcdef"]
    cookie = {"cookie": {"secure": False, "signing_keys": keys}}
    service, nginx = make_native("nginx", session=cookie)
    envoy = Envoy(native_config(loopback_idp, session=cookie,
                                sidecar={"cluster": "session_sidecar", "token": SIDECAR_TOKEN}),
                  loopback_idp.port, app.port, sidecar_port=service.port).start()
    try:
        via_nginx = login(nginx, loopback_idp.jwt(sub="auth0|n"))
        via_envoy = login(envoy, loopback_idp.jwt(sub="auth0|e"))
        for front, secret, sub in [(envoy, via_nginx, "auth0|n"), (nginx, via_envoy, "auth0|e"),
                                   (nginx, via_nginx, "auth0|n"), (envoy, via_envoy, "auth0|e")]:
            r = front.request("/x", headers=with_session(secret))
            assert r.status == 200, (front, sub, r)
            assert r.json()["headers"]["x-auth-user"] == [sub]

        def ended_on(front, secret):
            deadline = time.time() + 5
            while front.request("/x", headers=with_session(secret)).status != 401:
                assert time.time() < deadline, f"a logout elsewhere not seen through {front} within 5 s"
                time.sleep(0.1)

        assert envoy.request("/logout", method="POST", headers=with_session(via_nginx)).status == 200
        ended_on(nginx, via_nginx)
        assert nginx.request("/logout", method="POST", headers=with_session(via_envoy)).status == 200
        ended_on(envoy, via_envoy)
    finally:
        envoy.stop()


def nginx_walkthrough():
    """The NGINX walkthrough of docs/nginx-ext-authz.md: [(curl arguments, the output it shows)]."""
    import shlex
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "nginx-ext-authz.md").read_text()
    block = text.split("With the service and NGINX above", 1)[1].split("```\n", 2)[1]
    steps, command, shown = [], None, []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            if command:
                steps.append((command, shown))
            command, shown = line[2:], []
            while command.endswith("\\"):
                command = command[:-1] + next(lines)
            command = shlex.split(command, comments=True)
        else:
            shown.append(line)
    steps.append((command, shown))
    return steps


def curl(proxy, args, replace):
    """Runs one of the walkthrough's curl commands against `proxy` (what curl would send)."""
    assert args[0] == "curl", args
    method, headers, url, it = "GET", {}, None, iter(args[1:])
    for arg in it:
        if arg == "-s":
            continue
        elif arg == "-X":
            method = next(it)
        elif arg == "-H":
            name, value = next(it).split(":", 1)
            headers[name] = replace(value.strip())
        elif arg == "-b":
            headers["Cookie"] = replace(next(it))
        elif arg.startswith("http://127.0.0.1:8080/"):
            url = arg[len("http://127.0.0.1:8080"):]
        else:
            raise AssertionError(f"the test does not know curl's {arg!r}: teach it")
    return proxy.request(url, method=method, headers=headers)


def test_the_nginx_walkthrough_does_what_it_shows(make_native, loopback_idp):
    """Every command of the NGINX walkthrough (docs/nginx-ext-authz.md), run through NGINX and the
    service: the answers have the keys, values and statuses the page prints (… stands for anything)."""
    import re
    _, proxy = make_native("nginx")
    token = loopback_idp.jwt(sub="auth0|alice", email="alice@example.com")
    steps = nginx_walkthrough()
    assert len(steps) == 5, steps
    secret = None

    def replace(value):
        value = value.replace("$TOKEN", token)
        return value.replace("kq3…", secret) if secret else value

    for args, shown in steps:
        r = curl(proxy, args, replace)
        first = shown[0]
        if first.startswith("{"):
            status = int(m.group(1)) if (m := re.search(r"\((\d{3})\)\s*$", first)) else 200
            assert r.status == status, (args, r)
            answer = r.json()
            body = first.split("}")[0] + "}"
            for key, value in re.findall(r'"(\w+)":("[^"]*"|[\d.]+|true|false)', body):
                assert key in answer, (args, key, answer)
                if "…" not in value and key != "inactive_lifetime":  # the tests' config sets its own
                    assert answer[key] == json.loads(value), (args, key, answer)
            if answer.get("name") == "session":
                secret = answer["value"]
        else:
            assert r.status == 200, (args, r)
            seen = r.json()["headers"]
            for line in shown:
                name, value = re.match(r"([\w-]+): (\S+)", line).groups()
                assert seen[name] == [value], (name, seen)
            assert "x_auth_user" not in seen and "cookie" not in seen, seen
    assert secret, "the walkthrough's login gave a session"


@pytest.mark.parametrize("kind", ["nginx", "ext_authz"])
def test_the_signed_assertion_through_the_proxy(make_native, loopback_idp, kind):
    """The users' nginx.conf and ext_authz.yaml pass the assertion like the identity headers,
    route its JWKS to the service, and never let a client's copy through."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    issuer = "https://proxy.e2e.test/"
    _, proxy = make_native(kind, assertion={"issuer": issuer, "keys": [key]})
    jwks = proxy.request("/.well-known/auth0-session/jwks.json")
    assert jwks.status == 200 and jwks.header("cache-control") == "public, max-age=300", jwks
    forged = jwt.encode({"sub": "auth0|admin"}, key=None, algorithm="none")
    public = proxy.request("/static/x", headers={"X-Auth-Assertion": forged}).json()["headers"]
    assert "x-auth-assertion" not in public
    secret = login(proxy, loopback_idp.jwt(sub="auth0|ngx"))
    r = proxy.request("/x", headers=with_session(secret, **{"X-Auth-Assertion": forged}))
    token = r.json()["headers"]["x-auth-assertion"]
    assert len(token) == 1 and token[0] != forged
    client = jwt.PyJWKClient(f"http://127.0.0.1:{proxy.port}/.well-known/auth0-session/jwks.json")
    claims = jwt.decode(token[0], client.get_signing_key_from_jwt(token[0]).key, algorithms=["ES256"],
                        issuer=issuer, audience=f"127.0.0.1:{proxy.port}")
    assert claims["sub"] == "auth0|ngx"
    assert proxy.request("/x", headers={"X-Auth-Assertion": forged}).status == 401
