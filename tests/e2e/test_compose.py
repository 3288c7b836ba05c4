"""The docker-compose demo, checked statically (no Docker engine here): it parses, every file
it mounts or builds from exists, and Envoy accepts the configuration it mounts."""

import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from harness import ENVOY, ROOT, WASM

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
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "envoy.yaml"
        path.write_text(local)
        out = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(path), "-l", "warning"],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def test_the_sidecar_token_matches_the_filter_config():
    sidecar = compose()["services"]["sidecar"]
    assert f'\\"token\\": \\"{sidecar["environment"]["SIDECAR_TOKEN"]}\\"' in (DEMO / "envoy.compose.yaml").read_text()
