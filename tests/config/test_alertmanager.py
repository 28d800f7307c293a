"""The shipped Alertmanager configuration: amtool checks, routing, inhibition, templates.

Routing is checked with ``amtool config routes test --verify.receivers``; inhibition and
the message templates with a real Alertmanager on loopback (one process for the module),
fed alerts over its API, posting Slack messages to a capture server on loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from mlscope.config_gen import load
from mlscope.config_gen.alert_specs import tier_inhibit_rules
from tests._servers import REPO, Proc, free_port, wait_http

AM = REPO / "alertmanager"
CONFIG = AM / "alertmanager.yml"


def test_config_passes_amtool_check(amtool: str) -> None:
    out = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # Two of its own, plus the model tiers' (a fast-tier page holds back the slow tier).
    n_inhibit = 2 + len(tier_inhibit_rules(load()))
    assert "3 receivers" in out.stdout and f"{n_inhibit} inhibit rules" in out.stdout


def test_every_secret_is_read_from_a_shipped_file() -> None:
    text = CONFIG.read_text()
    files = {v for k, v in _walk(yaml.safe_load(text)) if k.endswith("_file")}
    assert len(files) == 4
    for f in files:
        assert (AM / f).is_file(), f"{f} referenced by alertmanager.yml is missing"
    assert "hooks.slack.com/services/" not in text and "routing_key:" not in text


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=MlscopeErrorBudgetBurn", "severity=page", "job=mlscope-demo-app"], "page"),
        (["alertname=MlscopeAccuracyBelowBaseline", "severity=page", "model=churn"], "page"),
        (["alertname=MlscopeFeatureDrift", "severity=ticket", "model=churn", "feature=age"], "ticket"),
        (["alertname=Watchdog", "severity=none"], "watchdog"),
        (["alertname=SomethingElse"], "ticket"),
    ],
)
def test_alerts_route_by_severity_and_watchdog_to_its_own_receiver(
    amtool: str, labels: list[str], receiver: str
) -> None:
    out = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={receiver}",
            *labels,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"{labels} -> {out.stdout.strip()} (expected {receiver}) {out.stderr}"


class _Capture(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def alertmanager(
    alertmanager_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, type[_Capture]]]:
    """A real Alertmanager on the shipped config; Slack points at a loopback capture server.

    The overlay changes only what a test must: the Slack URL (secret file) and group_wait
    (0s, so notifications leave at once). Routing, inhibition and templates are as shipped.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("am")
    shutil.copytree(AM, root / "alertmanager")
    (root / "alertmanager/secrets/slack_api_url").write_text(f"http://127.0.0.1:{server.server_port}/slack\n")
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["route"]["group_wait"] = "0s"
    for r in cfg["route"]["routes"]:
        r["group_wait"] = "0s"
    # Webhooks and PagerDuty go to the capture server too: nothing leaves loopback.
    for rec in cfg["receivers"]:
        for w in rec.get("webhook_configs", []):
            w["url"] = f"http://127.0.0.1:{server.server_port}/webhook"
        for p in rec.get("pagerduty_configs", []):
            p["url"] = f"http://127.0.0.1:{server.server_port}/pagerduty"
    (root / "alertmanager/alertmanager.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    args = [
        alertmanager_bin,
        f"--config.file={root / 'alertmanager/alertmanager.yml'}",
        f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    # Alertmanager 0.25 reads *_file secrets relative to its working directory (only
    # http_config files are resolved against the config's folder): run it from there.
    proc = Proc(args, log=root / "am.log", cwd=root / "alertmanager")
    with proc as p:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", proc=p)
        yield url, _Capture
    server.shutdown()
    server.server_close()


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def _alert(**labels: str) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {
            "summary": "s",
            "description": f"value 0.42 for {labels.get('feature', '-')}",
            "runbook_url": f"https://example.org/runbooks.md#{labels['alertname'].lower()}",
            "dashboard_url": "http://localhost:3000/d/mlscope-model-health/x",
        },
    }


def _status(url: str) -> dict[str, dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=10) as r:
        data = json.loads(r.read())
    return {
        f"{a['labels']['alertname']}/{a['labels'].get('job', '')}/{a['labels'].get('severity')}": a["status"]
        for a in data
    }


def test_down_target_silences_its_drift_alerts_and_page_silences_its_ticket(
    alertmanager: tuple[str, type[_Capture]],
) -> None:
    url, _ = alertmanager
    _post(
        url,
        [
            _alert(alertname="MlscopeTargetDown", severity="page", job="mlscope-sidecar", instance="a"),
            _alert(
                alertname="MlscopeFeatureDrift",
                severity="ticket",
                job="mlscope-sidecar",
                model="churn",
                feature="age",
            ),
            _alert(
                alertname="MlscopeFeatureDrift",
                severity="ticket",
                job="other-sidecar",
                model="churn",
                feature="age",
            ),
            _alert(alertname="MlscopeErrorBudgetBurn", severity="page", job="mlscope-demo-app"),
            _alert(alertname="MlscopeErrorBudgetBurn", severity="ticket", job="mlscope-demo-app"),
        ],
    )
    deadline = time.monotonic() + 10
    while True:
        st = _status(url)
        if (
            st.get("MlscopeFeatureDrift/mlscope-sidecar/ticket", {}).get("inhibitedBy")
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.1)
    assert st["MlscopeFeatureDrift/mlscope-sidecar/ticket"]["inhibitedBy"], st
    assert st["MlscopeErrorBudgetBurn/mlscope-demo-app/ticket"]["inhibitedBy"], st
    # Not inhibited: another job's drift, and the page itself.
    assert not st["MlscopeFeatureDrift/other-sidecar/ticket"]["inhibitedBy"], st
    assert not st["MlscopeErrorBudgetBurn/mlscope-demo-app/page"]["inhibitedBy"], st
    assert not st["MlscopeTargetDown/mlscope-sidecar/page"]["inhibitedBy"], st


def test_slack_message_shows_model_feature_value_runbook_and_dashboard(
    alertmanager: tuple[str, type[_Capture]],
) -> None:
    url, capture = alertmanager
    # Its own job: the inhibition test above holds MlscopeTargetDown for mlscope-sidecar.
    _post(
        url,
        [
            _alert(
                alertname="MlscopeDataQualitySpike",
                severity="ticket",
                job="fraud-sidecar",
                model="fraud",
                feature="amount",
                issue="missing",
            )
        ],
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
        "attachments" in b and "fraud" in json.dumps(b) for b in capture.bodies
    ):
        time.sleep(0.1)
    msg = next(b for b in capture.bodies if "attachments" in b and "fraud" in json.dumps(b))["attachments"][0]
    assert msg["title"].startswith("[FIRING:1] MlscopeDataQualitySpike model=fraud job=fraud-sidecar"), msg
    for part in (
        "model: fraud",
        "feature: amount",
        "value 0.42 for amount",
        "runbook: https://example.org/runbooks.md#mlscopedataqualityspike",
        "dashboard: http://localhost:3000/d/mlscope-model-health/x",
    ):
        assert part in msg["text"], (part, msg["text"])


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k), v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
