"""Gunicorn (uvicorn worker class) with three workers, each with its own Monitor, one sidecar.

Every event logged by any worker is counted exactly once at the sidecar: the ingest and
row counters equal the requests answered, and labels posted once per id all match (a
row shipped twice would make its id a duplicate, a lost one leaves its label unmatched).
Then gunicorn is stopped with SIGTERM right after a second burst: each worker's Monitor
delivers what it still holds at exit (atexit close), so the totals stay exact.

Run twice: the app imported by each worker after the fork, and with ``--preload`` (imported
once in the master, so every worker inherits a Monitor whose background thread did not
survive the fork; the Monitor starts a fresh one in the child).
"""

from __future__ import annotations

import concurrent.futures
import signal
import time
from pathlib import Path

import orjson
import pytest

from tests._servers import PYTHON, REPO, Proc, free_port, wait_http
from tests.sidecar._sidecar import make_profile, metrics, ndjson, post, request, sidecar, value

WORKERS = 3


def _predict(app: str, i: int) -> int:
    body = orjson.dumps(
        {
            "id": f"r{i}",
            "features": {"age": 20 + i % 50, "plan": "pro"},
            "prediction": "yes" if i % 3 else "no",
        }
    )
    status, data = request(
        app + "/predict", body, method="POST", headers={"Content-Type": "application/json"}
    )
    assert status == 200, data
    return int(orjson.loads(data)["pid"])


def _burst(app: str, ids: range) -> set[int]:
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        return set(pool.map(lambda i: _predict(app, i), ids))


def _wait_count(url: str, want: float, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = metrics(url)
        if value(text, "mlscope_ingest_events_total", model="churn") >= want:
            return text
        time.sleep(0.1)
    raise AssertionError(
        f"sidecar counted {value(text, 'mlscope_ingest_events_total', model='churn')} of {want}"
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("preload", [False, True], ids=["import-per-worker", "preload"])
def test_three_gunicorn_workers_share_one_sidecar_and_every_event_counts_once(
    tmp_path: Path, preload: bool
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    with sidecar(tmp_path, "--profile", str(profile), "--model", "churn") as sc:
        port = free_port()
        app = f"http://127.0.0.1:{port}"
        gunicorn = Proc(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "-w",
                str(WORKERS),
                "-b",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "45",
                *(["--preload"] if preload else []),
                "tests.scale.apps.monitored:app",
            ],
            env={"MLSCOPE_TEST_SIDECAR": sc.url, "PYTHONPATH": f"{REPO / 'exporter'}:{REPO}"},
            cwd=REPO,
            log=tmp_path / "gunicorn.log",
        )
        with gunicorn as proc:
            wait_http(app + "/predict", 30, proc)  # 405 on GET: the app answers
            n1 = 600
            pids = _burst(app, range(n1))
            # The kernel spreads connections over the workers; with 600 concurrent
            # requests every worker gets some (this shows the test covers several Monitors).
            assert len(pids) >= 2, pids
            text = _wait_count(sc.url, n1)
            time.sleep(1.0)  # anything shipped twice would arrive by now
            text = metrics(sc.url)
            assert value(text, "mlscope_ingest_events_total", model="churn") == n1
            assert value(text, "mlscope_rows_total", model="churn") == n1

            n2 = 300
            pids |= _burst(app, range(n1, n1 + n2))
            proc.send_signal(signal.SIGTERM)  # workers exit; each Monitor flushes at exit
            assert proc.wait(60) == 0, gunicorn.output()[-2000:]
        log = gunicorn.output()
        assert "Traceback" not in log, log[-3000:]
        text = metrics(sc.url)
        # On a mismatch, the workers' own log lines (drop reasons) say where events went.
        assert value(text, "mlscope_ingest_events_total", model="churn") == n1 + n2, log[-4000:]
        assert value(text, "mlscope_rows_total", model="churn") == n1 + n2
        assert value(text, "mlscope_ingest_rejected_total", reason="wrong_type") == 0

        labels = [{"model": "churn", "id": f"r{i}", "label": "yes"} for i in range(n1 + n2)]
        status, body = post(sc.url + "/v1/labels", ndjson(labels), content_type="application/x-ndjson")
        assert status == 200 and body["accepted"] == n1 + n2, body
        text = metrics(sc.url)
        assert value(text, "mlscope_labels_total", model="churn", outcome="matched") == n1 + n2
        assert value(text, "mlscope_labels_total", model="churn", outcome="unmatched") == 0
        print(f"workers that served requests: {len(pids)}")
