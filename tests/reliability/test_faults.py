"""Faults survived, with real processes on loopback (docs/reliability.md has the table).

- the sidecar SIGKILLed and restarted mid-traffic: the app keeps answering, drops are
  counted, the windows come back from the snapshot, the counters restart from 0 and count
  exactly what was shipped after the kill;
- Prometheus restarted: the counter continues, no reset, data from before kept, rate()
  across the gap matches the rate events were sent at;
- Alertmanager down while an alert fires: the page arrives once it is back;
- NVML failing mid-run inside a real sidecar app under uvicorn: scrapes still succeed;
- disk full for the snapshot: the sidecar keeps serving and counts the failed writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests._prom import Prometheus
from tests._servers import PYTHON, REPO, Proc, free_port, get, wait_http
from tests.sidecar._sidecar import make_profile, metrics, ndjson, post, request, sidecar, value


def _wait(cond: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ----------------------------------------------------------------- sidecar killed
@pytest.fixture()
def app(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The Monitor test app (uvicorn, real Monitor) pointed at a sidecar port, not yet started."""
    sidecar_port, port = free_port(), free_port()
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


class Traffic:
    """A client thread posting single predictions to the app until stopped; counts outcomes."""

    def __init__(self, app_url: str) -> None:
        self.url = app_url + "/predict"
        self.sent = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            body = orjson.dumps({"id": f"t{i}", "features": {"age": 20 + i % 50, "plan": "pro"}})
            try:
                status, _ = request(
                    self.url, body, method="POST", headers={"Content-Type": "application/json"}
                )
            except OSError as e:
                self.failed.append(repr(e))
            else:
                if status != 200:
                    self.failed.append(str(status))
            self.sent += 1
            i += 1
            time.sleep(0.005)

    def __enter__(self) -> Traffic:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(30)


def _app_counts(app_url: str) -> dict[str, float]:
    text = metrics(app_url)
    return {
        "logged": value(text, "mlscope_events_logged_total", model="churn"),
        "shipped": value(text, "mlscope_events_shipped_total", model="churn"),
        "unavailable": value(
            text, "mlscope_events_dropped_total", model="churn", reason="sidecar_unavailable"
        ),
        "rejected": value(text, "mlscope_events_dropped_total", model="churn", reason="rejected"),
        "buffer_full": value(text, "mlscope_events_dropped_total", model="churn", reason="buffer_full"),
    }


