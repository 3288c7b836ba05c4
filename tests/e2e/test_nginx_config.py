"""The users' NGINX and ext_authz configurations (nginx/nginx.conf, envoy/ext_authz.yaml) are
accepted by Debian's NGINX (`nginx -t`, its own prefix directory) and by Envoy itself."""

import subprocess

from harness import ENVOY
from native import EXT_AUTHZ_YAML, Nginx


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
