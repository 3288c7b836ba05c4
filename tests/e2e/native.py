"""The auth service (`session-sidecar --filter-config --auth-listen`) and the proxies that use
it: NGINX from Debian with nginx/nginx.conf, and Envoy with envoy/ext_authz.yaml, each the
users' file itself with its addresses moved to free loopback ports."""

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import (ADMIN_TOKEN, ENVOY, ROOT, SIDECAR, SIDECAR_TOKEN, STARTED, Front, Sidecar, envoy_ready,
                     free_port)

NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
NGINX_CONF = ROOT / "nginx" / "nginx.conf"
EXT_AUTHZ_YAML = ROOT / "envoy" / "ext_authz.yaml"


def answers(port) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def wait_port(port, proc, what, log, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}\n{log()}")
        if answers(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout}s\n{log()}")


class AuthService(Sidecar):
    """The real session-sidecar with its auth service: the store API on `port`, the service
    on `auth_port`, the filter's JSON in `config`."""

    def __init__(self, config: dict, db: Path = None):
        super().__init__(db)
        self.auth_port = free_port()
        self.config_path = self.db.parent / f"filter-{self.auth_port}.json"
        self.config_path.write_text(json.dumps(config))

    def start(self):
        env = dict(os.environ, SIDECAR_TOKEN=SIDECAR_TOKEN, SIDECAR_ADMIN_TOKEN=ADMIN_TOKEN)
        self.proc = subprocess.Popen(
            [str(SIDECAR), "--db", str(self.db), "--listen", f"127.0.0.1:{self.port}",
             "--filter-config", str(self.config_path), "--auth-listen", f"127.0.0.1:{self.auth_port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "a"),
        )
        STARTED.append(self)
        wait_port(self.port, self.proc, "session-sidecar", self.log)
        wait_port(self.auth_port, self.proc, "the auth service", self.log)
        return self

    def wait_ready(self, timeout=10):
        """Until the service has the IdP's signing keys (GET /_auth/ready)."""
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.auth_port}/_auth/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"the auth service has no signing keys after {timeout}s\n{self.log()}")
            time.sleep(0.05)


class Nginx(Front):
    """NGINX with nginx/nginx.conf, its own prefix directory, on a free port."""

    def __init__(self, auth_port: int, app_port: int, sidecar_port: int = None):
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-e2e-"))
        (self.prefix / "logs").mkdir()
        (self.prefix / "tmp").mkdir()
        self.port = free_port()
        self.log_path = self.prefix / "logs" / "error.log"
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(users_nginx_conf(self.port, app_port, auth_port, sidecar_port))
        self.proc = None

    def command(self, *extra):
        return [str(NGINX), "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.log_path), *extra]

    def check_config(self):
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self):
        self.proc = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        STARTED.append(self)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}\n{self.log()}")
            if answers(self.port):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx not ready\n{self.log()}")



def users_nginx_conf(port, app_port, auth_port, sidecar_port=None) -> str:
    text = NGINX_CONF.read_text()
    for old, new in [("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};"),
                     ("server 127.0.0.1:9700;", f"server 127.0.0.1:{sidecar_port or free_port()};"),
                     ("server 127.0.0.1:3000;", f"server 127.0.0.1:{app_port};"),
                     ("server 127.0.0.1:9701;", f"server 127.0.0.1:{auth_port};"),
                     ("worker_processes auto;", "worker_processes 2;")]:
        assert old in text, f"nginx/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


class ExtAuthzEnvoy(Front):
    """Envoy with envoy/ext_authz.yaml, on free ports."""

    def __init__(self, auth_port: int, app_port: int, sidecar_port: int = None):
        self.dir = Path(tempfile.mkdtemp(prefix="ext-authz-e2e-"))
        self.port, self.admin = free_port(), free_port()
        self.log_path = self.dir / "envoy.log"
        self.yaml_path = self.dir / "envoy.yaml"
        text = EXT_AUTHZ_YAML.read_text()
        for old, new in [("port_value: 9901", f"port_value: {self.admin}"),
                         ("port_value: 10000", f"port_value: {self.port}"),
                         ("port_value: 3000", f"port_value: {app_port}"),
                         ("port_value: 9701", f"port_value: {auth_port}"),
                         ("port_value: 9700", f"port_value: {sidecar_port or free_port()}"),
                         ("http://127.0.0.1:9701", f"http://127.0.0.1:{auth_port}")]:
            assert old in text, f"envoy/ext_authz.yaml no longer has {old!r}"
            text = text.replace(old, new)
        self.yaml_path.write_text(text)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [str(ENVOY), "-c", str(self.yaml_path), "--concurrency", "2", "--disable-hot-restart",
             "-l", "info", "--log-path", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        STARTED.append(self)
        envoy_ready(self)
        return self

