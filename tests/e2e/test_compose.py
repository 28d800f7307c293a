"""docker-compose.yml and exporter/Dockerfile, checked by structure (no docker engine here).

What `docker compose up` would trip over is checked against the repository itself:
services and their ports, images pinned to a version, healthchecks, mounts whose source
exists, the Grafana password coming from the environment, and each mlscope command
line accepted by the parser that will read it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscope import cli
from mlscope.demo import app as demo_app
from mlscope.demo import receiver, traffic
from mlscope.demo.model import MODEL_NAME

REPO = Path(__file__).resolve().parents[2]
EXPECTED_PORTS = {
    "demo-app": {"8000:8000"}, "sidecar": {"9108:9108"}, "prometheus": {"9090:9090"},
    "alertmanager": {"9093:9093", "5001:5001"}, "grafana": {"3000:3000"},
    "traffic": set(), "webhook-receiver": set(),
}
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
    assert re.search(r"^USER\s+(?!root)\S+", dockerfile, re.M), "the image must not run as root"
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
    assert sidecar.profile == "/data/reference.json" and sidecar.port == 9108 and sidecar.host == "0.0.0.0"
    assert sidecar.model == MODEL_NAME  # the name the app's Monitor logs under
    app_cmd = demo_app.build_parser().parse_args(_command(services["demo-app"]))
    assert app_cmd.profile_out == sidecar.profile and app_cmd.sidecar == "http://sidecar:9108"
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
