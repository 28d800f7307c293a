"""A real ``mlscope serve`` across restarts, reloads and log tailing; auth and TLS."""

from __future__ import annotations

import base64
import os
import signal
import ssl
import time
from pathlib import Path

import bcrypt
import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlscope import Monitor
from tests.sidecar._sidecar import (
    make_profile,
    metrics,
    ndjson,
    post,
    request,
    samples,
    self_signed_cert,
    sidecar,
    value,
)


def _events(n: int, start: int = 0) -> bytes:
    return ndjson(
        [
            {"id": f"r{i}", "features": {"age": 20 + i % 50, "plan": "pro"}, "prediction": "yes"}
            for i in range(start, start + n)
        ]
    )


def _wait(pred: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_snapshot_keeps_windows_across_restart_and_counters_restart_from_zero(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    snap = tmp_path / "state" / "snapshot.json"
    args = ("--profile", str(profile), "--snapshot", str(snap))
    with sidecar(tmp_path, *args) as sc:
        assert post(sc.url + "/v1/events", _events(40))[0] == 200
        rows_before = value(metrics(sc.url), "mlscope_rows_total", model="churn")
        assert rows_before == 40
        sc.proc.proc.send_signal(signal.SIGTERM)  # graceful: the lifespan writes the snapshot
        # uvicorn re-raises SIGTERM after its graceful shutdown, as process managers expect
        assert sc.proc.proc.wait(20) in (0, -signal.SIGTERM)
        assert "snapshot written" in sc.log()
    assert snap.is_file()
    with sidecar(tmp_path, *args, env={"MLSCOPE_COMPUTE_INTERVAL_S": "0.2"}) as sc:
        # Counters belong to the process: a new one starts them from 0 (rate() and
        # increase() count that reset exactly; a restored total would be counted twice).
        text = metrics(sc.url)
        assert value(text, "mlscope_rows_total", model="churn") == 0
        assert ("mlscope_ingest_events_total", (("model", "churn"),)) in samples(text)
        assert value(text, "mlscope_ingest_events_total", model="churn") == 0
        assert value(text, "mlscope_feature_bin_total", model="churn", feature="plan", bin="pro") == 0
        assert post(sc.url + "/v1/events", _events(2, 40))[0] == 200
        text = metrics(sc.url)
        assert value(text, "mlscope_rows_total", model="churn") == 2
        assert value(text, "mlscope_ingest_events_total", model="churn") == 2
        # the window gauges come from the periodic compute: restored rows plus the new ones
        _wait(lambda: value(metrics(sc.url), "mlscope_window_rows", model="churn", window="5m") == 42)


def test_corrupt_snapshot_starts_empty_and_says_so(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    snap = tmp_path / "snapshot.json"
    snap.write_text("{torn")
    with sidecar(tmp_path, "--profile", str(profile), "--snapshot", str(snap)) as sc:
        assert value(metrics(sc.url), "mlscope_rows_total", model="churn") == 0
        assert "not valid JSON" in sc.log()


def test_sighup_reloads_the_profile(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json", seed=1)
    with sidecar(tmp_path, "--profile", str(profile)) as sc:

        def hashes() -> set[str]:
            return {
                dict(k[1])["profile_hash"]
                for k in _samples(metrics(sc.url))
                if k[0] == "mlscope_profile_info"
            }

        before = hashes()
        make_profile(tmp_path / "new.json", seed=2)
        os.replace(tmp_path / "new.json", profile)
        sc.proc.proc.send_signal(signal.SIGHUP)
        _wait(lambda: hashes() != before)
        assert len(hashes()) == 1
        # A broken profile on the next reload keeps the current one and counts the failure.
        now = hashes()
        profile.write_text("{broken")
        sc.proc.proc.send_signal(signal.SIGHUP)
        _wait(lambda: value(metrics(sc.url), "mlscope_internal_errors_total", component="reload") == 1)
        assert hashes() == now
        assert sc.proc.proc.poll() is None


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from tests.sidecar._sidecar import samples

    return samples(text)


def test_tail_follows_a_log_across_rotation(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    log = tmp_path / "predictions.jsonl"
    log.write_bytes(_events(5))  # history before the sidecar starts: skipped
    with sidecar(tmp_path, "--profile", str(profile), "--tail", str(log)) as sc:

        def ingested() -> float:
            return value(metrics(sc.url), "mlscope_ingest_events_total", model="churn")

        with open(log, "ab") as f:
            f.write(_events(3, 100) + b"not json\n")
        _wait(lambda: ingested() == 3)
        os.rename(log, tmp_path / "predictions.jsonl.1")
        log.write_bytes(_events(4, 200))
        _wait(lambda: ingested() == 7)
        assert value(metrics(sc.url), "mlscope_ingest_rejected_total", reason="bad_json") == 1


def test_ingest_token_and_basic_auth_are_enforced(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    (tmp_path / "token").write_text("tok-123\n")
    hashed = bcrypt.hashpw(b"scrape-pw", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    args = (
        "--profile",
        str(profile),
        "--ingest-token-file",
        str(tmp_path / "token"),
        "--web-config",
        str(tmp_path / "web.yml"),
    )
    good = {"Authorization": "Basic " + base64.b64encode(b"prom:scrape-pw").decode()}
    with sidecar(tmp_path, *args) as sc:
        status, data = request(sc.url + "/v1/events", _events(1), method="POST")
        assert status == 401 and orjson.loads(data)["reason"] == "unauthorized"
        assert post(sc.url + "/v1/events", _events(1), authorization="Bearer wrong")[0] == 401
        assert post(sc.url + "/v1/events", _events(2), authorization="Bearer tok-123") == (
            200,
            {"accepted": 2, "rejected": 0},
        )
        assert request(sc.url + "/metrics")[0] == 401
        bad = {"Authorization": "Basic " + base64.b64encode(b"prom:nope").decode()}
        assert request(sc.url + "/metrics", headers=bad)[0] == 401
        text = metrics(sc.url, headers=good)
        assert value(text, "mlscope_auth_failures_total", endpoint="ingest") == 2
        assert value(text, "mlscope_auth_failures_total", endpoint="metrics") == 2
        assert value(text, "mlscope_ingest_events_total", model="churn") == 2
        assert request(sc.url + "/healthz")[0] == 200  # probes stay open
        # A real Monitor with the token gets through; one without is refused and counts it.
        reg = CollectorRegistry()
        with Monitor("churn", sidecar=sc.url, token="tok-123", registry=reg) as good_mon:
            good_mon.log({"age": 33, "plan": "pro"})
            assert good_mon.flush(10)
        with Monitor("churn", sidecar=sc.url, registry=CollectorRegistry()) as bad_mon:
            bad_mon.log({"age": 33, "plan": "pro"})
            assert not bad_mon.flush(10)  # refused: not delivered
            refused = generate_latest(bad_mon._registry).decode()
        assert value(refused, "mlscope_events_dropped_total", model="churn", reason="rejected") == 1
        assert value(generate_latest(reg).decode(), "mlscope_events_shipped_total", model="churn") == 1
        assert value(metrics(sc.url, headers=good), "mlscope_ingest_events_total", model="churn") == 3


def test_tls_from_web_config(tmp_path: Path, openssl: str) -> None:
    profile = make_profile(tmp_path / "ref.json")
    self_signed_cert(tmp_path, openssl, key_name="k.pem", crt_name="c.pem")
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n")
    with sidecar(
        tmp_path, "--profile", str(profile), "--web-config", str(tmp_path / "web.yml"), scheme="https"
    ) as sc:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
        status, _ = request(sc.url + "/v1/events", _events(3), method="POST", context=ctx)
        assert status == 200
        assert value(metrics(sc.url, context=ctx), "mlscope_ingest_events_total", model="churn") == 3
        with pytest.raises(OSError):  # an unverified client cannot talk to it by accident
            request(sc.url + "/healthz", context=ssl.create_default_context())
        reg = CollectorRegistry()
        with Monitor("churn", sidecar=sc.url, ssl_context=ctx, registry=reg) as mon:
            mon.log([{"age": 30, "plan": "pro"}] * 4)
            assert mon.flush(10)
        assert value(generate_latest(reg).decode(), "mlscope_events_shipped_total", model="churn") == 4
        assert value(metrics(sc.url, context=ctx), "mlscope_ingest_events_total", model="churn") == 7


def test_otlp_push_sends_the_sidecar_metrics_and_a_last_batch_on_sigterm(tmp_path: Path) -> None:
    import gzip
    import http.server
    import threading

    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    bodies: list[bytes] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            data = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            bodies.append(data)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        profile = make_profile(tmp_path / "ref.json")
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        with sidecar(tmp_path, "--profile", str(profile), "--otlp-endpoint", endpoint) as sc:
            assert post(sc.url + "/v1/events", _events(6))[0] == 200
            sc.proc.proc.send_signal(signal.SIGTERM)
            sc.proc.proc.wait(20)
        assert bodies, "no OTLP export arrived"
        req = metrics_service_pb2.ExportMetricsServiceRequest.FromString(bodies[-1])
        points = {}
        for rm in req.resource_metrics:
            attrs = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
            assert attrs["service.name"] == "mlscope-sidecar" and attrs["mlscope.model"] == "churn"
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "mlscope_ingest_events":  # counters travel without _total
                        points[m.name] = [p.as_double or p.as_int for p in m.sum.data_points]
        assert points == {"mlscope_ingest_events": [6]}
    finally:
        server.shutdown()
        server.server_close()