def test_sidecar_killed_mid_traffic_restores_windows_and_loses_nothing_silently(
    tmp_path: Path, app: tuple[str, int]
) -> None:
    app_url, sidecar_port = app
    profile = make_profile(tmp_path / "ref.json")
    snap = tmp_path / "state" / "snapshot.json"
    args = ("--profile", str(profile), "--snapshot", str(snap))
    env = {"MLSCOPE_SNAPSHOT_INTERVAL_S": "0.3", "MLSCOPE_COMPUTE_INTERVAL_S": "0.3"}
    with Traffic(app_url) as traffic:
        with sidecar(tmp_path, *args, env=env, port=sidecar_port) as sc:
            _wait(lambda: traffic.sent > 150, what="traffic before the kill")
            # Kill right after a fresh snapshot lands, while requests keep flowing.
            seen = snap.stat().st_mtime_ns if snap.exists() else 0
            _wait(lambda: snap.exists() and snap.stat().st_mtime_ns != seen, what="a snapshot")
            sc.proc.proc.kill()
            sc.proc.proc.wait(10)
        state = orjson.loads(snap.read_bytes())["state"]
        # The snapshot holds window state, not counters: the rows in its 5m ring buckets.
        ring = next(w for w in state["engine"]["models"]["churn"]["windows"] if w["name"] == "5m")
        at_snapshot = sum(bucket[0] for bucket in ring["counts"])  # column 0 counts rows
        assert at_snapshot > 0 and "ingest_events" not in state
        shipped_at_kill = _app_counts(app_url)["shipped"]
        sent_at_kill = traffic.sent
        _wait(lambda: traffic.sent > sent_at_kill + 100, what="traffic while the sidecar is down")
        with sidecar(tmp_path, *args, env=env, port=sidecar_port) as sc:
            _wait(lambda: traffic.sent > sent_at_kill + 250, what="traffic after the restart")
            traffic.__exit__(None, None, None)
            status, data = request(app_url + "/flush")
            # Delivered what was buffered, but flush() does not hide the outage's drops.
            assert status == 200 and orjson.loads(data)["flushed"] is False
            status, data = request(app_url + "/flush")
            assert status == 200 and orjson.loads(data)["flushed"] is True  # nothing lost since
            side = metrics(sc.url)
            after_kill = _app_counts(app_url)["shipped"] - shipped_at_kill
            # The window gauges come from the periodic compute (every 0.3 s).
            _wait(
                lambda: (
                    value(metrics(sc.url), "mlscope_window_rows", model="churn", window="5m")
                    == at_snapshot + after_kill
                ),
                what="the 5m window to hold the snapshot's rows plus those shipped after the kill",
            )
    app_end = _app_counts(app_url)
    # 1. The app answered every request: the dead sidecar added no error.
    assert traffic.failed == []
    # 2. Every request was logged once, and every logged event is shipped or counted as dropped.
    assert app_end["logged"] == traffic.sent
    assert (
        app_end["shipped"] + app_end["unavailable"] + app_end["rejected"] + app_end["buffer_full"]
        == traffic.sent
    )
    assert app_end["unavailable"] > 0  # the outage was noticed and counted, not hidden
    # 3. The restarted sidecar's counters count this process only (they start from 0, so
    #    increase() sees one reset and counts nothing twice): exactly what the app shipped
    #    after the kill. What the old process took in after its last scrape went down with
    #    it, as documented.
    assert app_end["shipped"] - shipped_at_kill == after_kill
    events = value(side, "mlscope_ingest_events_total", model="churn")
    rows = value(side, "mlscope_rows_total", model="churn")
    plan = value(side, "mlscope_feature_bin_total", model="churn", feature="plan", bin="pro")
    assert events == rows == plan == after_kill > 0
    # 4. The windows were restored: the 5m window holds the snapshot's rows plus the new
    #    ones (checked exactly above, before the sidecar stopped).


# ----------------------------------------------------------------- Prometheus restarted
class Poster:
    """Posts ``batch`` events to a sidecar every ``period_s``; logs (time, cumulative sent)."""

    def __init__(self, url: str, batch: int = 10, period_s: float = 0.25) -> None:
        self.url, self.batch, self.period_s = url, batch, period_s
        self.log: list[tuple[float, int]] = [(time.time(), 0)]
        self.total = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = ndjson([{"features": {"age": 30, "plan": "pro"}}] * self.batch)
        nxt = time.monotonic()
        while not self._stop.is_set():
            status, _ = post(self.url + "/v1/events", body, content_type="application/x-ndjson")
            assert status == 200
            self.total += self.batch
            self.log.append((time.time(), self.total))
            nxt += self.period_s
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def sent_at(self, t: float) -> float:
        """Events sent by wall time ``t`` (step function of the log)."""
        n = 0
        for ts, total in self.log:
            if ts > t:
                break
            n = total
        return float(n)

    def __enter__(self) -> Poster:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(30)


def _prom_config(target: str, **extra: Any) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "mlscope", "static_configs": [{"targets": [target]}]}],
        **extra,
    }


