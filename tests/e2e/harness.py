"""Runs a real Envoy (`.venv/bin/envoy`, `--concurrency 2`) with the built filter, on
loopback ports picked free, and talks HTTP/1.1 to it."""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVOY = ROOT / ".venv" / "bin" / "envoy"
WASM = ROOT / "target" / "wasm32-wasip1" / "release" / "auth0_session.wasm"
MODULE = ROOT / "target" / "release" / "libauth0_session_module.so"
# Which Envoy host runs the filter: the proxy-wasm build or the native dynamic module. The
# whole suite runs once per host (`make e2e` runs both); nothing else differs.
HOST = os.environ.get("E2E_HOST", "wasm")
if HOST not in ("wasm", "module"):
    raise SystemExit(f"E2E_HOST must be wasm or module, not {HOST!r}")
ARTIFACT = WASM if HOST == "wasm" else MODULE
# Where each host's stats appear on Envoy's admin /stats.
STATS = {"wasm": "wasmcustom.", "module": "dynamicmodulescustom."}[HOST] + "auth0_session."
SIDECAR = ROOT / "target" / "release" / "session-sidecar"
SIDECAR_TOKEN = "e2e-sync-token"
ADMIN_TOKEN = "e2e-admin-token"
# Signs session cookies wherever a sidecar is configured (the filter requires it there).
SIGNING_KEY = "e2e-cookie-signing-key-0123456789abcdef"

# Every Envoy started by the current test, so a failing test can print their logs.
STARTED = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_config(idp, **overrides) -> dict:
    """The filter configuration used by the tests: docs/ARCHITECTURE.md §3, pointed at the test IdP."""
    config = {
        "auth0": {
            "domain": idp.domain,
            "api": {"identifier": idp.audience},
            "cluster": "auth0",
            "scope": "read:data",
            "timeout": "2second",
        },
        "session": {"cookie": {"secure": False}},
        "public": ["/healthz", "/static/"],
    }
    for key, value in overrides.items():
        section, _, leaf = key.partition("__")
        if leaf:
            config.setdefault(section, {})[leaf] = value
        else:
            config[key] = value
    return config


ENVOY_YAML = """
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          normalize_path: true
          merge_slashes: true
          max_request_headers_kb: 96
          route_config:
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: {{path: "/backchannel-logout"}}
                route: {{cluster: session_sidecar}}
              - match: {{prefix: "/"}}
                route: {{cluster: app}}
          http_filters:
{http_filter}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {app_port}}}}}}}}}]}}]
  - name: auth0
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: auth0
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {idp_port}}}}}}}}}]}}]
  - name: session_sidecar
    type: STATIC
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: session_sidecar
      endpoints: [{{lb_endpoints: [{sidecar_endpoints}]}}]
{sidecar_health}"""

# Several sidecars (a fleet): an endpoint that stops answering its health check is taken
# out of the rotation within a second, so calls go to the live one.
SIDECAR_HEALTH = """    health_checks:
    - timeout: 1s
      interval: 0.5s
      unhealthy_threshold: 1
      healthy_threshold: 1
      tcp_health_check: {}
    outlier_detection:
      consecutive_local_origin_failure: 1
      split_external_local_origin_errors: true
      base_ejection_time: 1s
"""


WASM_FILTER = """          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: auth0_session
                root_id: auth0_session
                failure_policy: FAIL_CLOSED
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {config}
                vm_config:
                  vm_id: auth0_session
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: {wasm}}}}}
"""

MODULE_FILTER = """          - name: envoy.filters.http.dynamic_modules
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
              dynamic_module_config: {{name: auth0_session_module}}
              filter_name: auth0_session
              filter_config:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: {config}
"""


def envoy_env() -> dict:
    """The environment Envoy runs in: the module host finds the .so on its search path."""
    return dict(os.environ, ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(MODULE.parent))


def sidecar_cluster_settings(ports) -> dict:
    endpoints = ", ".join(
        f"{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {p}}}}}}}}}" for p in ports)
    return dict(sidecar_endpoints=endpoints, sidecar_health=SIDECAR_HEALTH if len(ports) > 1 else "")


class Process:
    """A server a test started (`proc`, writing to `log_path`): its log, and how it ends."""

    proc = None
    log_path = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Front(Process):
    """A proxy a test talks to over HTTP on `port` (Envoy with the filter, NGINX, Envoy with
    ext_authz)."""

    port = None

    def request(self, path, method="GET", headers=None, body=None, conn=None):
        """One request; returns a Response. Pass `conn` to reuse a connection."""
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            if own:
                conn.close()

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)


