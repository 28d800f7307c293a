"""The dashboards' preview in a real browser, on a demo-like stack.

Real processes on loopback: the demo model app (both its models: credit-risk and the text
model support-topic, which fills the text and embedding row), the sidecar, Prometheus
from the Debian package on the shipped configuration and rules (1 s scrape and evaluation), the traffic
generator (5xx for a few seconds, then healthy, labels 1 s later) and the preview server.
Headless Chromium (Debian's chromium and chromium-driver, through Selenium) loads every
dashboard: each panel of the JSON is on the page with its title and draws data. GPU
panels may show "No data" only where the sidecar saw no GPU (``mlscope_gpu_devices``
is 0), as in Grafana.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlscope.demo import overlay
from mlscope.demo.model import MODEL_NAME
from mlscope.demo.topic_model import MODEL_NAME as TEXT_MODEL
from mlscope.preview import templating
from mlscope.preview.app import create_app
from tests._servers import PYTHON, REPO, Proc, free_port, get, wait_http
from tests.conftest import require_binary
from tests.demo._serve import serve
from tests.preview import _browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DASHBOARDS = REPO / "grafana" / "dashboards"
RANGE = "from=now-2m"
DATA_TIMEOUT_S = 120.0  # a loaded 2-core machine is slow to start the generator


@dataclass
class Stack:
    prometheus: str
    preview: str
    app: str


def _set_scenario(app: str, name: str) -> None:
    req = urllib.request.Request(f"{app}/control/scenario", method="PUT",
                                 data=json.dumps({"scenario": name}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def _wait_for_5xx(app: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, text = get(f"{app}/metrics")
        if any(line.startswith("http_server_request_duration_seconds_count{") and 'code="500"' in line
               and float(line.rsplit(" ", 1)[1]) > 0 for line in text.splitlines()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no 5xx answer from {app} within {timeout_s:.0f}s of error_burst")


def _prometheus_config(prom_port: int, app: str, sidecar_port: int) -> dict[str, Any]:
    shipped = overlay.load_yaml(REPO / "prometheus" / "prometheus.yml")
    return overlay.prometheus_overlay(
        shipped, interval="1s", alertmanager=f"127.0.0.1:{free_port()}",  # none: no panel needs one
        targets={"prometheus": f"127.0.0.1:{prom_port}", "alertmanager": f"127.0.0.1:{prom_port}",
                 "mlscope-demo-app": app.removeprefix("http://"),
                 "mlscope-sidecar": f"127.0.0.1:{sidecar_port}"},
        rule_files=[str(REPO / "prometheus" / r) for r in shipped["rule_files"]])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, prometheus_bin: str) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("preview")
    app_port, sidecar_port, prom_port = free_port(), free_port(), free_port()
    app, profiles = f"http://127.0.0.1:{app_port}", {MODEL_NAME: tmp / "reference.json",
                                                     TEXT_MODEL: tmp / "topics.json"}
    prom_cfg = overlay.dump(_prometheus_config(prom_port, app, sidecar_port), tmp / "prometheus.yml")
    with Proc([PYTHON, "-m", "mlscope.demo.app", "--port", str(app_port),
               "--profile-out", str(profiles[MODEL_NAME]), "--text-profile-out", str(profiles[TEXT_MODEL]),
               "--sidecar", f"http://127.0.0.1:{sidecar_port}"], log=tmp / "app.log") as app_proc:
        wait_http(app + "/healthz", timeout_s=120, proc=app_proc)
        sidecar_cfg = tmp / "sidecar.json"
        sidecar_cfg.write_text(json.dumps({"port": sidecar_port, "pid": app_proc.pid, "host": "127.0.0.1",
                                           "models": {m: {"profile": str(p)} for m, p in profiles.items()}}))
        with Proc([PYTHON, "-m", "mlscope", "serve", "--config", str(sidecar_cfg)],
                  env={"MLSCOPE_COMPUTE_INTERVAL_S": "1"}, log=tmp / "sidecar.log") as sidecar, \
             Proc([prometheus_bin, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp / 'data'}",
                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=error"],
                  log=tmp / "prometheus.log") as prom:
            wait_http(f"http://127.0.0.1:{sidecar_port}/healthz", timeout_s=60, proc=sidecar)
            wait_http(f"http://127.0.0.1:{prom_port}/-/ready", timeout_s=30, proc=prom)
            _set_scenario(app, "error_burst")
            with Proc([PYTHON, "-m", "mlscope.demo.traffic", "--target", app, "--scenario", "follow",
                       "--rate", "10", "--batch-size", "20", "--label-delay", "1", "--duration", "240"],
                      log=tmp / "traffic.log"):
                _wait_for_5xx(app)  # the error_burst spell that gives the 5xx panels their series
                _set_scenario(app, "healthy")
                with serve(create_app(f"http://127.0.0.1:{prom_port}", DASHBOARDS)) as preview:
                    yield Stack(f"http://127.0.0.1:{prom_port}", preview, app)


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))]


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in templating.panels_of(dashboard["panels"]) if p["type"] != "row"]


def _is_gpu(panel: dict[str, Any]) -> bool:
    return all("mlscope_gpu_" in t["expr"] for t in panel["targets"])


def _has_data(answer: dict[str, Any]) -> bool:
    if "series" in answer:
        return any(v is not None for s in answer["series"] for v in s["values"])
    if "table" in answer:
        return bool(answer["table"]["rows"])
    return any(any(row) for row in answer["heatmap"]["counts"])


def _empty_panels(stack: Stack, dashboard: dict[str, Any], gpus: bool) -> list[str]:
    status, body = get(f"{stack.preview}/api/dashboards/{dashboard['uid']}/data?{RANGE}")
    assert status == 200, body
    answers = json.loads(body)["panels"]
    empty = []
    for p in _panels(dashboard):
        answer = answers[str(p["id"])]
        assert "error" not in answer, f"{dashboard['uid']}: {p['title']}: {answer}"
        if not _has_data(answer) and (gpus or not _is_gpu(p)):
            empty.append(f"{dashboard['uid']}: {p['title']}")
    return empty


def _gpus_seen(stack: Stack) -> bool | None:
    """Whether the sidecar found a GPU; None before Prometheus has its answer (0 without one)."""
    status, body = get(f"{stack.prometheus}/api/v1/query?query=max(mlscope_gpu_devices)")
    assert status == 200, body
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) > 0 if result else None


@pytest.fixture(scope="module")
def filled(stack: Stack) -> Stack:
    """The stack once every panel's queries return data through the preview's API."""
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while True:
        gpus = _gpus_seen(stack)
        empty = ["mlscope_gpu_devices"] if gpus is None else \
            [e for d in _dashboards() for e in _empty_panels(stack, d, gpus)]
        if not empty:
            return stack
        assert time.monotonic() < deadline, f"panels still without data: {empty}"
        time.sleep(2)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with _browser.chromium(require_binary("chromium"), require_binary("chromedriver")) as driver:
        yield driver


@pytest.mark.timeout(420)  # the first test also waits for the stack to start and fill
def test_every_panel_draws_in_chromium_with_the_titles_of_the_json(filled: Stack, browser: Any) -> None:
    gpus = bool(_gpus_seen(filled))
    for dash in _dashboards():
        shown = _browser.load(browser, f"{filled.preview}/d/{dash['uid']}?{RANGE}")
        where = dash["uid"]
        assert [s["title"] for s in shown] == [p["title"] for p in _panels(dash)], where
        assert [s["type"] for s in shown] == [p["type"] for p in _panels(dash)], where
        assert _browser.row_titles(browser) == [p["title"] for p in dash["panels"] if p["type"] == "row"]
        for panel, s in zip(_panels(dash), shown, strict=True):
            allowed = {"ok", "nodata"} if _is_gpu(panel) and not gpus else {"ok"}
            assert s["state"] in allowed, f"{where}: {s}"


def test_units_reach_the_axes_stats_and_tables(filled: Stack, browser: Any) -> None:
    _browser.load(browser, f"{filled.preview}/d/mlscope-service?{RANGE}")
    rate_ticks = _browser.texts(browser, "Request rate", ".ytick text")
    assert rate_ticks and all(t.endswith(" req/s") for t in rate_ticks), rate_ticks  # reqps
    latency_ticks = _browser.texts(browser, "Latency percentiles", ".ytick text")
    assert latency_ticks and all(t.endswith("s") for t in latency_ticks), latency_ticks  # s
    assert _browser.texts(browser, "2xx ratio", ".stat-value")[0].endswith("%")  # percentunit
    _browser.load(browser, f"{filled.preview}/d/mlscope-model-health?{RANGE}")
    shares = _browser.texts(browser, "Root cause: drift contribution", "td.num")
    assert shares and all(t.endswith("%") for t in shares), shares
    legend = _browser.texts(browser, "Accuracy vs baseline", ".legend .entry")
    assert f"{MODEL_NAME} baseline" in legend, legend  # legendFormat "{{model}} baseline"


def test_the_page_says_no_data_and_errors_instead_of_drawing_them(stack: Stack, browser: Any,
                                                                   tmp_path: Path) -> None:
    # The check above can fail: an empty answer and a query Prometheus rejects are shown as such.
    def panel(pid: int, kind: str, title: str, expr: str) -> dict[str, Any]:
        return {"id": pid, "type": kind, "title": title, "targets": [{"refId": "A", "expr": expr}],
                "gridPos": {"x": 12 * (pid - 1), "y": 0, "w": 12, "h": 8}}

    dash = {"uid": "broken", "title": "broken", "time": {"from": "now-5m", "to": "now"},
            "panels": [panel(1, "timeseries", "nothing", "no_such_series_anywhere"),
                       panel(2, "stat", "unparsable", "sum(rate(x[1m])")]}
    (tmp_path / "broken.json").write_text(json.dumps(dash))
    with serve(create_app(stack.prometheus, tmp_path)) as url:
        shown = _browser.load(browser, f"{url}/d/broken")
    assert [(s["title"], s["state"]) for s in shown] == [("nothing", "nodata"), ("unparsable", "error")]
    assert "parse error" in shown[1]["message"]


def test_variables_narrow_the_queries(filled: Stack) -> None:
    status, body = get(f"{filled.preview}/api/dashboards/mlscope-model-health/data?{RANGE}&var-window=5m"
                       f"&var-model=no-such-model")
    assert status == 200, body
    answer = json.loads(body)
    variables = {v["name"]: v for v in answer["variables"]}
    assert variables["model"]["options"] == sorted([MODEL_NAME, TEXT_MODEL])
    assert variables["model"]["selected"] == ["no-such-model"]
    assert variables["window"]["options"] == ["5m", "1h", "24h"]
    health = next(d for d in _dashboards() if d["uid"] == "mlscope-model-health")
    drift = next(p for p in _panels(health) if p["title"] == "Feature drift distance")
    assert answer["panels"][str(drift["id"])]["series"] == []  # no series of a model that is not there