def _scalar(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_prometheus_restart_keeps_counters_and_rates_across_the_gap(
    tmp_path: Path, prometheus_bin: str
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    work = tmp_path / "prom"
    q = 'mlscope_ingest_events_total{model="churn"}'
    with sidecar(tmp_path, "--profile", str(profile)) as sc, Poster(sc.url) as poster:
        cfg = _prom_config(f"127.0.0.1:{sc.port}")
        with Prometheus(prometheus_bin, cfg, work) as prom:
            prom.wait_for(q + " > 100")
            time.sleep(2)
            t_before = time.time() - 1.5  # a moment the first process certainly scraped
            v_before = _scalar(prom.query(f"{q} @ {t_before:.3f}"))
        gap_start = time.time()
        time.sleep(6)  # Prometheus is down; the sidecar keeps counting
        with Prometheus(prometheus_bin, cfg, work) as prom:
            gap_end = time.time()
            time.sleep(8)
            poster.__exit__(None, None, None)
            total = poster.total
            _wait(lambda: prom.query(f"{q} == {total}") != [], 15, "the last scrape")
            t_end = time.time() - 1.0
            # Samples from before the restart survived it (TSDB WAL replay).
            assert _scalar(prom.query(f"{q} @ {t_before:.3f}")) == v_before
            # The counter continued: no reset seen anywhere, final value exact.
            window = f"{int(t_end - t_before) + 5}s"
            assert _scalar(prom.query(f"resets({q}[{window}] @ {t_end:.3f})")) == 0
            assert value(metrics(sc.url), "mlscope_ingest_events_total", model="churn") == total
            # increase() over a window spanning the gap vs what was really sent in it.
            # Tolerance 15%: increase() extrapolates up to one scrape interval (1 s) at
            # each end of a ~20 s window and posting happens in 10-event steps.
            w = t_end - gap_start + 4
            got = _scalar(prom.query(f"increase({q}[{int(w)}s] @ {t_end:.3f})"))
            sent = poster.sent_at(t_end) - poster.sent_at(t_end - int(w))
            assert got == pytest.approx(sent, rel=0.15), (got, sent, gap_start, gap_end)


# ----------------------------------------------------------------- Alertmanager down
class Webhook:
    """A loopback webhook receiver that records the JSON bodies Alertmanager posts."""

    def __init__(self) -> None:
        pages: list[dict[str, Any]] = []
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length", "0"))
                pages.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_alert_fired_while_alertmanager_is_down_is_paged_after_it_returns(
    tmp_path: Path, prometheus_bin: str, alertmanager_bin: str
) -> None:
    am_port = free_port()
    rules = tmp_path / "rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "reliability",
                        "rules": [
                            {
                                "alert": "MlscopeReliabilityAlwaysFiring",
                                "expr": "vector(1)",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "fires from the first evaluation"},
                            }
                        ],
                    }
                ]
            }
        )
    )
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
    }
    with Prometheus(
        prometheus_bin, cfg, tmp_path / "prom", extra_args=("--rules.alert.resend-delay=1s",)
    ) as prom:
        prom.wait_for('ALERTS{alertname="MlscopeReliabilityAlwaysFiring", alertstate="firing"}')

        def send_errors() -> float:
            _, text = get(prom.url + "/metrics")
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("prometheus_notifications_errors_total")
            )

        _wait(lambda: send_errors() >= 2, 30, "Prometheus failing to notify the absent Alertmanager")
        am_cfg = tmp_path / "alertmanager.yml"
        with Webhook() as hook:
            am_cfg.write_text(
                yaml.safe_dump(
                    {
                        "route": {
                            "receiver": "hook",
                            "group_wait": "1s",
                            "group_interval": "1s",
                            "repeat_interval": "1h",
                        },
                        "receivers": [
                            {"name": "hook", "webhook_configs": [{"url": hook.url, "send_resolved": False}]}
                        ],
                    }
                )
            )
            am = Proc(
                [
                    alertmanager_bin,
                    f"--config.file={am_cfg}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                log=tmp_path / "alertmanager.log",
            )
            with am:
                _wait(lambda: bool(hook.pages), 45, "the page after Alertmanager came back")
            page = hook.pages[0]
            assert page["status"] == "firing"
            assert page["alerts"][0]["labels"]["alertname"] == "MlscopeReliabilityAlwaysFiring"
            assert page["alerts"][0]["labels"]["severity"] == "page"


# ----------------------------------------------------------------- NVML failing
def test_nvml_failing_mid_run_keeps_real_scrapes_working(tmp_path: Path, promtool: str) -> None:
    """The sidecar's own app under a real uvicorn server, with a GPU collector whose NVML dies."""
    import asyncio

    import uvicorn

    from mlscope.collectors.gpu import GPUCollector
    from mlscope.sidecar.app import build_app
    from mlscope.sidecar.config import SidecarConfig
    from mlscope.sidecar.service import Service
    from tests.collectors._fakes import FakeDevice, FakeNVML

    profile = make_profile(tmp_path / "ref.json")
    service = Service(SidecarConfig.model_validate({"models": {"churn": {"profile": str(profile)}}}))
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA H100"), FakeDevice("GPU-bbbb", "NVIDIA H100")])
    service.registry.register(GPUCollector(nvml=nvml, retry_init_s=0))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(service), host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
        )
    )
    t = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", 30)
        assert value(metrics(url), "mlscope_gpu_devices") == 2
        # The GPU falls off the bus: every per-device call fails from now on.
        for call in (
            "nvmlDeviceGetUtilizationRates",
            "nvmlDeviceGetMemoryInfo",
            "nvmlDeviceGetTemperature",
            "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetClockInfo",
            "nvmlDeviceGetHandleByIndex",
        ):
            nvml.fail[call] = FakeNVML.NVML_ERROR_GPU_IS_LOST
        post(url + "/v1/events", ndjson([{"features": {"age": 1, "plan": "pro"}}] * 3))
        text = metrics(url)  # still a 200 with the rest of the exposition
        assert value(text, "mlscope_ingest_events_total", model="churn") == 3
        assert value(text, "mlscope_nvml_errors_total", call="nvmlDeviceGetHandleByIndex") >= 2
        # Then the driver goes entirely: device count and re-init fail too.
        nvml.fail["nvmlDeviceGetCount"] = FakeNVML.NVML_ERROR_UNKNOWN
        text = metrics(url)
        assert value(text, "mlscope_gpu_devices") == 0
        assert value(text, "mlscope_nvml_errors_total", call="nvmlDeviceGetCount") >= 1
        (tmp_path / "expo.txt").write_text(text)
        out = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stdout + out.stderr
        nvml.fail.clear()  # and recovers when the GPU comes back
        assert value(metrics(url), "mlscope_gpu_devices") == 2
    finally:
        server.should_exit = True
        t.join(30)


