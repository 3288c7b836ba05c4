"""The Envoy configurations we ship (envoy/envoy.yaml, the demo's for the local provider and for
a real Auth0 tenant, the docker-compose one) hold the protections the filter relies on
(issue 11): outbound TLS to the IdP checks the certificate's host name, and request headers
with underscores (`X_Auth_User`, read by WSGI, PHP and Rack as `HTTP_X_AUTH_USER`) are refused.
"""

import os
import subprocess

import pytest
import yaml

from harness import ROOT, WASM, envoy_validates

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def demo_config(**env) -> str:
    out = subprocess.run(["node", str(ROOT / "demo" / "run.mjs"), "--print-envoy-config"],
                         env=dict(os.environ, **env), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def shipped():
    """(name, YAML text) of every Envoy configuration a user may run."""
    return [
        ("envoy/envoy.yaml", (ROOT / "envoy" / "envoy.yaml").read_text()),
        ("envoy/module.yaml", (ROOT / "envoy" / "module.yaml").read_text()),
        ("envoy/ext_authz.yaml", (ROOT / "envoy" / "ext_authz.yaml").read_text()),
        ("demo (local provider)", demo_config()),
        ("demo (Auth0 tenant)", demo_config(AUTH0_DOMAIN="example.eu.auth0.com", AUTH0_CLIENT_ID="client",
                                            AUTH0_AUDIENCE="https://example.com/api")),
        ("demo/envoy.compose.yaml", (ROOT / "demo" / "envoy.compose.yaml").read_text()),
    ]


def tls_clusters(config):
    for cluster in config["static_resources"]["clusters"]:
        socket = cluster.get("transport_socket")
        if socket and socket["name"] == "envoy.transport_sockets.tls":
            yield cluster, socket["typed_config"]


def checks_host_name(cluster, tls) -> bool:
    """Envoy checks the upstream certificate's SAN: against the SNI it sends (auto_sni with
    auto_san_validation), or against explicit matchers."""
    options = (cluster.get("typed_extension_protocol_options") or {}).get(HTTP_OPTIONS) or {}
    upstream = options.get("upstream_http_protocol_options") or {}
    if upstream.get("auto_sni") and upstream.get("auto_san_validation"):
        return True
    validation = tls.get("common_tls_context", {}).get("validation_context", {})
    return bool(validation.get("match_typed_subject_alt_names"))


def connection_managers(config):
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for f in chain["filters"]:
                if f.get("typed_config", {}).get("@type") == HCM:
                    yield f["typed_config"]


@pytest.mark.parametrize("name, text", shipped(), ids=lambda v: v if len(v) < 40 else "")
def test_outbound_tls_checks_the_idp_host_name(name, text):
    """Issue 11 item 3: a trusted CA alone accepts any host's certificate."""
    config = yaml.safe_load(text)
    for cluster, tls in tls_clusters(config):
        validation = tls.get("common_tls_context", {}).get("validation_context", {})
        assert validation.get("trusted_ca"), f"{name}: cluster {cluster['name']} trusts no CA"
        assert checks_host_name(cluster, tls), f"{name}: cluster {cluster['name']} does not check the host name"


def test_the_tenant_configs_do_talk_tls():
    """The check above is not vacuous: the configs for a real tenant have a TLS cluster."""
    for name, text in [c for c in shipped() if c[0] in ('envoy/envoy.yaml', 'envoy/module.yaml', 'demo (Auth0 tenant)')]:
        assert list(tls_clusters(yaml.safe_load(text))), name


def test_the_tenant_demo_config_is_valid():
    text = demo_config(AUTH0_DOMAIN="example.eu.auth0.com", AUTH0_CLIENT_ID="client",
                       AUTH0_AUDIENCE="https://example.com/api")
    envoy_validates(text)
    assert str(WASM) in text


@pytest.mark.parametrize("name, text", shipped(), ids=lambda v: v if len(v) < 40 else "")
def test_header_names_with_underscores_are_refused(name, text):
    """Issue 11 item 5: the filter strips X_Auth_User too, and Envoy refuses such names first."""
    managers = list(connection_managers(yaml.safe_load(text)))
    assert managers, name
    for hcm in managers:
        options = hcm.get("common_http_protocol_options") or {}
        assert options.get("headers_with_underscores_action") == "REJECT_REQUEST", name
