"""The docker-compose demo, checked statically (no Docker engine here): it parses, every file
it mounts or builds from exists, and Envoy accepts the configuration it mounts."""

import re

import yaml

from harness import ROOT, WASM, envoy_validates

DEMO = ROOT / "demo"


def compose():
    return yaml.safe_load((DEMO / "docker-compose.yml").read_text())


def test_it_has_the_four_services():
    assert set(compose()["services"]) == {"envoy", "sidecar", "provider", "app"}


def test_every_mounted_or_built_file_exists():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEMO / source).resolve().exists(), f"{name} mounts {source}"
        build = service.get("build")
        if build:
            context = (DEMO / build["context"]).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.exists(), f"{name} builds from {dockerfile}"
            for line in dockerfile.read_text().splitlines():
                m = re.match(r"COPY (?!--from)(.+) \S+$", line)
                if m:
                    for source in m.group(1).split():
                        assert (context / source).exists(), f"{dockerfile.name} copies {source}"


def test_the_official_envoy_image_runs_the_built_wasm():
    envoy = compose()["services"]["envoy"]
    assert envoy["image"].startswith("envoyproxy/envoy:v1.40")
    mounted = {v.split(":")[1]: v.split(":")[0] for v in envoy["volumes"]}
    assert (DEMO / mounted["/etc/envoy/auth0_session.wasm"]).resolve() == WASM


def test_envoy_accepts_the_compose_config():
    config = (DEMO / "envoy.compose.yaml").read_text()
    assert "/etc/envoy/auth0_session.wasm" in config
    # Validate with the .wasm where it is on this machine rather than in the container.
    local = config.replace("/etc/envoy/auth0_session.wasm", str(WASM))
    envoy_validates(local)


def test_the_sidecar_token_matches_the_filter_config():
    sidecar = compose()["services"]["sidecar"]
    assert f'\\"token\\": \\"{sidecar["environment"]["SIDECAR_TOKEN"]}\\"' in (DEMO / "envoy.compose.yaml").read_text()


# --- the fleet: demo/docker-compose.fleet.yml ---------------------------------------------

def fleet():
    return yaml.safe_load((DEMO / "docker-compose.fleet.yml").read_text())


def test_the_fleet_has_two_envoys_two_sidecars_and_one_postgres():
    services = fleet()["services"]
    assert {"envoy1", "envoy2", "sidecar1", "sidecar2", "postgres"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    pg = services["postgres"]["environment"]
    url = f"postgres://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    for name in ("sidecar1", "sidecar2"):
        command = services[name]["command"]
        assert command[command.index("--db") + 1] == url, f"{name} uses the one database"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("envoy1", "envoy2"):
        mounted = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert (DEMO / mounted["/etc/envoy/auth0_session.wasm"]).resolve() == WASM
        assert mounted["/etc/envoy/envoy.yaml"] == "./envoy.fleet.yaml"
        build = services[name].get("build")
        assert build is None
    for name in ("sidecar1", "sidecar2"):
        dockerfile = (DEMO / services[name]["build"]["context"] / services[name]["build"]["dockerfile"]).resolve()
        assert dockerfile.exists()


def test_the_fleets_envoys_reach_both_sidecars_and_envoy_accepts_the_config():
    config = (DEMO / "envoy.fleet.yaml").read_text()
    cluster = next(c for c in yaml.safe_load(config)["static_resources"]["clusters"] if c["name"] == "session_sidecar")
    hosts = [e["endpoint"]["address"]["socket_address"]["address"]
             for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert hosts == ["sidecar1", "sidecar2"]
    assert "tcp_health_check" in cluster["health_checks"][0]
    token = fleet()["services"]["sidecar1"]["environment"]["SIDECAR_TOKEN"]
    assert f'\\"token\\": \\"{token}\\"' in config
    local = config.replace("/etc/envoy/auth0_session.wasm", str(WASM))
    envoy_validates(local)
