import pytest

from harness import HOST, ARTIFACT, ENVOY, SIDECAR, SIDECAR_TOKEN, SIGNING_KEY, STARTED, Envoy, Sidecar, plugin_config
from idp import TestIdp
from upstream import EchoApp


def pytest_sessionstart(session):
    for needed in (ENVOY, ARTIFACT, SIDECAR):
        if not needed.exists():
            raise pytest.UsageError(f"{needed} is missing: run `make build` (make test does)")


@pytest.fixture(scope="session")
def idp():
    server = TestIdp().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def idp_reset(idp):
    """Every test starts with a healthy IdP."""
    idp.fault = None
    idp.id_token_overrides = {}
    idp.access_token_overrides = {}
    idp.authorize_error = None
    idp.login_as = "auth0|webuser"
    idp.device_interval = 1
    idp.person_fault = None
    yield
    idp.fault = None
    idp.person_fault = None


@pytest.fixture(scope="session")
def app():
    """The echo app behind every Envoy of the session: it answers with what it received."""
    server = EchoApp().start()
    yield server
    server.stop()


@pytest.fixture
def make_envoy(idp, app):
    """Starts Envoys with the given config overrides; stops them after the test."""
    started = []

    def make(start=True, raw_config=None, idp_port=None, sidecar=None, sidecars=None, host=None, **overrides):
        sidecars = sidecars or ([sidecar] if sidecar is not None else [])
        if sidecars:
            overrides["sidecar"] = {"cluster": "session_sidecar", "token": SIDECAR_TOKEN,
                                    **overrides.pop("sidecar_settings", {})}
            # Required with a sidecar (issue 11 item 8): forged cookies cost no lookup.
            overrides.setdefault("session", {"cookie": {"secure": False}})
            overrides["session"].setdefault("cookie", {}).setdefault("signing_keys", [SIGNING_KEY])
        envoy = Envoy(plugin_config(idp, **overrides), idp_port or idp.port, app.port, raw_config,
                      sidecar_ports=[s.port for s in sidecars] or None, host=host)
        started.append(envoy)
        return envoy.start() if start else envoy

    yield make
    for envoy in started:
        envoy.stop()


@pytest.fixture
def sidecar():
    s = Sidecar().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def envoy(idp, app):
    """One Envoy with the default test configuration, shared by a module's tests."""
    e = Envoy(plugin_config(idp), idp.port, app.port).start()
    yield e
    e.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for e in STARTED[-3:]:
            report.sections.append((f"envoy log {e.log_path}", e.log()[-6000:]))


# The NGINX and ext_authz suites test a host of their own (the auth service): they run in the
# wasm pass of `make e2e`, not again in the dynamic module's.
collect_ignore = ["test_nginx.py"] if HOST == "module" else []


@pytest.fixture(scope="session")
def loopback_idp():
    """A test IdP whose issuer is its loopback address: the auth service reaches the IdP at
    `auth0.issuer` (plain HTTP only for loopback), where Envoy uses a cluster."""
    server = TestIdp().start()
    server.issuer = f"http://127.0.0.1:{server.port}/"
    server.userinfo_url = f"{server.issuer}userinfo"
    yield server
    server.stop()


def native_config(idp, **overrides) -> dict:
    """The test filter configuration, its issuer the IdP's loopback address."""
    config = plugin_config(idp, **overrides)
    config["auth0"]["issuer"] = idp.issuer
    return config


@pytest.fixture
def make_native(loopback_idp, app):
    """Starts an auth service (session-sidecar --auth-listen) with the given config overrides
    and a proxy in front of it: kind "nginx" (nginx/nginx.conf) or "ext_authz"
    (envoy/ext_authz.yaml). Returns (service, proxy); stops both after the test."""
    from native import AuthService, ExtAuthzEnvoy, Nginx
    started = []

    def make(kind="nginx", db=None, **overrides):
        service = AuthService(native_config(loopback_idp, **overrides), db=db).start().wait_ready()
        started.append(service)
        front = (Nginx if kind == "nginx" else ExtAuthzEnvoy)(service.auth_port, app.port, service.port).start()
        started.append(front)
        return service, front

    yield make
    for thing in reversed(started):
        thing.stop()
