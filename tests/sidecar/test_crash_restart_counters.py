"""A sidecar crash followed by a restart with ``--snapshot``, seen by a real Prometheus.

Regression test for counters restored from the snapshot: after a SIGKILL the snapshot's
totals are lower than what Prometheus last scraped, so ``increase()`` read the drop as a
reset and counted the restored total a second time (180 rows ingested read as 287). The
snapshot now restores window state only and every counter starts from 0 in a new
process, the Prometheus convention. What is checked, with three processes on one port:

- A takes N rows (scraped), stops gracefully: the snapshot holds N rows of window state;
- B restores it (counters at 0, window at N), takes M rows (scraped) and then L rows that
  no scrape saw, and is SIGKILLed: B never wrote a snapshot;
- C restores the same snapshot (counters at 0, window at N), takes K rows (scraped).

Prometheus' own ``increase()`` over the whole span is N + M + K exactly: the M rows scraped
before the crash count once, the N rows are not counted again, and the L rows accepted
after B's last scrape went down with B, counted nowhere (neither in the counters nor in the
windows: they were never snapshotted). C's window drift equals the offline comparison of
the N + K rows it holds.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlscope.engine.drift import score_metric
from mlscope.engine.profile import Profile
from mlscope.offline.compare import compare
from tests._prom import Prometheus
from tests._servers import free_port, get
from tests.sidecar._sidecar import make_profile, metrics, ndjson, post, samples, sidecar, value

N, M, L, K = 120, 50, 30, 40
COUNTERS = ("mlscope_rows_total", "mlscope_ingest_events_total")


def _rows(n: int, start: int, plan: str) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i}", "features": {"age": 20.0 + i % 50, "plan": plan}, "prediction": "yes"}
        for i in range(start, start + n)
    ]


def _query(prom: Prometheus, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql} | ({} if at is None else {"time": f"{at:.3f}"})
    status, body = get(prom.url + "/api/v1/query?" + urllib.parse.urlencode(params))
    data = json.loads(body)
    assert status == 200 and data["status"] == "success", (promql, body[:300])
    return list(data["data"]["result"])


def _scraped(prom: Prometheus, total: int) -> None:
    """Wait until Prometheus' latest sample of both counters is ``total``."""
    for name in COUNTERS:
        prom.wait_for(f'{name}{{model="churn"}} == {total}', timeout_s=30)


def _wait(cond: Any, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _window_rows(url: str) -> float:
    return value(metrics(url), "mlscope_window_rows", model="churn", window="5m")


def _starts_from_zero_with_restored_window(url: str) -> None:
    text = metrics(url)
    for name in COUNTERS:
        assert samples(text)[(name, (("model", "churn"),))] == 0, name
    _wait(lambda: _window_rows(url) == N, "the restored window (N rows)")


def test_crash_and_restart_with_snapshot_counts_every_scraped_event_once(
    tmp_path: Path, prometheus_bin: str
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    snap = tmp_path / "state" / "snapshot.json"
    port = free_port()  # one scrape target for the three processes
    args = ("--profile", str(profile), "--snapshot", str(snap))
    # No periodic snapshot in this test: only A's graceful stop writes one, so what the
    # snapshot holds is known exactly (N rows), and B's rows are "not yet snapshotted".
    env = {"MLSCOPE_SNAPSHOT_INTERVAL_S": "3600", "MLSCOPE_COMPUTE_INTERVAL_S": "0.2"}
    cfg = {
        "global": {"scrape_interval": "500ms"},
        "scrape_configs": [{"job_name": "mlscope", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    with Prometheus(prometheus_bin, cfg, tmp_path / "prom") as prom:
        with sidecar(tmp_path, *args, env=env, port=port) as a:
            _scraped(prom, 0)  # the series starts at 0: increase() needs no extrapolation
            assert post(a.url + "/v1/events", ndjson(_rows(N, 0, "team")))[0] == 200
            _scraped(prom, N)
            a.proc.proc.send_signal(signal.SIGTERM)
            assert a.proc.proc.wait(20) in (0, -signal.SIGTERM)
            assert "snapshot written" in a.log()

        with sidecar(tmp_path, *args, env=env, port=port) as b:
            _starts_from_zero_with_restored_window(b.url)
            _scraped(prom, 0)  # Prometheus sees the new process's reset before M arrive
            assert post(b.url + "/v1/events", ndjson(_rows(M, N, "team")))[0] == 200
            _scraped(prom, M)
            assert post(b.url + "/v1/events", ndjson(_rows(L, N + M, "team")))[0] == 200
            b.proc.proc.kill()  # no graceful stop: no snapshot of the M + L rows
            b.proc.proc.wait(10)

        with sidecar(tmp_path, *args, env=env, port=port) as c:
            _starts_from_zero_with_restored_window(c.url)
            assert "counters are ignored" not in c.log()  # a current-format snapshot
            _scraped(prom, 0)
            assert post(c.url + "/v1/events", ndjson(_rows(K, N + M + L, "free")))[0] == 200
            _scraped(prom, K)
            # The window drift after the restart covers the pre-crash rows: N + K rows.
            _wait(lambda: _window_rows(c.url) == N + K, "the window to hold N + K rows")
            text = metrics(c.url)
        for name in COUNTERS:
            series = _query(prom, f'{name}{{model="churn"}}[10m]')
            assert len(series) == 1, series
            points = [(float(t), float(v)) for t, v in series[0]["values"]]
            # What a scrape saw from B last: M, or M + L when a scrape fell between the
            # post of the L rows and the kill (then those were exported before the crash).
            b_last = max(v for _, v in points if v in (M, M + L))
            expected = N + b_last + K
            assert points[0][1] == 0 and points[-1][1] == K
            # The raw samples, with Prometheus' counter-reset rule applied by hand.
            raw = sum((v - p) if v >= p else v for (_, p), (_, v) in zip(points, points[1:], strict=False))
            assert raw == expected, (name, points)
            end = points[-1][0]
            # Prometheus' own functions, evaluated at the last sample: the series starts at 0
            # and ends at the range end, so increase() extrapolates by nothing at either end
            # and must equal the true count up to float rounding (abs 1e-9).
            (inc,) = _query(prom, f'increase({name}{{model="churn"}}[10m])', at=end)
            assert float(inc["value"][1]) == pytest.approx(expected, abs=1e-9), name
            (resets,) = _query(prom, f'resets({name}{{model="churn"}}[10m])', at=end)
            assert float(resets["value"][1]) == 2  # one per new process, nothing else

    # C's drift figures are those of its window's rows, the N snapshotted ones included:
    # the same engine code offline over the same N + K rows (exact up to float rounding).
    rows = _rows(N, 0, "team") + _rows(K, 0, "free")
    frame = pd.DataFrame([r["features"] for r in rows])
    offline = compare(Profile.load(profile), frame).feature("plan")
    without = compare(Profile.load(profile), frame.tail(K)).feature("plan")
    name, extra = score_metric("mlscope_feature_drift", offline.method)
    got = value(text, name, model="churn", feature="plan", **extra, window="5m")
    assert got == pytest.approx(offline.score, rel=1e-9, abs=1e-12)
    assert got != pytest.approx(without.score, rel=1e-3)  # the pre-crash rows do matter
