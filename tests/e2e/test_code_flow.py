"""Browser login at the proxy: the authorization-code flow, driven step by step over HTTP
(a browser's redirects, followed by hand) against a real Envoy and the test IdP."""

import http.client
import urllib.parse

import pytest

from helpers import with_session

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def web(idp, app):
    from harness import Envoy, plugin_config
    config = plugin_config(idp, code_flow={"client_id": "web-app", "logout_redirect": "https://app.example/bye"})
    e = Envoy(config, idp.port, app.port).start()
    yield e
    e.stop()


class Browser:
    """Keeps cookies like a browser (by name; paths ignored) and follows redirects by hand."""

    def __init__(self, envoy, idp):
        self.envoy, self.idp, self.jar = envoy, idp, {}

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def remember(self, response):
        for value in response.all("set-cookie"):
            pair = value.split(";")[0]
            name, _, v = pair.partition("=")
            if "Max-Age=0" in value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = v

    def get(self, path, accept=HTML, **headers):
        h = {"Accept": accept, **headers}
        if self.jar:
            h["Cookie"] = self.cookie_header()
        r = self.envoy.request(path, headers=h)
        self.remember(r)
        return r

    def authorize(self, location):
        """The IdP's login page, where the user logs in: answers with the redirect back."""
        url = urllib.parse.urlsplit(location)
        conn = http.client.HTTPConnection("127.0.0.1", self.idp.port, timeout=10)
        conn.request("GET", f"{url.path}?{url.query}")
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 302
        return r.getheader("location")

    def callback(self, back):
        url = urllib.parse.urlsplit(back)
        return self.get(f"{url.path}?{url.query}")