class Envoy(Front):
    def __init__(self, config: dict, idp_port: int, app_port: int, raw_config: str = None, sidecar_port: int = None,
                 sidecar_ports=None, normalize: bool = True, host: str = None):
        # normalize=False: Envoy passes paths as received (no normalize_path, no merge_slashes),
        # to show what the filter refuses by itself.
        self.normalize = normalize
        # host: run this one with the other host than the suite's (to compare the two).
        self.host = host or HOST
        self.dir = Path(tempfile.mkdtemp(prefix="envoy-e2e-"))
        self.log_path = self.dir / "envoy.log"
        self.yaml_path = self.dir / "envoy.yaml"
        value = raw_config if raw_config is not None else json.dumps(config)
        self.settings = dict(config=json.dumps(value), wasm=json.dumps(str(WASM)), app_port=app_port,
                             idp_port=idp_port,
                             **sidecar_cluster_settings(sidecar_ports or [sidecar_port or free_port()]))
        self.write_config()
        self.proc = None

    def write_config(self):
        """New free ports for the listener and the admin interface."""
        self.port = free_port()
        self.admin = free_port()
        http_filter = (WASM_FILTER if self.host == "wasm" else MODULE_FILTER).format(**self.settings)
        text = ENVOY_YAML.format(admin=self.admin, port=self.port, http_filter=http_filter, **self.settings)
        if not self.normalize:
            text = text.replace("normalize_path: true", "normalize_path: false").replace(
                "merge_slashes: true", "merge_slashes: false")
        self.yaml_path.write_text(text)

    def start(self, wait=True, timeout=30):
        self.proc = subprocess.Popen(
            [str(ENVOY), "-c", str(self.yaml_path), "--concurrency", "2", "--disable-hot-restart",
             "-l", "info", "--log-path", str(self.log_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=envoy_env(),
        )
        STARTED.append(self)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30):
        envoy_ready(self, timeout)

    def wait_exit(self, timeout=30) -> int:
        return self.proc.wait(timeout)

    def restart(self):
        """Kills Envoy (-9: shared data is lost) and starts it again. On new ports: the old
        listener's connections linger in TIME_WAIT and can make its port unbindable for a while."""
        self.kill()
        self.write_config()
        return self.start()

    # -- talking to it ------------------------------------------------------------------

    def stats(self, prefix="auth0_session") -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter={prefix}", timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            try:
                out[name] = int(value)
            except ValueError:
                out[name] = value
        return out

    def stat(self, name) -> int:
        return self.stats(name).get(name, 0)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Sidecar(Process):
    """The real `session-sidecar` binary on a SQLite file, or on PostgreSQL when `db` is a
    postgres:// URL."""

    def __init__(self, db=None, args=(), filter_config: dict = None):
        self.port = free_port()
        self.dir = db.parent if isinstance(db, Path) else Path(tempfile.mkdtemp(prefix="sidecar-e2e-"))
        self.db = db or self.dir / "sessions.sqlite"
        self.log_path = self.dir / "sidecar.log"
        self.args = list(args)
        self.proc = None
        if filter_config is not None:
            path = self.dir / "filter.json"
            path.write_text(json.dumps(filter_config))
            self.args += ["--filter-config", str(path)]

    def start(self):
        env = dict(os.environ, SIDECAR_TOKEN=SIDECAR_TOKEN, SIDECAR_ADMIN_TOKEN=ADMIN_TOKEN)
        self.proc = subprocess.Popen(
            [str(SIDECAR), "--db", str(self.db), "--listen", f"127.0.0.1:{self.port}", *self.args],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "a"),
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sidecar not ready\n{self.log_path.read_text()}")

    def admin(self, method, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def cli(self, *args):
        out = subprocess.run([str(SIDECAR), "--db", str(self.db), *args], capture_output=True, text=True, timeout=30)
        return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None

    def stored_hashes(self) -> set:
        """Hashes of the sessions in the database, read directly."""
        if str(self.db).startswith("postgres"):
            out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-d", str(self.db), "-c", "SELECT hash FROM sessions"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise RuntimeError(out.stderr)
            return set(out.stdout.split())
        import sqlite3
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return {row[0] for row in conn.execute("SELECT hash FROM sessions")}
        finally:
            conn.close()


def session_hash(secret: str) -> str:
    """What the filter and the sidecar know a session by: SHA-256 of the secret, 128 bits."""
    import base64
    import hashlib
    secret = secret.split(".")[0]  # a signed cookie is `secret.mac`
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    return hashlib.sha256(raw).digest()[:16].hex()


def wait_for(predicate, timeout=10.0, step=0.05):
    """Polls `predicate` until it holds or `timeout` seconds pass; its last answer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def envoy_validates(text):
    """Asserts that Envoy itself accepts this configuration (`--mode validate`)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "envoy.yaml"
        path.write_text(text)
        out = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(path), "-l", "warning"],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def envoy_ready(envoy, timeout=30):
    """Waits for an Envoy (with `proc`, `admin` and `log()`) to say it is ready; raises with its
    log if it exits or is not ready in time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if envoy.proc.poll() is not None:
            raise RuntimeError(f"envoy exited with {envoy.proc.returncode}\n{envoy.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{envoy.admin}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"envoy not ready after {timeout}s\n{envoy.log()}")
