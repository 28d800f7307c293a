"""`mlscope demo` starts the whole stack as processes and Ctrl-C stops every one of them."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlscope.demo.run import (
    Ports,
    Snapshot,
    config_root,
    find_binary,
    port_free,
    read_sidecar_sample,
    summary_line,
    write_configs,
)
from tests._servers import PYTHON, REPO

pytestmark = pytest.mark.slow


def _free_offset() -> int:
    rng = random.Random()
    for _ in range(200):
        offset = rng.randrange(20_000, 50_000)
        if all(port_free(p) for p in Ports().shifted(offset).as_tuple()):
            return offset
    raise RuntimeError("no free set of demo ports found")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.mark.timeout(240)
def test_demo_starts_every_part_and_sigint_stops_them_all(tmp_path: Path) -> None:
    alerting = bool(find_binary("prometheus") and find_binary("alertmanager", "prometheus-alertmanager"))
    ports = Ports().shifted(_free_offset())
    log = open(tmp_path / "demo.out", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([PYTHON, "-m", "mlscope", "demo", "--duration", "180", "--scenario", "healthy",
                             "--summary-interval", "2",
                             "--workdir", str(tmp_path / "work"), "--port-offset",
                             str(ports.app - Ports().app)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO / "exporter"), "COLUMNS": "160"})
    try:
        urls = [f"http://127.0.0.1:{ports.app}/healthz", f"http://127.0.0.1:{ports.sidecar}/healthz",
                f"http://127.0.0.1:{ports.receiver}/healthz"]
        if alerting:
            urls += [f"http://127.0.0.1:{ports.prometheus}/-/ready",
                     f"http://127.0.0.1:{ports.alertmanager}/-/ready",
                     f"http://127.0.0.1:{ports.preview}/d/mlscope-service"]
        deadline = time.monotonic() + 150
        while not all(_answers(u) for u in urls):
            assert proc.poll() is None, (tmp_path / "demo.out").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.out").read_text()
            time.sleep(0.5)
        # traffic flows to both models: the generator switched the app to the requested
        # scenario and predicts; the text model's utterances arrive as their descriptors
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports.sidecar}/metrics", timeout=5) as r:
                lines = r.read().decode().splitlines()
            rows = {m: sum(float(ln.split()[-1]) for ln in lines
                           if ln.startswith(f'mlscope_rows_total{{model="{m}"}}'))
                    for m in ("credit-risk", "support-topic")}
            # the text input's script and the embedding input's distance, binned
            derived = {f: [ln for ln in lines if ln.startswith("mlscope_feature_bin_total{")
                           and 'model="support-topic"' in ln and f'feature="{f}"' in ln
                           and float(ln.split()[-1]) > 0]
                       for f in ("utterance:script", "utterance_vec:distance")}
            if all(rows.values()) and all(derived.values()):
                break
            assert time.monotonic() < deadline, f"rows reached the sidecar: {rows}; derived bins: {derived}"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.app}/control/scenario", timeout=5) as r:
            assert json.loads(r.read())["scenario"] == "healthy"
        # The text model's drill-down rows carry the utterances (the demo enables raw text
        # for its public corpus) beside their descriptors.
        query = "model=support-topic&feature=utterance:script&window=5m"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.sidecar}/v1/samples?{query}", timeout=5) as r:
            kept = json.loads(r.read())["rows"]
        assert kept and all(isinstance(k["features"]["utterance"], str) for k in kept), kept[:2]
        assert "utterance:length_words" in kept[0]["features"]
        # Its output is a file, no terminal: plain summary lines, flushed as they are printed.
        line = re.compile(r"^mlscope demo \d+s: scenario healthy \(held\), [1-9][\d,]* requests \(0\.0%",
                          re.M)
        deadline = time.monotonic() + 30
        while not line.search((tmp_path / "demo.out").read_text()):
            assert time.monotonic() < deadline, (tmp_path / "demo.out").read_text()
            time.sleep(0.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        # app, sidecar, receiver, traffic (+ prometheus, alertmanager, the dashboards' preview)
        assert len(children) >= (7 if alerting else 4)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, (tmp_path / "demo.out").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running after Ctrl-C: {alive}"
    out = (tmp_path / "demo.out").read_text()
    assert "stopping the demo processes" in out
    assert all(port_free(p) for p in (ports.app, ports.sidecar, ports.receiver))
    work = tmp_path / "work"
    assert (work / "reference.json").is_file() and (work / "reference-topics.json").is_file()
    logs = {p.name for p in (work / "logs").iterdir()}
    assert logs >= {"app.log", "sidecar.log", "receiver.log", "traffic.log"}
    if alerting:
        # the overlays: shipped routing, webhooks only, pointed at the local receiver
        am = (work / "alertmanager.yml").read_text()
        assert f"http://127.0.0.1:{ports.receiver}/alerts" in am and "pagerduty" not in am
        assert f"127.0.0.1:{ports.app}" in (work / "prometheus.yml").read_text()
        # the summary names a preview page per dashboard
        assert all(f"127.0.0.1:{ports.preview}/d/{uid}" in out
                   for uid in ("mlscope-service", "mlscope-model-health", "mlscope-resources")), out


def test_summary_line_names_the_text_models_drift_and_accuracy() -> None:
    # Samples as the sidecar exposes them for the two models: credit-risk's figures stay its own.
    snap = Snapshot(scenario="new_language", requests=10)
    credit, text, w = {"model": "credit-risk"}, {"model": "support-topic"}, {"window": "5m"}
    acc = {"metric": "accuracy", **w}
    for name, labels, value in (
        ("mlscope_rows_total", credit, 100.0),
        ("mlscope_rows_total", text, 50.0),
        ("mlscope_feature_drift_detected", {**text, "feature": "utterance:script", **w}, 1.0),
        ("mlscope_feature_drift_detected", {**credit, "feature": "income", **w}, 0.0),
        ("mlscope_model_quality_ratio", {**credit, **acc}, 0.861),
        ("mlscope_model_quality_ratio", {**text, **acc}, 0.412),
        ("mlscope_dataset_drift_share_ratio", {**text, **w}, 0.5),
    ):
        read_sidecar_sample(snap, name, labels, value)
    assert snap.drift_share is None and snap.rows == 150
    assert ("150 rows ingested, drifted (5m): utterance:script (support-topic), accuracy (5m): 0.861, "
            "support-topic 0.412, firing: none") in summary_line(snap, 10.0)


def test_summary_line_counts_requests_errors_and_every_page() -> None:
    snap = Snapshot(scenario="error_burst", held=True, requests=2_000, server_errors=1_000, rows=9_990,
                    drifted=["income"], firing=["MlscopeErrorBudgetBurn"], n_pages=7,
                    pages=["firing MlscopeErrorBudgetBurn model=credit-risk"])
    assert summary_line(snap, 95.2) == (
        "mlscope demo 95s: scenario error_burst (held), 2,000 requests (50.0% 5xx), 9,990 rows ingested, "
        "drifted (5m): income, accuracy (5m): pending, firing: MlscopeErrorBudgetBurn, pages: 7 "
        "(last: firing MlscopeErrorBudgetBurn model=credit-risk)"
    )


def test_demo_without_its_extra_says_which_in_one_line(tmp_path: Path) -> None:
    # A plain install lacks scikit-learn; None in sys.modules hides it as if it were absent.
    code = "import sys; sys.modules['sklearn'] = None; from mlscope.cli import main; sys.exit(main())"
    out = subprocess.run([PYTHON, "-c", code, "demo", "--workdir", str(tmp_path)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO / "exporter")})
    assert out.returncode == 2
    assert out.stderr == "mlscope: error: the demo needs scikit-learn: pip install 'mlscope[demo]'\n"
    assert not (tmp_path / "logs" / "app.log").exists()  # nothing was started


def test_demo_refuses_a_summary_interval_that_is_not_positive(tmp_path: Path) -> None:
    args = [PYTHON, "-m", "mlscope", "demo", "--summary-interval", "0", "--workdir", str(tmp_path)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO / "exporter")})
    assert out.returncode == 2
    assert out.stderr == "mlscope: error: '--summary-interval' must be > 0 seconds (got 0.0)\n"


def test_without_a_checkout_the_demo_alerts_on_generated_configuration(tmp_path: Path) -> None:
    # A pip install has no prometheus/ or alertmanager/ folder (the issue-15 trial: the piped
    # demo said "configuration not found" and ran without alerting): it generates them.
    root = config_root(tmp_path, None)
    assert root == tmp_path / "config"
    prom, am = write_configs(root, tmp_path, Ports().shifted(40))
    rules = [Path(r) for r in _yaml(prom)["rule_files"]]
    assert rules and all(list(r.parent.glob(r.name)) for r in rules), rules
    assert "http://127.0.0.1:5041/alerts" in am.read_text()
    assert (root / "grafana" / "dashboards" / "mlscope-service.json").is_file()
    assert config_root(tmp_path, REPO) == REPO  # a checkout uses what it ships


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data