# ----------------------------------------------------------------- disk full
@contextlib.contextmanager
def _tiny_disk(path: Path) -> Iterator[dict[str, Any]]:
    """A 4 kB tmpfs at ``path`` when mounting works (root); else a file-size rlimit for the child."""
    path.mkdir()
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(path)], capture_output=True, timeout=30
        ).returncode
        == 0
    )
    try:
        yield {"mounted": mounted}
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def test_disk_full_for_the_snapshot_is_counted_and_serving_goes_on(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json", n_features=8)
    disk = tmp_path / "disk"
    with _tiny_disk(disk) as how:
        snap = disk / "snapshot.json"
        env = {"MLSCOPE_SNAPSHOT_INTERVAL_S": "0.2", "MLSCOPE_COMPUTE_INTERVAL_S": "0.2"}
        preexec = None
        if not how["mounted"]:
            # Fallback: files this process writes may not exceed 4 kB (EFBIG; Python
            # ignores SIGXFSZ). The sidecar's log goes to a pipe-less file opened by us.
            def preexec() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

        with _sidecar_with_preexec(
            tmp_path, ("--profile", str(profile), "--snapshot", str(snap)), env, preexec
        ) as url:
            for i in range(20):
                status, body = post(
                    url + "/v1/events", ndjson([{"features": {"age": i, "plan": "pro"}}] * 50)
                )
                assert status == 200 and body["accepted"] == 50
            _wait(
                lambda: value(metrics(url), "mlscope_snapshot_errors_total") >= 2,
                30,
                "failed snapshot writes",
            )
            text = metrics(url)
            assert value(text, "mlscope_ingest_events_total", model="churn") == 1000
            assert request(url + "/healthz")[0] == 200
        assert not snap.exists()
        assert [p.name for p in disk.iterdir()] == []  # no torn temporary file left behind


@contextlib.contextmanager
def _sidecar_with_preexec(
    tmp: Path, args: tuple[str, ...], env: dict[str, str], preexec: Callable[[], None] | None
) -> Iterator[str]:
    port = free_port()
    cmd = [
        PYTHON,
        "-m",
        "mlscope",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-format",
        "text",
        *args,
    ]
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "exporter"), **env}
    with open(tmp / "sidecar.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
