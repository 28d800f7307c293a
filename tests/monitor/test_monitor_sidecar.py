"""A real serving app (uvicorn + Monitor) shipping to a real ``mlscope serve`` process.

Checks the promise of the Monitor end to end: what the app logged is what the sidecar
counts; when the sidecar dies the app keeps answering and counts the drops; when the
sidecar comes back, shipping resumes without restarting the app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests._servers import PYTHON, REPO, Proc, free_port, wait_http
from tests.sidecar._sidecar import make_profile, metrics, request, sidecar, value


@pytest.fixture()
def app_url(tmp_path: Path) -> Iterator[tuple[str, int]]:
    sidecar_port = free_port()
    port = free_port()
    p = Proc(
        [PYTHON, "-m", "uvicorn", "tests.monitor._app:app", "--host", "127.0.0.1", "--port", str(port)],
        env={
            "MLSCOPE_TEST_SIDECAR": f"http://127.0.0.1:{sidecar_port}",
            "PYTHONPATH": f"{REPO / 'exporter'}:{REPO}",
        },
        cwd=REPO,
        log=tmp_path / "app.log",
    )
    with p:
        wait_http(f"http://127.0.0.1:{port}/flush", 30, p.proc)
        yield f"http://127.0.0.1:{port}", sidecar_port


def _predict(app: str, i: int) -> None:
    body = orjson.dumps({"id": f"r{i}", "features": {"age": 20 + i % 40, "plan": "pro"}})
    status, _ = request(app + "/predict", body, method="POST", headers={"Content-Type": "application/json"})
    assert status == 200


def _flush(app: str, *, delivered: bool = True) -> None:
    status, data = request(app + "/flush")
    assert status == 200 and orjson.loads(data)["flushed"] is delivered


def test_counts_match_and_app_survives_a_sidecar_restart(tmp_path: Path, app_url: tuple[str, int]) -> None:
    app, sidecar_port = app_url
    profile = make_profile(tmp_path / "ref.json")
    with sidecar(tmp_path, "--profile", str(profile), port=sidecar_port) as sc:
        for i in range(30):
            _predict(app, i)
        batch = orjson.dumps(
            {
                "ids": [f"b{i}" for i in range(20)],
                "features": [{"age": 30 + i, "plan": "free"} for i in range(20)],
            }
        )
        assert request(app + "/predict", batch, method="POST")[0] == 200
        _flush(app)
        text = metrics(sc.url)
        assert value(text, "mlscope_ingest_events_total", model="churn") == 50
        assert value(text, "mlscope_rows_total", model="churn") == 50
        assert value(text, "mlscope_feature_bin_total", model="churn", feature="plan", bin="free") == 20
        sc.proc.proc.kill()
        sc.proc.proc.wait(10)

    started = time.monotonic()
    for i in range(10):
        _predict(app, 100 + i)  # the app keeps answering with its sidecar gone
    assert time.monotonic() - started < 10  # nothing waited on the dead sidecar's timeouts
    _flush(app, delivered=False)  # flush() says the records logged meanwhile were lost
    app_metrics = metrics(app)
    assert (
        value(app_metrics, "mlscope_events_dropped_total", model="churn", reason="sidecar_unavailable") == 10
    )
    assert value(app_metrics, "mlscope_events_shipped_total", model="churn") == 50

    with sidecar(tmp_path, "--profile", str(profile), port=sidecar_port) as sc:
        for i in range(5):
            _predict(app, 200 + i)
        _flush(app)
        assert value(metrics(sc.url), "mlscope_ingest_events_total", model="churn") == 5
    app_metrics = metrics(app)
    assert value(app_metrics, "mlscope_events_shipped_total", model="churn") == 55
    assert value(app_metrics, "mlscope_events_logged_total", model="churn") == 65