def test_the_full_round_trip_ends_logged_in_on_the_page_first_asked_for(web, idp):
    b = Browser(web, idp)
    r = b.get("/reports/2026?tab=q3")
    assert r.status == 302, r
    location = r.header("location")
    assert location.startswith(f"{idp.issuer}authorize?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["redirect_uri"] == f"http://127.0.0.1:{web.port}/callback"
    assert {"state", "nonce", "code_challenge"} <= set(query) and query["code_challenge_method"] == "S256"
    assert any(name.startswith("session_login_") for name in b.jar), "the per-login cookie"

    back = b.authorize(location)
    assert back.startswith(query["redirect_uri"])
    r = b.callback(back)
    assert r.status == 302, r
    assert r.header("location") == "/reports/2026?tab=q3"
    assert "session" in b.jar and not any(n.startswith("session_login_") for n in b.jar), "login cookie cleared"

    page = b.get("/reports/2026?tab=q3")
    assert page.status == 200
    seen = page.json()
    assert seen["headers"]["x-auth-user"] == ["auth0|webuser"]
    assert seen["headers"]["x-auth-email"] == ["webuser@example.com"]
    assert seen["path"] == "/reports/2026?tab=q3"


def test_api_requests_get_401_never_a_redirect(web):
    for headers in [
        {"Accept": "application/json"},
        {"Accept": "*/*"},
        {},
        {"Accept": HTML, "X-Requested-With": "XMLHttpRequest"},
        {"Accept": HTML, "Sec-Fetch-Mode": "cors"},
    ]:
        r = web.request("/api/data", headers=headers)
        assert r.status == 401 and r.json()["error"] == "unauthorized", headers
    r = web.request("/api/data", method="POST", headers={"Accept": HTML})
    assert r.status == 401


def test_two_interleaved_logins_both_succeed(web, idp):
    b = Browser(web, idp)
    first = b.get("/one").header("location")
    second = b.get("/two").header("location")
    r2 = b.callback(b.authorize(second))
    r1 = b.callback(b.authorize(first))
    assert (r1.status, r1.header("location")) == (302, "/one")
    assert (r2.status, r2.header("location")) == (302, "/two")


def test_state_mismatch_is_refused(web, idp):
    b = Browser(web, idp)
    back = b.authorize(b.get("/x").header("location"))
    tampered = back.replace("state=", "state=AAAA")
    r = b.callback(tampered)
    assert r.status == 400
    assert "session" not in b.jar


def test_a_replayed_code_is_refused(web, idp):
    b = Browser(web, idp)
    location = b.get("/x").header("location")
    back = b.authorize(location)
    login_cookies = dict(b.jar)
    assert b.callback(back).status == 302
    attacker = Browser(web, idp)
    attacker.jar = login_cookies  # the login cookie and the callback URL, captured
    r = attacker.callback(back)
    assert r.status == 401, r
    assert "session" not in attacker.jar
    assert b"used already" in r.body or b"invalid_grant" in r.body


@pytest.mark.parametrize("overrides", [
    {"nonce": "not-the-one-we-sent"},
    {"aud": "another-app"},
    {"exp": 1_000_000, "iat": 999_000},
    {"iss": "https://evil.test/"},
])
def test_bad_id_tokens_are_refused(web, idp, overrides):
    idp.id_token_overrides = overrides
    b = Browser(web, idp)
    r = b.callback(b.authorize(b.get("/x").header("location")))
    assert r.status == 401, (overrides, r)
    assert "session" not in b.jar
    assert b"<h1>Login failed</h1>" in r.body, "a browser gets a page"


@pytest.mark.parametrize("overrides, status", [
    ({"scope": "openid profile email"}, 403),  # the user lacks the API's permission
    ({"aud": ["https://another.api/"]}, 401),  # a token for another API
    ({"sub": "auth0|someone-else"}, 401),  # not the ID token's user
])
def test_the_access_token_is_checked_like_the_token_login(web, idp, overrides, status):
    """Issue 11 item 2: a user without the permission got a session through the code flow."""
    idp.access_token_overrides = overrides
    b = Browser(web, idp)
    r = b.callback(b.authorize(b.get("/x").header("location")))
    assert r.status == status, (overrides, r)
    assert "session" not in b.jar
    assert b"<h1>Login failed</h1>" in r.body
    assert web.request("/x", headers={"Accept": HTML}).status == 302, "still not logged in"


def test_an_error_from_the_idp_is_shown_and_creates_no_session(web, idp):
    idp.authorize_error = "access_denied"
    b = Browser(web, idp)
    r = b.callback(b.authorize(b.get("/x").header("location")))
    assert r.status == 401
    assert b"access_denied" in r.body and "session" not in b.jar


@pytest.mark.parametrize("path", [
    "//evil.example/x",
    "/%2F%2Fevil.example/x",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%09/evil.example",
    "/\\evil.example",
])
def test_open_redirect_attempts_land_on_a_relative_path_or_are_refused(web, idp, path):
    b = Browser(web, idp)
    r = b.get(path)
    if r.status != 302:
        assert r.status in (400, 404), (path, r)  # refused by Envoy itself
        return
    r = b.callback(b.authorize(r.header("location")))
    assert r.status == 302
    target = r.header("location")
    # Same host: a single leading slash, however many times the browser or app decodes it.
    decoded = target
    for _ in range(3):
        assert decoded.startswith("/") and not decoded.startswith(("//", "/\\")), (path, target)
        assert "\\" not in decoded and "\t" not in decoded, (path, target)
        decoded = urllib.parse.unquote(decoded)


def test_logout_goes_through_the_idp_and_back(web, idp):
    b = Browser(web, idp)
    b.callback(b.authorize(b.get("/x").header("location")))
    secret = b.jar["session"]
    cross = b.get("/logout", **{"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403 and web.request("/x", headers=with_session(secret)).status == 200, \
        "a link on another site does not log out (nor out of Auth0)"
    r = b.get("/logout", **{"Sec-Fetch-Site": "same-origin"})
    assert r.status == 302
    assert r.header("location") == f"{idp.issuer}v2/logout?client_id=web-app&returnTo=https%3A%2F%2Fapp.example%2Fbye"
    assert web.request("/x", headers=with_session(secret)).status == 401
    api = web.request("/logout", method="POST", headers={"Accept": "application/json"})
    assert api.status == 200 and "logout_url" in api.json()
